"""Services that write review cases. Each runs in a transaction and writes its audit event.

Claims are atomic conditional UPDATEs (``… WHERE status = 'open'`` or an idle claim), so two
analysts can never hold the same case: the database serialises the row and the loser's WHERE no
longer matches. Resolutions lock the case row, so the final action runs exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record
from decisioning.contracts import DecisionResult
from decisioning.execution.gateway import PaymentGateway
from decisioning.feedback import feedback_record
from decisioning.models import DecisionRecord

from .models import UNRESOLVED_STATUSES, CaseNote, ReviewCase
from .reasons import RESOLUTION_REASONS, ResolutionReason

#: The ``source`` of feedback events recorded by case resolutions.
ANALYST_SOURCE = "analyst"


class CaseActionRefused(Exception):
    """The action is not allowed in the case's current state; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def actor_of(user: Any) -> str:
    return f"user:{user.get_username()}"


def _queue_order() -> tuple[str, ...]:
    return ("priority_rank", "-expected_loss", "created_at", "id")


def idle_cutoff(now: datetime | None = None) -> datetime:
    """Claims whose last activity is before this may be taken by someone else."""
    return (now or timezone.now()) - timedelta(minutes=settings.FDE_CLAIM_IDLE_MINUTES)


def claimable_q(now: datetime | None = None) -> Q:
    """Open cases, and claimed cases whose holder has been idle too long."""
    expired = Q(status=ReviewCase.Status.CLAIMED) & (
        Q(last_activity_at__lt=idle_cutoff(now)) | Q(last_activity_at__isnull=True)
    )
    return Q(status=ReviewCase.Status.OPEN) | expired


# --------------------------------------------------------------------------- open


def case_open(
    *, record: DecisionRecord, decision: DecisionResult, high_priority_score: float, actor: str
) -> ReviewCase:
    """Open the review case for a decision sent to review (inside the decision's transaction)."""
    is_high = decision.fraud_score > high_priority_score
    priority = ReviewCase.Priority.HIGH if is_high else ReviewCase.Priority.NORMAL
    now = timezone.now()
    expected_loss = (record.amount * Decimal(str(decision.fraud_score))).quantize(Decimal("0.01"), ROUND_HALF_UP)
    merchant_name = str((record.transaction or {}).get("merchant_name", ""))[:200]
    with transaction.atomic():
        case = ReviewCase.objects.create(
            decision=record,
            request_id=record.request_id,
            transaction_id=record.transaction_id,
            customer_id=record.customer_id,
            merchant_id=record.merchant_id,
            merchant_name=merchant_name,
            amount=record.amount,
            currency=record.currency,
            fraud_score=decision.fraud_score,
            expected_loss=expected_loss,
            reason_codes=list(decision.reason_codes),
            priority=priority,
            priority_rank=0 if is_high else 1,
            sla_due_at=now + timedelta(minutes=settings.FDE_REVIEW_SLA_MINUTES[priority]),
            created_at=now,
        )
        audit_record(
            event_type=AuditEventType.CASE_OPENED,
            actor=actor,
            request_id=record.request_id,
            customer_id=record.customer_id,
            case_id=case.pk,
            outcome=priority,
            payload={"fraud_score": decision.fraud_score, "reason_codes": list(decision.reason_codes)},
        )
    return case


# --------------------------------------------------------------------------- claims


def _audit_case(case: ReviewCase, event_type: AuditEventType, *, actor: str, outcome: str, **payload: Any) -> None:
    audit_record(
        event_type=event_type,
        actor=actor,
        request_id=case.request_id,
        customer_id=case.customer_id,
        case_id=case.pk,
        outcome=outcome,
        payload=payload,
    )


def _mark_claimed(case: ReviewCase, user: User, *, actor: str, via: str) -> ReviewCase:
    """Write the claim on a locked (or conditionally updated) row and audit it."""
    previous = case.assignee.get_username() if case.assignee is not None else None
    now = timezone.now()
    ReviewCase.objects.filter(pk=case.pk).update(
        status=ReviewCase.Status.CLAIMED, assignee=user, claimed_at=now, last_activity_at=now
    )
    case.refresh_from_db()
    _audit_case(
        case, AuditEventType.CASE_CLAIMED, actor=actor, outcome="claimed",
        assignee=user.get_username(), previous_assignee=previous, via=via,
    )  # fmt: skip
    return case


