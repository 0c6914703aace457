"""The transactional outbox: every call that leaves the process, delivered at least once.

Rows are written inside the decision's database transaction (so a rolled-back decision sends
nothing and a committed one always sends), then delivered by a Celery task on the ``outbox``
queue after commit. Each delivery is an HTTP POST of the row's fixed body with:

* ``Idempotency-Key`` — stable across attempts, so the receiver can dedupe at-least-once delivery;
* ``X-FDE-Signature: sha256=<hex>`` — HMAC-SHA256 over the raw body with the per-client
  ``callback_secret`` (callbacks) or ``FDE_PAYMENT_GATEWAY_SECRET`` (gateway calls);
* ``X-FDE-Event`` — the row's kind.

A transient failure (connection error, timeout, 5xx, 408, 429) is retried with exponential
backoff up to ``max_attempts``; then, or at once on any other status, the row becomes a dead
letter (admin: retry action). The drainer re-enqueues rows whose task was lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from decisioning.contracts import ExecutionResult
from decisioning.models import ApiClient, AsyncRequest, DecisionRecord, GatewayCall, OutboxMessage

from .gateway import DatabaseGateway, PaymentGateway

logger = logging.getLogger("fde.outbox")

SIGNATURE_HEADER = "X-FDE-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-FDE-Event"
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def sign(body: bytes, secret: str) -> str:
    """The ``X-FDE-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, secret: str, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(body, secret), header or "")


def canonical_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


# --------------------------------------------------------------------------- writing rows


def outbox_write(
    *,
    kind: str,
    url: str,
    payload: dict[str, Any],
    idempotency_key: str,
    decision: DecisionRecord | None = None,
    client: ApiClient | None = None,
) -> OutboxMessage:
    """Write one row in the caller's transaction and enqueue its delivery after commit."""
    message = OutboxMessage.objects.create(
        kind=kind,
        url=url,
        body=canonical_json(payload),
        idempotency_key=idempotency_key,
        decision=decision,
        client=client,
        max_attempts=settings.FDE_OUTBOX_MAX_ATTEMPTS,
    )
    transaction.on_commit(partial(outbox_enqueue, [message.pk]))
    return message


class OutboxWriter:
    """Told inside the decision's transaction; writes the callback row of an asynchronous request."""

    def on_decided(self, *, record: DecisionRecord, client: ApiClient, result: ExecutionResult) -> None:
        async_request = AsyncRequest.objects.filter(record=record).only("callback_url").first()
        if async_request is None or not async_request.callback_url:
            return
        outbox_write(
            kind=OutboxMessage.Kind.CALLBACK,
            url=async_request.callback_url,
            payload={"event": "decision.completed", "status": "decided", "result": result.to_dict()},
            idempotency_key=f"callback:{client.pk}:{record.request_id}",
            decision=record,
            client=client,
        )


