"""Sliding-window features in event time: one computation for live serving, rebuilds and replays.

The feature pipeline records events as windowed counter members (Redis sorted sets, the
``CounterEvent`` table, or the in-memory store of a replay):

* ``win:cust_amt:{customer}`` — the customer's transactions, member ``{request_id}|{amount}``,
  scored by the transaction's event time;
* ``win:merch_txn:{merchant}`` — the merchant's transactions, member ``request_id``;
* ``win:merch_fraud:{merchant}`` — fraud labels of the merchant's transactions, member
  ``{request_id}|{known_at}``, scored by the *transaction's* event time (so windows are over
  transactions) while ``known_at`` says when the label became known;
* ``win:cust_fraud:{customer}`` / ``win:cust_dispute:{customer}`` — fraud and dispute labels of
  the customer, scored by when they became known.

Every value for a transaction at time ``t`` is computed from members strictly before ``t``, and
a label counts only when it was known before ``t``: that is the no-leakage rule, enforced here
and nowhere else. Pure Python, no Django.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from decisioning.contracts import FeatureValue, TransactionIn

DAY = 86_400.0
HOUR = 3_600.0
#: Window name → length in seconds, for the spending and merchant windows.
WINDOWS: Mapping[str, float] = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
#: How long members are kept: the longest window plus a day of slack for late events.
TRANSACTION_RETENTION = timedelta(days=31)
LABEL_RETENTION = timedelta(days=91)
#: Each fraud label known in the last 30 days adds this much to ``fraud_score_30d`` (capped at 1).
FRAUD_SCORE_PER_LABEL = 0.3
_SEPARATOR = "|"

Member = tuple[str, float]  #: (member, score in epoch seconds)


class WindowStore(Protocol):
    """What the window features need from a store (both backends and the in-memory one)."""

    def counter_add(self, counter: str, member: str, at: datetime, *, retention: timedelta = ...) -> bool: ...

    def counter_members_many(self, requests: Sequence[tuple[str, datetime, datetime]]) -> list[list[Member]]: ...


# --------------------------------------------------------------------------- counter names


def customer_amounts_counter(customer_id: str) -> str:
    return f"win:cust_amt:{customer_id}"


def merchant_txn_counter(merchant_id: str) -> str:
    return f"win:merch_txn:{merchant_id}"


def merchant_fraud_counter(merchant_id: str) -> str:
    return f"win:merch_fraud:{merchant_id}"


def customer_fraud_counter(customer_id: str) -> str:
    return f"win:cust_fraud:{customer_id}"


def customer_dispute_counter(customer_id: str) -> str:
    return f"win:cust_dispute:{customer_id}"


def amount_member(request_id: str, amount: float) -> str:
    return f"{request_id}{_SEPARATOR}{amount:.2f}"


def fraud_member(request_id: str, known_at: datetime) -> str:
    return f"{request_id}{_SEPARATOR}{known_at.timestamp():.3f}"


def _suffix(member: str) -> float:
    return float(member.rsplit(_SEPARATOR, 1)[1])


# --------------------------------------------------------------------------- pure computations


def customer_values(amounts: Sequence[tuple[float, float]], at: float) -> dict[str, FeatureValue]:
    """Velocity and spending windows from ``(event time, amount)`` pairs strictly before ``at``."""
    values: dict[str, FeatureValue] = {
        "velocity_1h": round(sum(a for t, a in amounts if at - HOUR <= t < at), 2),
        "velocity_24h": round(sum(a for t, a in amounts if at - DAY <= t < at), 2),
    }
    for name, seconds in WINDOWS.items():
        inside = [a for t, a in amounts if at - seconds <= t < at]
        values[f"txn_count_{name}"] = len(inside)
        values[f"avg_amount_{name}"] = round(sum(inside) / len(inside), 4) if inside else 0.0
    month = [a for t, a in amounts if at - WINDOWS["30d"] <= t < at]
    values["avg_txn_amount_30d"] = round(sum(month) / len(month), 4) if month else None
    values["std_txn_amount_30d"] = _std(month) if month else None
    return values


def _std(amounts: Sequence[float]) -> float:
    if len(amounts) < 2:
        return 0.0
    mean = sum(amounts) / len(amounts)
    return round(math.sqrt(sum((a - mean) ** 2 for a in amounts) / (len(amounts) - 1)), 4)


def merchant_values(
    txn_times: Sequence[float], frauds: Sequence[tuple[float, float]], at: float
) -> dict[str, FeatureValue]:
    """Traffic and known-fraud share per window; ``frauds`` are ``(txn time, known at)`` pairs."""
    values: dict[str, FeatureValue] = {}
    for name, seconds in WINDOWS.items():
        count = sum(1 for t in txn_times if at - seconds <= t < at)
        known = sum(1 for t, known_at in frauds if at - seconds <= t < at and known_at < at)
        values[f"merchant_txn_count_{name}"] = count
        values[f"merchant_fraud_share_{name}"] = min(known / count, 1.0) if count else 0.0
    return values


def label_values(fraud_known: Sequence[float], dispute_known: Sequence[float], at: float) -> dict[str, FeatureValue]:
    """Customer risk from labels known before ``at``: fraud score (30 days) and disputes (90 days)."""
    frauds = sum(1 for t in fraud_known if at - 30 * DAY <= t < at)
    return {
        "fraud_score_30d": min(FRAUD_SCORE_PER_LABEL * frauds, 1.0),
        "dispute_count_90d": sum(1 for t in dispute_known if at - 90 * DAY <= t < at),
    }


# --------------------------------------------------------------------------- derived values


@dataclass(frozen=True, slots=True)
class DerivedValues:
    """What the windows say about one transaction's customer and merchant, at its event time."""

    customer: dict[str, FeatureValue] = field(default_factory=dict)
    labels: dict[str, FeatureValue] = field(default_factory=dict)
    merchant: dict[str, FeatureValue] = field(default_factory=dict)
    has_customer_history: bool = False  #: any transaction of the customer in the last 30 days
    has_label_history: bool = False  #: any label of the customer in the last 90 days

    def for_group(self, group: str, stored: Mapping[str, FeatureValue] | None) -> dict[str, FeatureValue] | None:
        """The group's values with the windows applied; None when the windows say nothing."""
        merge = _MERGES.get(group)
        return None if merge is None else merge(self, dict(stored or {}))


