"""``manage.py policy``: thresholds change without retraining, audited; bad changes change nothing.

With four eyes on (the default) ``set`` proposes and ``approve`` by another operator activates;
with it off ``set`` activates at once.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from decisioning.models import PolicyProposal, PolicyVersion
from decisioning.policy import active_policy, policy_activate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("policy", *args, stdout=out)
    return out.getvalue()


def policy_outcomes() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(event_type="policy.changed").values_list("actor", "outcome"))


@pytest.fixture
def four_eyes_off(settings) -> None:
    settings.FDE_POLICY_FOUR_EYES = False


@pytest.fixture(autouse=True)
def admins(django_user_model) -> None:
    """The operators the commands name: real admins of the web UI (four eyes checks that)."""
    from django.contrib.auth.models import Group

    group = Group.objects.get_or_create(name="admin")[0]
    for name in ("ann", "bo", "cy"):
        django_user_model.objects.create_user(name, password="pw").groups.add(group)


@pytest.mark.parametrize("actor", ["mallory", "system:cron", "dave"])
def test_four_eyes_from_the_shell_needs_a_real_active_admin(django_user_model, actor):
    django_user_model.objects.create_user("dave", password="pw")  # a user, but no admin role
    with pytest.raises(CommandError, match="is not an active admin user"):
        run("set", "tight-1", "decline_threshold=0.8", "--actor", actor, "--note", "why")
    run("set", "tight-1", "decline_threshold=0.8", "--actor", "ann", "--note", "why")
    proposal = PolicyProposal.objects.get()
    with pytest.raises(CommandError, match="is not an active admin user"):
        run("approve", str(proposal.pk), "--actor", actor)
    assert PolicyProposal.objects.get().status == PolicyProposal.Status.PENDING
    assert not PolicyVersion.objects.exists()


# ------------------------------------------------------------------ four eyes on (the default)


def test_set_proposes_and_another_operator_approves_it():
    out = run("set", "tight-1", "decline_threshold=0.8", "review_threshold=0.5", "--actor", "ann", "--note", "CB spike")
    proposal = PolicyProposal.objects.get()
    assert f"Proposed policy tight-1 as proposal #{proposal.pk}" in out
    assert (proposal.proposed_by, proposal.note, proposal.status) == ("user:ann", "CB spike", "pending")
    assert active_policy().version == "default-1" and PolicyVersion.objects.count() == 0  # nothing applied yet

    listed = run("proposals", "--pending")
    assert f"#{proposal.pk} tight-1 [pending] proposed by user:ann" in listed
    assert '"decline_threshold": {"from": 0.85, "to": 0.8}' in listed

    out = run("approve", str(proposal.pk), "--actor", "bo", "--note", "checked the what-if")
    assert f"Approved proposal #{proposal.pk}; policy tight-1 is now active." in out
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.review_threshold) == ("tight-1", 0.8, 0.5)
    assert policy.challenge_threshold == 0.40  # unchanged fields carried over
    assert policy_outcomes() == [("user:ann", "proposed"), ("user:bo", "approved"), ("user:bo", "activated")]
    assert json.loads(run("show"))["version"] == "tight-1"
    assert "[approved by user:bo" in run("proposals")


@pytest.mark.parametrize("actor", ["ann", "user:ann"])
def test_the_proposer_cannot_approve_under_either_spelling_of_the_name(actor):
    run("set", "tight-1", "decline_threshold=0.8", "--actor", "ann", "--note", "why")
    proposal = PolicyProposal.objects.get()
    with pytest.raises(CommandError, match="another admin must approve it"):
        run("approve", str(proposal.pk), "--actor", actor)
    proposal.refresh_from_db()
    assert proposal.status == "pending" and PolicyVersion.objects.count() == 0
    assert policy_outcomes() == [("user:ann", "proposed")]


def test_reject_needs_a_reason_and_withdraw_only_the_proposer():
    run("set", "tight-1", "decline_threshold=0.8", "--actor", "ann", "--note", "why")
    proposal_id = str(PolicyProposal.objects.get().pk)
    with pytest.raises(CommandError, match="A note is required"):
        run("reject", proposal_id, "--actor", "bo")
    with pytest.raises(CommandError, match=r"Only the proposer \(user:ann\) can withdraw"):
        run("withdraw", proposal_id, "--actor", "bo")
    out = run("reject", proposal_id, "--actor", "bo", "--note", "no")
    assert f"Proposal #{proposal_id} (tight-1) is rejected." in out
    with pytest.raises(CommandError, match="is rejected already"):
        run("approve", proposal_id, "--actor", "cy")
    assert active_policy().version == "default-1"
    assert policy_outcomes() == [("user:ann", "proposed"), ("user:bo", "rejected")]


def test_set_with_four_eyes_needs_an_actor_and_a_note():
    for extra in ([], ["--actor", "ann"], ["--note", "why"], ["--actor", "ann", "--note", "  "]):
        with pytest.raises(CommandError, match="needs --actor and --note"):
            run("set", "tight-1", "decline_threshold=0.8", *extra)
    assert PolicyProposal.objects.count() == 0 and policy_outcomes() == []


def test_only_one_proposal_is_pending_at_a_time():
    run("set", "tight-1", "decline_threshold=0.8", "--actor", "ann", "--note", "why")
    with pytest.raises(CommandError, match="A proposal is pending already"):
        run("set", "tight-2", "decline_threshold=0.9", "--actor", "bo", "--note", "why")
    assert list(PolicyProposal.objects.values_list("version", flat=True)) == ["tight-1"]


def test_an_unknown_proposal_is_refused():
    with pytest.raises(CommandError, match="There is no proposal #999"):
        run("approve", "999", "--actor", "bo")


def test_no_proposals_says_so():
    assert run("proposals").strip() == "No proposals."


@pytest.mark.parametrize(
    "change",
    ["decline_threshold=0.3", "decline_threshold=high", "shoe_size=9", "decline_threshold", "decline_threshold=0.85"],
)
def test_bad_proposals_are_refused_and_change_nothing(change):
    with pytest.raises(CommandError):
        run("set", "bad-1", change, "--actor", "ann", "--note", "why")
    assert PolicyProposal.objects.count() == 0 and PolicyVersion.objects.count() == 0
    assert active_policy().version == "default-1"
    assert policy_outcomes() == []


def test_a_proposal_never_reuses_a_version_name():
    policy_activate(version="v-1", changes={"decline_threshold": 0.9}, actor="user:ann")
    with pytest.raises(CommandError, match="exists already"):
        run("set", "v-1", "decline_threshold=0.95", "--actor", "ann", "--note", "why")
    assert PolicyProposal.objects.count() == 0


# ------------------------------------------------------------------ four eyes off: direct activation


def test_set_activates_a_new_version_and_audits_it(four_eyes_off):
    out = run("set", "tight-1", "decline_threshold=0.8", "review_threshold=0.5")
    assert out.startswith("Activated policy tight-1")
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.review_threshold) == ("tight-1", 0.8, 0.5)
    assert policy.challenge_threshold == 0.40  # unchanged fields carried over
    event = AuditEvent.objects.get(event_type="policy.changed")
    assert (event.actor, event.outcome, event.payload["to"]["decline_threshold"]) == ("system:cli", "activated", 0.8)
    assert PolicyProposal.objects.count() == 0
    assert json.loads(run("show"))["version"] == "tight-1"


@pytest.mark.parametrize(
    "change",
    ["decline_threshold=0.3", "decline_threshold=high", "shoe_size=9", "decline_threshold"],
)
def test_bad_changes_are_refused_and_change_nothing(four_eyes_off, change):
    with pytest.raises(CommandError):
        run("set", "bad-1", change)
    assert PolicyVersion.objects.count() == 0
    assert active_policy().version == "default-1"
    assert not AuditEvent.objects.filter(event_type="policy.changed").exists()


def test_versions_are_never_reused(four_eyes_off):
    run("set", "v-1", "decline_threshold=0.9")
    with pytest.raises(CommandError, match="exists already"):
        run("set", "v-1", "decline_threshold=0.95")
