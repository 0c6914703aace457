"""Recording outcomes (feedback events): stored once per (source, event_id), audited.

The feedback issue extends this to update online features at once and to append labels to a
Redis stream for retraining; the storage and audit written here are the contract it builds on.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record

from .models import DecisionRecord, FeedbackEvent


def feedback_record(
    *,
    decision: DecisionRecord,
    outcome: str,
    source: str,
    event_id: str,
    actor: str,
    occurred_at: datetime | None = None,
    note: str = "",
) -> tuple[FeedbackEvent, bool]:
    """Store one outcome; returns ``(event, created)``. A duplicate changes nothing."""
    outcome_value = FeedbackEvent.Outcome(outcome)
    existing = FeedbackEvent.objects.filter(source=source, event_id=event_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            event = FeedbackEvent.objects.create(
                source=source,
                event_id=event_id,
                decision=decision,
                request_id=decision.request_id,
                customer_id=decision.customer_id,
                merchant_id=decision.merchant_id,
                outcome=outcome_value,
                is_fraud=outcome_value in FeedbackEvent.FRAUD_OUTCOMES,
                occurred_at=occurred_at or timezone.now(),
                actor=actor,
                note=note,
            )
            audit_record(
                event_type=AuditEventType.FEEDBACK_RECORDED,
                actor=actor,
                request_id=decision.request_id,
                customer_id=decision.customer_id,
                outcome=outcome_value,
                payload={"source": source, "event_id": event_id, "is_fraud": event.is_fraud, "note": note},
            )
    except IntegrityError:  # a concurrent duplicate won the unique key
        return FeedbackEvent.objects.get(source=source, event_id=event_id), False
    return event, True
