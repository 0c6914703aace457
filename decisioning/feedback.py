"""Recording outcomes (feedback events): stored once per (source, event_id), audited, and learnt from.

A new outcome, once its database transaction commits,

* updates the online windows at once (customer ``fraud_score_30d`` / ``dispute_count_90d`` and the
  merchant's known-fraud share), so the customer's next transaction sees it;
* is appended as a label to the Redis stream ``settings.FDE_LABEL_STREAM`` (when Redis is
  configured) for retraining consumers. The FeedbackEvent table is the complete label log either way.

A duplicate ``(source, event_id)`` returns the stored event and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record
from decisioning.features.store import StoreUnavailable, build_store
from decisioning.features.windows import LabelEvent, record_label

from .models import DecisionRecord, FeedbackEvent

logger = logging.getLogger("fde.feedback")


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
            transaction.on_commit(lambda: feedback_publish(event=event, event_time=decision.event_time))
    except IntegrityError:  # a concurrent duplicate won the unique key
        return FeedbackEvent.objects.get(source=source, event_id=event_id), False
    return event, True


def label_event(event: FeedbackEvent, event_time: datetime) -> LabelEvent:
    """The windows' view of a stored outcome (known when the system recorded it)."""
    return LabelEvent(
        key=f"{event.source}:{event.event_id}",
        request_id=event.request_id,
        customer_id=event.customer_id,
        merchant_id=event.merchant_id,
        event_time=event_time,
        known_at=event.recorded_at,
        is_fraud=event.is_fraud,
        is_dispute=event.outcome == FeedbackEvent.Outcome.DISPUTED,
    )


def feedback_publish(*, event: FeedbackEvent, event_time: datetime) -> None:
    """After commit: apply the outcome to the online windows and append it to the label stream.

    Failures are logged, never raised: the stored event is the source of truth, and
    ``manage.py rebuild_features`` re-applies every stored label after a store loss.
    """
    try:
        record_label(build_store(), label_event(event, event_time))
    except StoreUnavailable as exc:
        logger.error("feedback %s:%s not applied to online features: %s", event.source, event.event_id, exc)
    if settings.REDIS_URL:
        label_stream_append(event, event_time)


def label_fields(event: FeedbackEvent, event_time: datetime) -> dict[str, Any]:
    """One label as stream fields (strings)."""
    return {
        "source": event.source,
        "event_id": event.event_id,
        "request_id": event.request_id,
        "customer_id": event.customer_id,
        "merchant_id": event.merchant_id,
        "outcome": event.outcome,
        "is_fraud": "1" if event.is_fraud else "0",
        "event_time": event_time.isoformat(),
        "known_at": event.recorded_at.isoformat(),
    }


def label_stream_append(event: FeedbackEvent, event_time: datetime) -> str | None:
    """XADD the label to the stream; returns the entry id (None when Redis refused)."""
    import redis

    from decisioning.features.redis_store import redis_client

    client = redis_client(settings.REDIS_URL, float(settings.FDE_FEATURE_STORE_TIMEOUT) * 20)
    try:
        entry = client.xadd(
            settings.FDE_LABEL_STREAM,
            label_fields(event, event_time),  # type: ignore[arg-type]
            maxlen=settings.FDE_LABEL_STREAM_MAXLEN,
            approximate=True,
        )
    except redis.RedisError as exc:
        logger.error("label %s:%s not appended to %s: %s", event.source, event.event_id, settings.FDE_LABEL_STREAM, exc)
        return None
    return entry.decode() if isinstance(entry, bytes) else str(entry)
