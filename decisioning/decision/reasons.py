"""Reason codes for model-driven decisions, most important first, never more than four."""

from __future__ import annotations

from decisioning.contracts import MAX_REASON_CODES, DecisionAction, FeatureSet
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.vector import as_flag, as_number

HIGH_VELOCITY = "HIGH_VELOCITY"
INTERNATIONAL_TRANSACTION = "INTERNATIONAL_TRANSACTION"
UNUSUAL_TIME = "UNUSUAL_TIME"
UNRECOGNISED_DEVICE = "UNRECOGNISED_DEVICE"
MODEL_RISK_SCORE = "MODEL_RISK_SCORE"
ELEVATED_RISK = "ELEVATED_RISK"
WITHIN_NORMAL_PARAMETERS = "WITHIN_NORMAL_PARAMETERS"
#: The customer has confirmed fraud or a dispute in the last 30 days (the known-fraud floor fired).
RECENT_CONFIRMED_FRAUD = "RECENT_CONFIRMED_FRAUD"


def risk_signals(fs: FeatureSet, policy: DecisionPolicy) -> list[str]:
    """The observable risk signals present in the FeatureSet, in priority order."""
    signals: list[str] = []
    if (as_number(fs.get("customer_risk", "velocity_1h")) or 0.0) > policy.high_velocity_reason:
        signals.append(HIGH_VELOCITY)
    if as_flag(fs.get("transaction_context", "is_international")) is True:
        signals.append(INTERNATIONAL_TRANSACTION)
    if as_flag(fs.get("transaction_context", "is_night")) is True:
        signals.append(UNUSUAL_TIME)
    if as_flag(fs.get("session_context", "device_fingerprint_match")) is False:
        signals.append(UNRECOGNISED_DEVICE)
    return signals


def reason_codes(action: DecisionAction, fs: FeatureSet, policy: DecisionPolicy) -> tuple[str, ...]:
    """Reason codes for a threshold decision (at most :data:`MAX_REASON_CODES`)."""
    if action is DecisionAction.APPROVE:
        return (WITHIN_NORMAL_PARAMETERS,)
    if action is DecisionAction.CHALLENGE:
        return (ELEVATED_RISK,)
    signals = risk_signals(fs, policy)
    return tuple(signals[:MAX_REASON_CODES]) if signals else (MODEL_RISK_SCORE,)
