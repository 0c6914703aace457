"""A seeded, reproducible simulator of card customers, merchants and labelled transactions.

Ordinary habits: each customer has a home country, a handful of favourite merchants near home,
a lognormal spend level, a daily rhythm and a small (often zero) propensity to travel or shop
abroad. Fraud, well under 1 % of transactions, comes in three kinds:

- ``outlier``: single large purchases far above the customer's habit;
- ``merchant``: a compromised terminal that turns fraudulent for weeks (inflated amounts);
- ``takeover``: a card takeover, a burst of inflated purchases from a new device and IP,
  often abroad and at night, which drives the customer's velocity up.

Every transaction carries the request fields (like ``TransactionIn``) and its point-in-time
features, computed only from the customer's earlier events (the current one excluded), with
the same names the Feature layer serves. Disputes arrive days after the fraud, so the 30-day
fraud score and 90-day dispute count only know about past, already-reported events.

Everything is numpy over columns; the only per-row Python is the 7-day distinct-merchant count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from decisioning.contracts import (
    AuthMethod,
    Channel,
    FallbackTier,
    FeatureFreshness,
    FeatureGroup,
    FeatureSet,
    FeatureValue,
    TransactionIn,
)
from decisioning.decision.vector import (
    FEATURE_NAMES,
    MERCHANT_RISK_FEATURES,
    SPEND_WINDOW_FEATURES,
    FloatArray,
    feature_matrix_from_columns,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HOUR = 3600
DAY = 24 * HOUR
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "ES", "IT", "MX", "BR", "JP")
HOME_WEIGHTS = (0.55, 0.15, 0.10, 0.10, 0.10, 0.0, 0.0, 0.0, 0.0, 0.0)
MCCS = ("5411", "5812", "5541", "5311", "5732", "5999", "4121", "5912", "5691", "7011", "4511", "5944")
POS_AUTH = (AuthMethod.CHIP, AuthMethod.CONTACTLESS, AuthMethod.PIN)
ONLINE_AUTH = (AuthMethod.THREE_DS, AuthMethod.OTP, AuthMethod.PASSWORD)
FRAUD_KINDS = ("none", "outlier", "merchant", "takeover")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Size and fraud rates of a simulated history."""

    seed: int = 7
    customers: int = 2_000
    days: int = 90  #: labelled days (the rows returned)
    warmup_days: int = 30  #: earlier history that only feeds the point-in-time features
    merchants_per_country: int = 60
    start: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))  #: first labelled day
    mean_txns_per_day: float = 1.0
    outlier_fraud_rate: float = 0.0008  #: per legitimate transaction
    legit_large_purchase_rate: float = 0.003  #: honest big purchases, so amount alone is not a giveaway
    compromised_merchant_share: float = 0.015
    compromised_fraud_rate: float = 0.10  #: share of a compromised terminal's transactions that are fraud
    takeover_rate: float = 0.03  #: share of customers whose card is taken over during the history
    legit_dispute_rate: float = 0.001

    @property
    def total_days(self) -> int:
        return self.days + self.warmup_days


@dataclass(frozen=True, slots=True)
class _Customers:
    home: IntArray  # index into COUNTRIES
    rate: FloatArray
    amount_mu: FloatArray
    amount_sigma: FloatArray
    travel: FloatArray
    online: FloatArray
    night: FloatArray
    credit_score: IntArray
    account_age_months: IntArray
    base_risk: FloatArray
    fav_offset: IntArray  # favourites of customer c: fav_flat[fav_offset[c]: fav_offset[c] + fav_count[c]]
    fav_count: IntArray
    fav_flat: IntArray


@dataclass(frozen=True, slots=True)
class _Merchants:
    country: IntArray
    mcc: IntArray
    compromised_from: FloatArray  # seconds; +inf when never compromised
    compromised_until: FloatArray


