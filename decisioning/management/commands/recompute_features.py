"""``python manage.py recompute_features``: the periodic job of slower aggregates (Celery beat in production).

Recomputes, for every customer seen in the last 90 days, spend_behaviour (30-day spend statistics,
top MCC, unique merchants over 7 days, weekend share) and the history parts of customer_risk
(international ratio, fraud score and disputes from the stored labels) from the database.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from decisioning.features.rebuild import recompute_features
from decisioning.features.store import StoreUnavailable, build_store


class Command(BaseCommand):
    help = "Recompute the slower online aggregates from stored history."

    def handle(self, *args: Any, **options: Any) -> None:
        store = build_store()
        try:
            summary = recompute_features(store=store, now=timezone.now(), progress=self.stdout.write)
        except StoreUnavailable as exc:
            raise CommandError(f"online store unavailable: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"{summary.line()} (store: {store.name})"))
