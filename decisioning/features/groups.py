"""Feature groups: what each group holds, how it is keyed, how it is validated and derived.

Pure Python, no Django: the Feature layer, the write path, training pipelines and history
replays all share these definitions, so a feature's name and type cannot drift between them.

Two kinds of group exist:

* **stored** groups (``customer_risk``, ``spend_behaviour``, ``spend_windows``, ``merchant_risk``) live in the
  online store, keyed by an entity id, and fall back through warm copy → approximation →
  population default as their :class:`GroupSpec` allows;
* **request** groups (``transaction_context``, ``session_context``) are computed exactly from
  the transaction itself and never touch the store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum

from decisioning.contracts import ContractError, FeatureValue, TransactionIn


class EntityType(StrEnum):
    """What a stored group describes; decides which transaction field is its key."""

    CUSTOMER = "customer"
    MERCHANT = "merchant"


class FeatureKind(StrEnum):
    """The JSON type a feature must have."""

    NUMBER = "number"  #: int or float (not bool); stored as float so the model sees one type
    INTEGER = "integer"  #: int (not bool)
    STRING = "string"
    BOOLEAN = "boolean"


class FeatureValidationError(ContractError):
    """Values offered for a group were refused; ``fields`` maps feature name → problem."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature: its type and, for numbers, an optional inclusive range."""

    kind: FeatureKind
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: object) -> FeatureValue:
        """The value normalised for storage; ``ValueError`` with a short reason when refused."""
        if value is None:
            return None  # "unknown" is an honest value; the decision layer reads it as a default
        if self.kind is FeatureKind.STRING:
            if not isinstance(value, str):
                raise ValueError("must be a string")
            return value
        if self.kind is FeatureKind.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        return self._check_number(value)

    def _check_number(self, value: object) -> FeatureValue:
        # bool is an int subclass in Python; a True credit score is a bug upstream, not a 1.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be {'an integer' if self.kind is FeatureKind.INTEGER else 'a number'}")
        if self.kind is FeatureKind.INTEGER and not isinstance(value, int):
            raise ValueError("must be an integer")
        if not math.isfinite(value):
            raise ValueError("must be finite")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}")
        return float(value) if self.kind is FeatureKind.NUMBER else value


Approximation = Callable[[TransactionIn], dict[str, FeatureValue] | None]


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A stored feature group: its features, key and fallback options."""

    name: str  #: group name, also the key prefix in the store
    features: Mapping[str, FeatureSpec]  #: feature name → spec
    entity: EntityType = EntityType.CUSTOMER  #: which transaction id keys the group
    is_critical: bool = False  #: MISSING makes the FeatureSet incomplete
    #: Estimate from the request (tier APPROXIMATED); ``None`` result means "cannot estimate".
    approximate: Approximation | None = None
    #: Population-wide values (tier POPULATION_DEFAULT), used when nothing better exists.
    population_default: Mapping[str, FeatureValue] | None = field(default=None)

    def entity_id(self, txn: TransactionIn) -> str:
        """The store key of this group for ``txn`` (empty when the request names no such entity)."""
        return txn.merchant_id if self.entity is EntityType.MERCHANT else txn.customer_id

    def validate(self, values: Mapping[str, object]) -> dict[str, FeatureValue]:
        """Values checked against the known features and normalised; refuses unknown names."""
        if not isinstance(values, Mapping):
            raise FeatureValidationError(f"{self.name}: values must be an object", {"values": "must be an object"})
        allowed = ", ".join(sorted(self.features))
        problems: dict[str, str] = {}
        clean: dict[str, FeatureValue] = {}
        for feature, value in values.items():
            spec = self.features.get(feature)
            if spec is None:
                problems[str(feature)] = f"unknown feature; allowed: {allowed}"
                continue
            try:
                clean[feature] = spec.check(value)
            except ValueError as exc:
                problems[feature] = str(exc)
        if problems:
            detail = "; ".join(f"{name}: {reason}" for name, reason in sorted(problems.items()))
            raise FeatureValidationError(f"invalid values for group {self.name}: {detail}", problems)
        return clean


# --------------------------------------------------------------------------- stored groups

_RATIO = FeatureSpec(FeatureKind.NUMBER, minimum=0.0, maximum=1.0)
_NON_NEGATIVE = FeatureSpec(FeatureKind.NUMBER, minimum=0.0)
_COUNT = FeatureSpec(FeatureKind.INTEGER, minimum=0)

CUSTOMER_RISK = GroupSpec(
    name="customer_risk",
    features={
        "credit_score": FeatureSpec(FeatureKind.NUMBER, minimum=0.0, maximum=1000.0),
        "fraud_score_30d": _RATIO,
        "account_age_months": _COUNT,
        "dispute_count_90d": _COUNT,
        "velocity_1h": _NON_NEGATIVE,  # amount spent in the last hour
        "velocity_24h": _NON_NEGATIVE,  # amount spent in the last 24 hours
        "international_ratio": _RATIO,
    },
    is_critical=True,
    # Deliberately no approximation and no population default: a risk profile invented from
    # the request would make an unknown customer look like an average (safe) one.
)

#: Typical values across all customers, used when nothing about the customer is known.
SPEND_POPULATION_DEFAULT: Mapping[str, FeatureValue] = {
    "avg_txn_amount_30d": 85.0,
    "std_txn_amount_30d": 120.0,
    "top_mcc": "5411",
    "unique_merchants_7d": 4,
    "weekend_spend_ratio": 0.29,  # about 2 days in 7
}


def approximate_spend_behaviour(txn: TransactionIn) -> dict[str, FeatureValue]:
    """Spend profile guessed from this transaction alone: it is the customer's typical one."""
    return {
        **SPEND_POPULATION_DEFAULT,
        "avg_txn_amount_30d": float(txn.amount),
        "top_mcc": txn.mcc or SPEND_POPULATION_DEFAULT["top_mcc"],
        "unique_merchants_7d": 1,
    }


