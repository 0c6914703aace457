"""Maker-checker for policy changes: propose, approve by another admin, reject, withdraw, supersede.

Services first, then the policy page, then concurrency (committed data, real threads). Four eyes is
on by default (``FDE_POLICY_FOUR_EYES``); the last tests switch it off.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, AuditEventType
from decisioning.contracts import ContractError
from decisioning.decision.policy import DecisionPolicy
from decisioning.models import PolicyProposal, PolicyVersion
from decisioning.policy import (
    PolicyChangeRefused,
    PolicyProposalSuperseded,
    active_policy,
    policy_activate,
    policy_approve,
    policy_propose,
    policy_reject,
    policy_withdraw,
)
from fde_site import roles
from tests.review.conftest import make_user, signed_in  # noqa: F401

from .test_policy_page import form_fields

pytestmark = pytest.mark.django_db

PAGE, PROPOSE, ACTIVATE = reverse("policy:page"), reverse("policy:propose"), reverse("policy:activate")
DEFAULT = DecisionPolicy().to_dict()


def approve_url(proposal: PolicyProposal) -> str:
    return reverse("policy:approve", args=[proposal.pk])


def reject_url(proposal: PolicyProposal) -> str:
    return reverse("policy:reject", args=[proposal.pk])


def withdraw_url(proposal: PolicyProposal) -> str:
    return reverse("policy:withdraw", args=[proposal.pk])


def propose(version: str = "tight-1", actor: str = "user:ann", **changes: Any) -> PolicyProposal:
    return policy_propose(
        version=version, changes=changes or {"decline_threshold": 0.8}, actor=actor, note="chargebacks up 30%"
    )


def policy_events() -> list[tuple[str, str]]:
    events = AuditEvent.objects.filter(event_type=AuditEventType.POLICY_CHANGED).order_by("sequence")
    return list(events.values_list("actor", "outcome"))


def state() -> tuple:
    """Everything a refused step must leave as it was."""
    return (
        list(PolicyVersion.objects.order_by("pk").values_list("version", "is_active", "settings")),
        list(PolicyProposal.objects.order_by("pk").values_list("version", "status", "decided_by", "decision_note")),
        policy_events(),
        active_policy(),
    )


# ------------------------------------------------------------------ services


def test_propose_stores_the_full_policy_and_activates_nothing():
    proposal = propose(review_threshold=0.5, decline_threshold=0.8)
    assert proposal.settings == {**DEFAULT, "version": "tight-1", "review_threshold": 0.5, "decline_threshold": 0.8}
    assert (proposal.base_version, proposal.base_settings) == ("default-1", DEFAULT)
    assert (proposal.status, proposal.proposed_by, proposal.note, proposal.decided_at) == (
        "pending", "user:ann", "chargebacks up 30%", None,
    )  # fmt: skip
    assert active_policy().version == "default-1" and PolicyVersion.objects.count() == 0
    event = AuditEvent.objects.get(event_type=AuditEventType.POLICY_CHANGED)
    assert (event.actor, event.outcome) == ("user:ann", "proposed")
    assert event.payload["proposal_id"] == proposal.pk and event.payload["proposal_note"] == "chargebacks up 30%"
    assert event.payload["changes"] == {
        "decline_threshold": {"from": 0.85, "to": 0.8}, "review_threshold": {"from": 0.6, "to": 0.5},
    }  # fmt: skip


def test_approval_by_another_admin_activates_it_and_audits_both_steps_in_order():
    proposal = propose(review_threshold=0.5, decline_threshold=0.8)
    stored = policy_approve(proposal_id=proposal.pk, actor="user:bo", note="what-if looks right")
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.review_threshold) == ("tight-1", 0.8, 0.5)
    assert (stored.version, stored.is_active, stored.created_by) == ("tight-1", True, "user:bo")
    assert stored.settings == proposal.settings
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.decision_note, proposal.activated) == (
        "approved", "user:bo", "what-if looks right", stored,
    )  # fmt: skip
    assert proposal.decided_at is not None and proposal.decided_at >= proposal.proposed_at
    assert policy_events() == [("user:ann", "proposed"), ("user:bo", "approved"), ("user:bo", "activated")]
    activated = AuditEvent.objects.get(outcome="activated")
    assert (activated.payload["from"]["decline_threshold"], activated.payload["to"]["decline_threshold"]) == (0.85, 0.8)
    approved = AuditEvent.objects.get(outcome="approved")
    assert (approved.payload["proposal_id"], approved.payload["proposed_by"], approved.payload["note"]) == (
        proposal.pk, "user:ann", "what-if looks right",
    )  # fmt: skip


def test_the_proposer_cannot_approve_their_own_change():
    proposal = propose()
    before = state()
    with pytest.raises(PolicyChangeRefused, match="another admin must approve it"):
        policy_approve(proposal_id=proposal.pk, actor="user:ann")
    assert state() == before
    # and the attempt to be both pairs of eyes is on the audit trail
    denied = AuditEvent.objects.get(event_type=AuditEventType.PERMISSION_DENIED)
    assert (denied.actor, denied.outcome, denied.payload["proposal_id"]) == ("user:ann", "refused", proposal.pk)


def test_approval_after_the_policy_changed_supersedes_the_proposal_and_activates_nothing():
    proposal = propose(decline_threshold=0.8)
    policy_activate(version="hotfix-1", changes={"velocity_1h_limit": 5000.0}, actor="user:cy")  # four eyes off, say
    with pytest.raises(PolicyProposalSuperseded, match="superseded and nothing was activated"):
        policy_approve(proposal_id=proposal.pk, actor="user:bo")
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.velocity_1h_limit) == ("hotfix-1", 0.85, 5000.0)
    assert list(PolicyVersion.objects.values_list("version", flat=True)) == ["hotfix-1"]
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.activated) == ("superseded", "user:bo", None)
    assert "against default-1 (now hotfix-1)" in proposal.decision_note
    assert policy_events() == [("user:ann", "proposed"), ("user:cy", "activated"), ("user:bo", "superseded")]
    propose("tight-2")  # the pending slot is free again


def test_a_change_of_the_settings_default_also_supersedes(settings):
    proposal = propose()
    settings.FDE_DEFAULT_POLICY = {**settings.FDE_DEFAULT_POLICY, "review_threshold": 0.55}  # same name, new values
    with pytest.raises(PolicyProposalSuperseded):
        policy_approve(proposal_id=proposal.pk, actor="user:bo")
    assert PolicyVersion.objects.count() == 0


def test_reject_needs_a_reason_and_another_person():
    proposal = propose()
    before = state()
    with pytest.raises(PolicyChangeRefused, match="A note is required"):
        policy_reject(proposal_id=proposal.pk, actor="user:bo", note="  ")
    with pytest.raises(PolicyChangeRefused, match="withdraw it instead"):
        policy_reject(proposal_id=proposal.pk, actor="user:ann", note="changed my mind")
    assert state() == before
    policy_reject(proposal_id=proposal.pk, actor="user:bo", note="too many declines in the what-if")
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.decision_note) == (
        "rejected", "user:bo", "too many declines in the what-if",
    )  # fmt: skip
    assert policy_events() == [("user:ann", "proposed"), ("user:bo", "rejected")]
    assert active_policy().version == "default-1" and PolicyVersion.objects.count() == 0


def test_only_the_proposer_withdraws():
    proposal = propose()
    before = state()
    with pytest.raises(PolicyChangeRefused, match=r"Only the proposer \(user:ann\)"):
        policy_withdraw(proposal_id=proposal.pk, actor="user:bo")
    assert state() == before
    policy_withdraw(proposal_id=proposal.pk, actor="user:ann")
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("withdrawn", "user:ann")
    assert policy_events() == [("user:ann", "proposed"), ("user:ann", "withdrawn")]


@pytest.mark.parametrize("decided", ["approve", "reject", "withdraw"])
def test_a_decided_proposal_cannot_be_decided_again(decided):
    proposal = propose()
    {
        "approve": lambda: policy_approve(proposal_id=proposal.pk, actor="user:bo"),
        "reject": lambda: policy_reject(proposal_id=proposal.pk, actor="user:bo", note="no"),
        "withdraw": lambda: policy_withdraw(proposal_id=proposal.pk, actor="user:ann"),
    }[decided]()
    before = state()
    for attempt in (
        lambda: policy_approve(proposal_id=proposal.pk, actor="user:cy"),
        lambda: policy_reject(proposal_id=proposal.pk, actor="user:cy", note="no"),
        lambda: policy_withdraw(proposal_id=proposal.pk, actor="user:ann"),
    ):
        with pytest.raises(PolicyChangeRefused, match=f"Proposal #{proposal.pk} is .* already"):
            attempt()
    assert state() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"note": ""}, PolicyChangeRefused, "A note is required"),
        ({"note": "x" * 2001}, PolicyChangeRefused, "at most 2,000 characters"),
        ({"version": ""}, PolicyChangeRefused, "exists already"),
        ({"version": "existing"}, PolicyChangeRefused, "exists already; versions are never reused"),
        ({"changes": {"high_priority_score": 0.7}}, PolicyChangeRefused, "Nothing changed"),
        ({"based_on": "default-1"}, PolicyChangeRefused, "The policy changed since this page was loaded"),
        ({"changes": {"decline_threshold": 0.3}}, ContractError, "invalid decision policy"),
        ({"changes": {"known_fraud_floor": "maybe"}}, ContractError, "invalid decision policy"),
    ],
)
def test_invalid_proposals_are_refused_and_change_nothing(kwargs, error, message):
    policy_activate(version="existing", changes={"high_priority_score": 0.7}, actor="user:cy")
    before = state()
    arguments = {"version": "new-1", "changes": {"decline_threshold": 0.8}, "actor": "user:ann", "note": "why"}
    with pytest.raises(error, match=message):
        policy_propose(**{**arguments, **kwargs})
    assert state() == before


def test_one_pending_proposal_at_a_time_in_the_service_and_the_database():
    first = propose()
    with pytest.raises(PolicyChangeRefused, match="A proposal is pending already"):
        propose("tight-2", actor="user:bo")
    assert PolicyProposal.objects.count() == 1
    with pytest.raises(IntegrityError):  # the partial unique constraint holds without the service
        PolicyProposal.objects.create(
            version="raw", settings=first.settings, base_version="default-1", base_settings=DEFAULT, note="n",
            proposed_by="user:x",
        )  # fmt: skip


def test_the_database_refuses_a_proposal_without_a_note():
    with pytest.raises(IntegrityError):
        PolicyProposal.objects.create(
            version="raw", settings=DEFAULT, base_version="default-1", base_settings=DEFAULT, note="", proposed_by="x"
        )


def test_the_database_refuses_a_decided_status_without_a_decider():
    proposal = propose()
    proposal.status, proposal.decided_at = PolicyProposal.Status.REJECTED, timezone.now()
    with pytest.raises(IntegrityError):
        proposal.save()


# ------------------------------------------------------------------ the page


def admins(signed_in) -> tuple[Client, Client]:  # noqa: F811
    return signed_in("ann", roles.ADMIN), signed_in("bo", roles.ADMIN)


def test_propose_on_the_page_then_another_admin_approves_it(signed_in):  # noqa: F811
    ann, bo = admins(signed_in)
    page = ann.get(PAGE, {"decline_threshold": "0.8", "review_threshold": "0.5"}).content.decode()
    assert 'id="propose-form"' in page and 'id="activate-form"' not in page and "not implemented" not in page
    submitted = form_fields(page, "propose-form")
    assert (submitted["decline_threshold"], submitted["based_on"]) == ("0.8", "default-1")
    response = ann.post(PROPOSE, {**submitted, "version": "tight-1", "note": "chargebacks up"}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    html = response.content.decode()
    proposal = PolicyProposal.objects.get()
    assert f"Proposed policy tight-1 (proposal #{proposal.pk}); another admin must approve it." in html
    assert active_policy().version == "default-1"
    # The proposer sees the card with Withdraw, no Approve/Reject, and no second propose form.
    assert 'id="pending-proposal"' in html and 'id="withdraw-form"' in html
    assert 'id="approve-form"' not in html and 'id="reject-form"' not in html and 'id="propose-blocked"' in html

    page = bo.get(PAGE).content.decode()
    card = page[page.index('id="pending-proposal"') : page.index('id="whatif"')]
    assert "Proposed by <strong>user:ann</strong>" in card and "chargebacks up" in card
    assert '<tr data-setting="decline_threshold">' in card and '<tr data-setting="velocity_1h_limit">' not in card
    assert '<td class="mono">0.85</td>' in card and '<td class="mono">0.8</td>' in card
    assert 'id="approve-form"' in card and 'id="reject-form"' in card and 'id="withdraw-form"' not in card

    response = bo.post(approve_url(proposal), {"note": "ok"}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    html = response.content.decode()
    assert f"Approved proposal #{proposal.pk}: policy tight-1 is now active." in html
    assert 'id="pending-proposal"' not in html and 'id="propose-form"' in html
    assert f"approving proposal #{proposal.pk} by user:ann" in html  # the in-force card
    assert f"on proposal #{proposal.pk} by user:ann" in html  # the history row
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.review_threshold) == ("tight-1", 0.8, 0.5)
    assert policy_events() == [("user:ann", "proposed"), ("user:bo", "approved"), ("user:bo", "activated")]


def test_self_approval_on_the_page_is_a_400_and_changes_nothing(signed_in):  # noqa: F811
    ann, _ = admins(signed_in)
    proposal = propose()
    before = state()
    response = ann.post(approve_url(proposal), {"note": ""})
    assert response.status_code == 400
    assert "You proposed this change: another admin must approve it" in response.content.decode()
    assert ann.post(reject_url(proposal), {"note": "no"}).status_code == 400
    assert state() == before


def test_reject_on_the_page_needs_a_reason(signed_in):  # noqa: F811
    _, bo = admins(signed_in)
    proposal = propose()
    before = state()
    response = bo.post(reject_url(proposal), {"note": ""})
    assert response.status_code == 400
    assert "the note needs a reason" in response.content.decode()
    assert state() == before
    response = bo.post(reject_url(proposal), {"note": "not now"}, follow=True)
    assert f"Proposal #{proposal.pk} (tight-1) rejected." in response.content.decode()
    assert PolicyProposal.objects.get().status == "rejected"


def test_withdraw_on_the_page_only_by_the_proposer(signed_in):  # noqa: F811
    ann, bo = admins(signed_in)
    proposal = propose()
    before = state()
    assert bo.post(withdraw_url(proposal)).status_code == 400
    assert state() == before
    assert ann.post(withdraw_url(proposal)).status_code == 302
    assert PolicyProposal.objects.get().status == "withdrawn"
    assert policy_events() == [("user:ann", "proposed"), ("user:ann", "withdrawn")]


def test_approving_a_stale_proposal_on_the_page_says_it_is_superseded(signed_in):  # noqa: F811
    _, bo = admins(signed_in)
    proposal = propose()
    policy_activate(version="hotfix-1", changes={"velocity_1h_limit": 5000.0}, actor="user:cy")
    assert 'id="pending-stale"' in bo.get(PAGE).content.decode()
    response = bo.post(approve_url(proposal), follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert "superseded and nothing was activated" in response.content.decode()
    assert active_policy().version == "hotfix-1"
    assert PolicyProposal.objects.get().status == "superseded"


def test_a_decision_on_a_missing_proposal_is_a_400(signed_in):  # noqa: F811
    _, bo = admins(signed_in)
    response = bo.post(reverse("policy:approve", args=[999]))
    assert response.status_code == 400 and "There is no proposal #999" in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"note": ""}, "This field is required."),
        ({"decline_threshold": "0.3"}, "Thresholds must be ordered"),
        ({"version": "existing"}, "exists already; versions are never reused"),
        ({"based_on": "someone-elses-1"}, "The policy changed since this page was loaded"),
        ({"decline_threshold": "0.85"}, "Nothing changed: change at least one setting."),
    ],
)
def test_an_invalid_proposal_on_the_page_is_a_400_and_changes_nothing(signed_in, changes, message):  # noqa: F811
    policy_activate(version="existing", changes={"high_priority_score": 0.7}, actor="user:cy")
    ann, _ = admins(signed_in)
    before = state()
    form = {**active_policy().to_dict(), "version": "new-1", "based_on": "existing", "decline_threshold": "0.8",
            "note": "why", **changes}  # fmt: skip
    response = ann.post(PROPOSE, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert state() == before


def test_a_second_proposal_on_the_page_is_refused_while_one_is_pending(signed_in):  # noqa: F811
    _, bo = admins(signed_in)
    propose()
    before = state()
    form = {**DEFAULT, "version": "other-1", "based_on": "default-1", "decline_threshold": "0.9", "note": "why"}
    response = bo.post(PROPOSE, form)
    assert response.status_code == 400 and "A proposal is pending already" in response.content.decode()
    assert state() == before


def test_with_four_eyes_an_admin_cannot_activate_directly_and_it_is_audited(signed_in):  # noqa: F811
    ann, _ = admins(signed_in)
    before = state()
    form = {**DEFAULT, "version": "direct-1", "based_on": "default-1", "decline_threshold": "0.8"}
    response = ann.post(ACTIVATE, form)
    assert response.status_code == 403
    assert "Four eyes is on" in response.content.decode()
    assert state() == before
    denied = AuditEvent.objects.get(event_type=AuditEventType.PERMISSION_DENIED)
    assert (denied.actor, denied.payload["path"], denied.payload["reason"]) == (
        "user:ann", ACTIVATE, "four eyes: propose, don't activate",
    )  # fmt: skip


@pytest.mark.parametrize("role", [roles.ANALYST, roles.SENIOR_ANALYST, roles.COMPLIANCE])
def test_non_admins_see_the_pending_proposal_but_every_post_is_a_403(signed_in, role):  # noqa: F811
    user = signed_in(f"user-{role}", role)
    proposal = propose()
    html = user.get(PAGE).content.decode()
    assert 'id="pending-proposal"' in html and "chargebacks up 30%" in html
    assert 'id="approve-form"' not in html and 'id="reject-form"' not in html and 'id="withdraw-form"' not in html
    before = state()
    posts = [
        (PROPOSE, {**DEFAULT, "version": "x-1", "based_on": "default-1", "decline_threshold": "0.8", "note": "n"}),
        (approve_url(proposal), {"note": ""}),
        (reject_url(proposal), {"note": "no"}),
        (withdraw_url(proposal), {}),
    ]
    for path, data in posts:
        assert user.post(path, data).status_code == 403
        assert user.get(path).status_code == 405
    assert state() == before
    denied = AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED, actor=f"user:user-{role}")
    assert [event.payload["path"] for event in denied.order_by("sequence")] == [path for path, _ in posts]


def test_anonymous_posts_go_to_login_and_change_nothing(client):
    proposal = propose()
    before = state()
    for path in (PROPOSE, approve_url(proposal), reject_url(proposal), withdraw_url(proposal)):
        assert client.post(path, {"note": "n"})["Location"].startswith(reverse("login"))
    assert state() == before


def test_decisions_need_the_csrf_token(make_user):  # noqa: F811
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("bo", roles.ADMIN))
    proposal = propose()
    before = state()
    assert browser.post(approve_url(proposal), {"note": "ok"}).status_code == 403
    assert browser.post(PROPOSE, {**DEFAULT, "version": "x-1", "note": "n"}).status_code == 403
    assert state() == before


def test_hostile_proposals_are_escaped(signed_in):  # noqa: F811
    hostile = "<script>window.__pwned=1</script>"
    policy_propose(version=hostile[:64], changes={"decline_threshold": 0.8}, actor=hostile, note=hostile)
    html = signed_in("bo", roles.ADMIN).get(PAGE).content.decode()
    assert "<script>window.__pwned" not in html
    assert html.count("&lt;script&gt;window.__pwned=1&lt;/script&gt;") >= 3


# ------------------------------------------------------------------ four eyes off


def test_without_four_eyes_the_page_and_direct_path_activate_at_once(signed_in, settings):  # noqa: F811
    settings.FDE_POLICY_FOUR_EYES = False
    ann, _ = admins(signed_in)
    page = ann.get(PAGE).content.decode()
    assert 'id="activate-form"' in page and 'id="propose-form"' not in page
    submitted = {**form_fields(page, "activate-form"), "version": "direct-1", "decline_threshold": "0.8"}
    assert ann.post(ACTIVATE, submitted).status_code == 302
    assert active_policy().version == "direct-1"
    assert PolicyProposal.objects.count() == 0
    assert policy_events() == [("user:ann", "activated")]


def test_without_four_eyes_a_pending_proposal_can_still_be_decided(signed_in, settings):  # noqa: F811
    proposal = propose()
    settings.FDE_POLICY_FOUR_EYES = False
    _, bo = admins(signed_in)
    assert 'id="approve-form"' in bo.get(PAGE).content.decode()
    assert bo.post(approve_url(proposal)).status_code == 302
    assert active_policy().version == "tight-1"


# ------------------------------------------------------------------ concurrency (committed data, threads)


def run_at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; each closes its own connection."""
    barrier = threading.Barrier(count)

    def run(index: int):
        barrier.wait(timeout=30)
        try:
            return work(index)
        except PolicyChangeRefused as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_concurrent_approvals_by_different_admins_activate_once(self):
        proposal = propose()
        results = run_at_once(6, lambda i: policy_approve(proposal_id=proposal.pk, actor=f"user:checker{i}"))
        winners = [r for r in results if isinstance(r, PolicyVersion)]
        losers = [r for r in results if isinstance(r, PolicyChangeRefused)]
        assert (len(winners), len(losers)) == (1, 5)
        # The row lock makes the losers wait and then see the decision (not a unique-name collision).
        assert all(f"Proposal #{proposal.pk} is approved already" in r.message for r in losers)
        assert list(PolicyVersion.objects.values_list("version", "is_active")) == [("tight-1", True)]
        proposal.refresh_from_db()
        assert proposal.decided_by == winners[0].created_by
        assert [outcome for _, outcome in policy_events()] == ["proposed", "approved", "activated"]

    def test_approve_and_withdraw_at_once_have_one_winner(self):
        proposal = propose()
        results = run_at_once(2, lambda i: (
            policy_approve(proposal_id=proposal.pk, actor="user:bo") if i == 0
            else policy_withdraw(proposal_id=proposal.pk, actor="user:ann")
        ))  # fmt: skip
        assert sum(isinstance(r, PolicyChangeRefused) for r in results) == 1
        proposal.refresh_from_db()
        assert (proposal.status == "approved") is (PolicyVersion.objects.filter(is_active=True).count() == 1)
        assert len(policy_events()) == (3 if proposal.status == "approved" else 2)

    def test_concurrent_proposals_leave_one_pending(self):
        results = run_at_once(
            6,
            lambda i: policy_propose(
                version=f"p-{i}", changes={"decline_threshold": 0.8}, actor=f"user:maker{i}", note="why"
            ),
        )
        assert sum(isinstance(r, PolicyProposal) for r in results) == 1
        assert all("A proposal is pending already" in r.message for r in results if isinstance(r, Exception))
        assert PolicyProposal.objects.filter(status="pending").count() == 1
        assert [outcome for _, outcome in policy_events()] == ["proposed"]
