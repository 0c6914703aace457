import math

import numpy as np
import pytest

from decisioning.decision.vector import (
    FEATURE_DISPLAY_NAMES,
    FEATURE_NAMES,
    SOURCE_COLUMNS,
    feature_matrix,
    feature_matrix_from_columns,
    feature_vector,
)

from .builders import feature_set


def test_twelve_named_features_each_with_a_display_name():
    assert len(FEATURE_NAMES) == 12
    assert set(FEATURE_DISPLAY_NAMES) == set(FEATURE_NAMES)


def test_feature_vector_of_an_ordinary_purchase():
    fs = feature_set(customer_risk={"velocity_1h": 1500.0, "velocity_24h": 2500.0, "fraud_score_30d": 0.2})
    assert feature_vector(fs) == pytest.approx(
        [0.2, 1.5, 0.25, 0.0, 0.05, 3.7728609, (42.5 - 40.0) / 15.0, 0.0, 0.0, 0.0, 1.0, 1.0], abs=1e-12
    )


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
    assert feature_matrix(sets).shape == (4, 12)