def case_claim_next(*, user: User) -> ReviewCase | None:
    """Claim the top claimable case in queue order for ``user``; None when the queue is empty.

    ``SKIP LOCKED`` lets many analysts take next at once: each gets a different case.
    """
    with transaction.atomic():
        case = (
            ReviewCase.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=UNRESOLVED_STATUSES)
            .filter(claimable_q())
            .order_by(*_queue_order())
            .first()
        )
        if case is None:
            return None
        return _mark_claimed(case, user, actor=actor_of(user), via="take_next")


def case_claim(*, case_id: int, user: User) -> ReviewCase:
    """Claim one case. Refused (nothing changes) when someone else holds it or it is resolved.

    The row lock serialises concurrent claims: the second waits, then sees the first one's claim.
    """
    with transaction.atomic():
        case = ReviewCase.objects.select_for_update(of=("self",)).filter(pk=case_id).first()
        if case is None:
            raise CaseActionRefused(f"Case {case_id} does not exist.")
        if case.status == ReviewCase.Status.CLAIMED and case.assignee_id == user.pk:
            case_touch(case=case, user=user)
            return case
        if not _is_claimable(case):
            raise CaseActionRefused(_not_claimable_message(case))
        return _mark_claimed(case, user, actor=actor_of(user), via="claim")


def _is_claimable(case: ReviewCase) -> bool:
    if case.status == ReviewCase.Status.OPEN:
        return True
    idle = case.last_activity_at is None or case.last_activity_at < idle_cutoff()
    return case.status == ReviewCase.Status.CLAIMED and idle


def _not_claimable_message(case: ReviewCase) -> str:
    if case.is_resolved:
        return f"Case {case.pk} is already resolved."
    holder = case.assignee.get_username() if case.assignee else "another analyst"
    return f"Case {case.pk} is already claimed by {holder}; it is theirs now. Take the next case instead."


def case_release(*, case_id: int, user: User) -> ReviewCase:
    """Give a case you hold back to the queue."""
    with transaction.atomic():
        released = ReviewCase.objects.filter(pk=case_id, status=ReviewCase.Status.CLAIMED, assignee=user).update(
            status=ReviewCase.Status.OPEN, assignee=None, claimed_at=None, last_activity_at=None
        )
        if not released:
            raise CaseActionRefused(f"You do not hold case {case_id}, so you cannot release it.")
        case = ReviewCase.objects.get(pk=case_id)
        _audit_case(case, AuditEventType.CASE_RELEASED, actor=actor_of(user), outcome="released",
                    previous_assignee=user.get_username(), via="release")  # fmt: skip
    return case


def case_touch(*, case: ReviewCase, user: User) -> None:
    """Record activity by the holder (viewing their case), which keeps the claim from expiring."""
    ReviewCase.objects.filter(pk=case.pk, status=ReviewCase.Status.CLAIMED, assignee=user).update(
        last_activity_at=timezone.now()
    )


# --------------------------------------------------------------------------- bulk (senior analysts)


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a bulk action did: the case ids changed and those skipped (resolved or missing)."""

    changed: tuple[int, ...]
    skipped: tuple[int, ...]


def _locked_unresolved(case_ids: Iterable[int]) -> list[ReviewCase]:
    # Lock in id order so two bulk actions over overlapping cases cannot deadlock.
    return list(
        ReviewCase.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .filter(pk__in=list(case_ids), status__in=UNRESOLVED_STATUSES)
        .order_by("id")
    )


def case_bulk_assign(*, case_ids: Iterable[int], assignee: User, actor_user: User) -> BulkResult:
    """Assign unresolved cases to one analyst (a senior's override of any current claim)."""
    wanted = sorted(set(case_ids))
    with transaction.atomic():
        cases = _locked_unresolved(wanted)
        for case in cases:
            _mark_claimed(case, assignee, actor=actor_of(actor_user), via="bulk_assign")
    changed = tuple(case.pk for case in cases)
    return BulkResult(changed=changed, skipped=tuple(i for i in wanted if i not in changed))


def case_bulk_release(*, case_ids: Iterable[int], actor_user: User) -> BulkResult:
    """Return claimed cases to the queue, whoever holds them."""
    wanted = sorted(set(case_ids))
    with transaction.atomic():
        cases = [case for case in _locked_unresolved(wanted) if case.status == ReviewCase.Status.CLAIMED]
        for case in cases:
            previous = case.assignee.get_username() if case.assignee else None
            ReviewCase.objects.filter(pk=case.pk).update(
                status=ReviewCase.Status.OPEN, assignee=None, claimed_at=None, last_activity_at=None
            )
            _audit_case(case, AuditEventType.CASE_RELEASED, actor=actor_of(actor_user), outcome="released",
                        previous_assignee=previous, via="bulk_release")  # fmt: skip
    changed = tuple(case.pk for case in cases)
    return BulkResult(changed=changed, skipped=tuple(i for i in wanted if i not in changed))


# --------------------------------------------------------------------------- notes


def case_add_note(*, case_id: int, user: User, text: str, may_note_any: bool = False) -> CaseNote:
    """Add a note to an unresolved case you hold (seniors: any unresolved case)."""
    text = text.strip()
    if not text:
        raise CaseActionRefused("A note cannot be empty.")
    with transaction.atomic():
        case = ReviewCase.objects.select_for_update(of=("self",)).filter(pk=case_id).first()
        if case is None or case.is_resolved:
            raise CaseActionRefused(f"Case {case_id} is resolved and read-only.")
        if not may_note_any and not (case.status == ReviewCase.Status.CLAIMED and case.assignee_id == user.pk):
            raise CaseActionRefused(f"Claim case {case_id} before adding notes to it.")
        note = CaseNote.objects.create(case=case, author=user, text=text)
        if case.assignee_id == user.pk:
            ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=timezone.now())
        _audit_case(case, AuditEventType.NOTE_ADDED, actor=actor_of(user), outcome="noted",
                    note_id=note.pk, text=text)  # fmt: skip
    return note


