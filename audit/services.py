"""The one service that writes audit events."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent, AuditEventType

#: Keys whose values never enter the audit trail.
_SECRET_KEYS = frozenset({"token", "password", "secret", "callback_secret", "authorization", "card_number", "pan"})


def canonical_event_bytes(
    *,
    sequence: int,
    occurred_at: datetime,
    event_type: str,
    actor: str,
    origin: str,
    request_id: str,
    customer_id: str,
    case_id: int | None,
    outcome: str,
    payload: Any,
    prev_hash: str,
) -> bytes:
    """The canonical serialization an event's hash is computed over."""
    document = {
        "sequence": sequence,
        "occurred_at": occurred_at.isoformat(),
        "event_type": event_type,
        "actor": actor,
        "origin": origin,
        "request_id": request_id,
        "customer_id": customer_id,
        "case_id": case_id,
        "outcome": outcome,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    """Recompute an event's hash from its stored fields."""
    return hashlib.sha256(
        canonical_event_bytes(
            sequence=event.sequence,
            occurred_at=event.occurred_at,
            event_type=event.event_type,
            actor=event.actor,
            origin=event.origin,
            request_id=event.request_id,
            customer_id=event.customer_id,
            case_id=event.case_id,
            outcome=event.outcome,
            payload=event.payload,
            prev_hash=event.prev_hash,
        )
    ).hexdigest()


def scrub_secrets(value: Any) -> Any:
    """A copy of ``value`` with secret-looking keys redacted."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if k.lower() in _SECRET_KEYS else scrub_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_secrets(item) for item in value]
    return value


def audit_record(
    *,
    event_type: AuditEventType,
    actor: str,
    origin: str = "",
    request_id: str = "",
    customer_id: str = "",
    case_id: int | None = None,
    outcome: str = "",
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the transaction of the change it records.

    The chain head row is locked (``SELECT … FOR UPDATE``) so concurrent writers append one at
    a time and sequences have no gaps; the lock is released when the caller's transaction ends,
    so call this as late in that transaction as possible.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record() must be called inside transaction.atomic()")
    clean_payload = json.loads(json.dumps(scrub_secrets(payload or {}), default=str))
    AuditChainHead.objects.get_or_create(id=1)
    head = AuditChainHead.objects.select_for_update().get(id=1)
    occurred_at = timezone.now()
    sequence = head.sequence + 1
    digest = hashlib.sha256(
        canonical_event_bytes(
            sequence=sequence,
            occurred_at=occurred_at,
            event_type=str(event_type),
            actor=actor[:150],
            origin=origin[:300],
            request_id=request_id,
            customer_id=customer_id,
            case_id=case_id,
            outcome=outcome,
            payload=clean_payload,
            prev_hash=head.hash,
        )
    ).hexdigest()
    event = AuditEvent(
        sequence=sequence,
        occurred_at=occurred_at,
        event_type=str(event_type),
        actor=actor[:150],
        origin=origin[:300],
        request_id=request_id,
        customer_id=customer_id,
        case_id=case_id,
        outcome=outcome,
        payload=clean_payload,
        prev_hash=head.hash,
        hash=digest,
    )
    event.save()
    AuditChainHead.objects.filter(id=1).update(sequence=sequence, hash=digest)
    return event
