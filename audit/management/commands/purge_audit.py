"""``manage.py purge_audit --before DATE``: retention purge of old audit events (see audit/purge.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.purge import RetentionRefused, purge_before


def parse_cutoff(text: str) -> dt.datetime:
    """A date (midnight UTC) or an ISO datetime (naive means UTC)."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"--before must be YYYY-MM-DD or an ISO datetime, got {text!r}")
        moment = dt.datetime.combine(day, dt.time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, dt.UTC)


class Command(BaseCommand):
    help = "Remove audit events older than --before; refuses anything younger than FDE_AUDIT_RETENTION_DAYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="cutoff date (YYYY-MM-DD, UTC) or ISO datetime")
        parser.add_argument("--database", default="default", help="alias of a privileged purge connection")
        parser.add_argument("--actor", default="system:purge_audit", help="who runs the purge (recorded)")

    def handle(self, *args: Any, **options: Any) -> None:
        before = parse_cutoff(options["before"])
        try:
            result = purge_before(before=before, actor=options["actor"], using=options["database"])
        except RetentionRefused as exc:
            raise CommandError(str(exc), returncode=1) from exc
        self.stdout.write(
            f"purged {result.purged_count} events before {before.isoformat()}; retained chain starts at "
            f"#{result.first_retained_sequence}; this run is audit event #{result.purge_event_sequence}"
        )
