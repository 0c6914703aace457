"""Decision policy: thresholds and hard-rule limits, data that changes without retraining."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, Self

from decisioning.contracts import ContractError

_FLOAT_FIELDS = (
    "decline_threshold",
    "review_threshold",
    "challenge_threshold",
    "velocity_1h_limit",
    "high_velocity_reason",
    "geo_min_international_ratio",
    "high_priority_score",
    "known_fraud_score_30d",
)
#: Actions a known-fraud floor may raise a decision to ("off" disables the floor).
KNOWN_FRAUD_FLOORS = ("off", "challenge", "review", "decline")
_INT_FIELDS = ("decline_rate_limit_count", "decline_rate_limit_window_minutes")


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    """Thresholds and limits in force; its ``version`` is recorded on every decision."""

    version: str = "default-1"  #: recorded as DecisionResult.policy_version
    decline_threshold: float = 0.85  #: score ≥ this → decline
    review_threshold: float = 0.60  #: score ≥ this → review
    challenge_threshold: float = 0.40  #: score ≥ this → challenge; below → approve
    velocity_1h_limit: float = 10_000.0  #: 1-hour spend above this → hard decline
    high_velocity_reason: float = 2_000.0  #: 1-hour spend above this → HIGH_VELOCITY reason code
    geo_min_international_ratio: float = 0.01  #: international txn below this ratio → challenge
    decline_rate_limit_count: int = 3  #: declines per window before the Execution layer reviews instead
    decline_rate_limit_window_minutes: int = 10  #: the rate-limit window
    high_priority_score: float = 0.75  #: review cases at or above this score are high priority
    #: A customer whose ``fraud_score_30d`` is at or above this (one confirmed-fraud or dispute label
    #: in 30 days gives 0.3) gets at least ``known_fraud_floor`` from the model path.
    known_fraud_score_30d: float = 0.30
    # Challenge (step-up) by default: the genuine cardholder passes it, a fraudster with the card
    # doesn't, and the review queue isn't flooded with the customer's every purchase for 30 days.
    known_fraud_floor: str = "challenge"  #: least severe action for such a customer (off/challenge/review/decline)

    def __post_init__(self) -> None:
        errors = self._field_errors()
        if errors:
            raise ContractError("invalid decision policy", errors)

    def _field_errors(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not isinstance(self.version, str) or not self.version:
            errors["version"] = "required"
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                errors[name] = "must be a finite number"
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                errors[name] = "must be a positive integer"
        if self.known_fraud_floor not in KNOWN_FRAUD_FLOORS:
            errors["known_fraud_floor"] = f"must be one of {', '.join(KNOWN_FRAUD_FLOORS)}"
        if errors:
            return errors
        for name in (
            "decline_threshold",
            "review_threshold",
            "challenge_threshold",
            "high_priority_score",
            "known_fraud_score_30d",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                errors[name] = "must be between 0 and 1"
        if not self.challenge_threshold <= self.review_threshold <= self.decline_threshold:
            errors["thresholds"] = "must be ordered: challenge ≤ review ≤ decline"
        for name in ("velocity_1h_limit", "high_velocity_reason", "geo_min_international_ratio"):
            if getattr(self, name) < 0:
                errors[name] = "must not be negative"
        return errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from stored settings; unknown keys are refused so typos don't pass silently."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ContractError("unknown decision policy fields", dict.fromkeys(unknown, "unknown field"))
        values = dict(data)
        for name in _FLOAT_FIELDS:
            if isinstance(values.get(name), int) and not isinstance(values.get(name), bool):
                values[name] = float(values[name])
        return cls(**values)

    def replace(self, **changes: Any) -> DecisionPolicy:
        """A validated copy with some fields changed (e.g. a new threshold and version)."""
        return DecisionPolicy.from_dict({**self.to_dict(), **changes})


class PolicyProvider(Protocol):
    """Supplies the policy in force (from the database, settings, or a test)."""

    def current(self) -> DecisionPolicy: ...


class StaticPolicyProvider:
    """A fixed policy: for tests, replays and the embedded default."""

    def __init__(self, policy: DecisionPolicy | None = None) -> None:
        self._policy = policy or DecisionPolicy()

    def current(self) -> DecisionPolicy:
        return self._policy
