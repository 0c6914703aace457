"""Decision layers that wrap decision layers: shadow and canary, for changing models safely.

Any object with ``decide(feature_set) -> DecisionResult`` is a decision layer, so these wrap the
production :class:`~decisioning.decision.layer.DecisionLayer` without touching the Feature or
Execution layers. Both record what they did in ``DecisionResult.metadata`` (stored with every
decision), which is what judging a challenger on labels later reads.

* :class:`ShadowLayer` — the primary decides; the shadow decides the same FeatureSet too, and its
  answer is recorded under ``metadata["shadow"]``. It never changes the decision, and a shadow that
  fails or has no model is recorded as such and otherwise ignored.
* :class:`CanaryLayer` — a stable share of customers (by a hash of the customer id, salted with the
  canary's version so each canary gets its own sample) is decided by the canary; everyone else by
  the primary. ``metadata["canary"]`` names the arm. A canary that fails, or can't decide with its
  model, hands the transaction back to the primary: a broken canary never degrades a decision.

Plain Python, no Django: the challengers' model providers are injected.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from decisioning.contracts import DecisionResult, FeatureSet
from decisioning.decision.layer import MODEL_UNAVAILABLE, DecisionMaker

logger = logging.getLogger("fde.decision")


@dataclass(frozen=True, slots=True)
class CanaryRoute:
    """Which canary is deployed and for what share of customers."""

    version: str
    percent: int  #: 0–100


def champion_of(layer: object) -> object:
    """The innermost decision layer (the champion) inside any shadow and canary wrappers."""
    while isinstance(layer, ShadowLayer | CanaryLayer):
        layer = layer.primary
    return layer


def canary_bucket(customer_id: str, salt: str) -> int:
    """A customer's stable bucket 0–99 for a canary (same customer, same canary → same bucket)."""
    digest = hashlib.sha256(f"{salt}\x00{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def decision_summary(result: DecisionResult) -> dict[str, Any]:
    """What a challenger said, compactly, for ``metadata`` (no explanation: it is not shown)."""
    return {
        "model_version": result.model_version,
        "fraud_score": round(result.fraud_score, 6),
        "action": result.action.value,
        "policy_applied": result.policy_applied,
        "is_model_driven": result.is_model_driven,
    }


class ShadowLayer:
    """The primary decides; the shadow's answer on the same features is recorded, never acted on."""

    def __init__(self, primary: DecisionMaker, shadow: DecisionMaker, *, deployed: Callable[[], str | None]) -> None:
        self.primary = primary
        self.shadow = shadow
        self.deployed = deployed  #: the shadow model's version, or None when no shadow is deployed

    def decide(self, feature_set: FeatureSet) -> DecisionResult:
        result = self.primary.decide(feature_set)
        version = self._deployed()
        if version is None:
            return result
        try:
            shadow = self.shadow.decide(feature_set)
        except Exception as exc:
            logger.exception("request_id=%s shadow %s failed", feature_set.request_id, version)
            record: dict[str, Any] = {"model_version": version, "error": type(exc).__name__}
        else:
            record = decision_summary(shadow)
            if shadow.model_version != version:  # the shadow's model did not load: say so
                record = {"model_version": version, "error": "model unavailable"}
        return replace(result, metadata={**result.metadata, "shadow": record})

    def _deployed(self) -> str | None:
        try:
            return self.deployed()
        except Exception:
            logger.exception("could not read the shadow deployment; no shadow this time")
            return None


class CanaryLayer:
    """A stable ``percent`` of customers is decided by the canary, the rest by the primary."""

    def __init__(
        self, primary: DecisionMaker, canary: DecisionMaker, *, route: Callable[[], CanaryRoute | None]
    ) -> None:
        self.primary = primary
        self.canary = canary
        self.route = route

    def decide(self, feature_set: FeatureSet) -> DecisionResult:
        route = self._route()
        if route is None or route.percent <= 0:
            return self.primary.decide(feature_set)
        bucket = canary_bucket(feature_set.customer_id, route.version)
        arm = {"version": route.version, "percent": route.percent, "bucket": bucket}
        if bucket < route.percent:
            canary = self._canary(feature_set, route)
            if canary is not None:
                return replace(canary, metadata={**canary.metadata, "canary": {**arm, "arm": "canary"}})
            arm["fallback"] = "canary unavailable"
        result = self.primary.decide(feature_set)
        return replace(result, metadata={**result.metadata, "canary": {**arm, "arm": "champion"}})

    def _canary(self, feature_set: FeatureSet, route: CanaryRoute) -> DecisionResult | None:
        """The canary's decision when its own model made it (rules decide the same either way)."""
        try:
            result = self.canary.decide(feature_set)
        except Exception:
            logger.exception("request_id=%s canary %s failed; the champion decides", feature_set.request_id, route)
            return None
        if MODEL_UNAVAILABLE in result.reason_codes:
            return None  # the canary's model did not load: its fallback would be a worse decision
        if result.is_model_driven and result.model_version != route.version:
            return None  # its provider still serves another version (the route just changed)
        return result

    def _route(self) -> CanaryRoute | None:
        try:
            return self.route()
        except Exception:
            logger.exception("could not read the canary deployment; the champion decides")
            return None
