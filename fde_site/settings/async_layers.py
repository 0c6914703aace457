"""Settings of the asynchronous layers (Celery queues, outbox, callbacks). Imported by base.

Read from the environment directly (base star-imports this module at its end, so nothing from
base can be imported here). With ``CELERY_BROKER_URL`` unset, base makes tasks eager and
everything below still applies in-process (the embedded default).
"""

from __future__ import annotations

import os
from typing import Any

from celery.schedules import schedule


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


# --------------------------------------------------------------------------- queues and routes
#: One queue per layer, so each layer's workers scale on their own (``celery -A fde_site worker -Q features``).
#: Routes name the queues; Celery creates a missing queue when a worker or producer first uses it.
FDE_QUEUES = ("features", "decisions", "execution", "explain", "outbox")
CELERY_TASK_DEFAULT_QUEUE = "decisions"
CELERY_TASK_ROUTES = {
    "decisioning.tasks.build_features_task": {"queue": "features", "routing_key": "features"},
    "decisioning.tasks.decide_task": {"queue": "decisions", "routing_key": "decisions"},
    "decisioning.tasks.execute_task": {"queue": "execution", "routing_key": "execution"},
    "decisioning.tasks.deliver_outbox_task": {"queue": "outbox", "routing_key": "outbox"},
    "decisioning.tasks.drain_outbox_task": {"queue": "outbox", "routing_key": "outbox"},
    "decisioning.tasks.recompute_features_task": {"queue": "features", "routing_key": "features"},
}

# --------------------------------------------------------------------------- reliability
#: Seconds an unacknowledged message may stay with a worker before Redis redelivers it. It must be
#: longer than any countdown (the outbox backoff is capped below it) and than the task time limit.
FDE_CELERY_VISIBILITY_TIMEOUT = _int("FDE_CELERY_VISIBILITY_TIMEOUT", 3600)
#: How often a worker sweeps for messages past their visibility timeout (kombu: interval × throttle seconds).
FDE_CELERY_UNACKED_RESTORE_INTERVAL = _int("FDE_CELERY_UNACKED_RESTORE_INTERVAL", 10)
FDE_CELERY_UNACKED_RESTORE_THROTTLE = _int("FDE_CELERY_UNACKED_RESTORE_THROTTLE", 10)
CELERY_BROKER_TRANSPORT_OPTIONS: Any = {
    "visibility_timeout": FDE_CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": FDE_CELERY_UNACKED_RESTORE_INTERVAL,
    "unacked_restore_throttle": FDE_CELERY_UNACKED_RESTORE_THROTTLE,
    **({"global_keyprefix": os.environ["FDE_CELERY_KEYPREFIX"]} if os.environ.get("FDE_CELERY_KEYPREFIX") else {}),
}
CELERY_TASK_TIME_LIMIT = _int("FDE_CELERY_TASK_TIME_LIMIT", 60)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 10)
CELERY_TASK_IGNORE_RESULT = True  # results live in PostgreSQL (DecisionRecord), not in a result backend
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # with acks_late: a worker holds one message it has not finished
CELERY_TASK_ACKS_LATE = False  # set per task: only the idempotent ones acknowledge late
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = _float("FDE_CELERY_CONNECTION_TIMEOUT", 2.0)
#: Publishing gives up quickly when the broker is down: the row stays in PostgreSQL and the
#: drainer enqueues it later, so an API request never hangs on a dead broker.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False

# --------------------------------------------------------------------------- outbox and callbacks
#: Delivery attempts before a message becomes a dead letter (visible in the admin, retry action).
FDE_OUTBOX_MAX_ATTEMPTS = _int("FDE_OUTBOX_MAX_ATTEMPTS", 8)
#: Exponential backoff: base * 2**(attempt-1) seconds, capped (below the visibility timeout).
FDE_OUTBOX_BACKOFF_SECONDS = _float("FDE_OUTBOX_BACKOFF_SECONDS", 5.0)
FDE_OUTBOX_BACKOFF_MAX_SECONDS = min(_float("FDE_OUTBOX_BACKOFF_MAX_SECONDS", 600.0), FDE_CELERY_VISIBILITY_TIMEOUT / 2)
#: HTTP timeout of one delivery (seconds); the delivery lease is a little longer.
FDE_OUTBOX_HTTP_TIMEOUT = _float("FDE_OUTBOX_HTTP_TIMEOUT", 5.0)
#: The drainer re-enqueues a pending row or request whose last enqueue is older than this (seconds).
FDE_OUTBOX_REDISPATCH_AFTER_SECONDS = _float("FDE_OUTBOX_REDISPATCH_AFTER_SECONDS", 300.0)
#: How often Celery beat runs the drainer (seconds).
FDE_OUTBOX_DRAIN_SECONDS = _float("FDE_OUTBOX_DRAIN_SECONDS", 30.0)
#: The payment-gateway HTTP adapter: when set, authorise / decline / challenge calls are outbox rows
#: POSTed to this URL, signed with FDE_PAYMENT_GATEWAY_SECRET. Unset → the built-in database adapter.
FDE_PAYMENT_GATEWAY_URL = os.environ.get("FDE_PAYMENT_GATEWAY_URL", "")
FDE_PAYMENT_GATEWAY_SECRET = os.environ.get("FDE_PAYMENT_GATEWAY_SECRET", "")

CELERY_BEAT_SCHEDULE = {
    "drain-outbox": {
        "task": "decisioning.tasks.drain_outbox_task",
        "schedule": schedule(FDE_OUTBOX_DRAIN_SECONDS),
        "options": {"queue": "outbox", "expires": FDE_OUTBOX_DRAIN_SECONDS},
    },
    "recompute-features": {
        "task": "decisioning.tasks.recompute_features_task",
        "schedule": schedule(3600.0),
        "options": {"queue": "features", "expires": 3600},
    },
}

#: Test hook only: the execution task sleeps this long (at FDE_TEST_TASK_DELAY_POINT: "before" or
#: "after" the Execution layer runs) so a fault test can SIGKILL a worker mid-task. Never set in production.
FDE_TEST_TASK_DELAY_SECONDS = _float("FDE_TEST_TASK_DELAY_SECONDS", 0.0)
FDE_TEST_TASK_DELAY_POINT = os.environ.get("FDE_TEST_TASK_DELAY_POINT", "after")
