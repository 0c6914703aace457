import math

import numpy as np
import pytest

from decisioning.contracts import FallbackTier, FeatureFreshness, FeatureGroup, FeatureSet
from decisioning.decision.vector import (
    FEATURE_DISPLAY_NAMES,
    FEATURE_NAMES,
    LEGACY_FEATURE_NAMES,
    MERCHANT_RISK_FEATURES,
    SOURCE_COLUMNS,
    SPEND_WINDOW_FEATURES,
    feature_matrix,
    feature_matrix_from_columns,
    feature_vector,
)

from .builders import feature_set


def test_the_original_twelve_then_spend_windows_and_merchant_risk_each_with_a_display_name():
    assert len(LEGACY_FEATURE_NAMES) == 12
    assert FEATURE_NAMES == LEGACY_FEATURE_NAMES + SPEND_WINDOW_FEATURES + MERCHANT_RISK_FEATURES
    assert len(FEATURE_NAMES) == 24
    assert set(FEATURE_DISPLAY_NAMES) == set(FEATURE_NAMES)


def test_feature_vector_of_an_ordinary_purchase():
    fs = feature_set(customer_risk={"velocity_1h": 1500.0, "velocity_24h": 2500.0, "fraud_score_30d": 0.2})
    legacy = [0.2, 1.5, 0.25, 0.0, 0.05, 3.7728609, (42.5 - 40.0) / 15.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    # The window groups are absent from this set: their features are zero (nothing seen).
    assert feature_vector(fs) == pytest.approx(legacy + [0.0] * 12, abs=1e-12)
    assert feature_vector(fs, LEGACY_FEATURE_NAMES) == pytest.approx(legacy, abs=1e-12)


def test_window_features_come_from_their_groups_and_any_subset_keeps_its_order():
    fs = feature_set()
    groups = dict(fs.groups)
    groups["spend_windows"] = FeatureGroup(
        name="spend_windows", values={"txn_count_7d": 9, "avg_amount_7d": 31.5}, freshness=FeatureFreshness.FRESH,
        fallback_tier=FallbackTier.ONLINE_STORE, source="test",
    )  # fmt: skip
    groups["merchant_risk"] = FeatureGroup(
        name="merchant_risk", values={"merchant_fraud_share_30d": 0.25}, freshness=FeatureFreshness.FRESH,
        fallback_tier=FallbackTier.ONLINE_STORE, source="test",
    )  # fmt: skip
    fs = FeatureSet(request_id=fs.request_id, customer_id=fs.customer_id, groups=groups, built_at=fs.built_at)
    vector = dict(zip(FEATURE_NAMES, feature_vector(fs), strict=True))
    assert (vector["txn_count_7d"], vector["avg_amount_7d"], vector["merchant_fraud_share_30d"]) == (9.0, 31.5, 0.25)
    names = ("velocity_1h", "merchant_fraud_share_30d")
    assert feature_vector(fs, names) == [0.0, 0.25]


def test_zscore_uses_a_std_floor_of_one_and_amount_log_falls_back_to_log1p():
    fs = feature_set(
        spend_behaviour={"std_txn_amount_30d": 0.2},
        transaction_context={"amount": 100.0, "amount_log": None, "is_night": True},
        session_context={"device_fingerprint_match": False},
    )
    vector = dict(zip(FEATURE_NAMES, feature_vector(fs), strict=True))
    assert vector["amount_zscore"] == 60.0
    assert vector["amount_log"] == math.log1p(100.0)
    assert vector["is_night"] == 1.0
    assert vector["device_fingerprint_match"] == 0.0


def test_missing_groups_give_neutral_values():
    fs = feature_set(missing=("spend_behaviour", "session_context"))
    vector = dict(zip(FEATURE_NAMES, feature_vector(fs), strict=True))
    assert vector["amount_zscore"] == 0.0
    assert vector["device_fingerprint_match"] == 1.0
    assert vector["ip_country_match"] == 1.0


def _columns(sets):
    columns = {}
    for column, (group, feature) in SOURCE_COLUMNS.items():
        values = [fs.get(group, feature) for fs in sets]
        columns[column] = np.array([np.nan if v is None else float(v) for v in values])
    return columns


def test_column_path_equals_feature_vector():
    sets = [
        feature_set(),
        feature_set(missing=("spend_behaviour",)),
        feature_set(transaction_context={"amount_log": None, "is_international": True}),
        feature_set(spend_behaviour={"std_txn_amount_30d": None}, customer_risk={"velocity_1h": 12_000.0}),
    ]
    np.testing.assert_array_equal(feature_matrix_from_columns(_columns(sets)), feature_matrix(sets))
    assert feature_matrix(sets).shape == (4, 24)
    np.testing.assert_array_equal(
        feature_matrix_from_columns(_columns(sets), LEGACY_FEATURE_NAMES), feature_matrix(sets, LEGACY_FEATURE_NAMES)
    )
