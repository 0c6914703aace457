"""Review cases opened by the Execution layer for decisions sent to review."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReviewCase(models.Model):
    """One transaction waiting for (or resolved by) an analyst."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.TextChoices):
        HIGH = "high", "High"
        NORMAL = "normal", "Normal"

    decision = models.OneToOneField("decisioning.DecisionRecord", on_delete=models.PROTECT, related_name="review_case")
    request_id = models.CharField(max_length=128)
    transaction_id = models.CharField(max_length=128)
    customer_id = models.CharField(max_length=128)
    merchant_id = models.CharField(max_length=128, blank=True, default="")
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
    sla_due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=10, blank=True, default="")
    resolution_reason = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["status", "priority_rank", "-expected_loss", "created_at"], name="case_queue_order"),
            models.Index(fields=["customer_id"], name="case_customer"),
            models.Index(fields=["request_id"], name="case_request"),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.status})"
