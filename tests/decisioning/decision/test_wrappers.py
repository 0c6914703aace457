"""Shadow and canary layers: the shadow never acts, the canary takes a stable share, failures fall back."""

from __future__ import annotations

import pytest

from decisioning.contracts import DecisionAction
from decisioning.decision.layer import DecisionLayer
from decisioning.decision.policy import DecisionPolicy, StaticPolicyProvider
from decisioning.decision.rules import InMemoryLists
from decisioning.decision.wrappers import CanaryLayer, CanaryRoute, ShadowLayer, canary_bucket

from .builders import FixedModelProvider, FixedScorer, feature_set


def layer(provider, *, explain=True, blocked=()):
    return DecisionLayer(
        InMemoryLists({"blocklist": blocked}), StaticPolicyProvider(DecisionPolicy()), provider, explain=explain
    )


CHAMPION = FixedModelProvider(FixedScorer(0.10, version="champion-1"))
CHALLENGER = FixedModelProvider(FixedScorer(0.90, version="challenger-2"))


class NoModel:
    def current(self):
        return None


class Exploding:
    def decide(self, feature_set):
        raise RuntimeError("challenger bug")


# --------------------------------------------------------------------------- shadow


def test_the_shadow_scores_the_same_features_and_never_changes_the_decision():
    alone = layer(CHAMPION).decide(feature_set())
    result = ShadowLayer(layer(CHAMPION), layer(CHALLENGER, explain=False), deployed=lambda: "challenger-2").decide(
        feature_set()
    )
    assert (result.action, result.fraud_score, result.model_version) == (alone.action, 0.10, "champion-1")
    assert result.explanation == alone.explanation  # the champion's explanation is the one frozen
    assert result.metadata["shadow"] == {
        "model_version": "challenger-2",
        "fraud_score": 0.9,
        "action": "decline",
        "policy_applied": "threshold:decline",
        "is_model_driven": True,
    }


def test_without_a_deployed_shadow_nothing_is_recorded_and_the_shadow_is_not_asked():
    result = ShadowLayer(layer(CHAMPION), Exploding(), deployed=lambda: None).decide(feature_set())
    assert "shadow" not in result.metadata
    assert result.action is DecisionAction.APPROVE


def test_a_failing_shadow_is_recorded_and_the_decision_stands():
    result = ShadowLayer(layer(CHAMPION), Exploding(), deployed=lambda: "challenger-2").decide(feature_set())
    assert result.metadata["shadow"] == {"model_version": "challenger-2", "error": "RuntimeError"}
    assert (result.action, result.fraud_score) == (DecisionAction.APPROVE, 0.10)


def test_a_shadow_whose_model_did_not_load_says_so():
    result = ShadowLayer(layer(CHAMPION), layer(NoModel()), deployed=lambda: "challenger-2").decide(feature_set())
    assert result.metadata["shadow"] == {"model_version": "challenger-2", "error": "model unavailable"}
    assert result.is_model_driven is True and result.degraded is False


def test_a_shadow_layer_without_explanations_skips_shap():
    assert layer(CHALLENGER, explain=False).decide(feature_set()).explanation is None
    assert layer(CHALLENGER).decide(feature_set()).explanation is not None


# --------------------------------------------------------------------------- canary


def canary(percent, canary_layer=None):
    route = CanaryRoute("challenger-2", percent)
    return CanaryLayer(layer(CHAMPION), canary_layer or layer(CHALLENGER), route=lambda: route)


def test_a_canary_at_zero_percent_or_not_deployed_leaves_everything_to_the_champion():
    assert "canary" not in canary(0).decide(feature_set()).metadata
    result = CanaryLayer(layer(CHAMPION), Exploding(), route=lambda: None).decide(feature_set())
    assert (result.model_version, "canary" in result.metadata) == ("champion-1", False)


def test_a_canary_takes_a_stable_share_of_customers():
    wrapped = canary(20)
    arms = {}
    for number in range(2_000):
        result = wrapped.decide(feature_set(customer_id=f"cust-{number}"))
        arms[number] = result.metadata["canary"]["arm"]
        expected = "challenger-2" if arms[number] == "canary" else "champion-1"
        assert result.model_version == expected
    share = sum(arm == "canary" for arm in arms.values()) / len(arms)
    assert 0.17 < share < 0.23
    # the same customer always lands in the same arm (their experience doesn't flip)
    for number in range(50):
        again = wrapped.decide(feature_set(customer_id=f"cust-{number}", request_id="req-again"))
        assert again.metadata["canary"]["arm"] == arms[number]


def test_the_bucket_depends_on_the_canary_so_each_canary_gets_its_own_sample():
    first = {c for c in range(500) if canary_bucket(f"cust-{c}", "v1") < 10}
    second = {c for c in range(500) if canary_bucket(f"cust-{c}", "v2") < 10}
    assert first != second
    assert all(0 <= canary_bucket(f"cust-{c}", "v1") < 100 for c in range(500))


@pytest.mark.parametrize("broken", [Exploding(), layer(NoModel())], ids=["raises", "no-model"])
def test_a_broken_canary_hands_its_customers_back_to_the_champion(broken):
    result = canary(100, broken).decide(feature_set())
    assert (result.model_version, result.fraud_score, result.degraded) == ("champion-1", 0.10, False)
    assert result.metadata["canary"]["arm"] == "champion"
    assert result.metadata["canary"]["fallback"] == "canary unavailable"


def test_hard_rules_still_decide_in_the_canary_arm():
    wrapped = CanaryLayer(
        layer(CHAMPION), layer(CHALLENGER, blocked=("C1",)), route=lambda: CanaryRoute("challenger-2", 100)
    )
    result = wrapped.decide(feature_set(customer_id="C1"))
    assert (result.action, result.policy_applied) == (DecisionAction.DECLINE, "hard_rule:blocklist")
    assert result.metadata["canary"]["arm"] == "canary"
