"""Outbox for the asynchronous layers (operations added by the async-layers work)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("decisioning", "0003_feedback_event")]
    operations: list[migrations.operations.base.Operation] = []
