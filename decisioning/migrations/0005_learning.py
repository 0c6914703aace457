"""Feedback loop storage: the model activation history (written by hand, see the models)."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("decisioning", "0004_outbox")]
    operations = [
        migrations.CreateModel(
            name="ModelActivation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.CharField(help_text="The version made active.", max_length=64)),
                (
                    "previous_version",
                    models.CharField(blank=True, default="", help_text="Active before it.", max_length=64),
                ),
                ("actor", models.CharField(max_length=150)),
                ("reason", models.CharField(blank=True, default="", max_length=200)),
                ("activated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["-activated_at", "-id"],
                "indexes": [models.Index(fields=["-activated_at"], name="model_activation_time")],
            },
        ),
    ]
