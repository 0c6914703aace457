"""Reads of the audit trail: filters, keyset pages, a transaction's trail, the chain status."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Q, QuerySet

from .chain import ChainHead, stored_head
from .models import AuditEvent, AuditEventType, AuditVerification

PAGE_SIZE = 50
#: Filters that are exact matches on an indexed column of the same name.
EXACT_FILTERS = ("event_type", "actor", "customer_id", "request_id", "outcome", "model_version")


@dataclass(frozen=True)
class AuditFilters:
    """The audit browser's filters; every one is a GET parameter so a view can be shared."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    event_type: str = ""
    actor: str = ""
    customer_id: str = ""
    request_id: str = ""
    outcome: str = ""
    model_version: str = ""

    def as_query(self) -> dict[str, str]:
        """The non-empty filters as GET parameters."""
        return {name: str(value) for name, value in asdict(self).items() if value not in (None, "")}

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        """``events`` narrowed to these filters (dates are whole UTC days, both ends inclusive)."""
        exact = {name: getattr(self, name) for name in EXACT_FILTERS if getattr(self, name)}
        events = events.filter(**exact)
        if self.date_from is not None:
            events = events.filter(occurred_at__gte=_utc_midnight(self.date_from))
        if self.date_to is not None:
            events = events.filter(occurred_at__lt=_utc_midnight(self.date_to + dt.timedelta(days=1)))
        return events


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@dataclass(frozen=True)
class EventPage:
    """One keyset page, newest first. Cursors are sequences, never offsets."""

    events: list[AuditEvent]
    newer_cursor: int | None
    older_cursor: int | None


def filtered_events(filters: AuditFilters, *, upto_sequence: int | None = None) -> QuerySet[AuditEvent]:
    """All events matching ``filters`` (optionally up to a chain head), newest first."""
    events = filters.apply(AuditEvent.objects.all())
    if upto_sequence is not None:
        events = events.filter(sequence__lte=upto_sequence)
    return events.order_by("-sequence")


def events_page(
    filters: AuditFilters, *, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> EventPage:
    """The page of events older than ``before`` or, if ``after`` is given, newer than ``after``.

    Each page is an index range scan of ``size`` rows on ``sequence``; there is no COUNT(*) and no
    OFFSET, so page 20,000 costs what page 1 costs.
    """
    matching = filters.apply(AuditEvent.objects.all())
    if after is not None:
        events = list(matching.filter(sequence__gt=after).order_by("sequence")[:size])[::-1]
    else:
        scope = matching if before is None else matching.filter(sequence__lt=before)
        events = list(scope.order_by("-sequence")[:size])
    if not events:
        return EventPage(events, newer_cursor=before if before is not None else None, older_cursor=after)
    has_newer = _nearest(matching.filter(sequence__gt=events[0].sequence), "sequence") is not None
    has_older = _nearest(matching.filter(sequence__lt=events[-1].sequence), "-sequence") is not None
    return EventPage(
        events,
        newer_cursor=events[0].sequence if has_newer else None,
        older_cursor=events[-1].sequence if has_older else None,
    )


def _nearest(events: QuerySet[AuditEvent], ordering: str) -> int | None:
    """The nearest matching sequence, or None.

    Deliberately ``ORDER BY sequence LIMIT 1`` rather than ``exists()``: EXISTS drops the ordering
    and PostgreSQL may then pick a sequential scan (measured: 480 ms on 1,000,000 rows vs 0.02 ms).
    """
    return events.order_by(ordering).values_list("sequence", flat=True).first()


@dataclass(frozen=True)
class TransactionTrail:
    """Everything the audit trail knows about one request, oldest first."""

    request_id: str
    events: list[AuditEvent]
    decision_event: AuditEvent | None

    def section(self, key: str) -> Any:
        """A part of the executed decision's payload (transaction, features, decision, execution)."""
        if self.decision_event is None or not isinstance(self.decision_event.payload, dict):
            return None
        return self.decision_event.payload.get(key)

    def of_types(self, *types: str) -> list[AuditEvent]:
        return [event for event in self.events if event.event_type in types]


#: A trail page shows at most this many events (a transaction has a handful).
TRAIL_LIMIT = 1000


def transaction_trail(request_id: str) -> TransactionTrail:
    """The events of ``request_id`` plus those of any review case opened for it."""
    case_ids = set(
        AuditEvent.objects.filter(request_id=request_id, case_id__isnull=False).values_list("case_id", flat=True)
    )
    condition = Q(request_id=request_id)
    if case_ids:
        condition |= Q(case_id__in=case_ids)
    events = list(AuditEvent.objects.filter(condition).order_by("sequence")[:TRAIL_LIMIT])
    executed = [event for event in events if event.event_type == AuditEventType.DECISION_EXECUTED]
    return TransactionTrail(request_id, events, executed[-1] if executed else None)


@dataclass(frozen=True)
class ChainStatus:
    """The current head and the last verification, for the audit pages."""

    head: ChainHead
    last_verification: AuditVerification | None


def chain_status() -> ChainStatus:
    return ChainStatus(stored_head(), AuditVerification.objects.order_by("-verified_at").first())
