"""Models of the feedback loop: the history of model activations (labels are FeedbackEvent rows)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["ModelActivation"]


class ModelActivation(models.Model):
    """One switch of the active model: who, when, from which version. ``rollback`` reads it."""

    version = models.CharField(max_length=64, help_text="The version made active.")
    previous_version = models.CharField(max_length=64, blank=True, default="", help_text="Active before it.")
    actor = models.CharField(max_length=150)
    reason = models.CharField(max_length=200, blank=True, default="")
    activated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-activated_at", "-id"]
        indexes = [models.Index(fields=["-activated_at"], name="model_activation_time")]

    def __str__(self) -> str:
        return f"{self.previous_version or '∅'} → {self.version}"
