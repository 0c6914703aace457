"""Typed, versioned contracts between the Feature, Decision and Execution layers.

Every contract is a frozen dataclass, validated on construction, and round-trips exactly
through JSON with ``to_dict()`` / ``from_dict()``. Celery messages and the audit trail carry
these dicts. Compatibility rule: new fields are optional with defaults; fields are never
removed or renamed. A payload whose ``schema_version`` major number differs from ours is
refused with :class:`ContractError` rather than guessed at.

This module has no Django imports on purpose: the layers run in web workers, Celery workers
and history replays alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Self, TypeVar

SCHEMA_VERSION = "1.0"

E = TypeVar("E", bound=StrEnum)

#: A feature value as stored and served: JSON scalars only.
FeatureValue = float | int | str | bool | None

JsonDict = dict[str, Any]

MAX_REASON_CODES = 4
MAX_AMOUNT = Decimal("1000000000")  # one billion in the transaction currency
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
_COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
_MCC_PATTERN = re.compile(r"^[0-9]{4}$")


class ContractError(ValueError):
    """A contract was built from invalid data. ``fields`` maps field name to message."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, str] = dict(fields or {})


class FeatureFreshness(StrEnum):
    """How current a feature group is."""

    FRESH = "fresh"  #: younger than the group's freshness threshold
    STALE = "stale"  #: older than the threshold; still used, with a warning
    MISSING = "missing"  #: nothing usable; values are empty
    SYNTHETIC = "synthetic"  #: approximated from the request or a population default


class FallbackTier(StrEnum):
    """Where a feature group's values came from, best first."""

    ONLINE_STORE = "online_store"  #: the online feature store (Redis or the table)
    WARM_CACHE = "warm_cache"  #: the last good copy, kept 24 h under a secondary key
    REQUEST = "request"  #: computed exactly from the request itself
    APPROXIMATED = "approximated"  #: estimated from the request
    POPULATION_DEFAULT = "population_default"  #: a population-wide default
    NONE = "none"  #: nothing was available (freshness MISSING)


class DecisionAction(StrEnum):
    """What the Decision layer recommends."""

    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"
    CHALLENGE = "challenge"


class ExecutionAction(StrEnum):
    """What the Execution layer actually did."""

    APPROVED = "approved"
    DECLINED = "declined"
    QUEUED_FOR_REVIEW = "queued_for_review"
    CHALLENGE_INITIATED = "challenge_initiated"
    ERROR = "error"


class Channel(StrEnum):
    """The channel a card transaction came through."""

    POS = "pos"
    WEB = "web"
    MOBILE = "mobile"
    API = "api"

    @property
    def is_online(self) -> bool:
        return self is not Channel.POS


class AuthMethod(StrEnum):
    """How the cardholder was authenticated."""

    CHIP = "chip"
    PIN = "pin"
    CONTACTLESS = "contactless"
    SWIPE = "swipe"
    MANUAL = "manual"
    THREE_DS = "3ds"
    OTP = "otp"
    BIOMETRIC = "biometric"
    PASSWORD = "password"  # noqa: S105 - an enum label, not a secret
    NONE = "none"


# --------------------------------------------------------------------------- helpers


def check_schema_version(data: Mapping[str, Any], contract: str) -> None:
    """Refuse a payload written under another major schema version."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, str) or version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ContractError(
            f"{contract}: unsupported schema_version {version!r} (this build reads {SCHEMA_VERSION})",
            {"schema_version": "unsupported"},
        )


def _parse_datetime(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ContractError(f"{name} is not an ISO 8601 datetime", {name: "invalid datetime"}) from exc
    else:
        raise ContractError(f"{name} must be an ISO 8601 datetime", {name: "invalid datetime"})
    if parsed.tzinfo is None:
        raise ContractError(f"{name} must carry a time zone", {name: "naive datetime"})
    return parsed


def _optional_datetime(value: Any, name: str) -> datetime | None:
    return None if value is None else _parse_datetime(value, name)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def parse_amount(value: Any, name: str = "amount") -> Decimal:
    """A positive, finite money amount with at most two decimal places."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ContractError(f"{name} must be a decimal number", {name: "not a number"})
    if isinstance(value, float) and not math.isfinite(value):
        raise ContractError(f"{name} must be finite", {name: "not finite"})
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ContractError(f"{name} must be a decimal number", {name: "not a number"}) from exc
    if not amount.is_finite():
        raise ContractError(f"{name} must be finite", {name: "not finite"})
    if amount <= 0:
        raise ContractError(f"{name} must be greater than zero", {name: "must be > 0"})
    if amount > MAX_AMOUNT:
        raise ContractError(f"{name} must be at most {MAX_AMOUNT}", {name: "too large"})
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ContractError(f"{name} has more than two decimal places", {name: "too many decimal places"})
    return amount


