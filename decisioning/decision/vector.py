"""The model feature vector: ONE definition shared by training and serving.

``feature_vector`` turns a :class:`~decisioning.contracts.FeatureSet` into the model's input.
``feature_matrix_from_columns`` is the same computation over numpy columns (one row per
transaction) for training on simulated or replayed history; a test checks that both agree.
Missing values take neutral defaults (zero risk signal, device and IP matching), because the
Decision layer sends incomplete sets to review before the model is ever asked.

Both take ``names``: every artifact records the feature names it was trained on, and is served
exactly those columns (``ModelScorer`` narrows a full vector to them). So when the vector grew
from the original twelve (:data:`LEGACY_FEATURE_NAMES`) to add the spending windows and merchant
risk, a twelve-feature model stayed servable and can be activated again safely.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from decisioning.contracts import FeatureSet, FeatureValue

FloatArray = npt.NDArray[np.float64]

#: The original twelve model inputs (artifacts trained before the feedback loop use exactly these).
LEGACY_FEATURE_NAMES: tuple[str, ...] = (
    "fraud_score_30d",
    "velocity_1h",
    "velocity_24h",
    "dispute_count_90d",
    "international_ratio",
    "amount_log",
    "amount_zscore",
    "is_international",
    "is_online",
    "is_night",
    "device_fingerprint_match",
    "ip_country_match",
)

#: Customer spending windows (count and average amount over 1, 7 and 30 days before the transaction).
SPEND_WINDOW_FEATURES: tuple[str, ...] = (
    "txn_count_1d",
    "txn_count_7d",
    "txn_count_30d",
    "avg_amount_1d",
    "avg_amount_7d",
    "avg_amount_30d",
)

#: Merchant risk: transactions and the share already known to be fraud, over 1, 7 and 30 days.
MERCHANT_RISK_FEATURES: tuple[str, ...] = (
    "merchant_txn_count_1d",
    "merchant_txn_count_7d",
    "merchant_txn_count_30d",
    "merchant_fraud_share_1d",
    "merchant_fraud_share_7d",
    "merchant_fraud_share_30d",
)

#: Model input columns of new models, in order. Never reorder: artifacts record their own list
#: (any subset of these, in any order) and are served with exactly that list.
FEATURE_NAMES: tuple[str, ...] = LEGACY_FEATURE_NAMES + SPEND_WINDOW_FEATURES + MERCHANT_RISK_FEATURES
#: Every feature the vector function can compute (a model naming anything else is refused).
KNOWN_FEATURES: frozenset[str] = frozenset(FEATURE_NAMES)

#: Human-readable names for the analyst's explanation chart.
FEATURE_DISPLAY_NAMES: Mapping[str, str] = {
    "fraud_score_30d": "Customer fraud score (30 days)",
    "velocity_1h": "Spend in the last hour (thousands)",
    "velocity_24h": "Spend in the last 24 hours (ten thousands)",
    "dispute_count_90d": "Disputes in the last 90 days",
    "international_ratio": "Share of international transactions",
    "amount_log": "Transaction amount (log scale)",
    "amount_zscore": "Amount vs. 30-day average (z-score)",
    "is_international": "International transaction",
    "is_online": "Online (card not present)",
    "is_night": "Night-time transaction",
    "device_fingerprint_match": "Known device",
    "ip_country_match": "IP country matches billing",
    "txn_count_1d": "Customer transactions (1 day)",
    "txn_count_7d": "Customer transactions (7 days)",
    "txn_count_30d": "Customer transactions (30 days)",
    "avg_amount_1d": "Customer average amount (1 day)",
    "avg_amount_7d": "Customer average amount (7 days)",
    "avg_amount_30d": "Customer average amount (30 days)",
    "merchant_txn_count_1d": "Merchant transactions (1 day)",
    "merchant_txn_count_7d": "Merchant transactions (7 days)",
    "merchant_txn_count_30d": "Merchant transactions (30 days)",
    "merchant_fraud_share_1d": "Merchant known-fraud share (1 day)",
    "merchant_fraud_share_7d": "Merchant known-fraud share (7 days)",
    "merchant_fraud_share_30d": "Merchant known-fraud share (30 days)",
}

#: Scale of the velocity features, so the model sees comparable magnitudes.
VELOCITY_1H_SCALE = 1_000.0
VELOCITY_24H_SCALE = 10_000.0
#: Floor of the standard deviation in the z-score, so a customer with flat spend is not infinitely surprised.
MIN_AMOUNT_STD = 1.0

#: Column name → (group, feature) of the FeatureSet it comes from; the input of the batch path.
SOURCE_COLUMNS: Mapping[str, tuple[str, str]] = {
    "fraud_score_30d": ("customer_risk", "fraud_score_30d"),
    "velocity_1h": ("customer_risk", "velocity_1h"),
    "velocity_24h": ("customer_risk", "velocity_24h"),
    "dispute_count_90d": ("customer_risk", "dispute_count_90d"),
    "international_ratio": ("customer_risk", "international_ratio"),
    "amount": ("transaction_context", "amount"),
    "amount_log": ("transaction_context", "amount_log"),
    "avg_txn_amount_30d": ("spend_behaviour", "avg_txn_amount_30d"),
    "std_txn_amount_30d": ("spend_behaviour", "std_txn_amount_30d"),
    "is_international": ("transaction_context", "is_international"),
    "is_online": ("transaction_context", "is_online"),
    "is_night": ("transaction_context", "is_night"),
    "device_fingerprint_match": ("session_context", "device_fingerprint_match"),
    "ip_country_match": ("session_context", "ip_country_match"),
    **{name: ("spend_windows", name) for name in SPEND_WINDOW_FEATURES},
    **{name: ("merchant_risk", name) for name in MERCHANT_RISK_FEATURES},
}

#: Values used when a source is absent (NaN in the columns, None in the FeatureSet).
_NEUTRAL: Mapping[str, float] = {"device_fingerprint_match": 1.0, "ip_country_match": 1.0}
#: Features copied from their source column as they are (absent → neutral value, else 0).
_PLAIN: tuple[str, ...] = (
    "fraud_score_30d",
    "dispute_count_90d",
    "international_ratio",
    "is_international",
    "is_online",
    "is_night",
    "device_fingerprint_match",
    "ip_country_match",
    *SPEND_WINDOW_FEATURES,
    *MERCHANT_RISK_FEATURES,
)


def check_feature_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple; ValueError when empty, repeated or naming an unknown feature."""
    unknown = [name for name in names if name not in KNOWN_FEATURES]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"model features must be distinct known features; unknown: {unknown or 'none'}")
    return tuple(names)


