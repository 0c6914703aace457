import logging

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from decisioning.contracts import DecisionAction, DecisionResult
from decisioning.decision.layer import DecisionLayer, DecisionMaker
from decisioning.decision.policy import DecisionPolicy, StaticPolicyProvider
from decisioning.decision.rules import InMemoryLists
from decisioning.decision.scoring import ModelScorer, StaticModelProvider
from decisioning.decision.vector import FEATURE_NAMES, feature_vector

from .builders import FailingModelProvider, FixedModelProvider, FixedScorer, feature_set

POLICY = DecisionPolicy(version="policy-test-1")


def layer(model, *, blocked=(), policy=POLICY):
    return DecisionLayer(InMemoryLists({"blocklist": blocked}), StaticPolicyProvider(policy), model)


def test_velocity_over_the_limit_declines_before_the_model():
    result = layer(FailingModelProvider()).decide(feature_set(customer_risk={"velocity_1h": 15_000.0}))
    assert (result.action, result.fraud_score, result.reason_codes) == (
        DecisionAction.DECLINE,
        0.95,
        ("VELOCITY_EXCEEDED",),
    )
    assert result.policy_applied == "hard_rule:velocity_limit"
    assert result.is_model_driven is False
    assert result.policy_version == "policy-test-1"
    assert result.metadata["rule_inputs"] == {"velocity_1h": 15_000.0, "velocity_1h_limit": 10_000.0}


def test_velocity_exactly_at_the_limit_is_not_a_hard_decline():
    model = FixedModelProvider(FixedScorer(0.1))
    result = layer(model).decide(feature_set(customer_risk={"velocity_1h": 10_000.0}))
    assert result.policy_applied == "threshold:approve"
    assert model.calls == 1


def test_blocklisted_customer_is_declined_even_with_incomplete_features():
    for fs in (feature_set(customer_id="C9"), feature_set(customer_id="C9", missing=("customer_risk",))):
        result = layer(FailingModelProvider(), blocked=["C9"]).decide(fs)
        assert (result.action, result.fraud_score, result.confidence) == (DecisionAction.DECLINE, 1.0, 1.0)
        assert result.reason_codes == ("BLOCKED_ENTITY",)
        assert result.policy_applied == "hard_rule:blocklist"
        assert result.is_model_driven is False


def test_international_on_a_domestic_only_account_is_challenged():
    fs = feature_set(customer_risk={"international_ratio": 0.005}, transaction_context={"is_international": True})
    result = layer(FailingModelProvider()).decide(fs)
    assert (result.action, result.fraud_score, result.reason_codes, result.policy_applied) == (
        DecisionAction.CHALLENGE,
        0.50,
        ("UNUSUAL_GEO",),
        "hard_rule:geo",
    )


def test_international_ratio_at_the_minimum_goes_to_the_model():
    fs = feature_set(customer_risk={"international_ratio": 0.01}, transaction_context={"is_international": True})
    assert layer(FixedModelProvider(FixedScorer(0.2))).decide(fs).policy_applied == "threshold:approve"


def test_incomplete_features_go_to_review():
    result = layer(FailingModelProvider()).decide(feature_set(missing=("customer_risk",)))
    assert (result.action, result.fraud_score, result.confidence) == (DecisionAction.REVIEW, 0.50, 0.10)
    assert result.reason_codes == ("INSUFFICIENT_FEATURES",)
    assert result.policy_applied == "incomplete_features"
    assert result.metadata["warnings"] == ["customer_risk missing"]
    assert result.degraded is True


def test_empty_feature_set_goes_to_review():
    from decisioning.contracts import FeatureSet

    from .builders import WHEN

    empty = FeatureSet(request_id="r", customer_id="C1", groups={}, built_at=WHEN)
    result = layer(FailingModelProvider()).decide(empty)
    assert (result.action, result.reason_codes) == (DecisionAction.REVIEW, ("INSUFFICIENT_FEATURES",))
    assert result.metadata["warnings"] == ["critical feature group missing"]


@pytest.mark.parametrize("provider", [StaticModelProvider(None), FailingModelProvider()])
def test_no_model_never_approves(provider):
    result = layer(provider).decide(feature_set())
    assert (result.action, result.reason_codes, result.degraded) == (
        DecisionAction.REVIEW,
        ("MODEL_UNAVAILABLE",),
        True,
    )
    assert result.is_model_driven is False


@pytest.mark.parametrize(
    ("score", "action", "band"),
    [
        (0.39, "approve", "threshold:approve"),
        (0.40, "challenge", "threshold:challenge"),
        (0.60, "review", "threshold:review"),
        (0.85, "decline", "threshold:decline"),
    ],
)
def test_model_score_bands(score, action, band):
    result = layer(FixedModelProvider(FixedScorer(score))).decide(feature_set())
    assert (result.action.value, result.policy_applied, result.fraud_score) == (action, band, score)
    assert result.is_model_driven is True
    assert result.model_version == "fixed-1"
    assert result.confidence == max(score, 1 - score)


