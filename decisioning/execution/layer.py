"""The Execution layer: act exactly once on a DecisionResult.

Idempotency on ``(client, request_id)`` with request-hash conflict detection, dispatch
(approve → authorise, decline → decline, review → a review case, challenge → step-up), the
decline rate limit, and the audit event — the decision, its execution record, its case and its
audit event commit in one database transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record
from decisioning.contracts import (
    DecisionAction,
    DecisionResult,
    ExecutionAction,
    ExecutionResult,
    FeatureSet,
    TransactionIn,
)
from decisioning.decision.policy import DecisionPolicy, PolicyProvider
from decisioning.models import ApiClient, DecisionRecord
from review.services import case_open

from .errors import ExecutionFailed, IdempotencyConflict
from .gateway import PaymentGateway
from .outbox import OutboxWriter, default_gateway
from .rate_limit import CounterStore, DeclineRateLimiter

logger = logging.getLogger("fde.execution")

_EXECUTED_AS = {
    DecisionAction.APPROVE: ExecutionAction.APPROVED,
    DecisionAction.DECLINE: ExecutionAction.DECLINED,
    DecisionAction.REVIEW: ExecutionAction.QUEUED_FOR_REVIEW,
    DecisionAction.CHALLENGE: ExecutionAction.CHALLENGE_INITIATED,
}


class ExecutionListener(Protocol):
    """Told about every executed transaction after its transaction commits (e.g. the feature pipeline)."""

    def on_executed(self, txn: TransactionIn, result: ExecutionResult) -> None: ...


class DecisionOutbox(Protocol):
    """Told inside the decision's transaction, so its outbox rows commit (or roll back) with it."""

    def on_decided(self, *, record: DecisionRecord, client: ApiClient, result: ExecutionResult) -> None: ...