def _check_identifier(value: Any, name: str, errors: dict[str, str], *, required: bool = True) -> None:
    if value in ("", None) and not required:
        return
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        errors[name] = "must be 1-128 characters: letters, digits, _ . : -"


def _enum_value(enum: type[E], value: Any, name: str) -> E:
    try:
        return enum(value)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise ContractError(f"{name} must be one of: {allowed}", {name: f"must be one of: {allowed}"}) from exc


def _check_score(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ContractError(f"{name} must be a finite number", {name: "not a number"})
    if not 0.0 <= float(value) <= 1.0:
        raise ContractError(f"{name} must be between 0 and 1", {name: "out of range"})
    return float(value)


def _check_feature_value(group: str, feature: str, value: Any) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    raise ContractError(
        f"feature {group}.{feature} must be a finite JSON scalar",
        {f"{group}.{feature}": "not a finite scalar"},
    )


# --------------------------------------------------------------------------- transaction


@dataclass(frozen=True, slots=True)
class TransactionIn:
    """One card transaction as a payment system submits it."""

    request_id: str  #: the caller's idempotency key, unique per API client
    transaction_id: str  #: the payment system's own transaction id
    customer_id: str  #: the cardholder / account
    amount: Decimal  #: > 0, at most two decimal places, in ``currency``
    timestamp: datetime  #: event time of the transaction, time-zone aware
    currency: str = "USD"  #: ISO 4217 alphabetic code
    merchant_id: str = ""  #: the merchant (acceptor) id
    mcc: str = ""  #: ISO 18245 merchant category code, four digits
    country: str = "US"  #: ISO 3166 alpha-2 country where the merchant is
    card_country: str = "US"  #: ISO 3166 alpha-2 country of the card issuer (home country)
    channel: Channel = Channel.POS  #: pos, web, mobile or api
    device_known: bool = True  #: the device fingerprint matches one seen for this customer
    ip_matches_billing: bool = True  #: the IP geolocates to the billing country
    auth_method: AuthMethod = AuthMethod.CHIP  #: how the cardholder was authenticated
    merchant_name: str = ""  #: display name of the merchant, shown to analysts as text
    schema_version: str = SCHEMA_VERSION  #: contract version

    def __post_init__(self) -> None:
        errors: dict[str, str] = {}
        for name in ("request_id", "transaction_id", "customer_id"):
            _check_identifier(getattr(self, name), name, errors)
        _check_identifier(self.merchant_id, "merchant_id", errors, required=False)
        if not isinstance(self.amount, Decimal):
            errors["amount"] = "must be a Decimal"
        else:
            try:
                parse_amount(self.amount)
            except ContractError as exc:
                errors.update(exc.fields)
        if not isinstance(self.currency, str) or not _CURRENCY_PATTERN.match(self.currency):
            errors["currency"] = "must be an ISO 4217 code such as USD"
        for name in ("country", "card_country"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _COUNTRY_PATTERN.match(value):
                errors[name] = "must be an ISO 3166 alpha-2 code such as US"
        if self.mcc and (not isinstance(self.mcc, str) or not _MCC_PATTERN.match(self.mcc)):
            errors["mcc"] = "must be four digits"
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            errors["timestamp"] = "must be a time-zone aware datetime"
        for name in ("device_known", "ip_matches_billing"):
            if not isinstance(getattr(self, name), bool):
                errors[name] = "must be true or false"
        if not isinstance(self.channel, Channel):
            errors["channel"] = "must be a Channel"
        if not isinstance(self.auth_method, AuthMethod):
            errors["auth_method"] = "must be an AuthMethod"
        if not isinstance(self.merchant_name, str) or len(self.merchant_name) > 200:
            errors["merchant_name"] = "must be a string of at most 200 characters"
        if errors:
            raise ContractError("invalid transaction", errors)

    @property
    def is_international(self) -> bool:
        return self.country != self.card_country

    def to_dict(self) -> JsonDict:
        return {
            "schema_version": self.schema_version,
            "request_id": self.request_id,
            "transaction_id": self.transaction_id,
            "customer_id": self.customer_id,
            "amount": str(self.amount),
            "timestamp": self.timestamp.isoformat(),
            "currency": self.currency,
            "merchant_id": self.merchant_id,
            "mcc": self.mcc,
            "country": self.country,
            "card_country": self.card_country,
            "channel": self.channel.value,
            "device_known": self.device_known,
            "ip_matches_billing": self.ip_matches_billing,
            "auth_method": self.auth_method.value,
            "merchant_name": self.merchant_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_schema_version(data, "TransactionIn")
        missing = {
            name: "required"
            for name in ("request_id", "transaction_id", "customer_id", "amount", "timestamp")
            if data.get(name) in (None, "")
        }
        if missing:
            raise ContractError("invalid transaction", missing)
        return cls(
            request_id=data["request_id"],
            transaction_id=data["transaction_id"],
            customer_id=data["customer_id"],
            amount=parse_amount(data["amount"]),
            timestamp=_parse_datetime(data["timestamp"], "timestamp"),
            currency=data.get("currency", "USD"),
            merchant_id=data.get("merchant_id", ""),
            mcc=data.get("mcc", ""),
            country=data.get("country", "US"),
            card_country=data.get("card_country", "US"),
            channel=_enum_value(Channel, data.get("channel", "pos"), "channel"),
            device_known=data.get("device_known", True),
            ip_matches_billing=data.get("ip_matches_billing", True),
            auth_method=_enum_value(AuthMethod, data.get("auth_method", "chip"), "auth_method"),
            merchant_name=data.get("merchant_name", ""),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
        )


# --------------------------------------------------------------------------- features


@dataclass(frozen=True, slots=True)
class FeatureGroup:
    """One named group of features with its provenance."""

    name: str  #: group name, e.g. ``customer_risk``
    values: Mapping[str, FeatureValue]  #: feature name → value; empty when MISSING
    freshness: FeatureFreshness  #: fresh / stale / missing / synthetic
    fallback_tier: FallbackTier  #: which tier supplied the values
    source: str  #: backend or computation that produced them, e.g. ``redis``, ``request``
    computed_at: datetime | None = None  #: when the values were computed (aware), if known
    is_critical: bool = False  #: a missing critical group makes the FeatureSet incomplete

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ContractError("feature group needs a name", {"name": "required"})
        if not isinstance(self.freshness, FeatureFreshness):
            raise ContractError("freshness must be a FeatureFreshness", {"freshness": "invalid"})
        if not isinstance(self.fallback_tier, FallbackTier):
            raise ContractError("fallback_tier must be a FallbackTier", {"fallback_tier": "invalid"})
        if self.computed_at is not None and self.computed_at.tzinfo is None:
            raise ContractError("computed_at must be time-zone aware", {"computed_at": "naive datetime"})
        if self.freshness is FeatureFreshness.MISSING and self.values:
            raise ContractError("a MISSING group carries no values", {"values": "must be empty"})
        for feature, value in self.values.items():
            _check_feature_value(self.name, feature, value)
        object.__setattr__(self, "values", dict(self.values))

    @classmethod
    def missing(cls, name: str, *, source: str, is_critical: bool = False) -> Self:
        return cls(
            name=name,
            values={},
            freshness=FeatureFreshness.MISSING,
            fallback_tier=FallbackTier.NONE,
            source=source,
            is_critical=is_critical,
        )

    @property
    def is_usable(self) -> bool:
        return self.freshness is not FeatureFreshness.MISSING

    def to_dict(self) -> JsonDict:
        return {
            "name": self.name,
            "values": dict(self.values),
            "freshness": self.freshness.value,
            "fallback_tier": self.fallback_tier.value,
            "source": self.source,
            "computed_at": _iso(self.computed_at),
            "is_critical": self.is_critical,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            name=data["name"],
            values=dict(data.get("values", {})),
            freshness=_enum_value(FeatureFreshness, data["freshness"], "freshness"),
            fallback_tier=_enum_value(FallbackTier, data["fallback_tier"], "fallback_tier"),
            source=data.get("source", ""),
            computed_at=_optional_datetime(data.get("computed_at"), "computed_at"),
            is_critical=bool(data.get("is_critical", False)),
        )


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Everything the Feature layer knows about one transaction."""

    request_id: str  #: the transaction's request id
    customer_id: str  #: the customer the features describe
    groups: Mapping[str, FeatureGroup]  #: group name → group
    built_at: datetime  #: when the set was assembled (aware)
    warnings: tuple[str, ...] = ()  #: human-readable reasons for stale/missing/degraded groups
    degraded: bool = False  #: a store failed or timed out while building this set
    schema_version: str = SCHEMA_VERSION  #: contract version

    def __post_init__(self) -> None:
        if self.built_at.tzinfo is None:
            raise ContractError("built_at must be time-zone aware", {"built_at": "naive datetime"})
        for key, group in self.groups.items():
            if key != group.name:
                raise ContractError(f"group key {key!r} differs from its name {group.name!r}", {"groups": key})
        object.__setattr__(self, "groups", dict(self.groups))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    @property
    def is_complete(self) -> bool:
        """False when any critical group is absent or MISSING."""
        return all(group.is_usable for group in self.groups.values() if group.is_critical) and all(
            name in self.groups for name in CRITICAL_GROUPS
        )

    def get(self, group: str, feature: str, default: FeatureValue = None) -> FeatureValue:
        """The feature's value, or ``default`` when the group is absent, MISSING or lacks it."""
        found = self.groups.get(group)
        if found is None or not found.is_usable:
            return default
        value = found.values.get(feature, default)
        return default if value is None else value

    def get_vector(self, group: str) -> dict[str, FeatureValue]:
        """The group's values (empty when absent or MISSING)."""
        found = self.groups.get(group)
        return dict(found.values) if found is not None and found.is_usable else {}

    def to_dict(self) -> JsonDict:
        return {
            "schema_version": self.schema_version,
            "request_id": self.request_id,
            "customer_id": self.customer_id,
            "groups": {name: group.to_dict() for name, group in self.groups.items()},
            "built_at": self.built_at.isoformat(),
            "warnings": list(self.warnings),
            "degraded": self.degraded,
            "is_complete": self.is_complete,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_schema_version(data, "FeatureSet")
        return cls(
            request_id=data["request_id"],
            customer_id=data["customer_id"],
            groups={name: FeatureGroup.from_dict(group) for name, group in data.get("groups", {}).items()},
            built_at=_parse_datetime(data["built_at"], "built_at"),
            warnings=tuple(data.get("warnings", ())),
            degraded=bool(data.get("degraded", False)),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
        )


#: Groups whose absence makes a FeatureSet incomplete.
CRITICAL_GROUPS: tuple[str, ...] = ("customer_risk",)


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    """One feature's SHAP contribution to a model decision."""

    feature: str  #: model feature name (see ``decisioning.decision.vector.FEATURE_NAMES``)
    value: float  #: the feature's value in the model vector
    contribution: float  #: SHAP value in the model's log-odds output space

    def to_dict(self) -> JsonDict:
        return {"feature": self.feature, "value": self.value, "contribution": self.contribution}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(feature=data["feature"], value=float(data["value"]), contribution=float(data["contribution"]))


@dataclass(frozen=True, slots=True)
class Explanation:
    """A SHAP explanation frozen at decision time.

    ``base_value + sum(contributions)`` equals the model's log-odds output; the fraud score is
    its logistic transform. Contributions are kept in model feature order.
    """

    base_value: float  #: expected model output (log-odds) over the background data
    contributions: tuple[FeatureContribution, ...]  #: one per model feature
    model_version: str  #: the model that was explained
    output_space: str = "log_odds"  #: the space of base_value and contributions
    method: str = "shap.TreeExplainer"  #: how the contributions were computed

    def ranked(self) -> list[FeatureContribution]:
        """Contributions sorted by absolute size, largest first."""
        return sorted(self.contributions, key=lambda item: abs(item.contribution), reverse=True)

    @property
    def output_value(self) -> float:
        return self.base_value + sum(item.contribution for item in self.contributions)

    def to_dict(self) -> JsonDict:
        return {
            "base_value": self.base_value,
            "contributions": [item.to_dict() for item in self.contributions],
            "model_version": self.model_version,
            "output_space": self.output_space,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            base_value=float(data["base_value"]),
            contributions=tuple(FeatureContribution.from_dict(item) for item in data["contributions"]),
            model_version=data["model_version"],
            output_space=data.get("output_space", "log_odds"),
            method=data.get("method", "shap.TreeExplainer"),
        )


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """What the Decision layer recommends for one FeatureSet."""

    request_id: str  #: the transaction's request id
    action: DecisionAction  #: approve / decline / review / challenge
    fraud_score: float  #: 0..1, the model probability or the hard rule's fixed score
    confidence: float  #: 0..1, the larger class probability (or the rule's confidence)
    reason_codes: tuple[str, ...]  #: at most four, most important first
    policy_applied: str  #: which rule or threshold band decided, e.g. ``hard_rule:blocklist``
    is_model_driven: bool  #: True when the model score decided, False for rules and fallbacks
    model_version: str | None = None  #: the model that scored, if any
    policy_version: str = ""  #: version of the thresholds / rule limits in force
    explanation: Explanation | None = None  #: SHAP contributions for model-driven decisions
    degraded: bool = False  #: a fallback was used (features or decision system)
    metadata: Mapping[str, Any] = field(default_factory=dict)  #: JSON extras (warnings, rule inputs)
    schema_version: str = SCHEMA_VERSION  #: contract version

    def __post_init__(self) -> None:
        if not isinstance(self.action, DecisionAction):
            raise ContractError("action must be a DecisionAction", {"action": "invalid"})
        _check_score(self.fraud_score, "fraud_score")
        _check_score(self.confidence, "confidence")
        if len(self.reason_codes) > MAX_REASON_CODES:
            raise ContractError("at most four reason codes", {"reason_codes": "more than 4"})
        if not self.reason_codes:
            raise ContractError("at least one reason code", {"reason_codes": "empty"})
        if self.is_model_driven and self.model_version is None:
            raise ContractError("a model-driven decision names its model", {"model_version": "required"})
        object.__setattr__(self, "reason_codes", tuple(self.reason_codes))
        object.__setattr__(self, "metadata", dict(self.metadata))

    def to_dict(self) -> JsonDict:
        return {
            "schema_version": self.schema_version,
            "request_id": self.request_id,
            "action": self.action.value,
            "fraud_score": self.fraud_score,
            "confidence": self.confidence,
            "reason_codes": list(self.reason_codes),
            "policy_applied": self.policy_applied,
            "is_model_driven": self.is_model_driven,
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "degraded": self.degraded,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_schema_version(data, "DecisionResult")
        explanation = data.get("explanation")
        return cls(
            request_id=data["request_id"],
            action=_enum_value(DecisionAction, data["action"], "action"),
            fraud_score=data["fraud_score"],
            confidence=data["confidence"],
            reason_codes=tuple(data["reason_codes"]),
            policy_applied=data["policy_applied"],
            is_model_driven=bool(data["is_model_driven"]),
            model_version=data.get("model_version"),
            policy_version=data.get("policy_version", ""),
            explanation=None if explanation is None else Explanation.from_dict(explanation),
            degraded=bool(data.get("degraded", False)),
            metadata=dict(data.get("metadata", {})),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
        )


# --------------------------------------------------------------------------- execution


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What was done for one transaction; this is what the caller receives."""

    request_id: str  #: the caller's request id
    decision: DecisionAction  #: the final decision (after rate limits)
    action: ExecutionAction  #: approved / declined / queued_for_review / challenge_initiated / error
    fraud_score: float  #: 0..1
    reason_codes: tuple[str, ...]  #: at most four
    policy_applied: str  #: rule or threshold band that decided
    is_model_driven: bool  #: the model score decided
    audit_trail_id: str  #: id of the audit event recording this execution
    model_version: str | None = None  #: the model that scored, if any
    reference_id: str | None = None  #: authorisation / decline / case / challenge reference
    case_id: int | None = None  #: review case id when queued for review
    degraded: bool = False  #: a fallback was used somewhere in the pipeline
    is_idempotent: bool = False  #: True when this is a stored result returned for a retry
    error: str | None = None  #: error code when action is ERROR
    decided_at: datetime | None = None  #: when the decision was executed (aware)
    schema_version: str = SCHEMA_VERSION  #: contract version

    def __post_init__(self) -> None:
        if not isinstance(self.action, ExecutionAction):
            raise ContractError("action must be an ExecutionAction", {"action": "invalid"})
        if not isinstance(self.decision, DecisionAction):
            raise ContractError("decision must be a DecisionAction", {"decision": "invalid"})
        _check_score(self.fraud_score, "fraud_score")
        if len(self.reason_codes) > MAX_REASON_CODES:
            raise ContractError("at most four reason codes", {"reason_codes": "more than 4"})
        if self.action is ExecutionAction.ERROR and not self.error:
            raise ContractError("an error result names its error", {"error": "required"})
        object.__setattr__(self, "reason_codes", tuple(self.reason_codes))

    def replayed(self) -> ExecutionResult:
        """The same result, marked as returned from the idempotency store."""
        data = self.to_dict()
        data["is_idempotent"] = True
        return ExecutionResult.from_dict(data)

    def to_dict(self) -> JsonDict:
        return {
            "schema_version": self.schema_version,
            "request_id": self.request_id,
            "decision": self.decision.value,
            "action": self.action.value,
            "fraud_score": self.fraud_score,
            "reason_codes": list(self.reason_codes),
            "policy_applied": self.policy_applied,
            "is_model_driven": self.is_model_driven,
            "audit_trail_id": self.audit_trail_id,
            "model_version": self.model_version,
            "reference_id": self.reference_id,
            "case_id": self.case_id,
            "degraded": self.degraded,
            "is_idempotent": self.is_idempotent,
            "error": self.error,
            "decided_at": _iso(self.decided_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_schema_version(data, "ExecutionResult")
        return cls(
            request_id=data["request_id"],
            decision=_enum_value(DecisionAction, data["decision"], "decision"),
            action=_enum_value(ExecutionAction, data["action"], "action"),
            fraud_score=data["fraud_score"],
            reason_codes=tuple(data["reason_codes"]),
            policy_applied=data["policy_applied"],
            is_model_driven=bool(data["is_model_driven"]),
            audit_trail_id=data["audit_trail_id"],
            model_version=data.get("model_version"),
            reference_id=data.get("reference_id"),
            case_id=data.get("case_id"),
            degraded=bool(data.get("degraded", False)),
            is_idempotent=bool(data.get("is_idempotent", False)),
            error=data.get("error"),
            decided_at=_optional_datetime(data.get("decided_at"), "decided_at"),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
        )


def utcnow() -> datetime:
    """The current time, UTC, aware."""
    return datetime.now(UTC)
