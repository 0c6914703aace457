"""The audit trail: append-only events, each hash-chained to the one before it."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64


class AuditEventType(models.TextChoices):
    """The fixed, documented set of audited events."""

    DECISION_EXECUTED = "decision.executed", "Decision executed"
    EXECUTION_FAILED = "execution.failed", "Execution failed"
    IDEMPOTENT_REPLAY = "decision.replayed", "Idempotent replay"
    CONFLICT_REFUSED = "decision.conflict_refused", "Idempotency conflict refused"
    CASE_OPENED = "case.opened", "Case opened"
    CASE_CLAIMED = "case.claimed", "Case claimed"
    CASE_RELEASED = "case.released", "Case released"
    CASE_RESOLVED = "case.resolved", "Case resolved"
    NOTE_ADDED = "case.note_added", "Note added"
    FEEDBACK_RECORDED = "feedback.recorded", "Feedback recorded"
    LIST_CHANGED = "list.changed", "List changed"
    FEATURES_WRITTEN = "features.written", "Online features written"
    POLICY_CHANGED = "policy.changed", "Policy or threshold changed"
    MODEL_ACTIVATED = "model.activated", "Model activated"
    SIGN_IN_SUCCEEDED = "auth.sign_in_succeeded", "Sign-in succeeded"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    PERMISSION_DENIED = "auth.permission_denied", "Permission denied"
    CLIENT_CREATED = "client.created", "API client created"
    CLIENT_CHANGED = "client.changed", "API client changed"
    EXPORT_MADE = "audit.export_made", "Export made"


class AppendOnlyError(RuntimeError):
    """Audit events are never changed or deleted."""


class AuditEvent(models.Model):
    """One audited event. ``sequence`` increases by one per event with no gaps."""

    sequence = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    event_type = models.CharField(max_length=40, choices=AuditEventType.choices)
    actor = models.CharField(max_length=150, help_text="user:NAME, client:NAME or system:COMPONENT")
    origin = models.CharField(max_length=300, blank=True, default="", help_text="IP and user agent, or worker")
    request_id = models.CharField(max_length=128, blank=True, default="")
    customer_id = models.CharField(max_length=128, blank=True, default="")
    case_id = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=40, blank=True, default="")
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["request_id"], name="audit_request"),
            models.Index(fields=["customer_id", "sequence"], name="audit_customer"),
            models.Index(fields=["event_type", "sequence"], name="audit_type"),
            models.Index(fields=["occurred_at"], name="audit_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type}"

    @property
    def trail_id(self) -> str:
        return f"aud_{self.sequence}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")


class AuditChainHead(models.Model):
    """A single row holding the chain's last sequence and hash; locked to append in order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head #{self.sequence}"
