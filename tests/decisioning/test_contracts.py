"""Contracts: validation on construction and exact JSON round-trip (no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from decisioning.contracts import (
    SCHEMA_VERSION,
    Channel,
    ContractError,
    DecisionAction,
    DecisionResult,
    ExecutionAction,
    ExecutionResult,
    Explanation,
    FallbackTier,
    FeatureContribution,
    FeatureFreshness,
    FeatureGroup,
    FeatureSet,
    TransactionIn,
)

NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


def make_txn(**overrides):
    data = {
        "request_id": "req-1",
        "transaction_id": "txn-1",
        "customer_id": "cust-1",
        "amount": "42.50",
        "timestamp": NOW.isoformat(),
        "channel": "web",
        "country": "FR",
    }
    data.update(overrides)
    return TransactionIn.from_dict(data)


def make_feature_set():
    risk = FeatureGroup(
        name="customer_risk",
        values={"credit_score": 710, "fraud_score_30d": 0.02, "velocity_1h": 120.5},
        freshness=FeatureFreshness.FRESH,
        fallback_tier=FallbackTier.ONLINE_STORE,
        source="redis",
        computed_at=NOW,
        is_critical=True,
    )
    spend = FeatureGroup(
        name="spend_behaviour",
        values={"avg_txn_amount_30d": 40.0},
        freshness=FeatureFreshness.SYNTHETIC,
        fallback_tier=FallbackTier.POPULATION_DEFAULT,
        source="population",
    )
    return FeatureSet(
        request_id="req-1",
        customer_id="cust-1",
        groups={"customer_risk": risk, "spend_behaviour": spend},
        built_at=NOW,
        warnings=("spend_behaviour synthetic",),
    )


def roundtrip(contract):
    return type(contract).from_dict(json.loads(json.dumps(contract.to_dict())))


class TestTransactionIn:
    def test_parses_and_round_trips_exactly(self):
        txn = make_txn()
        assert txn.amount == Decimal("42.50")
        assert txn.channel is Channel.WEB
        assert txn.is_international is True
        assert roundtrip(txn) == txn
        assert txn.to_dict()["schema_version"] == SCHEMA_VERSION

    @pytest.mark.parametrize(
        ("amount", "message"),
        [
            ("-1", "must be > 0"),
            ("0", "must be > 0"),
            ("NaN", "not finite"),
            (float("nan"), "not finite"),
            ("Infinity", "not finite"),
            ("abc", "not a number"),
            (True, "not a number"),
            ([1], "not a number"),
            ("1.001", "too many decimal places"),
            ("1000000000.01", "too large"),
        ],
    )
    def test_rejects_bad_amounts_with_a_named_field(self, amount, message):
        with pytest.raises(ContractError) as error:
            make_txn(amount=amount)
        assert error.value.fields == {"amount": message}

    def test_collects_every_bad_field(self):
        with pytest.raises(ContractError) as error:
            make_txn(currency="usd", country="France", mcc="12", request_id="bad id!")
        assert set(error.value.fields) == {"currency", "country", "mcc", "request_id"}

    def test_rejects_naive_timestamp_and_unknown_channel(self):
        with pytest.raises(ContractError) as error:
            make_txn(timestamp="2026-12-01T12:00:00")
        assert error.value.fields == {"timestamp": "naive datetime"}
        with pytest.raises(ContractError) as error:
            make_txn(channel="fax")
        assert "channel" in error.value.fields

    def test_refuses_unknown_major_schema_version(self):
        with pytest.raises(ContractError) as error:
            make_txn(schema_version="2.0")
        assert error.value.fields == {"schema_version": "unsupported"}

    def test_requires_core_fields(self):
        with pytest.raises(ContractError) as error:
            TransactionIn.from_dict({"request_id": "r"})
        assert set(error.value.fields) == {"transaction_id", "customer_id", "amount", "timestamp"}


class TestFeatureSet:
    def test_round_trip_is_exact(self):
        feature_set = make_feature_set()
        assert roundtrip(feature_set) == feature_set
        assert feature_set.to_dict()["is_complete"] is True

    def test_get_returns_default_for_missing_group_or_feature(self):
        feature_set = make_feature_set()
        assert feature_set.get("customer_risk", "credit_score") == 710
        assert feature_set.get("customer_risk", "dispute_count_90d", 0) == 0
        assert feature_set.get("merchant_risk", "fraud_rate_30d", -1.0) == -1.0
        assert feature_set.get_vector("spend_behaviour") == {"avg_txn_amount_30d": 40.0}
        assert feature_set.get_vector("session_context") == {}

    def test_missing_critical_group_is_incomplete(self):
        missing = FeatureGroup.missing("customer_risk", source="redis", is_critical=True)
        feature_set = FeatureSet(request_id="r", customer_id="c", groups={"customer_risk": missing}, built_at=NOW)
        assert feature_set.is_complete is False
        assert feature_set.get("customer_risk", "credit_score", 500) == 500
        assert feature_set.get_vector("customer_risk") == {}

    def test_absent_critical_group_is_incomplete(self):
        assert FeatureSet(request_id="r", customer_id="c", groups={}, built_at=NOW).is_complete is False

    def test_missing_group_may_not_carry_values(self):
        with pytest.raises(ContractError):
            FeatureGroup(
                name="customer_risk", values={"credit_score": 1}, freshness=FeatureFreshness.MISSING,
                fallback_tier=FallbackTier.NONE, source="x",
            )  # fmt: skip

    def test_non_finite_feature_value_rejected(self):
        with pytest.raises(ContractError) as error:
            FeatureGroup(
                name="g", values={"x": float("inf")}, freshness=FeatureFreshness.FRESH,
                fallback_tier=FallbackTier.REQUEST, source="request",
            )  # fmt: skip
        assert error.value.fields == {"g.x": "not a finite scalar"}


class TestDecisionAndExecution:
    def make_decision(self, **overrides):
        data = {
            "request_id": "req-1",
            "action": DecisionAction.REVIEW,
            "fraud_score": 0.7,
            "confidence": 0.7,
            "reason_codes": ("HIGH_VELOCITY", "UNUSUAL_TIME"),
            "policy_applied": "threshold:review",
            "is_model_driven": True,
            "model_version": "gbm-1",
            "policy_version": "default-1",
            "explanation": Explanation(
                base_value=-4.2,
                contributions=(
                    FeatureContribution("velocity_1h", 2.5, 1.25),
                    FeatureContribution("is_night", 1.0, -0.125),
                ),
                model_version="gbm-1",
            ),
            "metadata": {"warnings": []},
        }
        data.update(overrides)
        return DecisionResult(**data)

    def test_decision_round_trips_exactly(self):
        decision = self.make_decision()
        assert roundtrip(decision) == decision
        assert decision.explanation.ranked()[0].feature == "velocity_1h"
        assert decision.explanation.output_value == pytest.approx(-4.2 + 1.25 - 0.125)

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"fraud_score": 1.5}, "fraud_score"),
            ({"confidence": float("nan")}, "confidence"),
            ({"reason_codes": ("A", "B", "C", "D", "E")}, "reason_codes"),
            ({"reason_codes": ()}, "reason_codes"),
            ({"model_version": None}, "model_version"),
        ],
    )
    def test_decision_validation(self, overrides, field):
        with pytest.raises(ContractError) as error:
            self.make_decision(**overrides)
        assert field in error.value.fields

    def test_execution_round_trip_and_replay_flag(self):
        result = ExecutionResult(
            request_id="req-1",
            decision=DecisionAction.APPROVE,
            action=ExecutionAction.APPROVED,
            fraud_score=0.03,
            reason_codes=("WITHIN_NORMAL_PARAMETERS",),
            policy_applied="threshold:approve",
            is_model_driven=True,
            audit_trail_id="aud_7",
            model_version="gbm-1",
            reference_id="auth_abc",
            decided_at=NOW,
        )
        assert roundtrip(result) == result
        replayed = result.replayed()
        assert replayed.is_idempotent is True
        assert replayed.audit_trail_id == "aud_7"

    def test_error_result_needs_error_code(self):
        with pytest.raises(ContractError):
            ExecutionResult(
                request_id="r", decision=DecisionAction.REVIEW, action=ExecutionAction.ERROR, fraud_score=0.5,
                reason_codes=(), policy_applied="x", is_model_driven=False, audit_trail_id="aud_1",
            )  # fmt: skip
