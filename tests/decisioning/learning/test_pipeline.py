"""The feature pipeline listener: every executed transaction feeds its customer's and merchant's windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from decisioning.contracts import DecisionAction, ExecutionAction, ExecutionResult
from decisioning.features.memory_store import InMemoryFeatureStore
from decisioning.pipeline import FeaturePipeline
from tests.decisioning.features.conftest import make_txn

from .conftest import at, stored_features, txn_body


@pytest.mark.django_db
def test_each_transaction_is_seen_by_the_next_in_event_time(low_risk, decide):
    base = datetime.now(UTC) - timedelta(hours=2)
    decide(txn_body(1, amount="300.00", timestamp=at(base)))  # slides out of the next one's hour
    decide(txn_body(2, amount="20.00", timestamp=at(base + timedelta(minutes=70))))
    decide(txn_body(3, amount="5.00", timestamp=at(base + timedelta(minutes=100)), merchant="m-other"))
    features = stored_features("req-loop-3")
    risk, windows, merchant = (features[g]["values"] for g in ("customer_risk", "spend_windows", "merchant_risk"))
    assert (risk["velocity_1h"], risk["velocity_24h"]) == (20.0, 320.0)
    assert (windows["txn_count_1d"], windows["avg_amount_1d"]) == (2, 160.0)
    assert merchant["merchant_txn_count_30d"] == 0  # m-other has seen nobody yet
    assert stored_features("req-loop-2")["merchant_risk"]["values"]["merchant_txn_count_30d"] == 1


def test_failed_executions_are_not_recorded():
    store = InMemoryFeatureStore()
    txn = make_txn()
    failed = ExecutionResult(
        request_id=txn.request_id, decision=DecisionAction.REVIEW, action=ExecutionAction.ERROR, fraud_score=0.5,
        reason_codes=(), policy_applied="error", is_model_driven=False, audit_trail_id="aud_1", error="boom",
    )  # fmt: skip
    FeaturePipeline(store).on_executed(txn, failed)
    assert store.counter_members_many([("win:cust_amt:cust-1", txn.timestamp - timedelta(days=1), txn.timestamp)]) == [
        []
    ]
