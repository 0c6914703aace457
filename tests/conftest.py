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
                host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None,
                dbname="postgres", connect_timeout=3,
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
    """Every test starts with an empty test Redis database (db 14 by default)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()
