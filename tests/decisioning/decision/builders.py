"""FeatureSets built straight from the contracts (independent of the Feature layer's code)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from decisioning.contracts import FallbackTier, FeatureFreshness, FeatureGroup, FeatureSet
from decisioning.decision.scoring import ModelScorer

WHEN = datetime(2025, 3, 4, 14, 30, tzinfo=UTC)

ORDINARY: dict[str, dict[str, Any]] = {
    "customer_risk": {
        "credit_score": 760,
        "fraud_score_30d": 0.01,
        "account_age_months": 84,
        "dispute_count_90d": 0,
        "velocity_1h": 0.0,
        "velocity_24h": 45.0,
        "international_ratio": 0.05,
    },
    "spend_behaviour": {
        "avg_txn_amount_30d": 40.0,
        "std_txn_amount_30d": 15.0,
        "top_mcc": "5411",
        "unique_merchants_7d": 4,
        "weekend_spend_ratio": 0.3,
    },
    "transaction_context": {
        "amount": 42.5,
        "amount_log": 3.7728609,
        "is_international": False,
        "is_online": False,
        "is_night": False,
        "mcc": "5411",
        "merchant_country": "US",
    },
    "session_context": {"device_fingerprint_match": True, "ip_country_match": True, "auth_method": "chip"},
}


def feature_set(
    *, customer_id: str = "C1", request_id: str = "req-1", missing: tuple[str, ...] = (), **overrides: dict[str, Any]
) -> FeatureSet:
    """An ordinary, complete FeatureSet; ``overrides`` patch group values, ``missing`` drops groups to MISSING."""
    groups = {}
    for name, values in ORDINARY.items():
        critical = name == "customer_risk"
        if name in missing:
            groups[name] = FeatureGroup.missing(name, source="test", is_critical=critical)
            continue
        groups[name] = FeatureGroup(
            name=name,
            values={**values, **overrides.get(name, {})},
            freshness=FeatureFreshness.FRESH,
            fallback_tier=FallbackTier.ONLINE_STORE,
            source="test",
            computed_at=WHEN,
            is_critical=critical,
        )
    warnings = tuple(f"{name} missing" for name in missing)
    return FeatureSet(request_id=request_id, customer_id=customer_id, groups=groups, built_at=WHEN, warnings=warnings)


class FailingModelProvider:
    """Fails the test if the Decision layer asks for a model."""

    def current(self) -> ModelScorer | None:
        raise AssertionError("the model must not be consulted")


class FixedScorer:
    """A stand-in scorer with a fixed score (for band and policy tests without a trained model)."""

    def __init__(self, score: float, version: str = "fixed-1") -> None:
        self.fixed = score
        self.version = version

    def score(self, vector: list[float]) -> float:
        return self.fixed

    @staticmethod
    def confidence(score: float) -> float:
        return max(score, 1.0 - score)

    def explain(self, vector: list[float]) -> Any:
        from decisioning.contracts import Explanation, FeatureContribution
        from decisioning.decision.vector import FEATURE_NAMES

        return Explanation(
            base_value=0.0,
            contributions=tuple(FeatureContribution(n, v, 0.0) for n, v in zip(FEATURE_NAMES, vector, strict=True)),
            model_version=self.version,
        )


class FixedModelProvider:
    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self.calls = 0

    def current(self) -> Any:
        self.calls += 1
        return self.scorer