def _merge_customer_risk(d: DerivedValues, stored: dict[str, FeatureValue]) -> dict[str, FeatureValue] | None:
    if not (d.has_customer_history or d.has_label_history):
        return None
    merged = dict(stored)
    if d.has_customer_history:  # the pipeline has seen this customer: its velocity is the truth
        merged["velocity_1h"], merged["velocity_24h"] = d.customer["velocity_1h"], d.customer["velocity_24h"]
    for name in ("fraud_score_30d", "dispute_count_90d"):
        # Labels only ever raise an externally pushed risk, never lower it.
        merged[name] = max(_number(stored.get(name)), _number(d.labels.get(name)))
    merged["dispute_count_90d"] = int(merged["dispute_count_90d"] or 0)
    return merged


def _merge_spend_behaviour(d: DerivedValues, stored: dict[str, FeatureValue]) -> dict[str, FeatureValue] | None:
    if not d.has_customer_history or not stored:
        return None  # top MCC, unique merchants … come from the periodic job; don't invent them
    return {
        **stored,
        "avg_txn_amount_30d": d.customer["avg_txn_amount_30d"],
        "std_txn_amount_30d": d.customer["std_txn_amount_30d"],
    }


def _merge_spend_windows(d: DerivedValues, stored: dict[str, FeatureValue]) -> dict[str, FeatureValue] | None:
    names = ("txn_count_1d", "txn_count_7d", "txn_count_30d", "avg_amount_1d", "avg_amount_7d", "avg_amount_30d")
    return {name: d.customer[name] for name in names} if d.customer else None


def _merge_merchant_risk(d: DerivedValues, stored: dict[str, FeatureValue]) -> dict[str, FeatureValue] | None:
    return dict(d.merchant) if d.merchant else None


def _number(value: FeatureValue) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


_MERGES = {
    "customer_risk": _merge_customer_risk,
    "spend_behaviour": _merge_spend_behaviour,
    "spend_windows": _merge_spend_windows,
    "merchant_risk": _merge_merchant_risk,
}


