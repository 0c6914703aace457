"""The asynchronous pipeline: accept a transaction, then Feature → Decision → Execution on Celery.

Services used by ``POST /api/v1/transactions/async`` and by the thin tasks in
``decisioning.tasks``. Each step calls the same code as the synchronous path
(``default_service().build_features`` / ``.decide`` / ``.execution.execute``), so an async
decision equals the sync decision for the same input.

Messages between steps are JSON envelopes ``{"schema_version", "record_id", ...contracts}``;
every contract is rebuilt with ``from_dict`` on arrival. A payload written under another major
schema version (or otherwise invalid) raises :class:`ContractError`: the task fails without
retry, the error is logged, and the record is marked **failed** with the message in
``AsyncRequest.error`` (shown by the status URL) — it is never guessed at or silently re-run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from decisioning.contracts import (
    SCHEMA_VERSION,
    ContractError,
    DecisionResult,
    ExecutionResult,
    FeatureSet,
    TransactionIn,
    check_schema_version,
)
from decisioning.models import ApiClient, AsyncRequest, DecisionRecord

from .errors import IdempotencyConflict
from .layer import RecordPending

logger = logging.getLogger("fde.pipeline")

#: After this many enqueues without a decision the drainer gives up and marks the record failed.
MAX_PIPELINE_ENQUEUES = 10

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Submission:
    """What ``async_submit`` did: a new or still-pending request, or a stored decision."""

    record: DecisionRecord
    is_new: bool
    result: ExecutionResult | None = None  #: the stored result when the request was already decided


# --------------------------------------------------------------------------- accepting


def async_submit(*, client: ApiClient, txn: TransactionIn, request_hash: str) -> Submission:
    """Record the transaction as pending and enqueue its pipeline after commit.

    Same idempotency as the synchronous path: a retry returns the pending record (or the stored
    decision); the same request id with another body raises ``IdempotencyConflict`` (audited).
    """
    from decisioning.service import default_service

    execution = default_service().execution
    try:
        stored = execution.stored_result(client=client, request_id=txn.request_id, request_hash=request_hash)
    except RecordPending as pending:
        return Submission(record=pending.record, is_new=False)
    if stored is not None:
        record = DecisionRecord.objects.get(client=client, request_id=txn.request_id)
        return Submission(record=record, is_new=False, result=stored)
    try:
        with transaction.atomic():
            record = _create_pending(client, txn, request_hash)
    except IntegrityError:  # a concurrent duplicate won the insert: answer as a retry would be answered
        return async_submit(client=client, txn=txn, request_hash=request_hash)
    return Submission(record=record, is_new=True)


def _create_pending(client: ApiClient, txn: TransactionIn, request_hash: str) -> DecisionRecord:
    record = DecisionRecord.objects.create(
        client=client,
        request_id=txn.request_id,
        request_hash=request_hash,
        status=DecisionRecord.Status.PENDING,
        transaction_id=txn.transaction_id,
        customer_id=txn.customer_id,
        merchant_id=txn.merchant_id,
        amount=txn.amount,
        currency=txn.currency,
        event_time=txn.timestamp,
        transaction=txn.to_dict(),
    )
    AsyncRequest.objects.create(record=record, callback_url=client.callback_url)
    transaction.on_commit(partial(pipeline_enqueue, record.pk))
    return record


def pipeline_message(record: DecisionRecord) -> JsonDict:
    """The first envelope of the chain: the record id and the transaction contract."""
    return {"schema_version": SCHEMA_VERSION, "record_id": record.pk, "transaction": record.transaction}


def pipeline_enqueue(record_id: int) -> bool:
    """Enqueue features → decision → execution for one record; False (logged) if the broker refused.

    Never raises: the request is already committed, and the drainer enqueues it later.
    """
    from decisioning.tasks import pipeline_signature

    record = DecisionRecord.objects.filter(pk=record_id, status=DecisionRecord.Status.PENDING).first()
    if record is None:
        return False
    AsyncRequest.objects.filter(record_id=record_id).update(enqueued_at=timezone.now())
    try:
        pipeline_signature(pipeline_message(record)).apply_async()
    except Exception:
        AsyncRequest.objects.filter(record_id=record_id).update(enqueued_at=None)
        logger.exception("request_id=%s pipeline not enqueued; the drainer will retry", record.request_id)
        return False
    AsyncRequest.objects.filter(record_id=record_id).update(enqueue_count=F("enqueue_count") + 1)
    return True


# --------------------------------------------------------------------------- the steps


def _envelope(message: Any, *keys: str) -> int:
    """Check the envelope's shape and version; returns the record id."""
    if not isinstance(message, dict) or not isinstance(message.get("record_id"), int):
        raise ContractError("pipeline message without a record_id", {"record_id": "required"})
    check_schema_version(message, "PipelineMessage")
    missing = {key: "required" for key in keys if not isinstance(message.get(key), dict)}
    if missing:
        raise ContractError("pipeline message is missing contracts", missing)
    return int(message["record_id"])


