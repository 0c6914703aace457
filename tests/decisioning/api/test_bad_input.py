"""Bad input gets a clear JSON error with the right status, a named field, and writes nothing."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from decisioning.models import DecisionRecord, GatewayCall
from review.models import ReviewCase

from .conftest import ORDINARY_TXN

pytestmark = pytest.mark.django_db


def without(field):
    return {k: v for k, v in ORDINARY_TXN.items() if k != field}


BAD_BODIES = [
    ("missing request_id", without("request_id"), "request_id"),
    ("missing customer_id", without("customer_id"), "customer_id"),
    ("missing amount", without("amount"), "amount"),
    ("negative amount", {**ORDINARY_TXN, "amount": "-5.00"}, "amount"),
    ("zero amount", {**ORDINARY_TXN, "amount": 0}, "amount"),
    ("huge amount", {**ORDINARY_TXN, "amount": "1e30"}, "amount"),
    ("NaN amount", {**ORDINARY_TXN, "amount": "NaN"}, "amount"),
    ("Infinity amount", {**ORDINARY_TXN, "amount": "Infinity"}, "amount"),
    ("three decimals", {**ORDINARY_TXN, "amount": "1.005"}, "amount"),
    ("amount as object", {**ORDINARY_TXN, "amount": {"v": 1}}, "amount"),
    ("amount as bool", {**ORDINARY_TXN, "amount": True}, "amount"),
    ("lowercase currency", {**ORDINARY_TXN, "currency": "usd"}, "currency"),
    ("bad country", {**ORDINARY_TXN, "country": "USA"}, "country"),
    ("bad channel", {**ORDINARY_TXN, "channel": "fax"}, "channel"),
    ("bad mcc", {**ORDINARY_TXN, "mcc": "54"}, "mcc"),
    ("device_known not bool", {**ORDINARY_TXN, "device_known": "maybe"}, "device_known"),
    ("bad auth method", {**ORDINARY_TXN, "auth_method": "telepathy"}, "auth_method"),
    ("bad timestamp", {**ORDINARY_TXN, "timestamp": "yesterday"}, "timestamp"),
    ("naive timestamp", {**ORDINARY_TXN, "timestamp": "2026-12-01T10:00:00"}, "timestamp"),
    ("request_id with spaces", {**ORDINARY_TXN, "request_id": "a b"}, "request_id"),
    ("request_id too long", {**ORDINARY_TXN, "request_id": "r" * 129}, "request_id"),
    ("customer_id as number", {**ORDINARY_TXN, "customer_id": 12}, "customer_id"),
]


def written():
    return (DecisionRecord.objects.count(), GatewayCall.objects.count(), ReviewCase.objects.count())


@pytest.mark.parametrize(("label", "body", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_body_is_400_naming_the_field_and_writes_nothing(system_api, label, body, field):
    audit_before = AuditEvent.objects.count()
    response = system_api.post("/api/v1/transactions", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, (label, response.content)
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["fields"], error
    assert written() == (0, 0, 0)
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("[1, 2]", "application/json", 400, "invalid_request"),
        ('"a string"', "application/json", 400, "invalid_request"),
        ("request_id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("<xml/>", "text/xml", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(system_api, payload, content_type, status, code):
    response = system_api.post("/api/v1/transactions", data=payload, content_type=content_type)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert written() == (0, 0, 0)


def test_oversized_body_is_413(system_api, settings):
    body = {**ORDINARY_TXN, "padding": "x" * (settings.FDE_MAX_BODY_BYTES + 1)}
    response = system_api.post("/api/v1/transactions", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert written() == (0, 0, 0)


def test_missing_token_is_401(client):
    response = client.post("/api/v1/transactions", data=json.dumps(ORDINARY_TXN), content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_bad_token_is_401(client):
    response = client.post(
        "/api/v1/transactions", data=json.dumps(ORDINARY_TXN), content_type="application/json",
        HTTP_AUTHORIZATION="Bearer fde_not-a-real-token",
    )  # fmt: skip
    assert response.status_code == 401
    assert written() == (0, 0, 0)


def test_disabled_client_is_401(system_api):
    from decisioning.clients import api_client_set_active

    api_client_set_active(name="acquirer-test", is_active=False, actor="test")
    response = system_api.post("/api/v1/transactions", data=json.dumps(ORDINARY_TXN), content_type="application/json")
    assert response.status_code == 401
    assert "disabled" in response.json()["error"]["message"]


def test_reader_client_may_not_decide(reader_api):
    response = reader_api.post("/api/v1/transactions", data=json.dumps(ORDINARY_TXN), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_wrong_method_is_405(system_api):
    response = system_api.delete("/api/v1/transactions")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_unknown_endpoint_is_json_404(system_api):
    response = system_api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_throttled_client_gets_429_with_retry_after(system_api, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings

    from decisioning.api.throttling import ClientRateThrottle

    cache.clear()
    original = ClientRateThrottle.THROTTLE_RATES
    ClientRateThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "client": "2/min"}
    try:
        statuses = [system_api.get("/api/v1/transactions/x").status_code for _ in range(3)]
        response = system_api.get("/api/v1/transactions/x")
    finally:
        ClientRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert statuses == [404, 404, 429]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
