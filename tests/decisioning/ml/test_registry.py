import pytest

from decisioning.contracts import DecisionAction
from decisioning.decision.layer import DecisionLayer
from decisioning.decision.policy import DecisionPolicy, StaticPolicyProvider
from decisioning.decision.rules import InMemoryLists
from decisioning.decision.vector import feature_vector
from decisioning.ml.registry import ModelLoadError, RegistryModelProvider, load_active_model
from tests.decisioning.decision.builders import feature_set


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _layer(provider, policy=None):
    return DecisionLayer(InMemoryLists(), StaticPolicyProvider(policy or DecisionPolicy()), provider)


@pytest.mark.django_db
def test_low_risk_ordinary_purchase_is_approved_by_the_real_model(registered):
    result = _layer(RegistryModelProvider()).decide(feature_set())
    assert result.action is DecisionAction.APPROVE
    assert result.fraud_score < 0.40
    assert result.reason_codes == ("WITHIN_NORMAL_PARAMETERS",)
    assert result.model_version == registered.version
    assert result.is_model_driven is True


@pytest.mark.django_db
def test_shap_contributions_reproduce_the_log_odds(registered):
    scorer = load_active_model()
    takeover = feature_set(
        customer_risk={"velocity_1h": 4000.0, "velocity_24h": 5000.0},
        transaction_context={
            "amount": 900.0,
            "amount_log": 6.803505,
            "is_international": True,
            "is_night": True,
            "is_online": True,
        },
        session_context={"device_fingerprint_match": False, "ip_country_match": False},
    )
    for fs in (feature_set(), takeover):
        vector = feature_vector(fs)
        explanation = scorer.explain(vector)
        assert (
            abs(
                explanation.base_value
                + sum(c.contribution for c in explanation.contributions)
                - scorer.log_odds(vector)
            )
            < 1e-6
        )
    assert scorer.score(feature_vector(takeover)) > scorer.score(feature_vector(feature_set()))


@pytest.mark.django_db
def test_policy_change_without_retraining_changes_the_real_models_action(registered):
    provider = RegistryModelProvider()
    score = _layer(provider).decide(feature_set()).fraud_score
    strict = DecisionPolicy(
        version="strict-1", challenge_threshold=score / 2, review_threshold=score / 2, decline_threshold=score / 2
    )
    result = _layer(provider, strict).decide(feature_set())
    assert (result.action, result.fraud_score, result.policy_version) == (DecisionAction.DECLINE, score, "strict-1")


@pytest.mark.django_db
def test_no_active_model_raises():
    with pytest.raises(ModelLoadError, match="no active model"):
        load_active_model()


@pytest.mark.django_db
def test_missing_artifact_raises(registered):
    registered.artifact_path = "/nonexistent/model.joblib"
    registered.save()
    with pytest.raises(ModelLoadError, match="missing"):
        load_active_model()


@pytest.mark.django_db
def test_corrupt_artifact_raises_and_the_provider_degrades_to_review(registered, tmp_path):
    corrupt = tmp_path / "corrupt.joblib"
    corrupt.write_bytes(b"not a model")
    registered.artifact_path = str(corrupt)
    registered.save()
    with pytest.raises(ModelLoadError, match="corrupt"):
        load_active_model()
    provider = RegistryModelProvider(clock=Clock())
    assert provider.current() is None
    result = _layer(provider).decide(feature_set())
    assert (result.action, result.reason_codes, result.degraded) == (
        DecisionAction.REVIEW,
        ("MODEL_UNAVAILABLE",),
        True,
    )


@pytest.mark.django_db
def test_provider_backs_off_after_a_failure_and_recovers(registered, artifact):
    good_path = registered.artifact_path
    registered.artifact_path = "/nonexistent/model.joblib"
    registered.save()
    clock = Clock()
    provider = RegistryModelProvider(refresh_seconds=5, failure_backoff_seconds=30, clock=clock)
    for _ in range(20):
        assert provider.current() is None
    assert provider.load_attempts == 1
    clock.now += 29
    assert provider.current() is None
    assert provider.load_attempts == 1
    registered.artifact_path = good_path
    registered.save()
    clock.now += 2
    assert provider.current().version == registered.version
    assert provider.load_attempts == 2


@pytest.mark.django_db
def test_provider_loads_once_and_rechecks_after_the_refresh_interval(registered, trained, artifact):
    from decisioning.ml.registry import activate_model_version, register_model

    clock = Clock()
    provider = RegistryModelProvider(refresh_seconds=5, clock=clock)
    first = provider.current()
    assert first is provider.current()
    assert provider.load_attempts == 1
    path, sha256 = artifact
    register_model(version="next-1", artifact_path=path, sha256=sha256, metadata={}, metrics={}, activate=False)
    activate_model_version(version="next-1")
    clock.now += 4
    assert provider.current().version == trained.version
    clock.now += 2
    assert provider.current().version == "next-1"
    assert provider.load_attempts == 2
