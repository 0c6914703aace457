"""Shared helpers of the async-layer tests: API clients, transactions, counts of effects."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.test import APIClient

from audit.models import AuditEvent, AuditEventType
from decisioning.clients import api_client_create
from decisioning.models import ApiClient, DecisionRecord, GatewayCall, OutboxMessage

from ..api.conftest import ORDINARY_TXN


def system_client(name: str, *, callback_url: str = "") -> tuple[ApiClient, APIClient]:
    client, token = api_client_create(name=name, callback_url=callback_url, actor="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client, api


def txn_body(request_id: str, **overrides: Any) -> dict[str, Any]:
    return {**ORDINARY_TXN, "request_id": request_id, "transaction_id": f"t-{request_id}", **overrides}


def post(api: APIClient, path: str, body: dict[str, Any]) -> Any:
    return api.post(path, data=json.dumps(body), content_type="application/json")


def effects(request_id: str) -> dict[str, int]:
    """How many times each side effect of one request happened."""
    return {
        "records": DecisionRecord.objects.filter(request_id=request_id).count(),
        "decided": DecisionRecord.objects.filter(request_id=request_id, status="decided").count(),
        "gateway_calls": GatewayCall.objects.filter(decision__request_id=request_id).count(),
        "executed_events": AuditEvent.objects.filter(
            request_id=request_id, event_type=AuditEventType.DECISION_EXECUTED
        ).count(),
        "callbacks": OutboxMessage.objects.filter(decision__request_id=request_id, kind="callback").count(),
    }


ONCE = {"records": 1, "decided": 1, "gateway_calls": 1, "executed_events": 1}


def is_decided(request_id: str) -> bool:
    return DecisionRecord.objects.filter(request_id=request_id, status="decided").exists()


def pending_record(client: ApiClient, request_id: str) -> DecisionRecord:
    """A record accepted as pending whose pipeline was never enqueued (what a lost message leaves)."""
    from decisioning.contracts import TransactionIn
    from decisioning.models import AsyncRequest

    txn = TransactionIn.from_dict(txn_body(request_id))
    record = DecisionRecord.objects.create(
        client=client, request_id=request_id, request_hash=f"hash-{request_id}", transaction_id=txn.transaction_id,
        customer_id=txn.customer_id, merchant_id=txn.merchant_id, amount=txn.amount, currency=txn.currency,
        event_time=txn.timestamp, transaction=txn.to_dict(),
    )  # fmt: skip
    AsyncRequest.objects.create(record=record, callback_url=client.callback_url)
    return record