# --------------------------------------------------------------------------- reading and recording


class WindowFeatures:
    """Reads a transaction's windows in one round trip and computes its derived values."""

    def __init__(self, store: WindowStore) -> None:
        self.store = store

    def derive(self, txn: TransactionIn) -> DerivedValues:
        """Values at ``txn.timestamp`` from events before it; raises StoreUnavailable."""
        at = txn.timestamp
        month, quarter = at - timedelta(days=30), at - timedelta(days=90)
        requests = [
            (customer_amounts_counter(txn.customer_id), month, at),
            (customer_fraud_counter(txn.customer_id), month, at),
            (customer_dispute_counter(txn.customer_id), quarter, at),
        ]
        if txn.merchant_id:
            requests += [
                (merchant_txn_counter(txn.merchant_id), month, at),
                (merchant_fraud_counter(txn.merchant_id), month, at),
            ]
        replies = self.store.counter_members_many(requests)
        return derived_values(replies, at.timestamp(), has_merchant=bool(txn.merchant_id))


def derived_values(replies: Sequence[Sequence[Member]], at: float, *, has_merchant: bool) -> DerivedValues:
    """DerivedValues from the replies of :meth:`WindowFeatures.derive` (in its request order)."""
    amounts = [(score, _suffix(member)) for member, score in replies[0] if score < at]
    fraud_known = [score for _, score in replies[1]]
    dispute_known = [score for _, score in replies[2]]
    merchant: dict[str, FeatureValue] = {}
    if has_merchant:
        txn_times = [score for _, score in replies[3]]
        frauds = _first_known(replies[4])
        merchant = merchant_values(txn_times, frauds, at)
    return DerivedValues(
        customer=customer_values(amounts, at),
        labels=label_values(fraud_known, dispute_known, at),
        merchant=merchant,
        has_customer_history=bool(amounts),
        has_label_history=any(t < at for t in fraud_known + dispute_known),
    )


def _first_known(members: Sequence[Member]) -> list[tuple[float, float]]:
    """One ``(txn time, known at)`` per labelled request: two fraud outcomes of one transaction count once."""
    earliest: dict[str, tuple[float, float]] = {}
    for member, score in members:
        request_id, known_at = member.rsplit(_SEPARATOR, 1)[0], _suffix(member)
        if request_id not in earliest or known_at < earliest[request_id][1]:
            earliest[request_id] = (score, known_at)
    return list(earliest.values())


def record_transaction(store: WindowStore, txn: TransactionIn) -> bool:
    """Add one executed transaction to its customer's and merchant's windows (once per request id)."""
    added = store.counter_add(
        customer_amounts_counter(txn.customer_id),
        amount_member(txn.request_id, float(txn.amount)),
        txn.timestamp,
        retention=TRANSACTION_RETENTION,
    )
    if txn.merchant_id:
        store.counter_add(
            merchant_txn_counter(txn.merchant_id), txn.request_id, txn.timestamp, retention=TRANSACTION_RETENTION
        )
    return added


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """An outcome as the windows need it."""

    key: str  #: unique per outcome event, e.g. ``source:event_id`` (a replay of it counts once)
    request_id: str  #: the labelled transaction
    customer_id: str
    merchant_id: str
    event_time: datetime  #: the labelled transaction's own timestamp
    known_at: datetime  #: when the outcome became known to the system
    is_fraud: bool
    is_dispute: bool


def record_label(store: WindowStore, label: LabelEvent) -> None:
    """Apply an outcome to the windows at once: customer risk and the merchant's known-fraud share."""
    if label.is_fraud:
        store.counter_add(
            customer_fraud_counter(label.customer_id), label.key, label.known_at, retention=TRANSACTION_RETENTION
        )
        if label.merchant_id:
            store.counter_add(
                merchant_fraud_counter(label.merchant_id),
                fraud_member(label.request_id, label.known_at),
                label.event_time,
                retention=TRANSACTION_RETENTION,
            )
    if label.is_dispute:
        store.counter_add(
            customer_dispute_counter(label.customer_id), label.key, label.known_at, retention=LABEL_RETENTION
        )
