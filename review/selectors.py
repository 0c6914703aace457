"""Reads of the review pages: the queue (filtered, keyset-paginated) and a case's full story."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from decisioning.contracts import DecisionResult
from decisioning.explain import decided_by, explanation_for
from decisioning.models import DecisionRecord

from .models import UNRESOLVED_STATUSES, ReviewCase

PAGE_SIZE = 50
#: The queue counts at most this many matching cases ("1,000+"): an exact COUNT(*) over 100,000
#: cases costs more than the page itself and nobody needs the exact figure to pick the next case.
COUNT_LIMIT = 1000
RECENT_TRANSACTIONS = 10


@dataclass(frozen=True, slots=True)
class QueueFilters:
    q: str = ""
    status: str = ""  #: "" = open and claimed, or a status, or "all"
    priority: str = ""
    reason: str = ""
    assignee: str = ""  #: a username, or "none" for unassigned
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_query(self) -> dict[str, str]:
        """The non-empty filters as query-string parameters."""
        return {name: str(value) for name, value in _fields(self).items() if value not in (None, "")}


def _fields(filters: QueueFilters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in QueueFilters.__slots__}


def _filtered(filters: QueueFilters) -> QuerySet[ReviewCase]:
    cases = ReviewCase.objects.all()
    if filters.status == "":
        cases = cases.filter(status__in=UNRESOLVED_STATUSES)
    elif filters.status != "all":
        cases = cases.filter(status=filters.status)
    if filters.priority:
        cases = cases.filter(priority=filters.priority)
    if filters.reason:
        cases = cases.filter(reason_codes__contains=[filters.reason])
    if filters.assignee.lower() == "none":
        cases = cases.filter(assignee__isnull=True)
    elif filters.assignee:
        cases = cases.filter(assignee__username=filters.assignee)
    return _filtered_values(cases, filters)


def _filtered_values(cases: QuerySet[ReviewCase], filters: QueueFilters) -> QuerySet[ReviewCase]:
    if filters.amount_min is not None:
        cases = cases.filter(amount__gte=filters.amount_min)
    if filters.amount_max is not None:
        cases = cases.filter(amount__lte=filters.amount_max)
    if filters.date_from is not None:
        cases = cases.filter(created_at__gte=_day_start(filters.date_from))
    if filters.date_to is not None:
        cases = cases.filter(created_at__lt=_day_start(filters.date_to) + timedelta(days=1))
    if filters.q:
        cases = cases.filter(Q(customer_id=filters.q) | Q(request_id=filters.q) | Q(transaction_id=filters.q))
    return cases


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.get_current_timezone())


# --------------------------------------------------------------------------- keyset pagination

QUEUE_ORDER = ("priority_rank", "-expected_loss", "created_at", "id")


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after the last row of a page, in queue order."""

    priority_rank: int
    expected_loss: Decimal
    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.priority_rank}_{self.expected_loss}_{self.created_at.isoformat()}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor, or None for anything malformed (the first page is shown)."""
        parts = text.split("_")
        if len(parts) != 4:
            return None
        try:
            created = parse_datetime(parts[2])
            cursor = cls(int(parts[0]), Decimal(parts[1]), created, int(parts[3]))  # type: ignore[arg-type]
        except (ValueError, InvalidOperation, TypeError):
            return None
        return cursor if created is not None and created.tzinfo is not None else None

    @classmethod
    def of(cls, case: ReviewCase) -> Cursor:
        return cls(case.priority_rank, case.expected_loss, case.created_at, case.pk)

    def after_q(self) -> Q:
        """Rows after this cursor in (rank ↑, expected loss ↓, age ↑, id ↑) order.

        The leading ``priority_rank >= …`` bound lets PostgreSQL start the index scan at the cursor.
        """
        tail = Q(created_at__gt=self.created_at) | Q(created_at=self.created_at, id__gt=self.id)
        same_loss = Q(expected_loss=self.expected_loss) & tail
        same_rank = Q(priority_rank=self.priority_rank) & (Q(expected_loss__lt=self.expected_loss) | same_loss)
        return Q(priority_rank__gte=self.priority_rank) & (Q(priority_rank__gt=self.priority_rank) | same_rank)


@dataclass(frozen=True, slots=True)
class QueuePage:
    cases: list[ReviewCase]
    next_cursor: str
    count: int  #: matching cases, capped at COUNT_LIMIT + 1
    is_first: bool

    @property
    def count_label(self) -> str:
        if self.count > COUNT_LIMIT:
            return f"{COUNT_LIMIT:,}+"
        return f"{self.count:,}"


def queue_page(filters: QueueFilters, *, after: str = "", page_size: int = PAGE_SIZE) -> QueuePage:
    """One page of the queue in priority order: high first, then expected loss, then age."""
    cases = _filtered(filters)
    cursor = Cursor.decode(after) if after else None
    page_rows = cases.filter(cursor.after_q()) if cursor else cases
    rows = list(page_rows.select_related("assignee").order_by(*QUEUE_ORDER)[: page_size + 1])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    return QueuePage(
        cases=rows,
        next_cursor=Cursor.of(rows[-1]).encode() if has_more else "",
        count=cases[: COUNT_LIMIT + 1].count(),
        is_first=cursor is None,
    )


# --------------------------------------------------------------------------- one case


@dataclass
class CaseStory:
    """Everything the case page shows, read from what was frozen at decision time."""

    case: ReviewCase
    record: DecisionRecord
    explain: dict[str, Any]
    decided_by: str
    hard_rule: dict[str, Any] | None
    recent: list[DecisionRecord]
    notes: list[Any] = field(default_factory=list)
    feedback: list[Any] = field(default_factory=list)
    gateway_calls: list[Any] = field(default_factory=list)


def case_story(case_id: int) -> CaseStory | None:
    case = ReviewCase.objects.select_related("decision", "assignee", "resolved_by").filter(pk=case_id).first()
    if case is None:
        return None
    record = case.decision
    explain = explanation_for(record)
    decision = DecisionResult.from_dict(record.decision or {})
    return CaseStory(
        case=case,
        record=record,
        explain=explain,
        decided_by=decided_by(decision),
        hard_rule=_hard_rule(decision),
        recent=list(
            DecisionRecord.objects.filter(customer_id=record.customer_id)
            .exclude(pk=record.pk)
            .order_by("-event_time")[:RECENT_TRANSACTIONS]
        ),
        notes=list(case.notes.select_related("author")),
        feedback=list(record.feedback.order_by("recorded_at")),
        gateway_calls=list(record.gateway_calls.order_by("created_at")),
    )


def _hard_rule(decision: DecisionResult) -> dict[str, Any] | None:
    """Which hard rule fired, if one did (also when the decline rate limit then sent it to review)."""
    inputs = dict(decision.metadata.get("rule_inputs", {}))
    if decision.policy_applied.startswith("hard_rule:"):
        return {"rule": decision.policy_applied.removeprefix("hard_rule:"), "inputs": inputs, "then": ""}
    if inputs and not decision.is_model_driven:
        codes = [code for code in decision.reason_codes if code != decision.reason_codes[0]]
        return {"rule": ", ".join(codes) or "hard rule", "inputs": inputs, "then": decision.policy_applied}
    return None