class SimulatedHistory:
    """Labelled transactions in event-time order, with point-in-time features per row."""

    def __init__(self, columns: Mapping[str, np.ndarray], config: SimulationConfig) -> None:
        self.columns: dict[str, np.ndarray] = dict(columns)
        self.config = config

    def __len__(self) -> int:
        return int(self.columns["amount"].shape[0])

    @property
    def labels(self) -> IntArray:
        return np.asarray(self.columns["is_fraud"], dtype=np.int64)

    @property
    def fraud_rate(self) -> float:
        return float(self.labels.mean()) if len(self) else 0.0

    @property
    def seconds(self) -> FloatArray:
        """Event time in seconds since ``config.start``."""
        return np.asarray(self.columns["t"], dtype=np.float64)

    def timestamp(self, index: int) -> datetime:
        return self.config.start + timedelta(seconds=float(self.columns["t"][index]))

    def feature_matrix(self, names: Sequence[str] = FEATURE_NAMES) -> FloatArray:
        """Model vectors for every row (the batch path of ``feature_vector``)."""
        return feature_matrix_from_columns(self.columns, names)

    def kind_counts(self) -> dict[str, int]:
        kinds = np.asarray(self.columns["fraud_kind"])
        return {name: int((kinds == code).sum()) for code, name in enumerate(FRAUD_KINDS)}

    def transaction(self, index: int) -> TransactionIn:
        col = self.columns
        online = bool(col["is_online"][index])
        return TransactionIn(
            request_id=f"sim-{self.config.seed}-{index}",
            transaction_id=f"tx-{self.config.seed}-{index}",
            customer_id=_customer_id(int(col["customer"][index])),
            amount=Decimal(f"{float(col['amount'][index]):.2f}"),
            timestamp=self.timestamp(index),
            merchant_id=_merchant_id(int(col["merchant"][index])),
            mcc=MCCS[int(col["mcc"][index])],
            country=COUNTRIES[int(col["country"][index])],
            card_country=COUNTRIES[int(col["home"][index])],
            channel=Channel.WEB if online else Channel.POS,
            device_known=bool(col["device_fingerprint_match"][index]),
            ip_matches_billing=bool(col["ip_country_match"][index]),
            auth_method=_auth_method(online, int(col["auth"][index])),
        )

    def feature_set(self, index: int) -> FeatureSet:
        """The FeatureSet the Feature layer would have served for this row (all groups fresh)."""
        col = self.columns
        when = self.timestamp(index)
        online = bool(col["is_online"][index])
        groups: dict[str, dict[str, FeatureValue]] = {
            "customer_risk": {
                "credit_score": int(col["credit_score"][index]),
                "fraud_score_30d": float(col["fraud_score_30d"][index]),
                "account_age_months": int(col["account_age_months"][index]),
                "dispute_count_90d": int(col["dispute_count_90d"][index]),
                "velocity_1h": float(col["velocity_1h"][index]),
                "velocity_24h": float(col["velocity_24h"][index]),
                "international_ratio": float(col["international_ratio"][index]),
            },
            "spend_behaviour": {
                "avg_txn_amount_30d": _optional(col["avg_txn_amount_30d"][index]),
                "std_txn_amount_30d": _optional(col["std_txn_amount_30d"][index]),
                "top_mcc": MCCS[int(col["top_mcc"][index])],
                "unique_merchants_7d": int(col["unique_merchants_7d"][index]),
                "weekend_spend_ratio": float(col["weekend_spend_ratio"][index]),
            },
            "transaction_context": {
                "amount": float(col["amount"][index]),
                "amount_log": float(col["amount_log"][index]),
                "is_international": bool(col["is_international"][index]),
                "is_online": online,
                "is_night": bool(col["is_night"][index]),
                "mcc": MCCS[int(col["mcc"][index])],
                "merchant_country": COUNTRIES[int(col["country"][index])],
            },
            "session_context": {
                "device_fingerprint_match": bool(col["device_fingerprint_match"][index]),
                "ip_country_match": bool(col["ip_country_match"][index]),
                "auth_method": _auth_method(online, int(col["auth"][index])).value,
            },
            "spend_windows": {name: _scalar(col[name][index]) for name in SPEND_WINDOW_FEATURES},
            "merchant_risk": {name: _scalar(col[name][index]) for name in MERCHANT_RISK_FEATURES},
        }
        return FeatureSet(
            request_id=f"sim-{self.config.seed}-{index}",
            customer_id=_customer_id(int(col["customer"][index])),
            groups={name: _group(name, values, when) for name, values in groups.items()},
            built_at=when,
        )


