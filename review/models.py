"""Review cases opened by the Execution layer for decisions sent to review, and their notes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from decisioning.models import FeedbackEvent

#: Statuses an analyst can still act on (the queue's default view and its partial index).
UNRESOLVED_STATUSES = ("open", "claimed")


class ReviewCase(models.Model):
    """One transaction waiting for (or resolved by) an analyst."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.TextChoices):
        HIGH = "high", "High"
        NORMAL = "normal", "Normal"

    class Resolution(models.TextChoices):
        APPROVE = "approve", "Approve"
        DECLINE = "decline", "Decline"

    decision = models.OneToOneField("decisioning.DecisionRecord", on_delete=models.PROTECT, related_name="review_case")
    request_id = models.CharField(max_length=128)
    transaction_id = models.CharField(max_length=128)
    customer_id = models.CharField(max_length=128)
    merchant_id = models.CharField(max_length=128, blank=True, default="")
    #: Denormalised from the transaction so the queue renders without reading decision JSON.
    merchant_name = models.CharField(max_length=200, blank=True, default="")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    fraud_score = models.FloatField()
    expected_loss = models.DecimalField(max_digits=16, decimal_places=2, help_text="amount × fraud score")
    reason_codes = models.JSONField(default=list)
    priority = models.CharField(max_length=6, choices=Priority.choices, default=Priority.NORMAL)
    # 0 = high, 1 = normal: sorts high first in one index
    priority_rank = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="review_cases"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    #: The holder's last action on the case; a claim idle longer than FDE_CLAIM_IDLE_MINUTES can be taken.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="resolved_cases"
    )
    resolution = models.CharField(max_length=10, blank=True, default="", choices=Resolution.choices)
    resolution_reason = models.CharField(max_length=50, blank=True, default="")
    resolution_note = models.TextField(blank=True, default="")
    #: The feedback outcome recorded for the resolution (FeedbackEvent.Outcome).
    outcome = models.CharField(max_length=20, blank=True, default="", choices=FeedbackEvent.Outcome.choices)
    #: Reference of the gateway call (authorise / decline) the resolution executed.
    gateway_reference = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["status", "priority_rank", "-expected_loss", "created_at"], name="case_queue_order"),
            # The default queue (open + claimed) in queue order with the id tie-breaker: keyset pages
            # walk this index and stop after one page, whatever the queue's size.
            models.Index(
                fields=["priority_rank", "-expected_loss", "created_at", "id"],
                name="case_unresolved_order",
                condition=models.Q(status__in=UNRESOLVED_STATUSES),
            ),
            models.Index(fields=["customer_id"], name="case_customer"),
            models.Index(fields=["request_id"], name="case_request"),
            models.Index(fields=["transaction_id"], name="case_transaction"),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.status})"

    @property
    def is_resolved(self) -> bool:
        return self.status == self.Status.RESOLVED


class CaseNote(models.Model):
    """A free-text note an analyst added to a case (audited; never edited)."""

    case = models.ForeignKey(ReviewCase, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="case_notes")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on case {self.case_id}"