def _refuse(message: Any, exc: ContractError, step: str) -> None:
    """Log loudly and mark the record failed: a bad contract is never retried or guessed at."""
    record_id = message.get("record_id") if isinstance(message, dict) else None
    logger.error("layer=%s refused message for record %s: %s %s", step, record_id, exc.message, exc.fields)
    if isinstance(record_id, int):
        pipeline_mark_failed(record_id, f"{step}: {exc.message}")


def pipeline_mark_failed(record_id: int, error: str) -> None:
    """Mark a still-pending record failed with a readable error."""
    with transaction.atomic():
        updated = DecisionRecord.objects.filter(pk=record_id, status=DecisionRecord.Status.PENDING).update(
            status=DecisionRecord.Status.FAILED
        )
        if updated:
            AsyncRequest.objects.filter(record_id=record_id).update(error=error)


def run_features_step(message: Any) -> JsonDict:
    """Feature layer: transaction → FeatureSet."""
    from decisioning.service import default_service

    try:
        record_id = _envelope(message, "transaction")
        txn = TransactionIn.from_dict(message["transaction"])
    except ContractError as exc:
        _refuse(message, exc, "features")
        raise
    feature_set = default_service().build_features(txn)
    return {**message, "feature_set": feature_set.to_dict(), "record_id": record_id}


def run_decision_step(message: Any) -> JsonDict:
    """Decision layer: FeatureSet → DecisionResult."""
    from decisioning.service import default_service

    try:
        _envelope(message, "transaction", "feature_set")
        feature_set = FeatureSet.from_dict(message["feature_set"])
    except ContractError as exc:
        _refuse(message, exc, "decisions")
        raise
    decision = default_service().decide(feature_set)
    return {**message, "decision": decision.to_dict()}


def run_execution_step(message: Any) -> JsonDict:
    """Execution layer: act exactly once. A duplicate or redelivered message has no second effect."""
    from decisioning.service import default_service

    try:
        record_id = _envelope(message, "transaction", "feature_set", "decision")
        txn = TransactionIn.from_dict(message["transaction"])
        feature_set = FeatureSet.from_dict(message["feature_set"])
        decision = DecisionResult.from_dict(message["decision"])
    except ContractError as exc:
        _refuse(message, exc, "execution")
        raise
    _test_delay("before")
    record = DecisionRecord.objects.select_related("client").get(pk=record_id)
    if record.status != DecisionRecord.Status.PENDING:
        logger.info("request_id=%s already %s; duplicate message ignored", record.request_id, record.status)
        return {"record_id": record_id, "status": record.status, "duplicate": True}
    try:
        result = default_service().execution.execute(
            client=record.client, txn=txn, request_hash=record.request_hash, feature_set=feature_set, decision=decision
        )
    except (RecordPending, IdempotencyConflict):  # cannot happen for our own record; never execute twice
        logger.exception("request_id=%s unexpected idempotency state", record.request_id)
        raise
    _test_delay("after")
    return {"record_id": record_id, "status": "decided", "action": result.action.value}


def _test_delay(point: str) -> None:
    """Test hook (FDE_TEST_TASK_DELAY_SECONDS): hold the task so a fault test can SIGKILL the worker."""
    seconds = float(getattr(settings, "FDE_TEST_TASK_DELAY_SECONDS", 0.0))
    if seconds > 0 and getattr(settings, "FDE_TEST_TASK_DELAY_POINT", "after") == point:
        logger.warning("FDE_TEST_TASK_DELAY: sleeping %.1fs %s execution", seconds, point)
        time.sleep(seconds)


# --------------------------------------------------------------------------- draining


def pipeline_due_ids(now: datetime, *, limit: int = 500) -> list[int]:
    """Pending async records whose pipeline was never enqueued or was enqueued long ago."""
    stale = now - timedelta(seconds=settings.FDE_OUTBOX_REDISPATCH_AFTER_SECONDS)
    return list(
        AsyncRequest.objects.filter(record__status=DecisionRecord.Status.PENDING, error="")
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("created_at")
        .values_list("record_id", flat=True)[:limit]
    )


def pipeline_redispatch(record_id: int) -> bool:
    """Enqueue a lost pipeline again, or give up after MAX_PIPELINE_ENQUEUES."""
    count = AsyncRequest.objects.filter(record_id=record_id).values_list("enqueue_count", flat=True).first() or 0
    if count >= MAX_PIPELINE_ENQUEUES:
        pipeline_mark_failed(record_id, f"not decided after {count} enqueues")
        return False
    return pipeline_enqueue(record_id)


def async_status(record: DecisionRecord) -> tuple[str, ExecutionResult | None, str]:
    """(status, result if decided, error if failed) of one record."""
    if record.execution is not None:
        return DecisionRecord.Status.DECIDED, ExecutionResult.from_dict(record.execution), ""
    if record.status == DecisionRecord.Status.FAILED:
        error = AsyncRequest.objects.filter(record=record).values_list("error", flat=True).first()
        return DecisionRecord.Status.FAILED, None, error or "failed"
    return DecisionRecord.Status.PENDING, None, ""