# --------------------------------------------------------------------------- resolve


def case_resolve(
    *,
    case_id: int,
    user: User,
    resolution: str,
    reason: str,
    note: str = "",
    gateway: PaymentGateway | None = None,
) -> ReviewCase:
    """Approve or decline a case you hold: execute the final action once, record the outcome.

    The gateway call, the case update, the feedback event and the audit events commit in one
    transaction. Refused (nothing changes) when you don't hold the case or it is already resolved.
    """
    chosen = _checked_reason(resolution, reason)
    with transaction.atomic():
        case = ReviewCase.objects.select_for_update(of=("self",)).select_related("decision").filter(pk=case_id).first()
        _check_may_resolve(case, case_id, user)
        assert case is not None  # for the type checker: _check_may_resolve refused None
        reference = _execute_final_action(case, resolution, gateway)
        event, _ = feedback_record(
            decision=case.decision, outcome=chosen.outcome, source=ANALYST_SOURCE,
            event_id=f"case-{case.pk}-resolution", actor=actor_of(user), note=note.strip(),
        )  # fmt: skip
        now = timezone.now()
        case.status = ReviewCase.Status.RESOLVED
        case.resolution, case.resolution_reason, case.resolution_note = resolution, reason, note.strip()
        case.resolved_at, case.resolved_by, case.last_activity_at = now, user, now
        case.outcome, case.gateway_reference = event.outcome, reference
        case.save()
        _audit_case(
            case, AuditEventType.CASE_RESOLVED, actor=actor_of(user), outcome=resolution,
            reason=reason, note=case.resolution_note, feedback_outcome=event.outcome, gateway_reference=reference,
        )  # fmt: skip
    return case


def _checked_reason(resolution: str, reason: str) -> ResolutionReason:
    if resolution not in ReviewCase.Resolution.values:
        raise CaseActionRefused("Choose approve or decline.")
    chosen = RESOLUTION_REASONS.get(reason)
    if chosen is None or chosen.resolution != resolution:
        raise CaseActionRefused(f"Choose a reason for the {resolution} from the list.")
    return chosen


def _check_may_resolve(case: ReviewCase | None, case_id: int, user: User) -> None:
    if case is None:
        raise CaseActionRefused(f"Case {case_id} does not exist.")
    if case.is_resolved:
        raise CaseActionRefused(f"Case {case_id} is already resolved; it is read-only.")
    if case.status != ReviewCase.Status.CLAIMED or case.assignee_id != user.pk:
        raise CaseActionRefused(f"You do not hold case {case_id}; claim it before resolving it.")


def _execute_final_action(case: ReviewCase, resolution: str, gateway: PaymentGateway | None) -> str:
    """The analyst's decision on the payment rail, through the Execution layer (its configured gateway).

    ``gateway`` overrides the layer's gateway (tests with a failing rail).
    """
    # Imported here: the Execution layer imports this module to open cases.
    from decisioning.execution.layer import ExecutionLayer
    from decisioning.service import default_service

    execution = default_service().execution
    if gateway is not None:
        execution = ExecutionLayer(counters=execution.counters, policy=execution.policy, gateway=gateway)
    approve = resolution == ReviewCase.Resolution.APPROVE
    return execution.execute_final_action(case.decision, approve=approve, reason_codes=tuple(case.reason_codes))
