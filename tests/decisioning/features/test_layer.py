"""The Feature layer over both store backends: tiers, freshness, completeness, logging."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from decisioning.contracts import FallbackTier, FeatureFreshness, FeatureGroup, FeatureSet
from decisioning.features.groups import (
    CUSTOMER_RISK,
    SPEND_BEHAVIOUR,
    EntityType,
    FeatureKind,
    FeatureSpec,
    GroupSpec,
)
from decisioning.features.layer import FeatureLayer
from decisioning.features.store import FeatureStore

from .conftest import CUSTOMER_RISK_VALUES, NOW, SPEND_VALUES, FrozenClock, make_txn

pytestmark = pytest.mark.django_db

FRESHNESS = {"default": 60, "spend_behaviour": 24 * 60}


@pytest.fixture
def layer(store: FeatureStore, clock: FrozenClock) -> FeatureLayer:
    # The tier, freshness and logging rules under test here are the same for every stored group;
    # these tests exercise them on the two original groups. The window-computed groups
    # (spend_windows, merchant_risk) are tested in test_windows.py.
    return FeatureLayer(store, clock, freshness_minutes=FRESHNESS, groups=(CUSTOMER_RISK, SPEND_BEHAVIOUR))


def test_everything_stored_and_fresh(store: FeatureStore, layer: FeatureLayer) -> None:
    # Given both stored groups written five minutes ago
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW - timedelta(minutes=5))
    store.write_group("spend_behaviour", "cust-1", SPEND_VALUES, NOW - timedelta(minutes=5))
    # When the set is built
    feature_set = layer.build(make_txn())
    # Then the stored groups come from the online store, fresh, and the set is complete
    assert feature_set.groups["customer_risk"] == FeatureGroup(
        name="customer_risk",
        values=CUSTOMER_RISK_VALUES,
        freshness=FeatureFreshness.FRESH,
        fallback_tier=FallbackTier.ONLINE_STORE,
        source=store.name,
        computed_at=NOW - timedelta(minutes=5),
        is_critical=True,
    )
    assert feature_set.groups["spend_behaviour"].fallback_tier is FallbackTier.ONLINE_STORE
    assert sorted(feature_set.groups) == [
        "customer_risk",
        "session_context",
        "spend_behaviour",
        "transaction_context",
    ]
    assert (feature_set.is_complete, feature_set.degraded, feature_set.warnings) == (True, False, ())
    assert feature_set.built_at == NOW
    assert FeatureSet.from_dict(feature_set.to_dict()) == feature_set


def test_request_groups_are_fresh_from_the_request(store: FeatureStore, layer: FeatureLayer) -> None:
    feature_set = layer.build(make_txn())
    for name in ("transaction_context", "session_context"):
        group = feature_set.groups[name]
        assert (group.freshness, group.fallback_tier, group.source) == (
            FeatureFreshness.FRESH,
            FallbackTier.REQUEST,
            "request",
        )
    assert feature_set.get("transaction_context", "amount") == 250.0
    assert feature_set.get("session_context", "auth_method") == "chip"


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(minutes=59, seconds=59), FeatureFreshness.FRESH),
        (timedelta(minutes=60), FeatureFreshness.STALE),
        (timedelta(hours=5), FeatureFreshness.STALE),
    ],
)
def test_freshness_by_computed_at(
    store: FeatureStore, layer: FeatureLayer, age: timedelta, expected: FeatureFreshness
) -> None:
    # Given customer_risk computed ``age`` ago (threshold: the 60-minute default)
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW - age)
    # When built
    feature_set = layer.build(make_txn())
    # Then its freshness follows the age; stale values are still used, with a warning
    group = feature_set.groups["customer_risk"]
    assert (group.freshness, group.values) == (expected, CUSTOMER_RISK_VALUES)
    stale_warnings = [w for w in feature_set.warnings if "stale" in w]
    if expected is FeatureFreshness.STALE:
        minutes = round(age.total_seconds() / 60)
        assert stale_warnings == [f"customer_risk: stale, computed {minutes} min ago (threshold 60 min)"]
    else:
        assert stale_warnings == []
    assert feature_set.is_complete is True


def test_per_group_freshness_threshold(store: FeatureStore, layer: FeatureLayer) -> None:
    # Given spend_behaviour 5 hours old, with its own 24-hour threshold
    store.write_group("spend_behaviour", "cust-1", SPEND_VALUES, NOW - timedelta(hours=5))
    assert layer.build(make_txn()).groups["spend_behaviour"].freshness is FeatureFreshness.FRESH


def test_warm_copy_is_used_when_the_live_value_is_gone(store: FeatureStore, layer: FeatureLayer) -> None:
    # Given customer_risk whose live key was lost after it was written
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW - timedelta(minutes=10))
    store.delete_group("customer_risk", "cust-1", include_warm=False)
    # When built
    feature_set = layer.build(make_txn())
    # Then the warm copy supplies it, marked as such
    group = feature_set.groups["customer_risk"]
    assert (group.fallback_tier, group.freshness, group.values) == (
        FallbackTier.WARM_CACHE,
        FeatureFreshness.FRESH,
        CUSTOMER_RISK_VALUES,
    )
    assert "customer_risk: no live value, used the warm copy" in feature_set.warnings
    assert feature_set.is_complete is True


def test_missing_customer_risk_makes_the_set_incomplete(store: FeatureStore, layer: FeatureLayer) -> None:
    # Given nothing stored for the customer
    # When built
    feature_set = layer.build(make_txn())
    # Then customer_risk is MISSING (never approximated, never zeros) and the set is incomplete
    assert feature_set.groups["customer_risk"] == FeatureGroup.missing(
        "customer_risk", source=store.name, is_critical=True
    )
    assert feature_set.get("customer_risk", "credit_score") is None
    assert feature_set.is_complete is False
    assert feature_set.degraded is False
    assert "customer_risk: missing (no stored value or warm copy)" in feature_set.warnings
    assert feature_set.warnings[-1] == "feature set incomplete: critical group(s) missing: customer_risk"


def test_spend_behaviour_is_approximated_from_the_request(store: FeatureStore, layer: FeatureLayer) -> None:
    feature_set = layer.build(make_txn(mcc="5999"))
    group = feature_set.groups["spend_behaviour"]
    assert group == FeatureGroup(
        name="spend_behaviour",
        values={
            "avg_txn_amount_30d": 250.0,
            "std_txn_amount_30d": 120.0,
            "top_mcc": "5999",
            "unique_merchants_7d": 1,
            "weekend_spend_ratio": 0.29,
        },
        freshness=FeatureFreshness.SYNTHETIC,
        fallback_tier=FallbackTier.APPROXIMATED,
        source="request",
        computed_at=NOW,
    )
    assert "spend_behaviour: no stored value, approximated from the request" in feature_set.warnings


MERCHANT_RISK = GroupSpec(
    name="merchant_risk",
    features={"chargeback_rate": FeatureSpec(FeatureKind.NUMBER, minimum=0.0, maximum=1.0)},
    entity=EntityType.MERCHANT,
    population_default={"chargeback_rate": 0.004},
)
WITH_MERCHANTS = (CUSTOMER_RISK, SPEND_BEHAVIOUR, MERCHANT_RISK)


def test_a_group_keyed_by_merchant_reads_the_merchant_id(backend: str, clock: FrozenClock, store: FeatureStore) -> None:
    # Given a store and layer that know a merchant-keyed group, and one merchant's value
    from .conftest import STORE_FACTORIES

    merchant_store = STORE_FACTORIES[backend](clock, groups=WITH_MERCHANTS)
    layer = FeatureLayer(merchant_store, clock, groups=WITH_MERCHANTS)
    merchant_store.write_group("merchant_risk", "merch-1", {"chargeback_rate": 0.02}, NOW)
    # When built for that merchant and for another one
    known = layer.build(make_txn(merchant_id="merch-1")).groups["merchant_risk"]
    unknown = layer.build(make_txn(merchant_id="merch-2")).groups["merchant_risk"]
    # Then the first is stored, the second falls to the population default
    assert (known.fallback_tier, known.values) == (FallbackTier.ONLINE_STORE, {"chargeback_rate": 0.02})
    assert (unknown.fallback_tier, unknown.freshness, unknown.source, unknown.values) == (
        FallbackTier.POPULATION_DEFAULT,
        FeatureFreshness.SYNTHETIC,
        "population_default",
        {"chargeback_rate": 0.004},
    )


def test_one_structured_info_line_per_build(
    store: FeatureStore, layer: FeatureLayer, feature_logs: pytest.LogCaptureFixture
) -> None:
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    layer.build(make_txn(request_id="req-log"))
    infos = [r for r in feature_logs.records if r.levelno == logging.INFO and r.name == "fde.features"]
    assert len(infos) == 1
    record = infos[0]
    assert (record.request_id, record.layer, record.degraded, record.is_complete) == (  # type: ignore[attr-defined]
        "req-log",
        "features",
        False,
        True,
    )
    assert record.freshness == {  # type: ignore[attr-defined]
        "customer_risk": "fresh",
        "spend_behaviour": "synthetic",
        "transaction_context": "fresh",
        "session_context": "fresh",
    }
    assert record.duration_ms >= 0  # type: ignore[attr-defined]
    assert "request_id=req-log layer=features" in record.getMessage()