class HttpGateway(DatabaseGateway):
    """The payment-gateway HTTP adapter, as an outbox consumer.

    Each call keeps its GatewayCall row (unique per decision and kind: exactly once in the
    database) and adds an outbox row POSTed to ``FDE_PAYMENT_GATEWAY_URL`` after commit, with
    the GatewayCall reference as the idempotency key.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def authorise(self, record: DecisionRecord) -> str:
        return self._send(record, super().authorise(record), GatewayCall.Kind.AUTHORISE, ())

    def decline(self, record: DecisionRecord, reason_codes: tuple[str, ...]) -> str:
        return self._send(record, super().decline(record, reason_codes), GatewayCall.Kind.DECLINE, reason_codes)

    def challenge(self, record: DecisionRecord) -> str:
        return self._send(record, super().challenge(record), GatewayCall.Kind.CHALLENGE, ())

    def _send(self, record: DecisionRecord, reference: str, kind: str, reason_codes: tuple[str, ...]) -> str:
        outbox_write(
            kind=f"gateway.{kind}",
            url=self.url,
            payload={
                "operation": kind,
                "reference_id": reference,
                "request_id": record.request_id,
                "transaction_id": record.transaction_id,
                "customer_id": record.customer_id,
                "merchant_id": record.merchant_id,
                "amount": str(record.amount),
                "currency": record.currency,
                "reason_codes": list(reason_codes),
            },
            idempotency_key=f"gateway:{reference}",
            decision=record,
        )
        return reference


def default_gateway() -> PaymentGateway:
    """The HTTP adapter when ``FDE_PAYMENT_GATEWAY_URL`` is set, else the built-in database adapter."""
    url = getattr(settings, "FDE_PAYMENT_GATEWAY_URL", "")
    return HttpGateway(url) if url else DatabaseGateway()


# --------------------------------------------------------------------------- enqueueing


def outbox_enqueue(message_ids: Iterable[int], *, countdown: float | None = None) -> None:
    """Enqueue delivery tasks; a broker failure is logged and left to the drainer."""
    from decisioning.tasks import deliver_outbox_task

    for message_id in message_ids:
        try:
            if deliver_outbox_task.app.conf.task_always_eager:
                # Embedded default: deliver inline now; a later attempt waits for ``drain_outbox``.
                if countdown is None:
                    deliver_outbox_task.apply(args=[message_id])
                continue
            OutboxMessage.objects.filter(pk=message_id).update(enqueued_at=timezone.now())
            deliver_outbox_task.apply_async(args=[message_id], countdown=countdown)
        except Exception:
            OutboxMessage.objects.filter(pk=message_id).update(enqueued_at=None)
            logger.exception("outbox message %s not enqueued; the drainer will retry", message_id)


# --------------------------------------------------------------------------- delivering


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one delivery task did."""

    message_id: int
    status: str  #: delivered / retry / dead / skipped
    attempts: int = 0
    countdown: float | None = None  #: seconds until the next attempt, when status is retry


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff after ``attempts`` failed attempts, capped below the visibility timeout."""
    delay: float = settings.FDE_OUTBOX_BACKOFF_SECONDS * (2 ** max(0, attempts - 1))
    return float(min(delay, settings.FDE_OUTBOX_BACKOFF_MAX_SECONDS))


def _claim(message_id: int, now: datetime) -> OutboxMessage | None:
    """Take a lease on a due pending row (atomic UPDATE); None if delivered, dead, leased or not due."""
    lease = now + timedelta(seconds=settings.FDE_OUTBOX_HTTP_TIMEOUT * 2 + 5)
    claimed = (
        OutboxMessage.objects.filter(pk=message_id, status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=lease)
    )
    return OutboxMessage.objects.select_related("client").get(pk=message_id) if claimed else None


def _secret(message: OutboxMessage) -> str:
    if message.kind == OutboxMessage.Kind.CALLBACK:
        return message.client.callback_secret if message.client else ""
    return str(getattr(settings, "FDE_PAYMENT_GATEWAY_SECRET", ""))


def _post(message: OutboxMessage) -> tuple[int | None, str]:
    """POST the row's body; returns (status code or None on a network error, error text)."""
    body = message.body.encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is configured by an admin, http(s) only
        message.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: message.idempotency_key,
            SIGNATURE_HEADER: sign(body, _secret(message)),
            EVENT_HEADER: message.kind,
            "User-Agent": "FDE-outbox/1",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.FDE_OUTBOX_HTTP_TIMEOUT) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (OSError, ValueError) as error:  # URLError, timeouts, refused connections
        return None, f"{type(error).__name__}: {error}"


def outbox_deliver(message_id: int) -> DeliveryOutcome:
    """One delivery attempt of one row (safe to run twice at once: the lease admits one)."""
    now = timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return DeliveryOutcome(message_id, "skipped")
    code, error = _post(message)
    attempts = message.attempts + 1
    fields: dict[str, Any] = {"attempts": attempts, "last_status_code": code, "locked_until": None}
    if code is not None and 200 <= code < 300:
        fields.update(status=OutboxMessage.Status.DELIVERED, delivered_at=timezone.now(), last_error="")
        outcome = DeliveryOutcome(message_id, "delivered", attempts)
    elif (code is None or code >= 500 or code in TRANSIENT_STATUSES) and attempts < message.max_attempts:
        countdown = backoff_seconds(attempts)
        fields.update(last_error=error, next_attempt_at=now + timedelta(seconds=countdown), enqueued_at=None)
        outcome = DeliveryOutcome(message_id, "retry", attempts, countdown)
    else:
        fields.update(status=OutboxMessage.Status.DEAD, last_error=error)
        outcome = DeliveryOutcome(message_id, "dead", attempts)
    OutboxMessage.objects.filter(pk=message_id).update(**fields)
    logger.info(
        "outbox message=%s kind=%s key=%s attempt=%s status_code=%s outcome=%s",
        message_id, message.kind, message.idempotency_key, attempts, code, outcome.status,
    )  # fmt: skip
    return outcome


def outbox_retry_dead(message_ids: Iterable[int]) -> int:
    """Give dead letters a fresh set of attempts and enqueue them (the admin's retry action)."""
    ids = list(
        OutboxMessage.objects.filter(pk__in=list(message_ids), status=OutboxMessage.Status.DEAD).values_list(
            "pk", flat=True
        )
    )
    OutboxMessage.objects.filter(pk__in=ids).update(
        status=OutboxMessage.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), locked_until=None
    )
    transaction.on_commit(partial(outbox_enqueue, ids))
    return len(ids)


# --------------------------------------------------------------------------- draining


def outbox_due_ids(now: datetime, *, limit: int = 500) -> list[int]:
    """Pending rows that are due and whose task is not (or no longer believed to be) queued."""
    stale = now - timedelta(seconds=settings.FDE_OUTBOX_REDISPATCH_AFTER_SECONDS)
    return list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
