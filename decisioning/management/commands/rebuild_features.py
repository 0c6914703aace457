"""``python manage.py rebuild_features``: rebuild the whole online store from the database after a loss.

Re-records the last 31 days of decided transactions and 91 days of labels in the windows, then
recomputes the slower aggregates. Idempotent: safe to re-run, safe on a store that was not lost.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from decisioning.features.rebuild import rebuild_windows, recompute_features
from decisioning.features.store import StoreUnavailable, build_store


class Command(BaseCommand):
    help = "Rebuild the online feature store (windows and aggregates) from the database."

    def handle(self, *args: Any, **options: Any) -> None:
        store, now = build_store(), timezone.now()
        try:
            self.stdout.write("re-recording transactions and labels in the windows …")
            windows = rebuild_windows(store=store, now=now, progress=self.stdout.write)
            self.stdout.write("recomputing aggregates …")
            aggregates = recompute_features(store=store, now=now, progress=self.stdout.write)
        except StoreUnavailable as exc:
            raise CommandError(f"online store unavailable: {exc}") from exc
        windows.customers, windows.groups_written = aggregates.customers, aggregates.groups_written
        windows.seconds += aggregates.seconds
        self.stdout.write(self.style.SUCCESS(f"{windows.line()} (store: {store.name})"))
