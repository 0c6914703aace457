"""Every audited event type is produced by its real action, and no secret reaches any payload."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEvent, AuditEventType
from decisioning.clients import internal_client
from decisioning.contracts import TransactionIn, utcnow
from decisioning.execution.errors import ExecutionFailed
from decisioning.execution.gateway import DatabaseGateway
from decisioning.execution.layer import ExecutionLayer
from decisioning.ml.registry import activate_model_version
from decisioning.models import ApiClient
from decisioning.policy import StoredPolicyProvider, policy_activate
from decisioning.service import DecisionService, default_service
from review.models import ReviewCase

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"
WRONG_PASSWORD = "wrong-pw-9431"
TXN = {
    "request_id": "evt-1", "transaction_id": "t-evt-1", "customer_id": "cust-unknown", "amount": "120.00",
    "merchant_id": "m-1", "mcc": "5411", "timestamp": "2026-12-01T10:00:00Z",
}  # fmt: skip
#: Exercised by its own tests: purges need events older than the retention (tests/audit/test_purge.py).
PRODUCED_ELSEWHERE = {AuditEventType.AUDIT_PURGED}


def user(name: str, *roles: str) -> User:
    account = User.objects.create_user(name, password=PASSWORD)
    for role in roles:
        account.groups.add(Group.objects.get(name=role))
    return account


def post_json(api: APIClient, url: str, body: dict) -> object:
    return api.post(url, data=json.dumps(body), content_type="application/json")


def test_every_event_type_comes_from_its_real_action(feature_store, active_model):
    out = io.StringIO()
    call_command("create_api_client", "acquirer-evt", stdout=out)  # client.created
    token = out.getvalue().strip().splitlines()[-1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert post_json(api, "/api/v1/transactions", TXN).status_code == 200  # decision.executed, case.opened
    assert post_json(api, "/api/v1/transactions", TXN).json()["idempotent_replay"] is True  # decision.replayed
    assert post_json(api, "/api/v1/transactions", {**TXN, "amount": "1.00"}).status_code == 409  # conflict
    assert post_json(api, "/api/v1/lists/blocklist/entries", {"value": "cust-x"}).status_code == 201  # list

    class FailingRail(DatabaseGateway):
        def challenge(self, record):
            raise ConnectionError("rail down")

        authorise = decline = challenge

    failing = DecisionService(
        features=default_service().features, decision=default_service().decision,
        execution=ExecutionLayer(counters=feature_store, policy=StoredPolicyProvider(), gateway=FailingRail()),
    )  # fmt: skip
    feature_store.write_group("customer_risk", "cust-known", {
        "credit_score": 700, "fraud_score_30d": 0.0, "account_age_months": 40, "dispute_count_90d": 0,
        "velocity_1h": 0.0, "velocity_24h": 10.0, "international_ratio": 0.3,
    })  # fmt: skip
    txn = TransactionIn(
        request_id="evt-fail", transaction_id="t-fail", customer_id="cust-known", amount=Decimal("10.00"),
        timestamp=utcnow(),
    )  # fmt: skip
    with pytest.raises(ExecutionFailed):
        failing.process(txn, client=internal_client())  # execution.failed

    analyst = user("ana", "analyst")
    browser = Client()
    assert (
        browser.post("/accounts/login/", {"username": "ana", "password": WRONG_PASSWORD}).status_code == 200
    )  # failed
    assert browser.post("/accounts/login/", {"username": "ana", "password": PASSWORD}).status_code == 302  # ok
    case = ReviewCase.objects.get(request_id="evt-1")
    browser.post("/review/take-next")  # case.claimed
    browser.post(f"/review/cases/{case.pk}/release")  # case.released
    browser.post(f"/review/cases/{case.pk}/claim")
    browser.post(f"/review/cases/{case.pk}/notes", {"text": "Called the cardholder."})  # case.note_added
    browser.post(f"/review/cases/{case.pk}/resolve", {"resolution": "decline", "reason": "customer_denied"})
    case.refresh_from_db()
    assert (case.status, case.assignee) == ("resolved", analyst)  # case.resolved, feedback.recorded

    policy_activate(version="tighter-1", changes={"decline_threshold": 0.8}, actor="user:admin")  # policy.changed
    activate_model_version(version=active_model.version, actor="user:admin")  # model.activated

    nobody = Client()
    nobody.force_login(user("nobody"))
    assert nobody.get("/review/").status_code == 403  # auth.permission_denied
    compliance = Client()
    compliance.force_login(user("carla", "compliance"))
    export = compliance.get("/audit/export.csv")  # audit.export_made
    b"".join(export.streaming_content)
    call_command("create_api_client", "acquirer-evt", "--disable", stdout=io.StringIO())  # client.changed

    produced = set(AuditEvent.objects.values_list("event_type", flat=True))
    assert produced == {str(kind) for kind in AuditEventType} - {str(kind) for kind in PRODUCED_ELSEWHERE}

    everything = json.dumps([[e.actor, e.origin, e.outcome, e.payload] for e in AuditEvent.objects.all()])
    client = ApiClient.objects.get(name="acquirer-evt")
    for secret in (token, PASSWORD, WRONG_PASSWORD, client.callback_secret, client.token_hash):
        assert secret not in everything
    call_command("verify_audit_chain", stdout=io.StringIO(), stderr=io.StringIO())  # the chain is intact
