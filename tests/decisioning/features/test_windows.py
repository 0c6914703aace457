"""Sliding windows in event time on every store backend, and the no-leakage rule."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from decisioning.contracts import FallbackTier
from decisioning.features.layer import FeatureLayer
from decisioning.features.memory_store import InMemoryFeatureStore
from decisioning.features.store import FeatureStore
from decisioning.features.windows import LabelEvent, WindowFeatures, record_label, record_transaction

from .conftest import CUSTOMER_RISK_VALUES, NOW, FrozenClock, make_txn

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["backend", "memory"])
def any_store(request: pytest.FixtureRequest, store: FeatureStore, clock: FrozenClock) -> FeatureStore:
    """Redis, the database table, and the replay's in-memory store."""
    return store if request.param == "backend" else InMemoryFeatureStore(clock=clock)


def _layer(store: FeatureStore, clock: FrozenClock) -> FeatureLayer:
    return FeatureLayer(store, clock, windows=WindowFeatures(store))


def _txn(number: int, minutes: float, amount: str = "100.00", **overrides: object):
    return make_txn(
        request_id=f"req-{number}", transaction_id=f"txn-{number}", amount=Decimal(amount),
        timestamp=NOW + timedelta(minutes=minutes), **overrides,
    )  # fmt: skip


def _fraud_label(txn, known_after: timedelta) -> LabelEvent:
    return LabelEvent(
        key=f"test:{txn.request_id}", request_id=txn.request_id, customer_id=txn.customer_id,
        merchant_id=txn.merchant_id, event_time=txn.timestamp, known_at=txn.timestamp + known_after,
        is_fraud=True, is_dispute=True,
    )  # fmt: skip


def test_velocity_and_spend_windows_slide_in_event_time(any_store: FeatureStore, clock: FrozenClock) -> None:
    # Given purchases of 100 at t-70 min and 50 at t-20 min, and one of 999 *after* t (arrived late)
    for txn in (_txn(1, -70), _txn(2, -20, "50.00"), _txn(3, +5, "999.00")):
        record_transaction(any_store, txn)
    # When a transaction at t is built
    fs = _layer(any_store, clock).build(_txn(4, 0))
    # Then the hour holds only the 50 (the 100 slid out, the later 999 is invisible), the day both
    risk = fs.groups["customer_risk"].values
    assert (risk["velocity_1h"], risk["velocity_24h"]) == (50.0, 150.0)
    windows = fs.groups["spend_windows"]
    assert windows.values == {
        "txn_count_1d": 2, "txn_count_7d": 2, "txn_count_30d": 2,
        "avg_amount_1d": 75.0, "avg_amount_7d": 75.0, "avg_amount_30d": 75.0,
    }  # fmt: skip
    assert windows.fallback_tier is FallbackTier.ONLINE_STORE
    assert fs.is_complete  # the pipeline's windows make a customer_risk group of their own


def test_a_replayed_transaction_counts_once(any_store: FeatureStore, clock: FrozenClock) -> None:
    assert record_transaction(any_store, _txn(1, -10)) is True
    assert record_transaction(any_store, _txn(1, -10)) is False
    assert _layer(any_store, clock).build(_txn(2, 0)).groups["customer_risk"].values["velocity_1h"] == 100.0


def test_pushed_profile_is_kept_and_windows_override_only_what_they_know(
    any_store: FeatureStore, clock: FrozenClock
) -> None:
    any_store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW - timedelta(minutes=5))
    record_transaction(any_store, _txn(1, -30, "20.00"))
    values = _layer(any_store, clock).build(_txn(2, 0)).groups["customer_risk"].values
    assert values == {**CUSTOMER_RISK_VALUES, "velocity_1h": 20.0, "velocity_24h": 20.0}


def test_no_leakage_labels_count_only_once_known_before_the_transaction(
    any_store: FeatureStore, clock: FrozenClock
) -> None:
    # Given a fraud at merchant M on day 0 whose chargeback becomes known three days later
    fraud = _txn(1, 0, merchant_id="merch-X")
    record_transaction(any_store, fraud)
    record_label(any_store, _fraud_label(fraud, timedelta(days=3)))
    layer = _layer(any_store, clock)
    # When the customer and the merchant transact on day 1 (label not yet known) and day 4 (known)
    before = layer.build(_txn(2, 24 * 60, merchant_id="merch-X"))
    after = layer.build(_txn(3, 4 * 24 * 60, merchant_id="merch-X"))
    # Then only the later one sees it
    assert before.groups["merchant_risk"].values["merchant_fraud_share_7d"] == 0.0
    assert before.groups["customer_risk"].values["fraud_score_30d"] == 0.0
    assert before.groups["customer_risk"].values["dispute_count_90d"] == 0
    assert after.groups["merchant_risk"].values["merchant_fraud_share_7d"] == 1.0
    assert after.groups["merchant_risk"].values["merchant_txn_count_7d"] == 1
    assert after.groups["customer_risk"].values["fraud_score_30d"] == 0.3
    assert after.groups["customer_risk"].values["dispute_count_90d"] == 1
    # and the transaction's own event is never part of its own features
    assert after.groups["spend_windows"].values["txn_count_30d"] == 1


def test_windows_unreadable_degrade_and_fall_back(clock: FrozenClock) -> None:
    class Broken(InMemoryFeatureStore):
        def counter_members_many(self, requests):  # type: ignore[no-untyped-def]
            from decisioning.features.store import StoreUnavailable

            raise StoreUnavailable("down for the test")

    store = Broken(clock=clock)
    fs = _layer(store, clock).build(_txn(1, 0))
    assert fs.degraded is True
    assert fs.groups["merchant_risk"].fallback_tier is FallbackTier.POPULATION_DEFAULT
    assert any("windows: down for the test" in warning for warning in fs.warnings)
