"""Feedback loop storage (operations added by the feedback-loop work)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("decisioning", "0004_outbox")]
    operations: list[migrations.operations.base.Operation] = []
