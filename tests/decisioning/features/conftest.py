"""Fixtures of the Feature layer tests: both store backends on the real services, a frozen clock."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings

from decisioning.contracts import TransactionIn
from decisioning.features.db_store import DatabaseFeatureStore
from decisioning.features.redis_store import RedisFeatureStore
from decisioning.features.store import FeatureStore

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
WARM_TTL = timedelta(hours=24)
#: Generous for ordinary tests so a busy machine does not turn them into "store slow" tests;
#: the down/slow tests use settings.FDE_FEATURE_STORE_TIMEOUT.
TEST_TIMEOUT = 1.0

CUSTOMER_RISK_VALUES = {
    "credit_score": 712.0,
    "fraud_score_30d": 0.02,
    "account_age_months": 48,
    "dispute_count_90d": 0,
    "velocity_1h": 120.5,
    "velocity_24h": 890.0,
    "international_ratio": 0.1,
}
SPEND_VALUES = {
    "avg_txn_amount_30d": 64.25,
    "std_txn_amount_30d": 31.5,
    "top_mcc": "5812",
    "unique_merchants_7d": 9,
    "weekend_spend_ratio": 0.4,
}


@dataclass
class FrozenClock:
    """A clock the test moves by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def make_redis_store(clock: FrozenClock, **kwargs: Any) -> RedisFeatureStore:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=TEST_TIMEOUT)
    return RedisFeatureStore(client, warm_ttl=WARM_TTL, clock=clock, **kwargs)


def make_db_store(clock: FrozenClock, **kwargs: Any) -> DatabaseFeatureStore:
    return DatabaseFeatureStore(timeout=TEST_TIMEOUT, warm_ttl=WARM_TTL, clock=clock, **kwargs)


STORE_FACTORIES: dict[str, Callable[..., FeatureStore]] = {"redis": make_redis_store, "database": make_db_store}


@pytest.fixture(params=sorted(STORE_FACTORIES))
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: every store test runs once per backend."""
    return str(request.param)


@pytest.fixture
def store(backend: str, clock: FrozenClock, db: None) -> FeatureStore:
    """A real store on the test Redis database or the test PostgreSQL database."""
    return STORE_FACTORIES[backend](clock)


def make_txn(**overrides: Any) -> TransactionIn:
    """A valid transaction; override any field."""
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "transaction_id": "txn-1",
        "customer_id": "cust-1",
        "amount": Decimal("250.00"),
        "timestamp": datetime(2025, 3, 14, 11, 59, tzinfo=UTC),
        "merchant_id": "merch-1",
        "mcc": "5411",
        "country": "US",
        "card_country": "US",
    }
    fields.update(overrides)
    return TransactionIn(**fields)


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """A real TCP server that accepts connections (kernel backlog) and never answers."""
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield server.getsockname()[:2]
    finally:
        server.close()


@pytest.fixture
def feature_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """Records of logger ``fde.features``; the ``fde`` logger is made to reach caplog's root handler."""
    monkeypatch.setattr(logging.getLogger("fde"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="fde.features")
    return caplog