def _group(name: str, values: dict[str, FeatureValue], when: datetime) -> FeatureGroup:
    return FeatureGroup(
        name=name,
        values=values,
        freshness=FeatureFreshness.FRESH,
        fallback_tier=FallbackTier.REQUEST
        if name in ("transaction_context", "session_context")
        else FallbackTier.ONLINE_STORE,
        source="simulator",
        computed_at=when,
        is_critical=name == "customer_risk",
    )


def _scalar(value: np.generic) -> FeatureValue:
    return int(value) if isinstance(value, np.integer) else float(value)


def _optional(value: float) -> float | None:
    return None if math.isnan(float(value)) else float(value)


def _customer_id(index: int) -> str:
    return f"C{index:06d}"


def _merchant_id(index: int) -> str:
    return f"M{index:05d}"


def _auth_method(online: bool, choice: int) -> AuthMethod:
    if choice < 0:
        return AuthMethod.NONE
    options = ONLINE_AUTH if online else POS_AUTH
    return options[choice % len(options)]


# --------------------------------------------------------------------------- generation


def simulate(config: SimulationConfig | None = None) -> SimulatedHistory:
    """A labelled history: the same config (seed included) always gives the same rows."""
    config = config or SimulationConfig()
    rng = np.random.default_rng(config.seed)
    merchants = _make_merchants(rng, config)
    customers = _make_customers(rng, config, merchants)
    events = _concat(
        [
            _legit_events(rng, config, customers, merchants),
            _outlier_events(rng, config, customers, merchants),
            _takeover_events(rng, config, customers, merchants),
        ]
    )
    _apply_compromised_terminals(rng, config, events, merchants)
    events = _finish_events(rng, events, customers, merchants)
    _add_point_in_time_features(rng, config, events, customers)
    return _labelled_window(events, config)


def _make_merchants(rng: np.random.Generator, config: SimulationConfig) -> _Merchants:
    count = config.merchants_per_country * len(COUNTRIES)
    country = np.repeat(np.arange(len(COUNTRIES), dtype=np.int64), config.merchants_per_country)
    mcc = rng.integers(0, len(MCCS), size=count).astype(np.int64)
    total = config.total_days * DAY
    # Only terminals that see traffic are worth compromising: merchants in the home countries.
    candidates = np.flatnonzero(np.asarray(HOME_WEIGHTS)[country] > 0)
    chosen = rng.choice(candidates, size=max(2, round(config.compromised_merchant_share * count)), replace=False)
    compromised = np.isin(np.arange(count), chosen)
    start = rng.uniform(config.warmup_days * DAY, total, size=count)
    length = rng.uniform(14, 42, size=count) * DAY
    return _Merchants(
        country=country,
        mcc=mcc,
        compromised_from=np.where(compromised, start, np.inf),
        compromised_until=np.where(compromised, start + length, -np.inf),
    )


