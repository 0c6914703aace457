"""Slower aggregates recomputed from stored history (the periodic job), as pure functions.

``spend_profile`` and ``risk_profile`` take a customer's past transactions (and labels) and the
moment they are computed for, and use only what happened before it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from decisioning.contracts import FeatureValue
from decisioning.features.windows import FRAUD_SCORE_PER_LABEL


@dataclass(frozen=True, slots=True)
class PastTransaction:
    """What the aggregates need of one stored transaction."""

    at: datetime
    amount: float
    mcc: str
    merchant_id: str
    is_international: bool


def _since(rows: Sequence[PastTransaction], now: datetime, days: int) -> list[PastTransaction]:
    start = now - timedelta(days=days)
    return [row for row in rows if start <= row.at < now]


def spend_profile(rows: Sequence[PastTransaction], now: datetime) -> dict[str, FeatureValue] | None:
    """spend_behaviour over the last 30 days (unique merchants over 7); None when there is nothing."""
    month = _since(rows, now, 30)
    if not month:
        return None
    amounts = [row.amount for row in month]
    mean = sum(amounts) / len(amounts)
    variance = sum((a - mean) ** 2 for a in amounts) / (len(amounts) - 1) if len(amounts) > 1 else 0.0
    weekend = sum(row.amount for row in month if row.at.weekday() >= 5)
    mccs = Counter(row.mcc for row in month if row.mcc)
    return {
        "avg_txn_amount_30d": round(mean, 4),
        "std_txn_amount_30d": round(math.sqrt(variance), 4),
        "top_mcc": mccs.most_common(1)[0][0] if mccs else None,
        "unique_merchants_7d": len({row.merchant_id for row in _since(rows, now, 7) if row.merchant_id}),
        "weekend_spend_ratio": round(weekend / sum(amounts), 4) if sum(amounts) > 0 else 0.0,
    }


def risk_profile(
    rows: Sequence[PastTransaction], fraud_known: Sequence[datetime], disputes_known: Sequence[datetime], now: datetime
) -> dict[str, FeatureValue]:
    """The customer_risk features recomputable from history: international ratio (90 days), labels."""
    quarter = _since(rows, now, 90)
    frauds = sum(1 for at in fraud_known if now - timedelta(days=30) <= at < now)
    return {
        "international_ratio": round(sum(row.is_international for row in quarter) / len(quarter), 4)
        if quarter
        else 0.0,
        "fraud_score_30d": min(FRAUD_SCORE_PER_LABEL * frauds, 1.0),
        "dispute_count_90d": sum(1 for at in disputes_known if now - timedelta(days=90) <= at < now),
    }
