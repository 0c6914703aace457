"""Recompute slower aggregates from the database, and rebuild the whole online store after a loss.

Django-side: reads DecisionRecord / FeedbackEvent, writes through the store interface (Redis or
the table), never deletes. Both are idempotent: counters are unique per member, groups are
replaced whole, so a run interrupted half-way is simply run again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from decisioning.contracts import TransactionIn
from decisioning.features.aggregates import PastTransaction, risk_profile, spend_profile
from decisioning.features.store import FeatureStore, GroupKey
from decisioning.features.windows import LABEL_RETENTION, TRANSACTION_RETENTION, record_label, record_transaction
from decisioning.models import DecisionRecord, FeedbackEvent

Progress = Callable[[str], None]
PROGRESS_EVERY = 10_000
HISTORY_DAYS = 90


@dataclass(slots=True)
class RebuildSummary:
    """What a run did."""

    transactions: int = 0
    labels: int = 0
    customers: int = 0
    groups_written: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.transactions:,} transactions and {self.labels:,} labels replayed into the windows; "
            f"{self.customers:,} customers recomputed, {self.groups_written:,} groups written in {self.seconds:.1f} s"
        )


def _decisions_since(start: datetime) -> Iterator[DecisionRecord]:
    records = DecisionRecord.objects.filter(status=DecisionRecord.Status.DECIDED, event_time__gte=start)
    return records.order_by("customer_id", "event_time").only("transaction", "customer_id", "event_time").iterator(2000)


def _past(record: DecisionRecord) -> PastTransaction:
    txn = record.transaction
    return PastTransaction(
        at=record.event_time,
        amount=float(txn["amount"]),
        mcc=txn.get("mcc", ""),
        merchant_id=txn.get("merchant_id", ""),
        is_international=txn.get("country", "US") != txn.get("card_country", "US"),
    )


def _labels_by_customer(now: datetime) -> tuple[dict[str, list[datetime]], dict[str, list[datetime]]]:
    frauds: dict[str, list[datetime]] = defaultdict(list)
    disputes: dict[str, list[datetime]] = defaultdict(list)
    events = FeedbackEvent.objects.filter(recorded_at__gte=now - timedelta(days=HISTORY_DAYS), recorded_at__lt=now)
    for customer, outcome, is_fraud, known in events.values_list("customer_id", "outcome", "is_fraud", "recorded_at"):
        if is_fraud:
            frauds[customer].append(known)
        if outcome == FeedbackEvent.Outcome.DISPUTED:
            disputes[customer].append(known)
    return frauds, disputes


def recompute_features(*, store: FeatureStore, now: datetime, progress: Progress) -> RebuildSummary:
    """spend_behaviour and the history parts of customer_risk for every customer seen in 90 days."""
    started, summary = time.perf_counter(), RebuildSummary()
    frauds, disputes = _labels_by_customer(now)
    current: str | None = None
    rows: list[PastTransaction] = []
    for record in _decisions_since(now - timedelta(days=HISTORY_DAYS)):
        if record.customer_id != current and current is not None:
            _write_customer(store, current, rows, frauds, disputes, now, summary, progress)
            rows = []
        current = record.customer_id
        rows.append(_past(record))
    if current is not None:
        _write_customer(store, current, rows, frauds, disputes, now, summary, progress)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_customer(
    store: FeatureStore,
    customer_id: str,
    rows: list[PastTransaction],
    frauds: dict[str, list[datetime]],
    disputes: dict[str, list[datetime]],
    now: datetime,
    summary: RebuildSummary,
    progress: Progress,
) -> None:
    spend = spend_profile(rows, now)
    if spend is not None:
        store.write_group("spend_behaviour", customer_id, spend, now)
        summary.groups_written += 1
    kept = _kept_risk(store, customer_id)
    derived = risk_profile(rows, frauds.get(customer_id, []), disputes.get(customer_id, []), now)
    if settings.FDE_FEATURE_WINDOWS:
        # The label windows add known labels to these two at serve time (the larger of the pushed
        # and the label-derived value wins). Writing the label-derived value here would overwrite a
        # risk pushed from outside, and would stop it decaying when the labels leave the window.
        for name in LABEL_RISK_FEATURES:
            derived[name] = kept.get(name, 0 if name == "dispute_count_90d" else 0.0)
    risk = {**kept, **derived}
    store.write_group("customer_risk", customer_id, risk, now)  # credit score, account age … are kept
    summary.groups_written += 1
    summary.customers += 1
    if summary.customers % PROGRESS_EVERY == 0:
        progress(f"… {summary.customers:,} customers recomputed")


#: customer_risk features pushed from outside (not derivable from our history): kept, or recovered.
PUSHED_RISK_FEATURES = ("credit_score", "account_age_months")
#: customer_risk features that stored labels raise (pushed values may raise them further).
LABEL_RISK_FEATURES = ("fraud_score_30d", "dispute_count_90d")


def _kept_risk(store: FeatureStore, customer_id: str) -> dict[str, Any]:
    """The customer's current customer_risk; after a loss, the pushed part as the last decision saw it."""
    key = GroupKey("customer_risk", customer_id)
    read = store.read_groups([key])[key]
    record = read.live or read.warm
    if record is not None:
        return dict(record.values)
    last = (
        DecisionRecord.objects.filter(customer_id=customer_id, feature_set__isnull=False)
        .order_by("-event_time")
        .values_list("feature_set", flat=True)
        .first()
    )
    values = ((last or {}).get("groups", {}).get("customer_risk", {}) or {}).get("values", {})
    return {name: values[name] for name in PUSHED_RISK_FEATURES if values.get(name) is not None}


def rebuild_windows(*, store: FeatureStore, now: datetime, progress: Progress) -> RebuildSummary:
    """Re-record every recent transaction and label in the windows (after a store loss)."""
    started, summary = time.perf_counter(), RebuildSummary()
    for record in _decisions_since(now - TRANSACTION_RETENTION):
        record_transaction(store, TransactionIn.from_dict(record.transaction))
        summary.transactions += 1
        if summary.transactions % PROGRESS_EVERY == 0:
            progress(f"… {summary.transactions:,} transactions re-recorded")
    events = FeedbackEvent.objects.filter(recorded_at__gte=now - LABEL_RETENTION).select_related("decision")
    from decisioning.feedback import label_event

    for event in events.iterator(2000):
        record_label(store, label_event(event, event.decision.event_time))
        summary.labels += 1
    summary.seconds = time.perf_counter() - started
    return summary