def _make_customers(rng: np.random.Generator, config: SimulationConfig, merchants: _Merchants) -> _Customers:
    n = config.customers
    weights = np.asarray(HOME_WEIGHTS) / sum(HOME_WEIGHTS)
    home = rng.choice(len(COUNTRIES), size=n, p=weights).astype(np.int64)
    fav_count = rng.integers(5, 16, size=n).astype(np.int64)
    fav_offset = np.concatenate([[0], np.cumsum(fav_count)[:-1]]).astype(np.int64)
    # Favourites are merchants in the home country (near home).
    local = rng.integers(0, config.merchants_per_country, size=int(fav_count.sum()))
    fav_flat = (np.repeat(home, fav_count) * config.merchants_per_country + local).astype(np.int64)
    travels = rng.random(n) >= 0.35
    return _Customers(
        home=home,
        rate=config.mean_txns_per_day * rng.lognormal(-0.125, 0.5, size=n),
        amount_mu=rng.normal(3.5, 0.6, size=n),
        amount_sigma=rng.uniform(0.35, 0.8, size=n),
        travel=np.where(travels, rng.beta(1.5, 40, size=n), 0.0),
        online=rng.beta(2, 5, size=n),
        night=rng.beta(1, 30, size=n),
        credit_score=np.clip(rng.normal(690, 70, size=n), 300, 850).astype(np.int64),
        account_age_months=rng.integers(1, 240, size=n).astype(np.int64),
        base_risk=rng.beta(1, 60, size=n),
        fav_offset=fav_offset,
        fav_count=fav_count,
        fav_flat=fav_flat,
    )


def _hours(rng: np.random.Generator, night_share: FloatArray) -> FloatArray:
    is_night = rng.random(night_share.shape[0]) < night_share
    day_hour = np.clip(rng.normal(14.0, 3.5, size=night_share.shape[0]), 6.0, 23.99)
    return np.where(is_night, rng.uniform(0.0, 6.0, size=night_share.shape[0]), day_hour)


def _foreign_merchant(rng: np.random.Generator, home: IntArray, config: SimulationConfig) -> IntArray:
    shift = rng.integers(1, len(COUNTRIES), size=home.shape[0])
    country = (home + shift) % len(COUNTRIES)
    return (
        country * config.merchants_per_country + rng.integers(0, config.merchants_per_country, size=home.shape[0])
    ).astype(np.int64)


def _favourite_merchant(rng: np.random.Generator, customer: IntArray, customers: _Customers) -> IntArray:
    # u² skews the choice to the first favourites: a few shops get most of the visits.
    pick = np.floor(customers.fav_count[customer] * rng.random(customer.shape[0]) ** 2).astype(np.int64)
    return np.asarray(customers.fav_flat[customers.fav_offset[customer] + pick], dtype=np.int64)


def _legit_events(
    rng: np.random.Generator, config: SimulationConfig, customers: _Customers, merchants: _Merchants
) -> dict[str, np.ndarray]:
    counts = rng.poisson(customers.rate * config.total_days)
    customer = np.repeat(np.arange(config.customers, dtype=np.int64), counts)
    n = customer.shape[0]
    day = rng.integers(0, config.total_days, size=n)
    t = day * DAY + _hours(rng, customers.night[customer]) * HOUR
    international = rng.random(n) < customers.travel[customer]
    merchant = np.where(
        international,
        _foreign_merchant(rng, customers.home[customer], config),
        _favourite_merchant(rng, customer, customers),
    )
    amount = rng.lognormal(customers.amount_mu[customer], customers.amount_sigma[customer])
    large = rng.random(n) < config.legit_large_purchase_rate
    amount = np.where(large, amount * rng.uniform(4, 12, size=n), amount)
    online = rng.random(n) < customers.online[customer]
    return {
        "customer": customer,
        "t": t,
        "merchant": merchant.astype(np.int64),
        "amount": amount,
        "is_online": online,
        # Legitimate customers change phones and travel with VPNs now and then.
        "device_fingerprint_match": ~(online & (rng.random(n) < 0.04)) & ~(~online & (rng.random(n) < 0.01)),
        "ip_country_match": ~(online & (rng.random(n) < 0.03)),
        "fraud_kind": np.zeros(n, dtype=np.int64),
    }