SPEND_BEHAVIOUR = GroupSpec(
    name="spend_behaviour",
    features={
        "avg_txn_amount_30d": _NON_NEGATIVE,
        "std_txn_amount_30d": _NON_NEGATIVE,
        "top_mcc": FeatureSpec(FeatureKind.STRING),
        "unique_merchants_7d": _COUNT,
        "weekend_spend_ratio": _RATIO,
    },
    approximate=approximate_spend_behaviour,
    population_default=SPEND_POPULATION_DEFAULT,
)

#: Windowed spending of the customer before the transaction (the feature pipeline computes these).
SPEND_WINDOWS = GroupSpec(
    name="spend_windows",
    features={
        "txn_count_1d": _COUNT,
        "txn_count_7d": _COUNT,
        "txn_count_30d": _COUNT,
        "avg_amount_1d": _NON_NEGATIVE,
        "avg_amount_7d": _NON_NEGATIVE,
        "avg_amount_30d": _NON_NEGATIVE,
    },
    # "Nothing seen yet" is the honest default for a customer the pipeline does not know.
    population_default={
        "txn_count_1d": 0,
        "txn_count_7d": 0,
        "txn_count_30d": 0,
        "avg_amount_1d": 0.0,
        "avg_amount_7d": 0.0,
        "avg_amount_30d": 0.0,
    },
)

#: A merchant's traffic and the share of it already known (labelled) to be fraud.
MERCHANT_RISK = GroupSpec(
    name="merchant_risk",
    features={
        "merchant_txn_count_1d": _COUNT,
        "merchant_txn_count_7d": _COUNT,
        "merchant_txn_count_30d": _COUNT,
        "merchant_fraud_share_1d": _RATIO,
        "merchant_fraud_share_7d": _RATIO,
        "merchant_fraud_share_30d": _RATIO,
    },
    entity=EntityType.MERCHANT,
    population_default={
        "merchant_txn_count_1d": 0,
        "merchant_txn_count_7d": 0,
        "merchant_txn_count_30d": 0,
        "merchant_fraud_share_1d": 0.0,
        "merchant_fraud_share_7d": 0.0,
        "merchant_fraud_share_30d": 0.0,
    },
)

#: The stored groups the Feature layer reads, in order.
STORED_GROUPS: tuple[GroupSpec, ...] = (CUSTOMER_RISK, SPEND_BEHAVIOUR, SPEND_WINDOWS, MERCHANT_RISK)


def group_registry(specs: tuple[GroupSpec, ...] = STORED_GROUPS) -> dict[str, GroupSpec]:
    """Group name → spec, for the write path."""
    return {spec.name: spec for spec in specs}


def get_group(name: str, specs: tuple[GroupSpec, ...] = STORED_GROUPS) -> GroupSpec:
    """The stored group called ``name``; a clear error naming the writable groups otherwise."""
    registry = group_registry(specs)
    try:
        return registry[name]
    except KeyError:
        allowed = ", ".join(sorted(registry))
        raise FeatureValidationError(
            f"unknown feature group {name!r}; writable groups: {allowed}", {"group": f"must be one of: {allowed}"}
        ) from None


# --------------------------------------------------------------------------- request groups

TRANSACTION_CONTEXT = "transaction_context"
SESSION_CONTEXT = "session_context"
REQUEST_GROUPS: tuple[str, ...] = (TRANSACTION_CONTEXT, SESSION_CONTEXT)

#: Night is [22:00, 06:00) in the transaction's own local time (its timestamp's offset).
NIGHT_STARTS = time(22, 0)
NIGHT_ENDS = time(6, 0)


def is_night(timestamp: datetime) -> bool:
    """True from 22:00 (inclusive) to 06:00 (exclusive), read in the timestamp's own offset."""
    local = timestamp.time()  # wall-clock time in the timestamp's own offset, not UTC
    return local >= NIGHT_STARTS or local < NIGHT_ENDS


def transaction_context(txn: TransactionIn) -> dict[str, FeatureValue]:
    """Features computed exactly from the transaction."""
    amount = float(txn.amount)
    return {
        "amount": amount,
        "amount_log": math.log1p(amount),
        "is_international": txn.is_international,
        "is_online": txn.channel.is_online,
        "is_night": is_night(txn.timestamp),
        "mcc": txn.mcc,
        "merchant_country": txn.country,
    }


def session_context(txn: TransactionIn) -> dict[str, FeatureValue]:
    """Features of the session the transaction came from."""
    return {
        "device_fingerprint_match": txn.device_known,
        "ip_country_match": txn.ip_matches_billing,
        "auth_method": txn.auth_method.value,
    }


#: Request group name → its computation.
REQUEST_COMPUTATIONS: Mapping[str, Callable[[TransactionIn], dict[str, FeatureValue]]] = {
    TRANSACTION_CONTEXT: transaction_context,
    SESSION_CONTEXT: session_context,
}
