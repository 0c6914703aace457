"""The explanation of a stored decision, as the explain API and the case page show it.

Everything comes from what was frozen at decision time (the FeatureSet, the DecisionResult
with its SHAP contributions), never from re-scoring with today's model.
"""

from __future__ import annotations

import math
from typing import Any

from audit.models import AuditEvent

from .contracts import DecisionResult, FeatureSet
from .decision.vector import display_name
from .models import DecisionRecord


def decided_by(decision: DecisionResult) -> str:
    """``hard_rule``, ``model`` or ``fallback`` (incomplete features, errors, rate limits)."""
    if decision.policy_applied.startswith("hard_rule:"):
        return "hard_rule"
    if decision.is_model_driven:
        return "model"
    return "fallback"


def _logistic(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def contributions_for(decision: DecisionResult) -> dict[str, Any] | None:
    explanation = decision.explanation
    if explanation is None:
        return None
    ranked = [
        {
            "feature": item.feature,
            "label": display_name(item.feature),
            "value": item.value,
            "contribution": item.contribution,
        }
        for item in explanation.ranked()
    ]
    return {
        "method": explanation.method,
        "output_space": explanation.output_space,
        "model_version": explanation.model_version,
        "base_value": explanation.base_value,
        "base_probability": _logistic(explanation.base_value),
        "output_value": explanation.output_value,
        "output_probability": _logistic(explanation.output_value),
        "contributions": ranked,
    }


def audit_trail_for(request_id: str) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(request_id=request_id).order_by("sequence")
    return [
        {
            "audit_trail_id": event.trail_id,
            "sequence": event.sequence,
            "occurred_at": event.occurred_at.isoformat(),
            "event_type": event.event_type,
            "actor": event.actor,
            "outcome": event.outcome,
            "case_id": event.case_id,
        }
        for event in events
    ]


def explanation_for(record: DecisionRecord) -> dict[str, Any]:
    """The explain document for a decided record."""
    decision = DecisionResult.from_dict(record.decision or {})
    features = FeatureSet.from_dict(record.feature_set) if record.feature_set else None
    return {
        "request_id": record.request_id,
        "transaction": record.transaction,
        "decision": {
            "action": decision.action.value,
            "executed_as": record.action,
            "fraud_score": decision.fraud_score,
            "confidence": decision.confidence,
            "reason_codes": list(decision.reason_codes),
            "policy_applied": decision.policy_applied,
            "policy_version": decision.policy_version,
            "model_version": decision.model_version,
            "is_model_driven": decision.is_model_driven,
            "degraded": decision.degraded,
            "decided_by": decided_by(decision),
            "metadata": dict(decision.metadata),
        },
        "features": None if features is None else {
            "is_complete": features.is_complete,
            "degraded": features.degraded,
            "warnings": list(features.warnings),
            "groups": [group.to_dict() for group in features.groups.values()],
        },
        "explanation": contributions_for(decision),
        "audit_trail": audit_trail_for(record.request_id),
    }  # fmt: skip


# --------------------------------------------------------------------------- readable values (case page)

#: Model features that are 0/1 flags, shown as yes / no.
_FLAG_FEATURES = frozenset(
    {"is_international", "is_online", "is_night", "device_fingerprint_match", "ip_country_match"}
)


def readable_value(feature: str, value: float) -> str:
    """A model-vector value as an analyst reads it (flags as yes/no, the log amount with its amount)."""
    if feature in _FLAG_FEATURES:
        return "yes" if value else "no"
    if feature == "amount_log":
        return f"{value:.2f} (≈ {math.expm1(value):,.2f})"
    if feature == "dispute_count_90d":
        return f"{value:g}"
    if feature in {"fraud_score_30d", "international_ratio"}:
        return f"{value:.0%}" if feature == "international_ratio" else f"{value:.2f}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def probability_of(log_odds: float) -> float:
    """The probability of a log-odds value (the model's fraud score space)."""
    return _logistic(log_odds)