def _outlier_events(
    rng: np.random.Generator, config: SimulationConfig, customers: _Customers, merchants: _Merchants
) -> dict[str, np.ndarray]:
    expected = config.outlier_fraud_rate * float(customers.rate.sum()) * config.total_days
    n = int(rng.poisson(expected))
    customer = rng.integers(0, config.customers, size=n).astype(np.int64)
    t = rng.uniform(0, config.total_days * DAY, size=n)
    foreign = rng.random(n) < 0.3
    merchant = np.where(
        foreign, _foreign_merchant(rng, customers.home[customer], config), _favourite_merchant(rng, customer, customers)
    )
    amount = np.exp(customers.amount_mu[customer] + customers.amount_sigma[customer] * rng.uniform(3, 5, size=n))
    online = rng.random(n) < 0.7
    return {
        "customer": customer,
        "t": t,
        "merchant": merchant.astype(np.int64),
        "amount": amount * rng.uniform(1.5, 4.0, size=n),
        "is_online": online,
        "device_fingerprint_match": rng.random(n) >= 0.3,
        "ip_country_match": rng.random(n) >= 0.2,
        "fraud_kind": np.full(n, 1, dtype=np.int64),
    }


def _takeover_events(
    rng: np.random.Generator, config: SimulationConfig, customers: _Customers, merchants: _Merchants
) -> dict[str, np.ndarray]:
    victims = np.flatnonzero(rng.random(config.customers) < config.takeover_rate)
    bursts = rng.integers(3, 10, size=victims.shape[0])
    customer = np.repeat(victims, bursts).astype(np.int64)
    n = customer.shape[0]
    # A takeover often starts at night; the burst spreads over half an hour to four hours.
    start_day = rng.integers(0, config.total_days, size=victims.shape[0])
    start_hour = np.where(
        rng.random(victims.shape[0]) < 0.5,
        rng.uniform(0, 5, size=victims.shape[0]),
        rng.uniform(6, 22, size=victims.shape[0]),
    )
    start = start_day * DAY + start_hour * HOUR
    spread = rng.uniform(0.5, 4.0, size=victims.shape[0]) * HOUR
    t = np.repeat(start, bursts) + rng.random(n) * np.repeat(spread, bursts)
    foreign = rng.random(n) < 0.6
    merchant = np.where(
        foreign, _foreign_merchant(rng, customers.home[customer], config), _favourite_merchant(rng, customer, customers)
    )
    typical = np.exp(customers.amount_mu[customer] + 2 * customers.amount_sigma[customer])
    return {
        "customer": customer,
        "t": t,
        "merchant": merchant.astype(np.int64),
        "amount": typical * rng.uniform(2, 8, size=n),
        "is_online": rng.random(n) < 0.85,
        "device_fingerprint_match": rng.random(n) >= 0.9,
        "ip_country_match": rng.random(n) >= 0.8,
        "fraud_kind": np.full(n, 3, dtype=np.int64),
    }


