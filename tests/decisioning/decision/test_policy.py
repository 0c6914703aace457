import pytest

from decisioning.contracts import ContractError
from decisioning.decision.policy import DecisionPolicy


def test_defaults_match_the_issue():
    policy = DecisionPolicy()
    assert (policy.decline_threshold, policy.review_threshold, policy.challenge_threshold) == (0.85, 0.60, 0.40)
    assert policy.velocity_1h_limit == 10_000.0
    assert policy.geo_min_international_ratio == 0.01


def test_round_trips_through_a_dict():
    policy = DecisionPolicy(version="p-7", decline_threshold=0.9)
    assert DecisionPolicy.from_dict(policy.to_dict()) == policy


def test_settings_default_policy_is_valid():
    from fde_site.settings.base import FDE_DEFAULT_POLICY

    assert DecisionPolicy.from_dict(FDE_DEFAULT_POLICY) == DecisionPolicy()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"review_threshold": 0.9}, "thresholds"),
        ({"decline_threshold": 1.2}, "decline_threshold"),
        ({"challenge_threshold": -0.1}, "challenge_threshold"),
        ({"decline_rate_limit_count": 0}, "decline_rate_limit_count"),
        ({"version": ""}, "version"),
        ({"known_fraud_floor": "approve"}, "known_fraud_floor"),
        ({"known_fraud_score_30d": 1.5}, "known_fraud_score_30d"),
    ],
)
def test_invalid_policies_are_refused(changes, field):
    with pytest.raises(ContractError) as error:
        DecisionPolicy().replace(**changes)
    assert field in error.value.fields


def test_a_policy_stored_before_a_field_existed_gets_its_default():
    stored = DecisionPolicy().to_dict()
    del stored["known_fraud_floor"], stored["known_fraud_score_30d"]
    policy = DecisionPolicy.from_dict(stored)
    assert (policy.known_fraud_floor, policy.known_fraud_score_30d) == ("challenge", 0.30)


def test_unknown_fields_are_refused():
    with pytest.raises(ContractError) as error:
        DecisionPolicy.from_dict({"version": "x", "decline_treshold": 0.9})
    assert error.value.fields == {"decline_treshold": "unknown field"}
