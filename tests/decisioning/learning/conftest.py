"""Fixtures of the feedback-loop tests: a system API client, transactions through the real service."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from decisioning.clients import api_client_create
from tests.decisioning.api.conftest import LOW_RISK


def txn_body(number: int, *, customer: str = "cust-loop", merchant: str = "m-loop", **overrides: Any) -> dict[str, Any]:
    body = {
        "request_id": f"req-loop-{number}",
        "transaction_id": f"txn-loop-{number}",
        "customer_id": customer,
        "amount": "40.00",
        "merchant_id": merchant,
        "mcc": "5411",
        "channel": "pos",
        "auth_method": "chip",
    }
    body.update(overrides)
    return body


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@pytest.fixture
def system_api(db: None) -> APIClient:
    _, token = api_client_create(name="chargeback-feed", actor="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def low_risk(active_model: object, feature_store: Any) -> str:
    now = datetime.now(UTC) - timedelta(minutes=1)
    for group, values in LOW_RISK.items():
        feature_store.write_group(group, "cust-loop", values, now)
    return "cust-loop"


@pytest.fixture
def decide(system_api: APIClient, django_capture_on_commit_callbacks: Any):
    """``decide(body)`` → the API's JSON answer; after-commit listeners (the pipeline) run."""

    def call(body: dict[str, Any]) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = system_api.post("/api/v1/transactions", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    return call


@pytest.fixture
def send_feedback(system_api: APIClient, django_capture_on_commit_callbacks: Any):
    """``send_feedback(body)`` → the response; after-commit work (features, stream) runs."""

    def call(body: dict[str, Any], client: APIClient | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or system_api).post(
                "/api/v1/feedback", data=json.dumps(body), content_type="application/json"
            )

    return call


def stored_features(request_id: str) -> dict[str, Any]:
    from decisioning.models import DecisionRecord

    return DecisionRecord.objects.get(request_id=request_id).feature_set["groups"]