class ExecutionLayer:
    def __init__(
        self,
        *,
        counters: CounterStore,
        policy: PolicyProvider,
        gateway: PaymentGateway | None = None,
        listeners: Sequence[ExecutionListener] = (),
        outbox: DecisionOutbox | None = None,
    ) -> None:
        self.counters = counters
        self.policy = policy
        # The HTTP adapter (an outbox consumer) when FDE_PAYMENT_GATEWAY_URL is set, else DatabaseGateway.
        self.gateway: PaymentGateway = gateway or default_gateway()
        self.listeners = tuple(listeners)
        # Writes the rows that leave the process (callbacks) inside the decision's transaction.
        self.outbox: DecisionOutbox = outbox or OutboxWriter()

    # ------------------------------------------------------------------ idempotency

    def stored_result(self, *, client: ApiClient, request_id: str, request_hash: str) -> ExecutionResult | None:
        """The stored result for a retried request (audited as a replay), or None if new.

        Raises IdempotencyConflict (audited) when the request id was used with another body.
        """
        record = (
            DecisionRecord.objects.filter(client=client, request_id=request_id)
            .defer("transaction", "feature_set", "decision")  # the replay needs only the result
            .first()
        )
        if record is None:
            return None
        return self._replay(record, request_hash)

    def _replay(self, record: DecisionRecord, request_hash: str) -> ExecutionResult:
        actor = f"client:{record.client.name}"
        if record.request_hash != request_hash:
            with transaction.atomic():
                event = audit_record(
                    event_type=AuditEventType.CONFLICT_REFUSED,
                    actor=actor,
                    request_id=record.request_id,
                    customer_id=record.customer_id,
                    outcome="refused",
                    payload={"stored_hash": record.request_hash, "received_hash": request_hash},
                )
            raise IdempotencyConflict(record.request_id, event.trail_id)
        if record.execution is None:
            # Accepted but not decided yet (asynchronous path): the caller polls.
            raise RecordPending(record)
        with transaction.atomic():
            audit_record(
                event_type=AuditEventType.IDEMPOTENT_REPLAY,
                actor=actor,
                request_id=record.request_id,
                customer_id=record.customer_id,
                outcome=record.action,
            )
        return ExecutionResult.from_dict(record.execution).replayed()

    # ------------------------------------------------------------------ execute

    def execute(
        self,
        *,
        client: ApiClient,
        txn: TransactionIn,
        request_hash: str,
        feature_set: FeatureSet,
        decision: DecisionResult,
    ) -> ExecutionResult:
        """Execute once. A concurrent duplicate waits on the unique key and gets the stored result."""
        started = time.perf_counter()
        policy = self.policy.current()
        limiter = DeclineRateLimiter(
            self.counters,
            limit=policy.decline_rate_limit_count,
            window=timedelta(minutes=policy.decline_rate_limit_window_minutes),
        )
        final = limiter.apply(decision, customer_id=txn.customer_id, at=txn.timestamp)
        try:
            result = self._execute_atomically(client, txn, request_hash, feature_set, final, policy)
        except _AlreadyExecuted as exc:
            return self._replay(exc.record, request_hash)
        except Exception as exc:
            raise self._record_failure(client, txn, final, exc) from exc
        if final.action is DecisionAction.DECLINE:
            limiter.record(customer_id=txn.customer_id, request_id=txn.request_id, at=txn.timestamp)
        self._notify(txn, result)
        logger.info(
            "request_id=%s layer=execution action=%s reference_id=%s audit=%s duration_ms=%.2f",
            txn.request_id, result.action.value, result.reference_id, result.audit_trail_id,
            (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return result

    def execute_final_action(self, record: DecisionRecord, *, approve: bool, reason_codes: tuple[str, ...]) -> str:
        """An analyst's approve/decline of a reviewed transaction, on this layer's payment gateway.

        Called inside the caller's transaction (the case resolution); GatewayCall is unique per
        decision and kind, so the action can never be applied twice.
        """
        if approve:
            return self.gateway.authorise(record)
        return self.gateway.decline(record, reason_codes)

    def _notify(self, txn: TransactionIn, result: ExecutionResult) -> None:
        """Run the listeners once the decision is durable; a failing listener never undoes it."""
        for listener in self.listeners:

            def notify(listener: ExecutionListener = listener) -> None:
                try:
                    listener.on_executed(txn, result)
                except Exception:
                    logger.exception("request_id=%s listener %r failed", txn.request_id, listener)

            transaction.on_commit(notify)

    def _execute_atomically(
        self,
        client: ApiClient,
        txn: TransactionIn,
        request_hash: str,
        feature_set: FeatureSet,
        decision: DecisionResult,
        policy: DecisionPolicy,
    ) -> ExecutionResult:
        with transaction.atomic():
            record = self._claim_key(client, txn, request_hash)
            reference_id, case_id = self._dispatch(record, decision, policy, client)
            now = timezone.now()
            executed_as = _EXECUTED_AS[decision.action].value
            partial = {
                "action": executed_as,
                "reference_id": reference_id,
                "case_id": case_id,
            }
            event = audit_record(
                event_type=AuditEventType.DECISION_EXECUTED,
                actor=f"client:{client.name}",
                request_id=txn.request_id,
                customer_id=txn.customer_id,
                case_id=case_id,
                outcome=executed_as,
                payload={
                    "transaction": txn.to_dict(),
                    "features": feature_set.to_dict(),
                    "decision": decision.to_dict(),
                    "execution": partial,
                    "model_version": decision.model_version,
                    "policy_version": decision.policy_version,
                },
            )
            result = ExecutionResult(
                request_id=txn.request_id,
                decision=decision.action,
                action=_EXECUTED_AS[decision.action],
                fraud_score=decision.fraud_score,
                reason_codes=decision.reason_codes,
                policy_applied=decision.policy_applied,
                is_model_driven=decision.is_model_driven,
                audit_trail_id=event.trail_id,
                model_version=decision.model_version,
                reference_id=reference_id,
                case_id=case_id,
                degraded=decision.degraded or feature_set.degraded,
                decided_at=now,
            )
            self._store_result(record, feature_set, decision, result)
            self.outbox.on_decided(record=record, client=client, result=result)
        return result

    def _claim_key(self, client: ApiClient, txn: TransactionIn, request_hash: str) -> DecisionRecord:
        """Insert the idempotency row; a duplicate (even a concurrent one) raises _AlreadyExecuted.

        A record accepted earlier as pending (asynchronous path) with the same body is locked
        and returned, so it is decided here exactly once.
        """
        try:
            with transaction.atomic():
                return DecisionRecord.objects.create(
                    client=client,
                    request_id=txn.request_id,
                    request_hash=request_hash,
                    transaction_id=txn.transaction_id,
                    customer_id=txn.customer_id,
                    merchant_id=txn.merchant_id,
                    amount=txn.amount,
                    currency=txn.currency,
                    event_time=txn.timestamp,
                    transaction=txn.to_dict(),
                )
        except IntegrityError:
            # The key exists (possibly committed a moment ago by a concurrent duplicate).
            existing = DecisionRecord.objects.select_for_update().get(client=client, request_id=txn.request_id)
        if existing.execution is None and existing.request_hash == request_hash:
            return existing
        raise _AlreadyExecuted(existing)

    def _dispatch(
        self, record: DecisionRecord, decision: DecisionResult, policy: DecisionPolicy, client: ApiClient
    ) -> tuple[str, int | None]:
        if decision.action is DecisionAction.APPROVE:
            return self.gateway.authorise(record), None
        if decision.action is DecisionAction.DECLINE:
            return self.gateway.decline(record, decision.reason_codes), None
        if decision.action is DecisionAction.CHALLENGE:
            return self.gateway.challenge(record), None
        case = case_open(
            record=record, decision=decision, high_priority_score=policy.high_priority_score,
            actor=f"client:{client.name}",
        )  # fmt: skip
        return f"case_{case.pk}", case.pk

    @staticmethod
    def _store_result(
        record: DecisionRecord, feature_set: FeatureSet, decision: DecisionResult, result: ExecutionResult
    ) -> None:
        record.status = DecisionRecord.Status.DECIDED
        record.feature_set = feature_set.to_dict()
        record.decision = decision.to_dict()
        record.execution = result.to_dict()
        record.action = result.action.value
        record.fraud_score = result.fraud_score
        record.model_version = result.model_version or ""
        record.policy_version = decision.policy_version
        record.is_degraded = result.degraded
        record.reference_id = result.reference_id or ""
        record.decided_at = result.decided_at
        record.copy_analysis_columns()
        record.save()

    @staticmethod
    def _record_failure(
        client: ApiClient, txn: TransactionIn, decision: DecisionResult, exc: Exception
    ) -> ExecutionFailed:
        """Audit a failed execution in its own transaction; the failed one rolled back whole."""
        logger.exception("request_id=%s layer=execution failed", txn.request_id)
        with transaction.atomic():
            event = audit_record(
                event_type=AuditEventType.EXECUTION_FAILED,
                actor=f"client:{client.name}",
                request_id=txn.request_id,
                customer_id=txn.customer_id,
                outcome="error",
                payload={"error": type(exc).__name__, "decision": decision.to_dict(), "transaction": txn.to_dict()},
            )
        return ExecutionFailed(txn.request_id, event.trail_id, type(exc).__name__)


class _AlreadyExecuted(Exception):
    def __init__(self, record: DecisionRecord) -> None:
        super().__init__(record.request_id)
        self.record = record


class RecordPending(Exception):
    """The request was accepted earlier and is still being decided."""

    def __init__(self, record: DecisionRecord) -> None:
        super().__init__(record.request_id)
        self.record = record
