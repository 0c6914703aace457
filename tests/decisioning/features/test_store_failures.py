"""A store that is down or slow: a miss for that read, logged, degraded — never raised, never zeros.

"Down" is a real Redis client pointed at a closed local port; "slow" is a real TCP server that
accepts and never answers (Redis) or a table locked by another real connection (PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from pytest_django.fixtures import Settings

from decisioning.contracts import FallbackTier, FeatureFreshness, FeatureGroup, FeatureSet
from decisioning.features.db_store import DatabaseFeatureStore
from decisioning.features.layer import FeatureLayer
from decisioning.features.redis_store import RedisFeatureStore, redis_client
from decisioning.features.store import FeatureStore, GroupKey, StoreUnavailable, build_store
from decisioning.models import OnlineFeature

from .conftest import CUSTOMER_RISK_VALUES, NOW, WARM_TTL, FrozenClock, make_txn

pytestmark = pytest.mark.django_db

TIMEOUT = settings.FDE_FEATURE_STORE_TIMEOUT


@pytest.fixture
def down_store(clock: FrozenClock) -> RedisFeatureStore:
    """Redis at a closed port: every call is refused at connect."""
    return RedisFeatureStore(redis_client("redis://127.0.0.1:1/0", TIMEOUT), warm_ttl=WARM_TTL, clock=clock)


@pytest.fixture
def slow_store(clock: FrozenClock, silent_server: tuple[str, int]) -> RedisFeatureStore:
    """Redis that connects and then never answers: every call hits the socket timeout."""
    host, port = silent_server
    return RedisFeatureStore(redis_client(f"redis://{host}:{port}/0", TIMEOUT), warm_ttl=WARM_TTL, clock=clock)


@pytest.fixture
def locked_db_store(clock: FrozenClock) -> Iterator[DatabaseFeatureStore]:
    """The database backend while another real connection holds an exclusive lock on its table."""
    db = connection.settings_dict
    locker = psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    )
    locker.execute(f"LOCK TABLE {OnlineFeature._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    try:
        yield DatabaseFeatureStore(timeout=TIMEOUT, warm_ttl=WARM_TTL, clock=clock)
    finally:
        locker.rollback()
        locker.close()


def assert_degraded_without_customer_risk(feature_set: FeatureSet, store_name: str) -> None:
    """The common outcome of a failed read: MISSING (not zeros), approximated spend, degraded."""
    assert feature_set.degraded is True
    assert feature_set.is_complete is False
    assert feature_set.groups["customer_risk"] == FeatureGroup.missing(
        "customer_risk", source=store_name, is_critical=True
    )
    assert feature_set.get("customer_risk", "credit_score") is None
    spend = feature_set.groups["spend_behaviour"]
    assert (spend.fallback_tier, spend.freshness) == (FallbackTier.APPROXIMATED, FeatureFreshness.SYNTHETIC)
    assert feature_set.groups["transaction_context"].values["amount"] == 250.0
    assert feature_set.warnings[0].startswith(f"feature store {store_name} unavailable, stored groups not read:")
    assert feature_set.warnings[-1] == "feature set incomplete: critical group(s) missing: customer_risk"


EXPECTED_CAUSE = {
    "down_store": "ConnectionError",
    "slow_store": "TimeoutError",
    "locked_db_store": "canceling statement due to statement timeout",
}


@pytest.mark.parametrize("failing", sorted(EXPECTED_CAUSE))
def test_failing_store_degrades_the_set_and_never_raises(
    failing: str, request: pytest.FixtureRequest, clock: FrozenClock, feature_logs: pytest.LogCaptureFixture
) -> None:
    # Given a store that is down or slower than its timeout
    store: FeatureStore = request.getfixturevalue(failing)
    layer = FeatureLayer(store, clock)
    # When a set is built
    feature_set = layer.build(make_txn())
    # Then it is degraded, customer_risk is MISSING rather than zeros, and the failure is logged
    assert_degraded_without_customer_risk(feature_set, store.name)
    assert EXPECTED_CAUSE[failing] in feature_set.warnings[0]
    warnings = [r for r in feature_logs.records if r.levelno == logging.WARNING and r.name == "fde.features"]
    assert len(warnings) == 1
    assert warnings[0].getMessage().startswith(f"feature store unavailable request_id=req-1 store={store.name}")


def test_a_failed_database_read_leaves_the_callers_transaction_usable(
    locked_db_store: DatabaseFeatureStore, clock: FrozenClock
) -> None:
    # Given a read cancelled by the statement timeout inside the test's transaction
    FeatureLayer(locked_db_store, clock).build(make_txn())
    # Then the connection still works, with the statement timeout put back
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("0",)


@pytest.mark.parametrize("failing", ["down_store", "slow_store"])
def test_failing_redis_store_operations(failing: str, request: pytest.FixtureRequest) -> None:
    store: RedisFeatureStore = request.getfixturevalue(failing)
    # Reads, writes and counters raise the one documented error
    with pytest.raises(StoreUnavailable, match=r"^redis read failed"):
        store.read_groups([GroupKey("customer_risk", "cust-1")])
    with pytest.raises(StoreUnavailable, match=r"^redis write failed"):
        store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    with pytest.raises(StoreUnavailable):
        store.counter_add("declines:cust-1", "req-1", NOW)
    with pytest.raises(StoreUnavailable):
        store.counter_count("declines:cust-1", NOW - timedelta(minutes=10), NOW)
    # The list cache reads as "not cached", fills are best effort, invalidation must be heard
    assert store.list_cache_get("blocklist", "cust-1") is None
    store.list_cache_set("blocklist", "cust-1", True, ttl=60)
    with pytest.raises(StoreUnavailable):
        store.list_cache_invalidate("blocklist", "cust-1")


class ExplodingStore:
    """A backend with a bug: raises something other than StoreUnavailable."""

    name = "exploding"

    def read_groups(self, keys: object) -> object:
        raise RuntimeError("bug in a backend")


def test_unexpected_backend_error_also_degrades(clock: FrozenClock) -> None:
    feature_set = FeatureLayer(ExplodingStore(), clock).build(make_txn())  # type: ignore[arg-type]
    assert_degraded_without_customer_risk(feature_set, "exploding")
    assert "RuntimeError: bug in a backend" in feature_set.warnings[0]


def test_build_store_picks_redis_when_redis_url_is_set(settings: Settings) -> None:
    # Given REDIS_URL set
    first, second = build_store(), build_store()
    # Then both stores share one lazily created client (and so one connection pool)
    assert isinstance(first, RedisFeatureStore)
    assert isinstance(second, RedisFeatureStore)
    assert first.client is second.client
    assert first.warm_ttl == timedelta(seconds=settings.FDE_WARM_COPY_TTL)


def test_build_store_falls_back_to_the_database_without_redis_url(settings: Settings) -> None:
    settings.REDIS_URL = ""
    store = build_store()
    assert isinstance(store, DatabaseFeatureStore)
    assert store.timeout == TIMEOUT
