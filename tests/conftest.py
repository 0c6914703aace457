"""Test setup: the suite runs against real PostgreSQL and Redis, never a silent skip."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_HINT = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def _check_services() -> list[str]:
    import psycopg
    import redis
    from django.conf import settings

    problems = []
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        problems.append(f"DATABASE_URL must point at PostgreSQL for the tests (got {db['ENGINE']})")
    else:
        try:
            psycopg.connect(
                host=db["HOST"],
                port=db["PORT"] or 5432,
                user=db["USER"],
                password=db["PASSWORD"] or None,
                dbname="postgres",
                connect_timeout=3,
            ).close()
        except psycopg.Error as exc:
            problems.append(f"PostgreSQL unreachable at {db['HOST']}:{db['PORT']} ({exc}). Start it: {PG_HINT}")
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis unreachable at {settings.REDIS_URL} ({exc}). Start it: {REDIS_HINT}")
    return problems


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("FDE_SKIP_SERVICE_CHECK") == "1":
        return
    problems = _check_services()
    if problems:
        pytest.exit("Test services missing:\n  " + "\n  ".join(problems), returncode=3)


@pytest.fixture
def redis_client() -> Iterator[object]:
    """The test Redis database, emptied before and after each test that uses it."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def _clean_redis_between_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with an empty test Redis database (one Redis db number per test run)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()


@pytest.fixture(autouse=True)
def _fresh_default_service() -> Iterator[None]:
    """The process-wide wired service caches the model and policy; rebuild it per test."""
    from decisioning.service import reset_default_service

    reset_default_service()
    yield
    reset_default_service()


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One small real model trained on simulated history for the whole session."""
    from decisioning.ml.simulator import SimulationConfig
    from decisioning.ml.training import TrainingConfig, save_artifact, train_model

    trained = train_model(TrainingConfig(simulation=SimulationConfig(customers=800, days=60), n_estimators=80))
    path, sha256 = save_artifact(trained, tmp_path_factory.mktemp("models"))
    return {"trained": trained, "path": path, "sha256": sha256}


@pytest.fixture
def active_model(trained_artifact: dict[str, object]) -> object:
    """Register the session's model as the active one (needs database access)."""
    from decisioning.decision.vector import FEATURE_NAMES
    from decisioning.models import ModelVersion

    trained = trained_artifact["trained"]
    return ModelVersion.objects.create(
        version=trained.version,  # type: ignore[attr-defined]
        artifact_path=str(trained_artifact["path"]),
        sha256=trained_artifact["sha256"],
        feature_names=list(FEATURE_NAMES),
        metrics=trained.metrics,  # type: ignore[attr-defined]
        metadata=trained.metadata,  # type: ignore[attr-defined]
        is_active=True,
    )


@pytest.fixture
def feature_store() -> object:
    """The online store the service uses (Redis in the tests)."""
    from decisioning.features.store import build_store

    return build_store()
