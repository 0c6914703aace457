"""Without a broker (the embedded default) tasks run eagerly; bad contracts are refused loudly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from decisioning.contracts import ContractError
from decisioning.execution.outbox import signature_is_valid
from decisioning.execution.pipeline import pipeline_message
from decisioning.models import DecisionRecord, OutboxMessage
from decisioning.tasks import TRANSIENT_ERRORS, build_features_task, execute_task
from fde_site.celery import app

from ..api.conftest import write_low_risk
from .helpers import ONCE, effects, pending_record, post, system_client, txn_body


@pytest.fixture(autouse=True)
def _eager() -> None:
    assert app.conf.task_always_eager, "the test settings have no broker: tasks are eager"


def test_embedded_default_decides_inline_and_delivers_the_callback_after_commit(
    transactional_db, receiver, active_model, feature_store
):
    # Given no broker and a client with a callback URL
    write_low_risk(feature_store)
    client, api = system_client("acquirer-embedded", callback_url=receiver.url)

    # When a transaction is submitted asynchronously
    response = post(api, "/api/v1/transactions/async", txn_body("eager-1"))

    # Then it was decided in-process after commit (200, decided) and the callback was delivered inline
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "decided"
    assert response.json()["result"]["action"] == "approved"
    [callback] = receiver.requests
    assert signature_is_valid(callback.body, client.callback_secret, callback.headers["x-fde-signature"])
    assert effects("eager-1") == {**ONCE, "callbacks": 1}


@override_settings(FDE_OUTBOX_BACKOFF_SECONDS=0.0)
def test_embedded_default_failed_callback_waits_for_the_drain_outbox_command(
    transactional_db, receiver, active_model, feature_store
):
    # Given a receiver that is down at first
    write_low_risk(feature_store)
    receiver.status_code = 503
    _, api = system_client("acquirer-embedded-down", callback_url=receiver.url)
    assert post(api, "/api/v1/transactions/async", txn_body("eager-2")).status_code == 200
    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)

    # When it recovers and the drain_outbox command runs
    receiver.status_code = 200
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    call_command("drain_outbox")

    # Then the same body is delivered, with the same idempotency key
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert receiver.requests[0].headers["idempotency-key"] == receiver.requests[1].headers["idempotency-key"]


def test_unknown_schema_version_is_refused_without_retry_and_marks_the_record_failed(transactional_db):
    # Given a pending record and a message written by a producer with schema 2.x
    client, api = system_client("acquirer-schema")
    record = pending_record(client, "schema-1")
    message = pipeline_message(record)
    message["transaction"] = {**message["transaction"], "schema_version": "2.0"}

    # When the Feature-layer task receives it
    with pytest.raises(ContractError, match="unsupported schema_version"):
        build_features_task.apply(args=[message], throw=True)

    # Then the task fails at once (ContractError is not a retried error), and the record is failed
    assert not issubclass(ContractError, TRANSIENT_ERRORS)
    record.refresh_from_db()
    assert record.status == DecisionRecord.Status.FAILED
    document = api.get("/api/v1/transactions/async/schema-1").json()
    assert document["status"] == "failed"
    assert "unsupported schema_version '2.0'" in document["error"]
    assert effects("schema-1")["gateway_calls"] == 0


def test_execution_message_without_contracts_is_refused(transactional_db):
    with pytest.raises(ContractError, match="missing contracts"):
        execute_task.apply(args=[{"schema_version": "1.0", "record_id": 999}], throw=True)


def test_payment_gateway_http_adapter_delivers_signed_authorisation(
    transactional_db, receiver, active_model, feature_store, settings
):
    # Given the HTTP gateway adapter configured (FDE_PAYMENT_GATEWAY_URL)
    settings.FDE_PAYMENT_GATEWAY_URL = receiver.url
    settings.FDE_PAYMENT_GATEWAY_SECRET = "gateway-secret"
    write_low_risk(feature_store)
    _, api = system_client("acquirer-gateway")

    # When a transaction is approved synchronously
    response = post(api, "/api/v1/transactions", txn_body("gw-1"))

    # Then the authorisation was written to the outbox in the decision's transaction and POSTed after commit
    assert response.status_code == 200
    reference = response.json()["reference_id"]
    [call] = receiver.requests
    assert call.json()["operation"] == "authorise"
    assert call.json()["reference_id"] == reference
    assert call.headers["idempotency-key"] == f"gateway:{reference}"
    assert signature_is_valid(call.body, "gateway-secret", call.headers["x-fde-signature"])
    assert OutboxMessage.objects.get().status == "delivered"