def _apply_compromised_terminals(
    rng: np.random.Generator, config: SimulationConfig, events: dict[str, np.ndarray], merchants: _Merchants
) -> None:
    merchant = events["merchant"]
    t = events["t"]
    in_window = (t >= merchants.compromised_from[merchant]) & (t < merchants.compromised_until[merchant])
    hit = in_window & (events["fraud_kind"] == 0) & (rng.random(t.shape[0]) < config.compromised_fraud_rate)
    events["fraud_kind"] = np.where(hit, 2, events["fraud_kind"])
    events["amount"] = np.where(hit, events["amount"] * rng.uniform(3, 10, size=t.shape[0]), events["amount"])
    # A tampered terminal also runs at odd hours.
    night_shift = hit & (rng.random(t.shape[0]) < 0.4)
    events["t"] = np.where(night_shift, np.floor(t / DAY) * DAY + rng.uniform(0, 5, size=t.shape[0]) * HOUR, t)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _finish_events(
    rng: np.random.Generator, events: dict[str, np.ndarray], customers: _Customers, merchants: _Merchants
) -> dict[str, np.ndarray]:
    # Customer-major, time-ordered: the layout the windowed features need.
    order = np.lexsort((events["t"], events["customer"]))
    events = {key: values[order] for key, values in events.items()}
    n = events["t"].shape[0]
    customer = events["customer"]
    events["amount"] = np.maximum(np.round(events["amount"], 2), 1.0)
    events["amount_log"] = np.log1p(events["amount"])
    events["home"] = customers.home[customer]
    events["country"] = merchants.country[events["merchant"]]
    events["mcc"] = merchants.mcc[events["merchant"]]
    events["is_international"] = events["country"] != events["home"]
    hour = (events["t"] % DAY) / HOUR
    events["is_night"] = hour < 6.0
    events["is_weekend"] = np.isin(((events["t"] // DAY).astype(np.int64) + 2) % 7, (5, 6))  # 2025-01-01 is a Wednesday
    events["is_fraud"] = (events["fraud_kind"] > 0).astype(np.int64)
    auth = rng.integers(0, 3, size=n)
    events["auth"] = np.where((events["fraud_kind"] == 3) & (rng.random(n) < 0.5), -1, auth)
    events["credit_score"] = customers.credit_score[customer]
    events["top_mcc"] = merchants.mcc[customers.fav_flat[customers.fav_offset[customer]]]
    return events


# --------------------------------------------------------------------------- point-in-time features


def _window_sums(keys: FloatArray, seconds: float, values: FloatArray) -> FloatArray:
    """Σ values over each row's earlier events of the same customer within ``seconds``."""
    left = np.searchsorted(keys, keys - seconds, side="left")
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    index = np.arange(keys.shape[0])
    return np.asarray(cumulative[index] - cumulative[left], dtype=np.float64)


def _event_counts(keys: FloatArray, event_keys: FloatArray, seconds: float) -> IntArray:
    """How many events (sorted keys) fall in [key - seconds, key) for each key."""
    return (
        np.searchsorted(event_keys, keys, side="left") - np.searchsorted(event_keys, keys - seconds, side="left")
    ).astype(np.int64)


def _add_point_in_time_features(
    rng: np.random.Generator, config: SimulationConfig, events: dict[str, np.ndarray], customers: _Customers
) -> None:
    span = float((config.total_days + 400) * DAY)  # keeps customers apart in one sorted key
    customer = events["customer"]
    keys = customer * span + events["t"]
    amount = events["amount"]
    ones = np.ones_like(amount)
    # Rounded to cents: differences of running sums carry float noise.
    events["velocity_1h"] = np.round(_window_sums(keys, HOUR, amount), 2)
    events["velocity_24h"] = np.round(_window_sums(keys, DAY, amount), 2)
    count_30d = _window_sums(keys, 30 * DAY, ones)
    sum_30d = _window_sums(keys, 30 * DAY, amount)
    sumsq_30d = _window_sums(keys, 30 * DAY, amount**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(count_30d > 0, sum_30d / count_30d, np.nan)
        variance = np.where(count_30d > 1, (sumsq_30d - count_30d * average**2) / (count_30d - 1), 0.0)
        events["avg_txn_amount_30d"] = average
        events["std_txn_amount_30d"] = np.where(count_30d > 0, np.sqrt(np.maximum(variance, 0.0)), np.nan)
        weekend = _window_sums(keys, 30 * DAY, np.where(events["is_weekend"], amount, 0.0))
        events["weekend_spend_ratio"] = np.where(sum_30d > 0, weekend / sum_30d, 0.0)
        count_90d = _window_sums(keys, 90 * DAY, ones)
        abroad = _window_sums(keys, 90 * DAY, events["is_international"].astype(np.float64))
        events["international_ratio"] = np.where(count_90d > 0, abroad / count_90d, 0.0)
    for name, seconds in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        count = _window_sums(keys, seconds, ones)
        total = _window_sums(keys, seconds, amount)
        events[f"txn_count_{name}"] = np.round(count).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            events[f"avg_amount_{name}"] = np.where(count > 0, np.round(total / np.maximum(count, 1), 4), 0.0)
    _add_dispute_features(rng, config, events, customers, keys, span)
    events["account_age_months"] = customers.account_age_months[customer] + (events["t"] // (30 * DAY)).astype(np.int64)
    events["unique_merchants_7d"] = _unique_merchants(customer, events["t"], events["merchant"], 7 * DAY)


def _add_dispute_features(
    rng: np.random.Generator,
    config: SimulationConfig,
    events: dict[str, np.ndarray],
    customers: _Customers,
    keys: FloatArray,
    span: float,
) -> None:
    fraud = events["is_fraud"] == 1
    n = fraud.shape[0]
    disputed = (fraud & (rng.random(n) < 0.8)) | (~fraud & (rng.random(n) < config.legit_dispute_rate))
    delay = rng.uniform(3, 30, size=n) * DAY
    dispute_keys = np.sort(keys[disputed] + delay[disputed])
    fraud_dispute_keys = np.sort(keys[disputed & fraud] + delay[disputed & fraud])
    events["dispute_count_90d"] = _event_counts(keys, dispute_keys, 90 * DAY)
    confirmed_30d = _event_counts(keys, fraud_dispute_keys, 30 * DAY)
    events["fraud_score_30d"] = np.minimum(customers.base_risk[events["customer"]] + 0.3 * confirmed_30d, 1.0)
    _add_merchant_features(events, disputed & fraud, events["t"] + delay, span)


def _add_merchant_features(
    events: dict[str, np.ndarray], labelled: BoolArray, known_at: FloatArray, span: float
) -> None:
    """Merchant traffic and the share of it known to be fraud, at each row's time, from earlier rows.

    A fraud row j (known at ``known_at[j]``) counts for a later row i of the same merchant when
    ``t_j >= t_i - window`` and ``known_at[j] < t_i``: row i lies in ``(known_at[j], t_j + window]``,
    an interval of the merchant-major order, so the counts are a difference array.
    """
    keys = events["merchant"] * span + events["t"]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    ones = np.ones_like(sorted_keys)
    base = (events["merchant"] * span)[labelled]
    for name, seconds in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        count = np.empty_like(sorted_keys)
        count[order] = _window_sums(sorted_keys, seconds, ones)
        low = np.searchsorted(sorted_keys, base + known_at[labelled], side="right")
        high = np.searchsorted(sorted_keys, base + events["t"][labelled] + seconds, side="right")
        diff = np.zeros(sorted_keys.shape[0] + 1)
        np.add.at(diff, low, np.where(high > low, 1.0, 0.0))
        np.add.at(diff, high, np.where(high > low, -1.0, 0.0))
        known = np.empty_like(sorted_keys)
        known[order] = np.cumsum(diff)[:-1]
        events[f"merchant_txn_count_{name}"] = np.round(count).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            events[f"merchant_fraud_share_{name}"] = np.where(
                count > 0, np.minimum(known / np.maximum(count, 1), 1.0), 0.0
            )


def _unique_merchants(customer: IntArray, t: FloatArray, merchant: IntArray, seconds: float) -> IntArray:
    """Distinct merchants among each row's earlier events of the same customer within ``seconds``."""
    result = np.zeros(customer.shape[0], dtype=np.int64)
    counts: dict[int, int] = {}
    left = 0
    customers_list = customer.tolist()
    times = t.tolist()
    merchants_list = merchant.tolist()
    for index, (who, when) in enumerate(zip(customers_list, times, strict=True)):
        if index and who != customers_list[index - 1]:
            counts.clear()
            left = index
        while left < index and times[left] < when - seconds:
            gone = merchants_list[left]
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
            left += 1
        result[index] = len(counts)
        counts[merchants_list[index]] = counts.get(merchants_list[index], 0) + 1
    return result


def _labelled_window(events: dict[str, np.ndarray], config: SimulationConfig) -> SimulatedHistory:
    """Drop the warm-up, order by event time, and re-base time on ``config.start``."""
    keep = events["t"] >= config.warmup_days * DAY
    order = np.flatnonzero(keep)[np.argsort(events["t"][keep], kind="stable")]
    columns = {key: values[order] for key, values in events.items()}
    columns["t"] = columns["t"] - config.warmup_days * DAY
    return SimulatedHistory(columns, config)
