"""The feature pipeline: every executed transaction updates its customer's and merchant's windows.

An :class:`~decisioning.execution.layer.ExecutionListener`, called after the decision commits
(synchronous and asynchronous paths alike). It records the transaction in event time; the
Feature layer computes velocity, spending and merchant windows from these events at the next
transaction's own timestamp. A store failure is logged and never undoes the decision:
``manage.py rebuild_features`` restores the windows from the database.
"""

from __future__ import annotations

import logging

from decisioning.contracts import ExecutionAction, ExecutionResult, TransactionIn
from decisioning.features.store import StoreUnavailable
from decisioning.features.windows import WindowStore, record_transaction

logger = logging.getLogger("fde.features.pipeline")


class FeaturePipeline:
    """Records executed transactions in the online windows."""

    def __init__(self, store: WindowStore) -> None:
        self.store = store

    def on_executed(self, txn: TransactionIn, result: ExecutionResult) -> None:
        """Record ``txn`` (once per request id; failed executions are not transactions)."""
        if result.action is ExecutionAction.ERROR:
            return
        try:
            record_transaction(self.store, txn)
        except StoreUnavailable as exc:
            logger.error("request_id=%s feature pipeline could not record the transaction: %s", txn.request_id, exc)
