"""Outbox models (asynchronous layers): accepted requests and calls to other systems.

* :class:`AsyncRequest` — one per transaction accepted by ``POST /api/v1/transactions/async``.
  It marks the :class:`~decisioning.models.DecisionRecord` as asynchronous (so the Execution
  layer writes a callback), remembers when the pipeline was last enqueued (so the drainer can
  re-enqueue a pipeline whose message was lost while the broker was down) and why it failed.
* :class:`OutboxMessage` — one HTTP call to another system (a signed callback, a payment-gateway
  authorise / decline), written in the same database transaction as the decision and delivered
  at least once by Celery after commit.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .core import ApiClient, DecisionRecord

__all__ = ["AsyncRequest", "OutboxMessage"]


class AsyncRequest(models.Model):
    """A transaction accepted for asynchronous decisioning (the record starts ``pending``)."""

    record = models.OneToOneField(DecisionRecord, on_delete=models.PROTECT, related_name="async_request")
    callback_url = models.URLField(blank=True, default="", help_text="Snapshot of the client's callback URL.")
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="Last time the pipeline was enqueued.")
    enqueue_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="", help_text="Why the pipeline refused the request, if it did.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["enqueued_at"], name="async_request_enqueued")]

    def __str__(self) -> str:
        return f"async {self.record_id}"


class OutboxMessage(models.Model):
    """One outgoing HTTP call, delivered at least once with an idempotency key and a signature."""

    class Kind(models.TextChoices):
        CALLBACK = "callback", "Decision callback to the client"
        GATEWAY_AUTHORISE = "gateway.authorise", "Payment gateway: authorise"
        GATEWAY_DECLINE = "gateway.decline", "Payment gateway: decline"
        GATEWAY_CHALLENGE = "gateway.challenge", "Payment gateway: step-up challenge"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead letter"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True, help_text="Sent as Idempotency-Key.")
    decision = models.ForeignKey(
        DecisionRecord, on_delete=models.PROTECT, null=True, blank=True, related_name="outbox_messages"
    )
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    url = models.URLField(max_length=500)
    body = models.TextField(help_text="The exact bytes sent (UTF-8 JSON); fixed when the row is written.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True, help_text="Lease of the delivery in progress.")
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="Last time a delivery task was enqueued.")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.status})"
