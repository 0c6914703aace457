"""POST/GET /api/v1/transactions against real PostgreSQL and Redis."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from audit.models import AuditEvent
from decisioning.models import DecisionRecord, GatewayCall, ListEntry
from review.models import ReviewCase

from .conftest import ORDINARY_TXN, post_json

pytestmark = pytest.mark.django_db


def counts():
    return (
        DecisionRecord.objects.count(),
        GatewayCall.objects.count(),
        ReviewCase.objects.count(),
        AuditEvent.objects.count(),
        ListEntry.objects.count(),
    )


class TestDecide:
    def test_ordinary_purchase_of_low_risk_customer_is_approved(self, system_api, low_risk_customer):
        response = post_json(system_api, "/api/v1/transactions", ORDINARY_TXN)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["decision"] == "approve"
        assert body["action"] == "approved"
        assert body["fraud_score"] < 0.40
        assert body["reason_codes"] == ["WITHIN_NORMAL_PARAMETERS"]
        assert body["is_model_driven"] is True
        assert body["idempotent_replay"] is False
        assert body["degraded"] is False
        assert body["reference_id"].startswith("auth_")
        assert body["audit_trail_id"].startswith("aud_")
        assert body["explanation_url"].endswith("/api/v1/explain/req-ordinary-1")
        assert GatewayCall.objects.get().reference_id == body["reference_id"]

    def test_stored_result_is_returned_by_get(self, system_api, low_risk_customer):
        decided = post_json(system_api, "/api/v1/transactions", ORDINARY_TXN).json()
        response = system_api.get("/api/v1/transactions/req-ordinary-1")
        assert response.status_code == 200
        assert response.json() == decided

    def test_get_unknown_request_is_404_json(self, system_api):
        response = system_api.get("/api/v1/transactions/nope")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_unknown_fields_are_ignored(self, system_api, low_risk_customer):
        response = post_json(system_api, "/api/v1/transactions", {**ORDINARY_TXN, "loyalty_tier": "gold"})
        assert response.status_code == 200

    def test_velocity_over_limit_declines_by_hard_rule(self, system_api, feature_store):
        feature_store.write_group("customer_risk", "cust-fast", {**_risk(), "velocity_1h": 15000.0})
        body = post_json(system_api, "/api/v1/transactions", {**ORDINARY_TXN, "customer_id": "cust-fast"}).json()
        assert (body["decision"], body["reason_codes"], body["is_model_driven"]) == (
            "decline", ["VELOCITY_EXCEEDED"], False,
        )  # fmt: skip
        assert body["fraud_score"] == 0.95

    def test_unknown_customer_goes_to_review_with_insufficient_features(self, system_api):
        body = post_json(system_api, "/api/v1/transactions", {**ORDINARY_TXN, "customer_id": "cust-new"}).json()
        assert body["decision"] == "review"
        assert body["action"] == "queued_for_review"
        assert body["reason_codes"] == ["INSUFFICIENT_FEATURES"]
        assert ReviewCase.objects.get().request_id == "req-ordinary-1"


class TestIdempotency:
    def test_replay_returns_stored_response_and_executes_once(self, system_api, low_risk_customer):
        first = post_json(system_api, "/api/v1/transactions", ORDINARY_TXN).json()
        second = post_json(system_api, "/api/v1/transactions", ORDINARY_TXN).json()
        assert second["idempotent_replay"] is True
        assert {**second, "idempotent_replay": False} == first
        assert DecisionRecord.objects.count() == 1
        assert GatewayCall.objects.count() == 1

    def test_same_request_id_with_other_body_is_409_and_changes_nothing(self, system_api, low_risk_customer):
        post_json(system_api, "/api/v1/transactions", ORDINARY_TXN)
        before = counts()
        response = post_json(system_api, "/api/v1/transactions", {**ORDINARY_TXN, "amount": "99.99"})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "idempotency_conflict"
        after = counts()
        assert after[:3] == before[:3]  # no decision, gateway call or case
        assert AuditEvent.objects.last().event_type == "decision.conflict_refused"

    def test_keys_are_scoped_per_client(self, system_api, other_system_api, low_risk_customer):
        post_json(system_api, "/api/v1/transactions", ORDINARY_TXN)
        response = post_json(other_system_api, "/api/v1/transactions", {**ORDINARY_TXN, "amount": "10.00"})
        assert response.status_code == 200
        assert response.json()["idempotent_replay"] is False
        assert DecisionRecord.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_duplicates_execute_once(live_api_factory, low_risk_customer_committed):
    """50 threads send the same request at once over real HTTP; one execution, 49 replays."""
    call = live_api_factory()
    barrier = threading.Barrier(50)

    def send(_: int) -> dict:
        barrier.wait(timeout=30)
        status, body = call("POST", "/api/v1/transactions", ORDINARY_TXN)
        assert status == 200, body
        return body

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(send, range(50)))
    connection.close()
    assert DecisionRecord.objects.count() == 1
    assert GatewayCall.objects.count() == 1
    assert sum(1 for r in results if not r["idempotent_replay"]) == 1
    assert len({r["audit_trail_id"] for r in results}) == 1
    assert len({r["reference_id"] for r in results}) == 1


def _risk():
    return {
        "credit_score": 760,
        "fraud_score_30d": 0.0,
        "account_age_months": 60,
        "dispute_count_90d": 0,
        "velocity_1h": 0.0,
        "velocity_24h": 80.0,
        "international_ratio": 0.2,
    }


def test_request_body_is_json_only(system_api):
    response = system_api.post("/api/v1/transactions", data="a=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_error_body_shape(system_api):
    response = system_api.post("/api/v1/transactions", data=json.dumps({}), content_type="application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
