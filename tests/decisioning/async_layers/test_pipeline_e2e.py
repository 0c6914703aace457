"""End to end with a real Celery worker on a real Redis broker: submit → decided → signed callback."""

from __future__ import annotations

import pytest

from decisioning.clients import internal_client
from decisioning.contracts import TransactionIn
from decisioning.execution.outbox import signature_is_valid
from decisioning.models import DecisionRecord, OutboxMessage
from decisioning.service import default_service

from ..api.conftest import write_low_risk
from .conftest import wait_for
from .helpers import ONCE, effects, post, system_client, txn_body

pytestmark = [pytest.mark.slow]


def test_async_submit_is_decided_via_status_url_and_calls_back_signed(workers, receiver, active_model, feature_store):
    # Given a worker for all four queues and a client with a callback URL
    write_low_risk(feature_store, "cust-async")
    client, api = system_client("acquirer-async", callback_url=receiver.url)
    workers.start()
    body = txn_body("async-1", customer_id="cust-async")

    # When the transaction is submitted asynchronously
    accepted = post(api, "/api/v1/transactions/async", body)

    # Then it is accepted as pending with a status URL, and is decided by the worker
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["status"] == "pending"
    status_url = accepted.json()["status_url"]
    assert accepted["Location"] == status_url
    assert status_url.endswith("/api/v1/transactions/async/async-1")
    document = wait_for(
        lambda: (doc := api.get(status_url).json())["status"] == "decided" and doc, timeout=60, what="decided"
    )
    assert document["result"]["action"] == "approved"
    assert document["error"] is None
    # the sync read endpoint shows the same stored decision
    assert api.get("/api/v1/transactions/async-1").json()["audit_trail_id"] == document["result"]["audit_trail_id"]

    # And the callback arrives once, signed with the client's secret, with a stable idempotency key
    wait_for(lambda: receiver.requests, timeout=30, what="callback")
    wait_for(lambda: OutboxMessage.objects.filter(status="delivered").exists(), timeout=10, what="outbox row delivered")
    [callback] = receiver.requests
    assert signature_is_valid(callback.body, client.callback_secret, callback.headers["x-fde-signature"])
    assert not signature_is_valid(callback.body, "another-secret", callback.headers["x-fde-signature"])
    assert callback.headers["idempotency-key"] == f"callback:{client.pk}:async-1"
    assert callback.headers["x-fde-event"] == "callback"
    payload = callback.json()
    assert payload["event"] == "decision.completed"
    assert payload["result"]["audit_trail_id"] == document["result"]["audit_trail_id"]
    assert payload["result"]["action"] == "approved"
    assert effects("async-1") == {**ONCE, "callbacks": 1}

    # And a replay of the decided request returns the stored decision (200), not a second effect
    replay = post(api, "/api/v1/transactions/async", body)
    assert replay.status_code == 200
    assert replay.json()["result"]["idempotent_replay"] is True
    assert effects("async-1") == {**ONCE, "callbacks": 1}


def test_async_decision_matches_sync_decision_for_the_same_input(workers, active_model, feature_store):
    # Given two customers with identical online features (so neither path changes the other's inputs)
    write_low_risk(feature_store, "cust-twin-sync")
    write_low_risk(feature_store, "cust-twin-async")
    _, api = system_client("acquirer-twin")
    workers.start()
    shared = {"amount": "912.40", "mcc": "5732", "channel": "web", "device_known": False, "country": "US"}

    # When the same transaction goes through the sync service and through the async pipeline
    sync_txn = TransactionIn.from_dict(txn_body("twin-sync", customer_id="cust-twin-sync", **shared))
    sync = default_service().process(sync_txn, client=internal_client())
    assert (
        post(
            api, "/api/v1/transactions/async", txn_body("twin-async", customer_id="cust-twin-async", **shared)
        ).status_code
        == 202
    )
    wait_for(
        lambda: DecisionRecord.objects.filter(request_id="twin-async", status="decided").exists(),
        timeout=60, what="async decision",
    )  # fmt: skip

    # Then action, score, reasons, policy and model are the same
    asynchronous = DecisionRecord.objects.get(request_id="twin-async").execution
    assert (asynchronous["action"], asynchronous["decision"], asynchronous["fraud_score"]) == (
        sync.action.value, sync.decision.value, sync.fraud_score,
    )  # fmt: skip
    assert tuple(asynchronous["reason_codes"]) == sync.reason_codes
    assert (asynchronous["policy_applied"], asynchronous["model_version"]) == (sync.policy_applied, sync.model_version)


def test_pending_request_replays_202_conflicts_409_and_sync_endpoint_says_pending(broker_url, transactional_db):
    # Given a broker with no worker consuming (the request stays pending)
    _, api = system_client("acquirer-pending")
    body = txn_body("pending-1")

    # When it is submitted, then submitted again, then reused with another body
    first = post(api, "/api/v1/transactions/async", body)
    again = post(api, "/api/v1/transactions/async", body)
    other = post(api, "/api/v1/transactions/async", {**body, "amount": "99.99"})
    sync = post(api, "/api/v1/transactions", body)

    # Then: 202 twice with the same status URL, 409 conflict, and the sync endpoint says pending
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert sync.status_code == 409
    assert sync.json()["error"]["code"] == "request_pending"
    assert DecisionRecord.objects.filter(request_id="pending-1").count() == 1
    assert api.get("/api/v1/transactions/async/pending-1").json()["status"] == "pending"
    assert api.get("/api/v1/transactions/async/unknown").status_code == 404
