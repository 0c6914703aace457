"""Labelled history from the database: the decisions the service made, with the labels learnt since.

Every DecisionRecord keeps the FeatureSet it was decided on, so its vector is point-in-time by
construction (no feature can have seen the future). A transaction is labelled fraud when a fraud
outcome for it was *known* (recorded) by ``as_of``; one older than the label delay with no fraud
outcome counts as legitimate; younger ones are left out, their labels may still be coming.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from decisioning.contracts import FeatureSet
from decisioning.decision.vector import FEATURE_NAMES, feature_vector
from decisioning.ml.training import LabelledHistory
from decisioning.models import DecisionRecord, FeedbackEvent

BATCH = 2_000


def stored_history(
    *, as_of: datetime, label_delay_days: float, names: Sequence[str] = FEATURE_NAMES
) -> LabelledHistory:
    """Decided transactions older than the label delay, with labels known by ``as_of``."""
    latest = as_of - timedelta(days=label_delay_days)
    records = (
        DecisionRecord.objects.filter(
            status=DecisionRecord.Status.DECIDED, feature_set__isnull=False, event_time__lt=latest
        )
        .order_by("event_time", "id")
        .values_list("id", "feature_set", "event_time", "customer_id")
    )
    fraud_ids = _fraud_decisions(as_of)
    rows, labels, seconds, customers = [], [], [], []
    for record_id, feature_set, event_time, customer_id in records.iterator(chunk_size=BATCH):
        if not feature_set:
            continue
        rows.append(feature_vector(FeatureSet.from_dict(feature_set), names))
        labels.append(1 if record_id in fraud_ids else 0)
        seconds.append(event_time.timestamp())
        customers.append(customer_id)
    return LabelledHistory(
        matrix=np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names)),
        labels=np.asarray(labels, dtype=np.int64),
        seconds=np.asarray(seconds, dtype=np.float64),
        customers=np.asarray(customers, dtype=object),
        feature_names=tuple(names),
        source="stored",
        details={"as_of": as_of.isoformat(), "labels_known_by": as_of.isoformat()},
    )


def _fraud_decisions(as_of: datetime) -> set[int]:
    """Decisions whose latest outcome known by ``as_of`` is a fraud outcome."""
    latest: dict[int, bool] = {}
    events = FeedbackEvent.objects.filter(recorded_at__lte=as_of).order_by("recorded_at", "id")
    for decision_id, is_fraud in events.values_list("decision_id", "is_fraud").iterator(chunk_size=BATCH):
        latest[decision_id] = is_fraud
    return {decision_id for decision_id, is_fraud in latest.items() if is_fraud}
