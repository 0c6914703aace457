"""``manage.py push_features FILE``: load online features from JSON lines.

One object per line: ``{"group": …, "customer_id": …, "values": {…}, "computed_at": optional}``
(``entity_id`` may stand in for ``customer_id``, for groups keyed by another entity). Every line
is validated in full before it is written, and a line's live value and warm copy are written
together, so a bad line changes nothing. Bad lines are reported with their numbers; the run
goes on, and exits non-zero at the end if any line was refused.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.features.groups import FeatureValidationError
from decisioning.features.store import FeatureStore, StoreUnavailable, build_store

PROGRESS_EVERY = 1000


class BadLineError(ValueError):
    """A line that cannot be applied; the message says why."""


@dataclass(frozen=True, slots=True)
class FeatureLine:
    """One parsed line."""

    group: str
    entity_id: str
    values: dict[str, Any]
    computed_at: datetime | None


def parse_line(text: str) -> FeatureLine:
    """The line's fields, or BadLineError naming what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLineError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise BadLineError("must be a JSON object")
    entity_id = data.get("customer_id", data.get("entity_id"))
    missing = [name for name, value in (("group", data.get("group")), ("customer_id", entity_id)) if not value]
    if missing:
        raise BadLineError(f"missing {', '.join(missing)}")
    if not isinstance(data.get("values"), dict):
        raise BadLineError("values must be an object")
    return FeatureLine(
        group=str(data["group"]),
        entity_id=str(entity_id),
        values=data["values"],
        computed_at=_parse_computed_at(data.get("computed_at")),
    )


def _parse_computed_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadLineError(f"computed_at {value!r} is not an ISO 8601 datetime") from None
    if parsed.tzinfo is None:
        raise BadLineError(f"computed_at {value!r} has no time zone")
    return parsed


class Command(BaseCommand):
    help = "Write online features from a JSON-lines file (one group of one customer per line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON-lines file, or - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="validate every line, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        store = build_store()
        written, bad, total = self._push(self._lines(options["file"]), store, dry_run=options["dry_run"])
        verb = "valid" if options["dry_run"] else "written"
        self.stdout.write(f"{total} lines: {written} {verb}, {bad} bad (store: {store.name})")
        if bad:
            raise CommandError(f"{bad} bad line(s); they were not applied")

    def _lines(self, path: str) -> Iterable[str]:
        if path == "-":
            yield from sys.stdin
            return
        try:
            handle: IO[str] = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        with handle:
            yield from handle

    def _push(self, lines: Iterable[str], store: FeatureStore, *, dry_run: bool) -> tuple[int, int, int]:
        written = bad = total = 0
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            total += 1
            try:
                self._apply(parse_line(text), store, dry_run=dry_run)
                written += 1
            except (BadLineError, FeatureValidationError) as exc:
                bad += 1
                self.stderr.write(f"line {number}: {exc}")
            except StoreUnavailable as exc:
                # Every later line would fail the same way; stop and say how far we got.
                raise CommandError(f"line {number}: store unavailable ({exc}); {written} line(s) written") from exc
            if total % PROGRESS_EVERY == 0:
                self.stdout.write(f"… {total} lines, {written} written, {bad} bad")
        return written, bad, total

    @staticmethod
    def _apply(line: FeatureLine, store: FeatureStore, *, dry_run: bool) -> None:
        if dry_run:
            store.validate_write(line.group, line.entity_id, line.values, line.computed_at)
        else:
            store.write_group(line.group, line.entity_id, line.values, line.computed_at)
