"""The model feature vector: ONE definition shared by training and serving.

``feature_vector`` turns a :class:`~decisioning.contracts.FeatureSet` into the model's input.
``feature_matrix_from_columns`` is the same computation over numpy columns (one row per
transaction) for training on simulated or replayed history; a test checks that both agree.
Missing values take neutral defaults (zero risk signal, device and IP matching), because the
Decision layer sends incomplete sets to review before the model is ever asked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from decisioning.contracts import FeatureSet, FeatureValue

FloatArray = npt.NDArray[np.float64]

#: Model input columns, in order. Never reorder: artifacts record this list and are refused on mismatch.
FEATURE_NAMES: tuple[str, ...] = (
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
}

#: Values used when a source is absent (NaN in the columns, None in the FeatureSet).
_NEUTRAL: Mapping[str, float] = {"device_fingerprint_match": 1.0, "ip_country_match": 1.0}


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


def feature_vector(fs: FeatureSet) -> list[float]:
    """The model input for one FeatureSet, in :data:`FEATURE_NAMES` order."""
    amount = _source(fs, "amount")
    amount_log = _source(fs, "amount_log")
    if amount_log is None:
        amount_log = math.log1p(amount) if amount is not None and amount > -1 else 0.0
    values = {
        "fraud_score_30d": _source(fs, "fraud_score_30d") or 0.0,
        "velocity_1h": (_source(fs, "velocity_1h") or 0.0) / VELOCITY_1H_SCALE,
        "velocity_24h": (_source(fs, "velocity_24h") or 0.0) / VELOCITY_24H_SCALE,
        "dispute_count_90d": _source(fs, "dispute_count_90d") or 0.0,
        "international_ratio": _source(fs, "international_ratio") or 0.0,
        "amount_log": amount_log,
        "amount_zscore": _amount_zscore(amount, _source(fs, "avg_txn_amount_30d"), _source(fs, "std_txn_amount_30d")),
    }
    for flag in ("is_international", "is_online", "is_night", "device_fingerprint_match", "ip_country_match"):
        found = _source(fs, flag)
        values[flag] = _NEUTRAL.get(flag, 0.0) if found is None else found
    return [float(values[name]) for name in FEATURE_NAMES]


def feature_matrix(feature_sets: Iterable[FeatureSet]) -> FloatArray:
    """:func:`feature_vector` for many FeatureSets, as an ``(n, len(FEATURE_NAMES))`` array."""
    rows = [feature_vector(fs) for fs in feature_sets]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def feature_matrix_from_columns(columns: Mapping[str, npt.ArrayLike]) -> FloatArray:
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
    amount_log = np.where(np.isfinite(amount_log), amount_log, fallback_log)
    average = column("avg_txn_amount_30d")
    std = np.maximum(filled("std_txn_amount_30d", 0.0), MIN_AMOUNT_STD)
    known = np.isfinite(amount) & np.isfinite(average)
    zscore = np.where(known, (np.nan_to_num(amount) - np.nan_to_num(average)) / std, 0.0)
    matrix = np.column_stack(
        [
            filled("fraud_score_30d", 0.0),
            filled("velocity_1h", 0.0) / VELOCITY_1H_SCALE,
            filled("velocity_24h", 0.0) / VELOCITY_24H_SCALE,
            filled("dispute_count_90d", 0.0),
            filled("international_ratio", 0.0),
            amount_log,
            zscore,
            filled("is_international", 0.0),
            filled("is_online", 0.0),
            filled("is_night", 0.0),
            filled("device_fingerprint_match", _NEUTRAL["device_fingerprint_match"]),
            filled("ip_country_match", _NEUTRAL["ip_country_match"]),
        ]
    )
    return matrix.astype(np.float64).reshape(length, len(FEATURE_NAMES))


def _column_length(columns: Mapping[str, npt.ArrayLike]) -> int:
    lengths = {np.asarray(values).shape[0] for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns must be non-empty and of equal length (got lengths {sorted(lengths)})")
    return int(lengths.pop())
