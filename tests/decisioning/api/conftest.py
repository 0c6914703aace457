"""Fixtures for the systems API tests: clients with tokens, a low-risk customer, a live server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from decisioning.clients import api_client_create

ORDINARY_TXN = {
    "request_id": "req-ordinary-1",
    "transaction_id": "txn-ordinary-1",
    "customer_id": "cust-low",
    "amount": "42.50",
    "currency": "USD",
    "merchant_id": "m-grocer",
    "mcc": "5411",
    "country": "US",
    "channel": "pos",
    "device_known": True,
    "ip_matches_billing": True,
    "auth_method": "chip",
    "timestamp": "2026-12-01T14:05:00Z",
}

LOW_RISK = {
    "customer_risk": {
        "credit_score": 780,
        "fraud_score_30d": 0.0,
        "account_age_months": 72,
        "dispute_count_90d": 0,
        "velocity_1h": 0.0,
        "velocity_24h": 60.0,
        "international_ratio": 0.15,
    },
    "spend_behaviour": {
        "avg_txn_amount_30d": 45.0,
        "std_txn_amount_30d": 20.0,
        "top_mcc": "5411",
        "unique_merchants_7d": 4,
        "weekend_spend_ratio": 0.3,
    },
}


def post_json(client: APIClient, url: str, body: object):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _api(name: str, role: str = "system") -> APIClient:
    _, token = api_client_create(name=name, role=role, actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.token = token  # type: ignore[attr-defined]
    return client


@pytest.fixture
def system_api(db) -> APIClient:
    return _api("acquirer-test")


@pytest.fixture
def other_system_api(db) -> APIClient:
    return _api("acquirer-other")


@pytest.fixture
def reader_api(db) -> APIClient:
    return _api("reader-test", role="reader")


def write_low_risk(store, customer_id: str = "cust-low") -> None:
    now = datetime.now(UTC)
    for group, values in LOW_RISK.items():
        store.write_group(group, customer_id, values, now)


@pytest.fixture
def low_risk_customer(db, active_model, feature_store) -> str:
    write_low_risk(feature_store)
    return "cust-low"


@pytest.fixture
def low_risk_customer_committed(transactional_db, active_model, feature_store) -> str:
    write_low_risk(feature_store)
    return "cust-low"


@pytest.fixture
def live_api_factory(live_server, transactional_db):
    """Returns ``call(method, path, body)`` against the live server with a fresh system token."""
    _, token = api_client_create(name="acquirer-live", actor="test")

    def call(method: str, path: str, body: object | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            live_server.url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        for attempt in range(10):  # a payment system retries a refused connection
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError(f"{method} {path}: connection refused 10 times")

    return lambda: call
