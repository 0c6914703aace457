"""Thin Celery tasks: one per layer, plus outbox delivery and the drainer.

Each task validates its JSON on arrival (inside the service it calls) and calls a service in
``decisioning.execution``; no business rules live here. The pipeline tasks and the delivery task
are idempotent, so they acknowledge late and are redelivered when a worker dies mid-task. Only
named transient errors (database unreachable, feature store down) are retried, with backoff;
a ``ContractError`` fails the task at once.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import chain
from celery.canvas import Signature
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from decisioning.execution import outbox, pipeline
from decisioning.features.store import StoreUnavailable
from fde_site.celery import app  # the configured app (fde_site/__init__ does not import it)

logger = logging.getLogger("fde.tasks")

#: The only errors a task retries (with exponential backoff, capped well below the visibility timeout).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, StoreUnavailable)
_IDEMPOTENT = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


@app.task(name="decisioning.tasks.build_features_task", **_IDEMPOTENT)  # type: ignore[untyped-decorator]
def build_features_task(message: dict[str, Any]) -> dict[str, Any]:
    """Feature layer (queue ``features``): transaction contract → FeatureSet contract."""
    return pipeline.run_features_step(message)


@app.task(name="decisioning.tasks.decide_task", **_IDEMPOTENT)  # type: ignore[untyped-decorator]
def decide_task(message: dict[str, Any]) -> dict[str, Any]:
    """Decision layer (queue ``decisions``): FeatureSet → DecisionResult."""
    return pipeline.run_decision_step(message)


@app.task(name="decisioning.tasks.execute_task", **_IDEMPOTENT)  # type: ignore[untyped-decorator]
def execute_task(message: dict[str, Any]) -> dict[str, Any]:
    """Execution layer (queue ``execution``): act exactly once, write outbox rows in the same transaction."""
    return pipeline.run_execution_step(message)


def pipeline_signature(message: dict[str, Any]) -> Signature:
    """features → decision → execution as one Celery chain (each step on its own queue)."""
    return chain(build_features_task.s(message), decide_task.s(), execute_task.s())


@app.task(name="decisioning.tasks.deliver_outbox_task", **_IDEMPOTENT)  # type: ignore[untyped-decorator]
def deliver_outbox_task(message_id: int) -> str:
    """Queue ``outbox``: one delivery attempt; schedules the next attempt with backoff on a transient failure."""
    result = outbox.outbox_deliver(message_id)
    if result.status == "retry":
        outbox.outbox_enqueue([message_id], countdown=result.countdown)
    return result.status


@app.task(name="decisioning.tasks.drain_outbox_task", acks_late=False, ignore_result=True)  # type: ignore[untyped-decorator]
def drain_outbox_task() -> dict[str, int]:
    """Celery beat, queue ``outbox``: re-enqueue outbox rows and pipelines whose task was lost."""
    return drain()


def drain() -> dict[str, int]:
    """Enqueue due outbox rows and lost pipelines; what the ``drain_outbox`` command runs too."""
    now = timezone.now()
    records = pipeline.pipeline_due_ids(now)
    enqueued = sum(1 for record_id in records if pipeline.pipeline_redispatch(record_id))
    messages = outbox.outbox_due_ids(now)
    outbox.outbox_enqueue(messages)
    counts = {"pipelines": enqueued, "outbox": len(messages)}
    if records or messages:
        logger.info("drained pipelines=%s/%s outbox=%s", enqueued, len(records), len(messages))
    return counts


@app.task(
    name="decisioning.tasks.recompute_features_task",
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    max_retries=5,
    soft_time_limit=1700,
    time_limit=1800,
)  # type: ignore[untyped-decorator]
def recompute_features_task() -> dict[str, Any]:
    """Periodic: recompute the slower aggregates (30-day spend, top MCC, disputes …) from history."""
    from decisioning.features.rebuild import recompute_features
    from decisioning.features.store import build_store

    summary = recompute_features(store=build_store(), now=timezone.now(), progress=logger.info)
    return {"customers": summary.customers, "groups_written": summary.groups_written}
