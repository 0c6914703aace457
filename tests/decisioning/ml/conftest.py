import pytest

from decisioning.ml.simulator import SimulationConfig
from decisioning.ml.training import TrainingConfig, save_artifact, train_model

SMALL = TrainingConfig(simulation=SimulationConfig(seed=11, customers=600, days=60), n_estimators=60)


@pytest.fixture(scope="session")
def trained():
    """A small real model, trained once for the whole session."""
    return train_model(SMALL)


@pytest.fixture(scope="session")
def artifact(trained, tmp_path_factory):
    return save_artifact(trained, tmp_path_factory.mktemp("models"))


@pytest.fixture
def registered(trained, artifact, db, settings, tmp_path):
    from decisioning.ml.registry import register_model

    settings.FDE_MODEL_DIR = tmp_path
    path, sha256 = artifact
    return register_model(
        version=trained.version,
        artifact_path=path,
        sha256=sha256,
        metadata=trained.metadata,
        metrics=trained.metrics,
        activate=True,
    )
