"""The audit trail: append-only events, each hash-chained to the one before it.

Protection is layered:

* the Django model refuses ``save()`` on an existing row and ``delete()``; its manager refuses
  ``update()``, ``delete()``, ``bulk_create()`` and ``bulk_update()`` (only ``audit_record`` writes);
* database triggers (migration 0002) refuse UPDATE, DELETE and TRUNCATE, so raw SQL from the
  application role is refused too;
* the hash chain makes any change that gets past both (a superuser disabling the triggers)
  detectable by ``manage.py verify_audit_chain``.
"""

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
    POLICY_CHANGED = "policy.changed", "Policy or threshold changed"
    MODEL_ACTIVATED = "model.activated", "Model activated"
    SIGN_IN_SUCCEEDED = "auth.sign_in_succeeded", "Sign-in succeeded"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    PERMISSION_DENIED = "auth.permission_denied", "Permission denied"
    CLIENT_CREATED = "client.created", "API client created"
    CLIENT_CHANGED = "client.changed", "API client changed"
    EXPORT_MADE = "audit.export_made", "Export made"
    AUDIT_PURGED = "audit.purged", "Audit events purged (retention)"


class AppendOnlyError(RuntimeError):
    """Audit events are never changed or deleted."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Refuses every bulk write; the only way in is ``audit.services.audit_record``."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only (update refused)")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events are append-only (delete refused); see manage.py purge_audit")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only (bulk_update refused)")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are written one at a time by audit_record() (bulk_create refused)")


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
    #: Denormalised from ``payload["model_version"]`` for an indexed filter. It is not part of the
    #: hashed document (the payload is); verify_audit_chain checks the two agree.
    model_version = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["request_id"], name="audit_request"),
            models.Index(fields=["customer_id", "sequence"], name="audit_customer"),
            models.Index(fields=["event_type", "sequence"], name="audit_type"),
            models.Index(fields=["occurred_at"], name="audit_time"),
            models.Index(fields=["actor", "sequence"], name="audit_actor"),
            models.Index(fields=["outcome", "sequence"], name="audit_outcome"),
            models.Index(fields=["model_version", "sequence"], name="audit_model_version"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None or not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    @property
    def trail_id(self) -> str:
        """The id callers quote (``aud_<sequence>``)."""
        return f"aud_{self.sequence}"


class AuditChainHead(models.Model):
    """A single row holding the chain's last sequence and hash; locked to append in order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"head #{self.sequence}"


class AuditCheckpoint(models.Model):
    """Where the retained chain starts after a retention purge (append-only, trigger-protected).

    ``first_sequence`` is the first event kept and ``prev_hash`` the hash of the last one
    removed, so verification starts there instead of at the genesis hash. The same two values
    are in the payload of the ``audit.purged`` event at ``purge_sequence``, which is itself in the
    chain, so a forged checkpoint does not verify.
    """

    created_at = models.DateTimeField(default=timezone.now)
    first_sequence = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    purge_sequence = models.BigIntegerField(unique=True)
    purged_before = models.DateTimeField()
    purged_count = models.BigIntegerField()

    class Meta:
        ordering = ["-first_sequence"]

    def __str__(self) -> str:
        return f"checkpoint from #{self.first_sequence}"


class AuditVerification(models.Model):
    """The outcome of one ``verify_audit_chain`` run, shown as the chain status on the audit pages."""

    verified_at = models.DateTimeField(default=timezone.now)
    is_valid = models.BooleanField()
    head_sequence = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True, default="")
    events_checked = models.BigIntegerField(default=0)
    first_bad_sequence = models.BigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True, default="")
    duration_seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-verified_at"]
        get_latest_by = "verified_at"

    def __str__(self) -> str:
        return f"{'valid' if self.is_valid else 'INVALID'} at {self.verified_at:%Y-%m-%d %H:%M}"
