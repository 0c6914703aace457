"""Services that write review cases. Each runs in a transaction and writes its audit event."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record
from decisioning.contracts import DecisionResult
from decisioning.models import DecisionRecord

from .models import ReviewCase


def case_open(
    *, record: DecisionRecord, decision: DecisionResult, high_priority_score: float, actor: str
) -> ReviewCase:
    """Open the review case for a decision sent to review (inside the decision's transaction)."""
    is_high = decision.fraud_score > high_priority_score
    priority = ReviewCase.Priority.HIGH if is_high else ReviewCase.Priority.NORMAL
    now = timezone.now()
    expected_loss = (record.amount * Decimal(str(decision.fraud_score))).quantize(Decimal("0.01"), ROUND_HALF_UP)
    with transaction.atomic():
        case = ReviewCase.objects.create(
            decision=record,
            request_id=record.request_id,
            transaction_id=record.transaction_id,
            customer_id=record.customer_id,
            merchant_id=record.merchant_id,
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
