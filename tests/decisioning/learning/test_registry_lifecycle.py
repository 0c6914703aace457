"""Registry: audited activation, rollback one command away, an old 12-feature model stays servable, the page."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent, AuditEventType
from decisioning.contracts import DecisionAction
from decisioning.decision.layer import DecisionLayer
from decisioning.decision.policy import DecisionPolicy, StaticPolicyProvider
from decisioning.decision.rules import InMemoryLists
from decisioning.decision.vector import LEGACY_FEATURE_NAMES
from decisioning.ml.registry import ActivationRefused, RegistryModelProvider, activate_model_version, register_model
from decisioning.ml.simulator import SimulationConfig
from decisioning.ml.training import TrainingConfig, fit_model, save_artifact, simulated_history
from decisioning.models import ModelActivation, ModelVersion
from tests.decisioning.decision.builders import feature_set

pytestmark = pytest.mark.django_db
SMALL = TrainingConfig(simulation=SimulationConfig(seed=3, customers=400, days=40), n_estimators=30)


@pytest.fixture(scope="module")
def legacy_trained():
    """A model trained before the vector grew: exactly the original twelve features."""
    from decisioning.ml.training import TrainedModel

    history = simulated_history(SMALL, LEGACY_FEATURE_NAMES)
    model = fit_model(history.matrix, history.labels, SMALL)
    metadata = {"feature_names": list(LEGACY_FEATURE_NAMES)}
    return TrainedModel(model=model, version="legacy-12", metrics={"roc_auc": 0.9}, metadata=metadata)


def _register(trained, tmp: Path, *, activate: bool) -> ModelVersion:
    path, sha256 = save_artifact(trained, tmp)
    return register_model(
        version=trained.version, artifact_path=path, sha256=sha256, metadata=trained.metadata,
        metrics=trained.metrics, activate=activate, feature_names=trained.metadata["feature_names"],
    )  # fmt: skip


@pytest.fixture
def two_versions(legacy_trained, trained_artifact, tmp_path, settings):
    settings.FDE_MODEL_DIR = tmp_path
    old = _register(legacy_trained, tmp_path, activate=True)
    new = _register(trained_artifact["trained"], tmp_path, activate=True)
    return old, new


def test_activation_is_audited_and_rollback_is_one_command(two_versions):
    old, new = two_versions
    assert ModelVersion.objects.get(is_active=True).version == new.version
    events = AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED).order_by("sequence")
    assert [event.outcome for event in events] == [old.version, new.version]
    assert ModelActivation.objects.first().previous_version == old.version

    out = StringIO()
    call_command("models", "rollback", stdout=out)
    assert ModelVersion.objects.get(is_active=True).version == old.version
    assert f"active model: {old.version}" in out.getvalue()
    assert AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED).count() == 3


def test_an_old_twelve_feature_model_is_served_its_own_columns(two_versions):
    old, _ = two_versions
    activate_model_version(version=old.version, actor="test")
    layer = DecisionLayer(InMemoryLists(), StaticPolicyProvider(DecisionPolicy()), RegistryModelProvider())
    result = layer.decide(feature_set())
    assert result.is_model_driven is True
    assert result.model_version == old.version
    assert [c.feature for c in result.explanation.contributions] == list(LEGACY_FEATURE_NAMES)
    assert result.action is DecisionAction.APPROVE


def test_a_version_with_features_the_vector_cannot_compute_is_refused(two_versions):
    old, new = two_versions
    ModelVersion.objects.filter(pk=old.pk).update(feature_names=["fraud_score_30d", "astrology_sign"])
    with pytest.raises(ActivationRefused, match="cannot be served"):
        activate_model_version(version=old.version, actor="test")
    assert ModelVersion.objects.get(is_active=True).version == new.version
    with pytest.raises(CommandError, match="no model version"):
        call_command("models", "activate", "nope", stdout=StringIO())


def test_list_and_compare(two_versions):
    old, new = two_versions
    out = StringIO()
    call_command("models", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith(f"* {new.version}") and old.version in lines[2]
    out = StringIO()
    call_command("models", "compare", old.version, new.version, stdout=out)
    assert "card_precision_at_100" in out.getvalue()
    assert "features only in" in out.getvalue() and "merchant_fraud_share_30d" in out.getvalue()


def _user(django_user_model, name: str, role: str):
    user = django_user_model.objects.create_user(name, password="pw")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def test_registry_page_shows_versions_and_curve_and_only_admins_activate(two_versions, client, django_user_model):
    old, new = two_versions
    assert client.get("/models/").status_code == 302  # sign in first
    client.force_login(_user(django_user_model, "ana", "analyst"))
    page = client.get("/models/")
    html = page.content.decode()
    assert page.status_code == 200
    assert old.version in html and new.version in html
    assert "<svg" in html and "<polyline" in html
    assert "Activate" not in html  # no button for analysts
    assert client.post(f"/models/{old.version}/activate").status_code == 403
    assert ModelVersion.objects.get(is_active=True).version == new.version

    client.force_login(_user(django_user_model, "root", "admin"))
    assert "Activate" in client.get("/models/").content.decode()
    assert client.post(f"/models/{old.version}/activate").status_code == 302
    assert ModelVersion.objects.get(is_active=True).version == old.version
    assert AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED, actor="user:root").count() == 1
