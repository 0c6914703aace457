"""The orchestrator: runs Feature → Decision → Execution for one transaction.

It owns the failure policy. Feature layer fails → an incomplete FeatureSet (→ review);
decision layer fails → review with ``DECISION_SYSTEM_ERROR``; execution fails → an error
result with nothing half-written. Every fallback is marked ``degraded`` and audited: nothing
ever silently approves.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Protocol

from decisioning.contracts import (
    DecisionAction,
    DecisionResult,
    ExecutionResult,
    FeatureSet,
    TransactionIn,
    utcnow,
)
from decisioning.decision.layer import DecisionMaker
from decisioning.execution.idempotency import transaction_hash
from decisioning.execution.layer import ExecutionLayer
from decisioning.models import ApiClient

logger = logging.getLogger("fde.service")

DECISION_SYSTEM_ERROR = "DECISION_SYSTEM_ERROR"
FEATURE_SYSTEM_ERROR = "feature layer failed"


class FeatureBuilder(Protocol):
    def build(self, txn: TransactionIn) -> FeatureSet: ...


class DecisionService:
    """Runs the three layers; the same object serves the API, Celery workers and replays."""

    def __init__(self, *, features: FeatureBuilder, decision: DecisionMaker, execution: ExecutionLayer) -> None:
        self.features = features
        self.decision = decision
        self.execution = execution

    def process(self, txn: TransactionIn, *, client: ApiClient, request_hash: str | None = None) -> ExecutionResult:
        """Decide and execute one transaction, exactly once per ``(client, request_id)``.

        Raises ``IdempotencyConflict`` for a reused request id with another body and
        ``ExecutionFailed`` when execution failed (both audited).
        """
        started = time.perf_counter()
        key_hash = request_hash or transaction_hash(txn)
        stored = self.execution.stored_result(client=client, request_id=txn.request_id, request_hash=key_hash)
        if stored is not None:
            return stored
        feature_set = self.build_features(txn)
        decision = self.decide(feature_set)
        result = self.execution.execute(
            client=client, txn=txn, request_hash=key_hash, feature_set=feature_set, decision=decision
        )
        logger.info(
            "request_id=%s layer=orchestrator action=%s degraded=%s duration_ms=%.2f",
            txn.request_id, result.action.value, result.degraded, (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return result

    def build_features(self, txn: TransactionIn) -> FeatureSet:
        """The FeatureSet, or an empty degraded one if the Feature layer itself failed."""
        try:
            return self.features.build(txn)
        except Exception:
            logger.exception("request_id=%s layer=features failed; continuing with no features", txn.request_id)
            return FeatureSet(
                request_id=txn.request_id,
                customer_id=txn.customer_id,
                groups={},
                built_at=utcnow(),
                warnings=(FEATURE_SYSTEM_ERROR,),
                degraded=True,
            )

    def decide(self, feature_set: FeatureSet) -> DecisionResult:
        """The decision, or a degraded REVIEW if the Decision layer failed."""
        try:
            decision = self.decision.decide(feature_set)
        except Exception as exc:
            logger.exception("request_id=%s layer=decision failed; sending to review", feature_set.request_id)
            return DecisionResult(
                request_id=feature_set.request_id,
                action=DecisionAction.REVIEW,
                fraud_score=0.5,
                confidence=0.0,
                reason_codes=(DECISION_SYSTEM_ERROR,),
                policy_applied="fallback:decision_error",
                is_model_driven=False,
                degraded=True,
                metadata={"error": type(exc).__name__, "warnings": list(feature_set.warnings)},
            )
        if feature_set.degraded and not decision.degraded:
            decision = replace(decision, degraded=True)
        return decision


_default_service: DecisionService | None = None
_default_lock = threading.Lock()


def default_service() -> DecisionService:
    """The process-wide service wired from settings (the model is loaded once per process)."""
    global _default_service
    with _default_lock:
        if _default_service is None:
            _default_service = _build_default_service()
        return _default_service


def reset_default_service() -> None:
    """Forget the wired service (tests, or after settings change)."""
    global _default_service
    with _default_lock:
        _default_service = None


def _build_default_service() -> DecisionService:
    from django.conf import settings

    from decisioning.decision.layer import DecisionLayer
    from decisioning.decision.wrappers import CanaryLayer, ShadowLayer
    from decisioning.features.services import build_feature_layer
    from decisioning.features.store import build_store
    from decisioning.lists import StoredListLookup
    from decisioning.ml.registry import RegistryModelProvider
    from decisioning.models import ModelVersion
    from decisioning.pipeline import FeaturePipeline
    from decisioning.policy import StoredPolicyProvider

    store = build_store()
    policy = StoredPolicyProvider()
    lists = StoredListLookup(store)
    listeners = [FeaturePipeline(store)] if settings.FDE_FEATURE_PIPELINE else []
    champion = DecisionLayer(lists=lists, policy=policy, model=RegistryModelProvider())
    canary_models = RegistryModelProvider(stage=ModelVersion.Stage.CANARY)
    shadow_models = RegistryModelProvider(stage=ModelVersion.Stage.SHADOW)
    # Challengers wrap the champion (models staged with `manage.py models shadow|canary`): a canary
    # decides for its share of customers, a shadow scores everything and never acts.
    decision = ShadowLayer(
        CanaryLayer(
            champion,
            DecisionLayer(lists=lists, policy=policy, model=canary_models, role="canary"),
            route=canary_models.route,
        ),
        DecisionLayer(lists=lists, policy=policy, model=shadow_models, explain=False, role="shadow"),
        deployed=shadow_models.deployed_version,
    )
    return DecisionService(
        features=build_feature_layer(store),
        decision=decision,
        execution=ExecutionLayer(counters=store, policy=policy, listeners=listeners),
    )
