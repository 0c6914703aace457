"""The one service that writes audit events."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent, AuditEventType

#: Keys whose values never enter the audit trail (compared lower-case, exactly).
_SECRET_KEYS = frozenset(
    {"token", "password", "secret", "callback_secret", "authorization", "card_number", "pan", "cvv", "cvc", "pin"}
)
#: Key fragments that mark a secret wherever they appear (``access_token``, ``client_secret`` …).
_SECRET_KEY_FRAGMENTS = ("token", "password", "passwd", "secret", "authorization", "api_key", "apikey", "cookie")
#: Digit runs that may be a full card number (PAN); masked when they pass the Luhn check.
#: A card number: 13–19 contiguous digits, or the printed groupings (4-4-4-4[-3], Amex 4-6-5) with
#: single spaces or dashes. It must stand alone: a digit run inside a hex digest or an identifier
#: ("…b9118167691071f…") is not a card number, so letters and digits on either side rule it out.
_PAN_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{5})(?![0-9A-Za-z])"
)
REDACTED = "[redacted]"


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


def is_secret_key(key: str) -> bool:
    """Whether a payload key names a secret whose value must never be stored."""
    lowered = key.lower()
    return lowered in _SECRET_KEYS or any(fragment in lowered for fragment in _SECRET_KEY_FRAGMENTS)


def _passes_luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def mask_card_numbers(text: str) -> str:
    """``text`` with anything that looks like a full card number reduced to its last four digits."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group(0))
        return f"****{digits[-4:]}" if _passes_luhn(digits) else match.group(0)

    return _PAN_PATTERN.sub(mask, text)


def scrub_secrets(value: Any) -> Any:
    """A copy of ``value`` with secret-looking keys redacted and full card numbers masked."""
    if isinstance(value, dict):
        return {k: (REDACTED if is_secret_key(str(k)) else scrub_secrets(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_secrets(item) for item in value]
    if isinstance(value, str):
        return mask_card_numbers(value)
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
    using: str = DEFAULT_DB_ALIAS,
) -> AuditEvent:
    """Append one event to the chain. Must run inside the transaction of the change it records.

    The chain head row is locked (``SELECT … FOR UPDATE``) so concurrent writers append one at
    a time and sequences have no gaps; the lock is released when the caller's transaction ends,
    so call this as late in that transaction as possible. ``using`` names the database alias
    (the retention purge may run on a separate, privileged connection).
    """
    if not transaction.get_connection(using).in_atomic_block:
        raise RuntimeError("audit_record() must be called inside transaction.atomic()")
    clean_payload = json.loads(json.dumps(scrub_secrets(payload or {}), default=str))
    head = _locked_head(using)
    fields: dict[str, Any] = {
        "occurred_at": timezone.now(),  # taken under the lock, so time order follows sequence order
        "event_type": str(event_type),
        "actor": actor[:150],
        "origin": origin[:300],
        "request_id": request_id[:128],
        "customer_id": customer_id[:128],
        "case_id": case_id,
        "outcome": outcome[:40],
        "payload": clean_payload,
    }
    canonical = canonical_event_bytes(sequence=head.sequence + 1, prev_hash=head.hash, **fields)
    digest = hashlib.sha256(canonical).hexdigest()
    event = AuditEvent(
        sequence=head.sequence + 1,
        prev_hash=head.hash,
        hash=digest,
        model_version=model_version_of(clean_payload),
        **fields,
    )
    event.save(using=using)
    AuditChainHead.objects.using(using).filter(id=1).update(sequence=event.sequence, hash=digest)
    return event


def _locked_head(using: str) -> AuditChainHead:
    """The chain head row, locked until the caller's transaction ends (created on first use)."""
    heads = AuditChainHead.objects.using(using).select_for_update()
    head = heads.filter(id=1).first()  # the migration creates it; one locking read on the hot path
    if head is None:
        AuditChainHead.objects.using(using).get_or_create(id=1)
        head = heads.get(id=1)
    return head


def model_version_of(payload: dict[str, Any]) -> str:
    """The denormalised ``model_version`` column value for a (clean) payload."""
    version = payload.get("model_version")
    if version is None and isinstance(payload.get("decision"), dict):
        version = payload["decision"].get("model_version")
    return "" if version is None else str(version)[:64]
