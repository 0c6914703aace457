"""``manage.py drain_outbox``: deliver due outbox rows and enqueue lost pipelines.

In a deployment Celery beat runs the same drainer every ``FDE_OUTBOX_DRAIN_SECONDS``. On the
embedded default (no broker, tasks eager) this command *is* the drainer: it delivers due rows
inline — run it from cron, or with ``--loop SECONDS``.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandParser

from decisioning.tasks import drain


class Command(BaseCommand):
    help = "Deliver due outbox rows and re-enqueue pipelines whose task was lost."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", type=float, default=0.0, help="Repeat every SECONDS until interrupted.")

    def handle(self, *args: object, loop: float = 0.0, **options: object) -> None:
        while True:
            counts = drain()
            self.stdout.write(f"pipelines enqueued: {counts['pipelines']}, outbox rows enqueued: {counts['outbox']}")
            if loop <= 0:
                return
            time.sleep(loop)
