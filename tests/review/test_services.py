"""Claim, release, resolve and notes, on cases made by the real pipeline (real PostgreSQL)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent, AuditEventType
from decisioning.models import FeedbackEvent, GatewayCall
from review import services
from review.models import CaseNote, ReviewCase

pytestmark = pytest.mark.django_db


def snapshot(case: ReviewCase) -> tuple:
    case.refresh_from_db()
    return (
        case.status, case.assignee_id, case.resolution, case.resolution_reason, case.outcome,
        GatewayCall.objects.filter(decision=case.decision).count(),
        FeedbackEvent.objects.filter(decision=case.decision).count(),
        CaseNote.objects.filter(case=case).count(),
    )  # fmt: skip


def events(case: ReviewCase, event_type: AuditEventType) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(case_id=case.pk, event_type=event_type))


class TestOpen:
    def test_pipeline_opens_case_with_merchant_name_and_sla(self, fallback_case):
        case = fallback_case(merchant_name="Gadget Hut")
        assert case.status == ReviewCase.Status.OPEN
        assert case.merchant_name == "Gadget Hut"
        assert case.reason_codes == ["INSUFFICIENT_FEATURES"]
        assert case.priority == ReviewCase.Priority.NORMAL
        assert case.sla_due_at - case.created_at == timedelta(minutes=240)
        assert len(events(case, AuditEventType.CASE_OPENED)) == 1


class TestClaimNext:
    def test_takes_high_priority_then_largest_expected_loss(self, fallback_case, make_user):
        small = fallback_case(amount="100.00")
        large = fallback_case(amount="900.00")
        high = fallback_case(amount="10.00")
        ReviewCase.objects.filter(pk=high.pk).update(priority="high", priority_rank=0)
        alice = make_user("alice", "analyst")
        order = [services.case_claim_next(user=alice).pk for _ in range(3)]
        assert order == [high.pk, large.pk, small.pk]
        assert services.case_claim_next(user=alice) is None

    def test_claim_sets_holder_and_is_audited(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        claimed = services.case_claim_next(user=alice)
        assert (claimed.pk, claimed.status, claimed.assignee) == (case.pk, "claimed", alice)
        assert claimed.claimed_at is not None and claimed.last_activity_at is not None
        [event] = events(case, AuditEventType.CASE_CLAIMED)
        assert (event.actor, event.outcome, event.payload["via"]) == ("user:alice", "claimed", "take_next")

    def test_skips_cases_held_by_others_but_takes_idle_claims(self, fallback_case, make_user, settings):
        settings.FDE_CLAIM_IDLE_MINUTES = 30
        case = fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        assert services.case_claim_next(user=bob) is None
        ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=timezone.now() - timedelta(minutes=31))
        taken = services.case_claim_next(user=bob)
        assert (taken.pk, taken.assignee) == (case.pk, bob)
        assert events(case, AuditEventType.CASE_CLAIMED)[-1].payload["previous_assignee"] == "alice"


class TestClaim:
    def test_held_case_is_refused_with_holder_named_and_unchanged(self, fallback_case, make_user):
        case = fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        before = snapshot(case)
        with pytest.raises(services.CaseActionRefused, match="already claimed by alice"):
            services.case_claim(case_id=case.pk, user=bob)
        assert snapshot(case) == before
        assert len(events(case, AuditEventType.CASE_CLAIMED)) == 1

    def test_resolved_case_cannot_be_claimed(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        services.case_resolve(case_id=case.pk, user=alice, resolution="approve", reason="customer_confirmed")
        with pytest.raises(services.CaseActionRefused, match="already resolved"):
            services.case_claim(case_id=case.pk, user=make_user("bob", "analyst"))


class TestRelease:
    def test_holder_releases_back_to_queue(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        services.case_release(case_id=case.pk, user=alice)
        case.refresh_from_db()
        assert (case.status, case.assignee, case.claimed_at) == ("open", None, None)
        assert events(case, AuditEventType.CASE_RELEASED)[0].payload["previous_assignee"] == "alice"

    def test_non_holder_cannot_release(self, fallback_case, make_user):
        case = fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        before = snapshot(case)
        with pytest.raises(services.CaseActionRefused):
            services.case_release(case_id=case.pk, user=bob)
        assert snapshot(case) == before


class TestResolve:
    def test_approve_authorises_once_records_outcome_and_audits(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        resolved = services.case_resolve(
            case_id=case.pk, user=alice, resolution="approve", reason="customer_confirmed", note="called her"
        )
        [call] = GatewayCall.objects.filter(decision=case.decision)
        assert (call.kind, resolved.gateway_reference) == ("authorise", call.reference_id)
        [feedback] = FeedbackEvent.objects.filter(decision=case.decision)
        assert (feedback.source, feedback.event_id, feedback.outcome, feedback.is_fraud, feedback.note) == (
            "analyst", f"case-{case.pk}-resolution", "legitimate", False, "called her",
        )  # fmt: skip
        assert (resolved.status, resolved.resolution, resolved.outcome, resolved.resolved_by) == (
            "resolved", "approve", "legitimate", alice,
        )  # fmt: skip
        [event] = events(case, AuditEventType.CASE_RESOLVED)
        assert (event.outcome, event.payload["reason"], event.payload["gateway_reference"]) == (
            "approve", "customer_confirmed", call.reference_id,
        )  # fmt: skip

    def test_decline_declines_with_case_reason_codes_and_labels_fraud(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        services.case_resolve(case_id=case.pk, user=alice, resolution="decline", reason="customer_denied")
        [call] = GatewayCall.objects.filter(decision=case.decision)
        assert (call.kind, call.reason_codes) == ("decline", ["INSUFFICIENT_FEATURES"])
        assert FeedbackEvent.objects.get(decision=case.decision).outcome == "fraud_confirmed"

    def test_resolving_a_case_you_do_not_hold_changes_nothing(self, fallback_case, make_user):
        case = fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        before, audit_count = snapshot(case), AuditEvent.objects.count()
        with pytest.raises(services.CaseActionRefused, match="do not hold"):
            services.case_resolve(case_id=case.pk, user=bob, resolution="approve", reason="customer_confirmed")
        assert snapshot(case) == before
        assert AuditEvent.objects.count() == audit_count

    def test_resolving_an_open_case_is_refused(self, fallback_case, make_user):
        case = fallback_case()
        before = snapshot(case)
        with pytest.raises(services.CaseActionRefused):
            services.case_resolve(case_id=case.pk, user=make_user("alice", "analyst"), resolution="approve",
                                  reason="customer_confirmed")  # fmt: skip
        assert snapshot(case) == before

    def test_resolving_twice_is_refused_and_executes_once(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        services.case_resolve(case_id=case.pk, user=alice, resolution="approve", reason="customer_confirmed")
        before = snapshot(case)
        with pytest.raises(services.CaseActionRefused, match="already resolved"):
            services.case_resolve(case_id=case.pk, user=alice, resolution="decline", reason="customer_denied")
        assert snapshot(case) == before

    @pytest.mark.parametrize(("resolution", "reason"), [("approve", ""), ("approve", "customer_denied"), ("x", "y")])
    def test_reason_must_come_from_the_list_for_that_resolution(self, fallback_case, make_user, resolution, reason):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        before = snapshot(case)
        with pytest.raises(services.CaseActionRefused):
            services.case_resolve(case_id=case.pk, user=alice, resolution=resolution, reason=reason)
        assert snapshot(case) == before

    def test_gateway_failure_rolls_back_everything(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        before, audit_count = snapshot(case), AuditEvent.objects.count()

        class BrokenGateway:
            def authorise(self, record):
                raise ConnectionError("rail down")

        with pytest.raises(ConnectionError):
            services.case_resolve(case_id=case.pk, user=alice, resolution="approve", reason="customer_confirmed",
                                  gateway=BrokenGateway())  # fmt: skip
        assert snapshot(case) == before
        assert AuditEvent.objects.count() == audit_count


class TestNotes:
    def test_holder_adds_audited_note(self, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        note = services.case_add_note(case_id=case.pk, user=alice, text="  <b>called</b> customer  ")
        assert note.text == "<b>called</b> customer"
        [event] = events(case, AuditEventType.NOTE_ADDED)
        assert (event.actor, event.payload["text"]) == ("user:alice", "<b>called</b> customer")

    def test_non_holder_analyst_and_resolved_case_are_refused(self, fallback_case, make_user):
        case = fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        with pytest.raises(services.CaseActionRefused, match="Claim case"):
            services.case_add_note(case_id=case.pk, user=bob, text="hi")
        services.case_resolve(case_id=case.pk, user=alice, resolution="approve", reason="customer_confirmed")
        with pytest.raises(services.CaseActionRefused, match="read-only"):
            services.case_add_note(case_id=case.pk, user=alice, text="late")
        assert CaseNote.objects.count() == 0


class TestBulk:
    def test_senior_assigns_open_and_claimed_cases_and_skips_resolved(self, fallback_case, make_user):
        open_case, held, done = fallback_case(), fallback_case(), fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        senior = make_user("sam", "senior_analyst")
        services.case_claim(case_id=held.pk, user=alice)
        services.case_claim(case_id=done.pk, user=alice)
        services.case_resolve(case_id=done.pk, user=alice, resolution="approve", reason="customer_confirmed")
        result = services.case_bulk_assign(case_ids=[open_case.pk, held.pk, done.pk], assignee=bob, actor_user=senior)
        assert (result.changed, result.skipped) == ((open_case.pk, held.pk), (done.pk,))
        assert set(ReviewCase.objects.filter(assignee=bob).values_list("pk", flat=True)) == {open_case.pk, held.pk}
        event = events(held, AuditEventType.CASE_CLAIMED)[-1]
        assert (event.actor, event.payload["assignee"], event.payload["previous_assignee"]) == (
            "user:sam", "bob", "alice",
        )  # fmt: skip

    def test_senior_releases_claimed_cases_only(self, fallback_case, make_user):
        open_case, held = fallback_case(), fallback_case()
        alice, senior = make_user("alice", "analyst"), make_user("sam", "senior_analyst")
        services.case_claim(case_id=held.pk, user=alice)
        result = services.case_bulk_release(case_ids=[open_case.pk, held.pk], actor_user=senior)
        assert (result.changed, result.skipped) == ((held.pk,), (open_case.pk,))
        held.refresh_from_db()
        assert (held.status, held.assignee) == ("open", None)


# --------------------------------------------------------------------------- concurrency (committed data, threads)


def run_at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; each closes its own connection."""
    barrier = threading.Barrier(count)

    def run(index: int):
        barrier.wait(timeout=30)
        try:
            return work(index)
        except services.CaseActionRefused as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_concurrent_claims_of_one_case_have_one_winner(self, fallback_case, make_user):
        case = fallback_case()
        users = [make_user(f"analyst{i}", "analyst") for i in range(8)]
        results = run_at_once(8, lambda i: services.case_claim(case_id=case.pk, user=users[i]))
        winners = [r for r in results if isinstance(r, ReviewCase)]
        losers = [r for r in results if isinstance(r, services.CaseActionRefused)]
        assert (len(winners), len(losers)) == (1, 7)
        case.refresh_from_db()
        assert case.assignee == winners[0].assignee
        assert all(f"already claimed by {case.assignee.username}" in r.message for r in losers)
        assert len(events(case, AuditEventType.CASE_CLAIMED)) == 1

    def test_concurrent_take_next_gives_each_analyst_a_different_case(self, fallback_case, make_user):
        cases = [fallback_case() for _ in range(5)]
        users = [make_user(f"analyst{i}", "analyst") for i in range(8)]
        results = run_at_once(8, lambda i: services.case_claim_next(user=users[i]))
        taken = [r.pk for r in results if isinstance(r, ReviewCase)]
        assert sorted(taken) == sorted(c.pk for c in cases)
        assert results.count(None) == 3
        assert ReviewCase.objects.filter(status="claimed").values("assignee").distinct().count() == 5

    def test_concurrent_resolves_from_two_users_execute_once(self, fallback_case, make_user):
        case = fallback_case()
        alice, bob = make_user("alice", "analyst"), make_user("bob", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        attempts = [(alice, "approve", "customer_confirmed"), (bob, "decline", "customer_denied")] * 3
        results = run_at_once(6, lambda i: services.case_resolve(
            case_id=case.pk, user=attempts[i][0], resolution=attempts[i][1], reason=attempts[i][2]))  # fmt: skip
        assert sum(isinstance(r, ReviewCase) for r in results) == 1
        case.refresh_from_db()
        assert (case.status, case.resolution, case.resolved_by) == ("resolved", "approve", alice)
        assert list(GatewayCall.objects.filter(decision=case.decision).values_list("kind", flat=True)) == ["authorise"]
        assert FeedbackEvent.objects.filter(decision=case.decision).count() == 1
        assert len(events(case, AuditEventType.CASE_RESOLVED)) == 1

    def test_bulk_assign_races_claim_without_two_holders(self, fallback_case, make_user):
        case = fallback_case()
        alice, bob, senior = (
            make_user("alice", "analyst"),
            make_user("bob", "analyst"),
            make_user("sam", "senior_analyst"),
        )
        work = [
            lambda: services.case_claim(case_id=case.pk, user=alice),
            lambda: services.case_bulk_assign(case_ids=[case.pk], assignee=bob, actor_user=senior),
        ]
        run_at_once(2, lambda i: work[i]())
        case.refresh_from_db()
        assert case.status == "claimed" and case.assignee in (alice, bob)
        last = events(case, AuditEventType.CASE_CLAIMED)[-1]
        assert last.payload["assignee"] == case.assignee.username


def test_resolution_goes_to_the_payment_rail_the_execution_layer_uses(fallback_case, make_user, settings):
    """With the HTTP gateway configured, an analyst's approval is an outbox row for the rail, not only a DB row."""
    from decisioning.models.outbox import OutboxMessage
    from decisioning.service import reset_default_service

    case = fallback_case()
    settings.FDE_PAYMENT_GATEWAY_URL = "http://127.0.0.1:9/rail"  # delivery is after commit; never reached here
    reset_default_service()
    analyst = make_user("alice", "analyst")
    services.case_claim(case_id=case.pk, user=analyst)
    before = set(OutboxMessage.objects.values_list("pk", flat=True))
    resolved = services.case_resolve(case_id=case.pk, user=analyst, resolution="approve", reason="customer_confirmed")
    sent = list(OutboxMessage.objects.exclude(pk__in=before))
    assert [message.kind for message in sent] == ["gateway.authorise"]
    assert json.loads(sent[0].body)["reference_id"] == resolved.gateway_reference
