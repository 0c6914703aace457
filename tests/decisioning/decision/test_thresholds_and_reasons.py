import pytest

from decisioning.contracts import DecisionAction
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.reasons import reason_codes
from decisioning.decision.thresholds import action_for_score, policy_applied_for

from .builders import feature_set

POLICY = DecisionPolicy()


@pytest.mark.parametrize(
    ("score", "action"),
    [
        (0.0, DecisionAction.APPROVE),
        (0.3999999, DecisionAction.APPROVE),
        (0.40, DecisionAction.CHALLENGE),
        (0.5999999, DecisionAction.CHALLENGE),
        (0.60, DecisionAction.REVIEW),
        (0.8499999, DecisionAction.REVIEW),
        (0.85, DecisionAction.DECLINE),
        (1.0, DecisionAction.DECLINE),
    ],
)
def test_bands_at_exact_boundaries(score, action):
    assert action_for_score(score, POLICY) is action


def test_policy_applied_names_the_band():
    assert policy_applied_for(DecisionAction.DECLINE) == "threshold:decline"


def test_all_signals_give_four_codes_in_priority_order():
    fs = feature_set(
        customer_risk={"velocity_1h": 2500.0},
        transaction_context={"is_international": True, "is_night": True},
        session_context={"device_fingerprint_match": False},
    )
    codes = reason_codes(DecisionAction.DECLINE, fs, POLICY)
    assert codes == ("HIGH_VELOCITY", "INTERNATIONAL_TRANSACTION", "UNUSUAL_TIME", "UNRECOGNISED_DEVICE")


def test_velocity_at_the_reason_limit_is_not_high():
    fs = feature_set(customer_risk={"velocity_1h": 2000.0}, transaction_context={"is_night": True})
    assert reason_codes(DecisionAction.REVIEW, fs, POLICY) == ("UNUSUAL_TIME",)


def test_no_signal_falls_back_to_model_risk_score():
    assert reason_codes(DecisionAction.REVIEW, feature_set(), POLICY) == ("MODEL_RISK_SCORE",)


def test_challenge_and_approve_codes():
    fs = feature_set(transaction_context={"is_night": True})
    assert reason_codes(DecisionAction.CHALLENGE, fs, POLICY) == ("ELEVATED_RISK",)
    assert reason_codes(DecisionAction.APPROVE, fs, POLICY) == ("WITHIN_NORMAL_PARAMETERS",)
