"""Streamed exports of a filtered audit view (CSV and JSON Lines), stamped with the chain head."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from .chain import ChainHead
from .models import AuditEvent

#: Rows fetched per database round trip while streaming.
CHUNK_SIZE = 2000
COLUMNS = (
    "sequence", "occurred_at", "event_type", "actor", "origin", "request_id", "customer_id", "case_id",
    "outcome", "model_version", "payload", "prev_hash", "hash",
)  # fmt: skip
#: Cells starting with these are read as formulas by spreadsheets (CSV injection); such text
#: cells get a leading apostrophe in the CSV only. JSON Lines carries values verbatim.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def event_document(event: AuditEvent) -> dict[str, Any]:
    """An event as a JSON-ready dict (the JSON Lines record)."""
    return {
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(),
        "event_type": event.event_type,
        "actor": event.actor,
        "origin": event.origin,
        "request_id": event.request_id,
        "customer_id": event.customer_id,
        "case_id": event.case_id,
        "outcome": event.outcome,
        "model_version": event.model_version,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def neutralise_formula(value: str) -> str:
    """A CSV cell that a spreadsheet will not evaluate."""
    return f"'{value}" if value.startswith(_FORMULA_PREFIXES) else value


def csv_cells(event: AuditEvent) -> list[str]:
    """One CSV row for ``event``, in ``COLUMNS`` order."""
    document = event_document(event)
    document["payload"] = json.dumps(event.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    document["case_id"] = "" if event.case_id is None else str(event.case_id)
    return [neutralise_formula(str(document[name])) for name in COLUMNS]


def export_header(head: ChainHead, *, exported_at: str, filters: dict[str, str], export_format: str) -> dict[str, Any]:
    """The export's first record: the chain head at export time and what was selected."""
    return {
        "export": {
            "format": export_format,
            "exported_at": exported_at,
            "chain_head": {"sequence": head.sequence, "hash": head.hash},
            "filters": filters,
            "order": "sequence descending",
        }
    }


def stream_events(events: QuerySet[AuditEvent]) -> Iterator[AuditEvent]:
    """The events, fetched ``CHUNK_SIZE`` at a time (a server-side cursor on PostgreSQL)."""
    return events.iterator(chunk_size=CHUNK_SIZE)


def jsonl_lines(header: dict[str, Any], events: Iterable[AuditEvent]) -> Iterator[str]:
    """JSON Lines: the header record, then one event per line."""
    yield json.dumps(header, ensure_ascii=False) + "\n"
    for event in events:
        yield json.dumps(event_document(event), ensure_ascii=False) + "\n"


def csv_lines(header: dict[str, Any], events: Iterable[AuditEvent]) -> Iterator[str]:
    """CSV: a ``#`` comment line with the header record, the column names, then one event per row."""
    writer = csv.writer(_Echo())
    yield "# " + json.dumps(header, ensure_ascii=False) + "\r\n"
    yield writer.writerow(COLUMNS)
    for event in events:
        yield writer.writerow(csv_cells(event))


class _Echo:
    """A file-like whose ``write`` returns the row, so csv.writer produces strings to stream."""

    def write(self, value: str) -> str:
        return value
