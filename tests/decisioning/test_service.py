"""The orchestrator end to end on real PostgreSQL and Redis: failure policy, rate limit, exactly once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis

from audit.models import AuditEvent
from decisioning.clients import internal_client
from decisioning.contracts import Channel, DecisionAction, ExecutionAction, TransactionIn
from decisioning.decision.layer import DecisionLayer
from decisioning.decision.vector import FEATURE_NAMES
from decisioning.execution.errors import ExecutionFailed
from decisioning.execution.gateway import DatabaseGateway
from decisioning.execution.layer import ExecutionLayer
from decisioning.features.layer import FeatureLayer
from decisioning.features.redis_store import RedisFeatureStore
from decisioning.lists import StoredListLookup
from decisioning.ml.registry import RegistryModelProvider
from decisioning.models import DecisionRecord, GatewayCall
from decisioning.policy import StoredPolicyProvider
from decisioning.service import DECISION_SYSTEM_ERROR, DecisionService, default_service
from review.models import ReviewCase

from .api.conftest import LOW_RISK

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC).replace(microsecond=0)


def txn(request_id: str = "req-1", *, customer_id: str = "cust-low", at: datetime = NOW, **overrides) -> TransactionIn:
    base = TransactionIn(
        request_id=request_id, transaction_id=f"t-{request_id}", customer_id=customer_id, amount=Decimal("42.50"),
        timestamp=at, merchant_id="m-1", mcc="5411", channel=Channel.POS,
    )  # fmt: skip
    return replace(base, **overrides)


def write_features(store, customer_id: str, **risk) -> None:
    store.write_group("customer_risk", customer_id, {**LOW_RISK["customer_risk"], **risk})
    store.write_group("spend_behaviour", customer_id, LOW_RISK["spend_behaviour"])


def wired(feature_store, *, features=None, decision=None, gateway=None) -> DecisionService:
    policy = StoredPolicyProvider()
    return DecisionService(
        features=features or FeatureLayer(feature_store),
        decision=decision or DecisionLayer(StoredListLookup(feature_store), policy, RegistryModelProvider()),
        execution=ExecutionLayer(counters=feature_store, policy=policy, gateway=gateway),
    )


def test_low_risk_ordinary_purchase_is_approved_under_040(feature_store, active_model):
    write_features(feature_store, "cust-low")
    result = default_service().process(txn(), client=internal_client())
    assert result.action is ExecutionAction.APPROVED
    assert result.fraud_score < 0.40
    assert result.is_model_driven is True
    record = DecisionRecord.objects.get()
    assert record.decision["explanation"]["model_version"] == active_model.version
    assert len(record.decision["explanation"]["contributions"]) == len(FEATURE_NAMES)


def test_velocity_15000_declines_by_rule_before_the_model(feature_store, active_model):
    write_features(feature_store, "cust-fast", velocity_1h=15000.0)
    result = default_service().process(txn(customer_id="cust-fast"), client=internal_client())
    assert (result.decision, result.reason_codes, result.fraud_score) == (
        DecisionAction.DECLINE, ("VELOCITY_EXCEEDED",), 0.95,
    )  # fmt: skip
    assert result.is_model_driven is False
    assert DecisionRecord.objects.get().decision["explanation"] is None


def test_same_request_twice_returns_same_action_and_audit_id_and_executes_once(feature_store, active_model):
    write_features(feature_store, "cust-low")
    service = default_service()
    first = service.process(txn(), client=internal_client())
    second = service.process(txn(), client=internal_client())
    assert (second.action, second.audit_trail_id, second.reference_id) == (
        first.action, first.audit_trail_id, first.reference_id,
    )  # fmt: skip
    assert (first.is_idempotent, second.is_idempotent) == (False, True)
    assert DecisionRecord.objects.count() == 1
    assert GatewayCall.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="decision.replayed").count() == 1


def test_feature_store_down_gives_degraded_review_never_an_approval(feature_store, active_model):
    dead = RedisFeatureStore(
        redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.05, socket_connect_timeout=0.05),
        warm_ttl=timedelta(hours=24),
    )
    service = wired(feature_store, features=FeatureLayer(dead))
    result = service.process(txn(), client=internal_client())
    assert result.action is ExecutionAction.QUEUED_FOR_REVIEW
    assert result.reason_codes == ("INSUFFICIENT_FEATURES",)
    assert result.degraded is True
    event = AuditEvent.objects.get(event_type="decision.executed")
    assert event.payload["features"]["degraded"] is True
    assert event.payload["decision"]["degraded"] is True
    assert ReviewCase.objects.get().request_id == "req-1"


def test_decision_layer_failure_goes_to_review_with_decision_system_error(feature_store):
    class Broken:
        def decide(self, feature_set):
            raise RuntimeError("model server on fire")

    write_features(feature_store, "cust-low")
    result = wired(feature_store, decision=Broken()).process(txn(), client=internal_client())
    assert result.action is ExecutionAction.QUEUED_FOR_REVIEW
    assert result.reason_codes == (DECISION_SYSTEM_ERROR,)
    assert result.degraded is True
    assert result.policy_applied == "fallback:decision_error"


def test_feature_layer_crash_is_an_incomplete_degraded_set(feature_store, active_model):
    class Crashing:
        def build(self, txn):
            raise RuntimeError("bug")

    result = wired(feature_store, features=Crashing()).process(txn(), client=internal_client())
    assert result.action is ExecutionAction.QUEUED_FOR_REVIEW
    assert result.reason_codes == ("INSUFFICIENT_FEATURES",)
    assert result.degraded is True


def test_execution_failure_writes_nothing_but_its_audit_event(feature_store, active_model):
    class FailingRail(DatabaseGateway):
        def authorise(self, record):
            super().authorise(record)  # the row is written, then the rail fails: all must roll back
            raise ConnectionError("payment rail unreachable")

    write_features(feature_store, "cust-low")
    with pytest.raises(ExecutionFailed) as failure:
        wired(feature_store, gateway=FailingRail()).process(txn(), client=internal_client())
    assert DecisionRecord.objects.count() == 0
    assert GatewayCall.objects.count() == 0
    event = AuditEvent.objects.get(event_type="execution.failed")
    assert failure.value.audit_trail_id == event.trail_id
    assert event.payload["error"] == "ConnectionError"
    # a retry after the rail recovers executes normally
    assert default_service().process(txn(), client=internal_client()).action is ExecutionAction.APPROVED


class TestDeclineRateLimit:
    def decline(self, service, n: int, at: datetime):
        return service.process(txn(f"req-{n}", customer_id="cust-fast", at=at), client=internal_client())

    def test_fourth_decline_in_ten_minutes_goes_to_review_and_replays_do_not_count(self, feature_store):
        write_features(feature_store, "cust-fast", velocity_1h=15000.0)
        service = default_service()
        first = self.decline(service, 1, NOW)
        second = self.decline(service, 2, NOW + timedelta(minutes=1))
        replay = self.decline(service, 2, NOW + timedelta(minutes=1))
        third = self.decline(service, 3, NOW + timedelta(minutes=2))
        fourth = self.decline(service, 4, NOW + timedelta(minutes=3))
        assert [r.action for r in (first, second, replay, third)] == [ExecutionAction.DECLINED] * 4
        assert replay.is_idempotent is True
        assert fourth.action is ExecutionAction.QUEUED_FOR_REVIEW
        assert fourth.reason_codes == ("DECLINE_RATE_LIMITED", "VELOCITY_EXCEEDED")
        assert fourth.policy_applied == "rate_limit:declines"

    def test_declines_older_than_the_window_do_not_count(self, feature_store):
        write_features(feature_store, "cust-fast", velocity_1h=15000.0)
        service = default_service()
        for n in range(3):
            self.decline(service, n, NOW - timedelta(minutes=30) + timedelta(minutes=n))
        assert self.decline(service, 9, NOW).action is ExecutionAction.DECLINED

    def test_blocklist_declines_are_never_softened(self, feature_store):
        from decisioning.lists import list_entry_add

        list_entry_add(list_name="blocklist", value="cust-fast", actor="test", cache=feature_store)
        write_features(feature_store, "cust-fast")
        service = default_service()
        actions = [self.decline(service, n, NOW + timedelta(seconds=n)).action for n in range(5)]
        assert actions == [ExecutionAction.DECLINED] * 5
