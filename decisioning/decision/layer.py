"""The Decision layer: hard rules → incomplete-features policy → model score → thresholds.

Plain Python: lists, policy and model are injected, so the same layer runs in web workers,
Celery workers and replays of history. A model failure never approves: without a model a
transaction that passed the hard rules goes to review, marked degraded.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from decisioning.contracts import MAX_REASON_CODES, DecisionAction, DecisionResult, FeatureSet
from decisioning.decision.policy import DecisionPolicy, PolicyProvider
from decisioning.decision.reasons import RECENT_CONFIRMED_FRAUD, reason_codes, risk_signals
from decisioning.decision.rules import ListLookup, RuleHit, first_hard_rule
from decisioning.decision.scoring import Scorer
from decisioning.decision.thresholds import action_for_score, apply_floor, known_fraud_floor, policy_applied_for
from decisioning.decision.vector import as_number, feature_vector

logger = logging.getLogger("fde.decision")

INSUFFICIENT_FEATURES = "INSUFFICIENT_FEATURES"
MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
#: Score and confidence of the review fallbacks: undecided, and saying so.
FALLBACK_SCORE = 0.50
FALLBACK_CONFIDENCE = 0.10


class DecisionMaker(Protocol):
    """Anything that decides a FeatureSet is a decision layer (canary, shadow, voting wrap these)."""

    def decide(self, feature_set: FeatureSet) -> DecisionResult: ...


class ModelProvider(Protocol):
    """Supplies the model in force, or None when there is none (or it failed to load)."""

    def current(self) -> Scorer | None: ...


class DecisionLayer:
    """The production decision layer."""

    def __init__(
        self,
        lists: ListLookup,
        policy: PolicyProvider,
        model: ModelProvider,
        *,
        explain: bool = True,
        role: str = "",
    ) -> None:
        self.lists = lists
        self.policy = policy
        self.model = model
        self.explain = explain  #: freeze a SHAP explanation with model decisions (off for shadows)
        self.role = role  #: "" for the champion; "shadow" / "canary" tag this layer's log lines

    def decide(self, feature_set: FeatureSet) -> DecisionResult:
        """Decide one FeatureSet and log one structured line about it."""
        started = time.perf_counter()
        result = self._decide(feature_set, self.policy.current())
        _log_decision(result, (time.perf_counter() - started) * 1000.0, self.role)
        return result

    def _decide(self, fs: FeatureSet, policy: DecisionPolicy) -> DecisionResult:
        hit = first_hard_rule(fs, policy, self.lists)
        if hit is not None:
            return _rule_result(fs, policy, hit)
        if not fs.is_complete:
            return _fallback(fs, policy, INSUFFICIENT_FEATURES, "incomplete_features")
        scorer = self._scorer()
        if scorer is None:
            return _fallback(fs, policy, MODEL_UNAVAILABLE, "model_unavailable")
        try:
            return _model_result(fs, policy, scorer, explain=self.explain)
        except Exception:
            logger.exception("model %s failed to score request %s", scorer.version, fs.request_id)
            return _fallback(fs, policy, MODEL_UNAVAILABLE, "model_unavailable", {"model_version": scorer.version})

    def _scorer(self) -> Scorer | None:
        try:
            return self.model.current()
        except Exception:
            # A broken provider must not take the service down: decide rules-only, degraded.
            logger.exception("model provider failed")
            return None


def _base_metadata(fs: FeatureSet) -> dict[str, Any]:
    return {"warnings": list(fs.warnings)} if fs.warnings else {}


def _rule_result(fs: FeatureSet, policy: DecisionPolicy, hit: RuleHit) -> DecisionResult:
    return DecisionResult(
        request_id=fs.request_id,
        action=hit.action,
        fraud_score=hit.fraud_score,
        confidence=hit.confidence,
        reason_codes=(hit.reason_code,),
        policy_applied=hit.policy_applied,
        is_model_driven=False,
        policy_version=policy.version,
        degraded=fs.degraded,
        metadata={**_base_metadata(fs), "rule_inputs": dict(hit.inputs)},
    )


def _fallback(
    fs: FeatureSet, policy: DecisionPolicy, reason: str, policy_applied: str, extra: dict[str, Any] | None = None
) -> DecisionResult:
    metadata = {**_base_metadata(fs), **(extra or {})}
    if reason == INSUFFICIENT_FEATURES:
        metadata["warnings"] = list(fs.warnings) or ["critical feature group missing"]
    return DecisionResult(
        request_id=fs.request_id,
        action=DecisionAction.REVIEW,
        fraud_score=FALLBACK_SCORE,
        confidence=FALLBACK_CONFIDENCE,
        reason_codes=(reason,),
        policy_applied=policy_applied,
        is_model_driven=False,
        policy_version=policy.version,
        degraded=True,
        metadata=metadata,
    )


def _model_result(fs: FeatureSet, policy: DecisionPolicy, scorer: Scorer, *, explain: bool) -> DecisionResult:
    vector = feature_vector(fs)
    score = min(max(scorer.score(vector), 0.0), 1.0)
    action = action_for_score(score, policy)
    reasons = reason_codes(action, fs, policy)
    applied = policy_applied_for(action)
    metadata = _base_metadata(fs)
    floored = apply_floor(action, known_fraud_floor(fs, policy))
    if floored is not action:
        # The model's score and explanation stand; the policy refuses to let it act more leniently
        # than a person who just confirmed fraud on this customer would.
        metadata["floor"] = {
            "from_action": action.value,
            "fraud_score_30d": as_number(fs.get("customer_risk", "fraud_score_30d")),
            "known_fraud_score_30d": policy.known_fraud_score_30d,
        }
        action, applied = floored, "floor:known_fraud"
        reasons = (RECENT_CONFIRMED_FRAUD, *risk_signals(fs, policy))[:MAX_REASON_CODES]
    return DecisionResult(
        request_id=fs.request_id,
        action=action,
        fraud_score=score,
        confidence=scorer.confidence(score),
        reason_codes=reasons,
        policy_applied=applied,
        is_model_driven=True,
        model_version=scorer.version,
        policy_version=policy.version,
        explanation=scorer.explain(vector) if explain else None,
        degraded=fs.degraded,
        metadata=metadata,
    )


def _log_decision(result: DecisionResult, duration_ms: float, role: str = "") -> None:
    fields = {
        "request_id": result.request_id,
        "layer": f"decision:{role}" if role else "decision",
        "action": result.action.value,
        "score": round(result.fraud_score, 4),
        "policy_applied": result.policy_applied,
        "duration_ms": round(duration_ms, 3),
    }
    logger.info(" ".join(f"{key}={value}" for key, value in fields.items()), extra={"fde": fields})