def test_policy_change_without_retraining_changes_the_action():
    model = FixedModelProvider(FixedScorer(0.62))
    before = layer(model).decide(feature_set())
    stricter = POLICY.replace(version="policy-test-2", review_threshold=0.65, decline_threshold=0.9)
    after = layer(model, policy=stricter).decide(feature_set())
    assert (before.action, before.policy_version) == (DecisionAction.REVIEW, "policy-test-1")
    assert (after.action, after.policy_version) == (DecisionAction.CHALLENGE, "policy-test-2")


@pytest.mark.parametrize(
    ("score", "floor", "action", "applied"),
    [
        (0.10, "review", DecisionAction.REVIEW, "floor:known_fraud"),  # approve raised to review
        (0.45, "review", DecisionAction.REVIEW, "floor:known_fraud"),  # challenge raised to review
        (0.90, "review", DecisionAction.DECLINE, "threshold:decline"),  # a stricter decision stands
        (0.10, "challenge", DecisionAction.CHALLENGE, "floor:known_fraud"),
        (0.10, "off", DecisionAction.APPROVE, "threshold:approve"),
    ],
)
def test_known_fraud_floor_raises_lenient_model_decisions_and_keeps_the_score(score, floor, action, applied):
    policy = POLICY.replace(known_fraud_floor=floor)
    fs = feature_set(customer_risk={"fraud_score_30d": 0.3}, transaction_context={"is_international": True})
    result = layer(FixedModelProvider(FixedScorer(score)), policy=policy).decide(fs)
    assert (result.action, result.policy_applied, result.fraud_score) == (action, applied, score)
    assert result.is_model_driven is True  # the model scored it; its explanation stays with the decision
    if applied == "floor:known_fraud":
        assert result.reason_codes == ("RECENT_CONFIRMED_FRAUD", "INTERNATIONAL_TRANSACTION")
        assert result.metadata["floor"] == {
            "from_action": "approve" if score < 0.40 else "challenge",
            "fraud_score_30d": 0.3,
            "known_fraud_score_30d": 0.3,
        }
    else:
        assert "floor" not in result.metadata


def test_known_fraud_floor_is_silent_below_its_score():
    fs = feature_set(customer_risk={"fraud_score_30d": 0.29})
    result = layer(FixedModelProvider(FixedScorer(0.10))).decide(fs)
    assert (result.action, result.reason_codes) == (DecisionAction.APPROVE, ("WITHIN_NORMAL_PARAMETERS",))


def test_reason_codes_never_exceed_four():
    fs = feature_set(
        customer_risk={"velocity_1h": 9000.0},
        transaction_context={"is_international": True, "is_night": True},
        session_context={"device_fingerprint_match": False, "ip_country_match": False},
    )
    result = layer(FixedModelProvider(FixedScorer(0.99))).decide(fs)
    assert len(result.reason_codes) == 4


def _tiny_scorer():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(600, len(FEATURE_NAMES)))
    labels = (features[:, 1] + features[:, 6] > 1.2).astype(int)
    model = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(features, labels)
    return ModelScorer(model, version="tiny-1")


def test_model_decision_carries_a_shap_explanation_that_adds_up():
    scorer = _tiny_scorer()
    fs = feature_set(customer_risk={"velocity_1h": 1800.0})
    result = layer(StaticModelProvider(scorer)).decide(fs)
    vector = feature_vector(fs)
    assert result.explanation is not None
    assert result.explanation.model_version == "tiny-1"
    assert [c.feature for c in result.explanation.contributions] == list(FEATURE_NAMES)
    assert abs(result.explanation.output_value - scorer.log_odds(vector)) < 1e-6
    assert result.fraud_score == scorer.score(vector)
    assert DecisionResult.from_dict(result.to_dict()) == result


def test_scorer_refuses_a_model_with_other_features():
    with pytest.raises(ValueError, match="distinct known features"):
        ModelScorer(object(), version="x", feature_names=["a", "b"])


def test_one_structured_log_line_per_decision(caplog):
    caplog.set_level(logging.INFO, logger="fde.decision")
    layer(FailingModelProvider()).decide(feature_set(request_id="req-42", customer_risk={"velocity_1h": 15_000.0}))
    lines = [r for r in caplog.records if r.name == "fde.decision"]
    assert len(lines) == 1
    assert lines[0].fde["request_id"] == "req-42"
    assert {k: lines[0].fde[k] for k in ("layer", "action", "score", "policy_applied")} == {
        "layer": "decision",
        "action": "decline",
        "score": 0.95,
        "policy_applied": "hard_rule:velocity_limit",
    }
    assert lines[0].fde["duration_ms"] >= 0


def test_the_layer_is_a_decision_maker():
    maker: DecisionMaker = layer(StaticModelProvider(None))
    assert isinstance(maker.decide(feature_set()), DecisionResult)