def display_name(feature: str) -> str:
    """The analyst-facing label of a model feature (the raw name when unknown)."""
    return FEATURE_DISPLAY_NAMES.get(feature, feature)


def as_number(value: FeatureValue) -> float | None:
    """A finite float, or None for absent / non-numeric values (bools count as 0/1)."""
    if value is None or isinstance(value, str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_flag(value: FeatureValue) -> bool | None:
    """A boolean feature (``True``/``1``), or None when absent or not boolean-like."""
    number = as_number(value)
    return None if number is None else number != 0.0


def _source(fs: FeatureSet, column: str) -> float | None:
    group, feature = SOURCE_COLUMNS[column]
    return as_number(fs.get(group, feature))


def _amount_zscore(amount: float | None, average: float | None, std: float | None) -> float:
    if amount is None or average is None:
        return 0.0
    return (amount - average) / max(std if std is not None else 0.0, MIN_AMOUNT_STD)


def feature_vector(fs: FeatureSet, names: Sequence[str] = FEATURE_NAMES) -> list[float]:
    """The model input for one FeatureSet, in ``names`` order (default :data:`FEATURE_NAMES`)."""
    amount = _source(fs, "amount")
    amount_log = _source(fs, "amount_log")
    if amount_log is None:
        amount_log = math.log1p(amount) if amount is not None and amount > -1 else 0.0
    values = {
        "velocity_1h": (_source(fs, "velocity_1h") or 0.0) / VELOCITY_1H_SCALE,
        "velocity_24h": (_source(fs, "velocity_24h") or 0.0) / VELOCITY_24H_SCALE,
        "amount_log": amount_log,
        "amount_zscore": _amount_zscore(amount, _source(fs, "avg_txn_amount_30d"), _source(fs, "std_txn_amount_30d")),
    }
    for plain in _PLAIN:
        found = _source(fs, plain)
        values[plain] = _NEUTRAL.get(plain, 0.0) if found is None else found
    return [float(values[name]) for name in names]


def feature_matrix(feature_sets: Iterable[FeatureSet], names: Sequence[str] = FEATURE_NAMES) -> FloatArray:
    """:func:`feature_vector` for many FeatureSets, as an ``(n, len(names))`` array."""
    rows = [feature_vector(fs, names) for fs in feature_sets]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))


def feature_matrix_from_columns(
    columns: Mapping[str, npt.ArrayLike], names: Sequence[str] = FEATURE_NAMES
) -> FloatArray:
    """The same vectors as :func:`feature_vector`, computed over numpy columns.

    ``columns`` maps the names of :data:`SOURCE_COLUMNS` to equal-length arrays; NaN (or an
    absent column) means the value is missing, exactly like ``None`` in a FeatureSet.
    """
    length = _column_length(columns)

    def column(name: str) -> FloatArray:
        if name not in columns:
            return np.full(length, np.nan)
        return np.asarray(columns[name], dtype=np.float64).reshape(length)

    def filled(name: str, default: float) -> FloatArray:
        return np.nan_to_num(column(name), nan=default, posinf=default, neginf=default)

    amount = column("amount")
    amount_log = column("amount_log")
    fallback_log = np.where(np.isfinite(amount) & (amount > -1), np.log1p(np.where(amount > -1, amount, 0.0)), 0.0)
    average = column("avg_txn_amount_30d")
    std = np.maximum(filled("std_txn_amount_30d", 0.0), MIN_AMOUNT_STD)
    known = np.isfinite(amount) & np.isfinite(average)
    values: dict[str, FloatArray] = {
        "velocity_1h": filled("velocity_1h", 0.0) / VELOCITY_1H_SCALE,
        "velocity_24h": filled("velocity_24h", 0.0) / VELOCITY_24H_SCALE,
        "amount_log": np.where(np.isfinite(amount_log), amount_log, fallback_log),
        "amount_zscore": np.where(known, (np.nan_to_num(amount) - np.nan_to_num(average)) / std, 0.0),
    }
    values.update({plain: filled(plain, _NEUTRAL.get(plain, 0.0)) for plain in _PLAIN})
    matrix = np.column_stack([values[name] for name in names])
    return matrix.astype(np.float64).reshape(length, len(names))


def _column_length(columns: Mapping[str, npt.ArrayLike]) -> int:
    lengths = {np.asarray(values).shape[0] for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns must be non-empty and of equal length (got lengths {sorted(lengths)})")
    return int(lengths.pop())
