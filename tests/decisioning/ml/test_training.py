import joblib
import pytest

from decisioning.decision.vector import FEATURE_NAMES
from decisioning.ml.training import sha256_of


def test_metrics_and_metadata(trained):
    metrics, metadata = trained.metrics, trained.metadata
    assert metrics["roc_auc"] > 0.9
    assert 0.0 < metrics["average_precision"] <= 1.0
    assert list(metrics["at_thresholds"]) == ["0.40", "0.60", "0.85"]
    assert 2 <= len(metrics["pr_curve"]) <= 50
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert metadata["training_window"]["end"] == metadata["holdout_window"]["start"] == "2025-02-15T00:00:00+00:00"
    assert metadata["label_counts"]["holdout"]["fraud"] == metrics["holdout_frauds"]


def test_artifact_checksum_and_content(trained, artifact):
    path, sha256 = artifact
    assert sha256 == sha256_of(path)
    payload = joblib.load(path)
    assert payload["version"] == trained.version
    assert payload["feature_names"] == list(FEATURE_NAMES)


@pytest.mark.django_db
def test_register_activates_one_model_at_a_time(registered, trained, artifact):
    from decisioning.ml.registry import activate_model_version, register_model
    from decisioning.models import ModelVersion

    path, sha256 = artifact
    second = register_model(
        version="second-1", artifact_path=path, sha256=sha256, metadata={}, metrics={}, activate=False
    )
    assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == [trained.version]
    activate_model_version(version=second.version)
    assert list(ModelVersion.objects.filter(is_active=True).values_list("version", flat=True)) == ["second-1"]


@pytest.mark.django_db
def test_train_model_command(tmp_path, settings):
    from django.core.management import call_command

    from decisioning.models import ModelVersion

    settings.FDE_MODEL_DIR = tmp_path
    from io import StringIO

    out = StringIO()
    call_command("train_model", "--customers", "400", "--days", "40", "--trees", "20", "--no-activate", stdout=out)
    record = ModelVersion.objects.get()
    assert record.is_active is False
    assert (tmp_path / f"{record.version}.joblib").is_file()
    assert f"model {record.version}" in out.getvalue()
    assert "held-out ROC AUC" in out.getvalue()
