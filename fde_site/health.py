"""Probes for load balancers and orchestrators: ``/healthz`` (liveness) and ``/readyz`` (readiness).

* ``/healthz`` answers 200 while the process can serve a request at all; it touches nothing else,
  so a database outage never gets healthy web workers restarted in a loop.
* ``/readyz`` checks what a decision needs: the database (required), the online feature store
  (required: without it every decision would be degraded), the active model as loaded by this
  process (without one decisions are rules-only and go to review: ready but ``degraded``), and the
  Celery broker when one is configured (the outbox keeps accepted work when it is down:
  ``degraded``). 503 when a required part is down, else 200; the body names every check.

No authentication: the body holds no data, only component states and the model version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

Check = dict[str, Any]


@never_cache
@require_http_methods(["GET", "HEAD"])
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_http_methods(["GET", "HEAD"])
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _timed(_database),
        "feature_store": _timed(_feature_store),
        "model": _timed(_model),
    }
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _timed(_broker)
    required_down = not (checks["database"]["ok"] and checks["feature_store"]["ok"])
    degraded = not all(check["ok"] for check in checks.values())
    status = "unavailable" if required_down else "degraded" if degraded else "ok"
    response = JsonResponse({"status": status, "checks": checks}, status=503 if required_down else 200)
    if required_down:
        response["Retry-After"] = "5"
    return response


def _timed(probe: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        result = {"ok": True, **probe()}
    except Exception as exc:  # a probe reports, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _feature_store() -> Check:
    from decisioning.features.store import GroupKey, build_store

    store = build_store()
    store.read_groups([GroupKey("customer_risk", "readyz-probe")])  # raises StoreUnavailable when down
    return {"backend": store.name}


def _model() -> Check:
    from decisioning.decision.wrappers import champion_of
    from decisioning.service import default_service

    scorer = champion_of(default_service().decision).model.current()  # type: ignore[attr-defined]
    if scorer is None:
        raise RuntimeError("no usable active model: decisions are rules-only and go to review")
    return {"version": scorer.version}


def _broker() -> Check:
    from fde_site.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
    return {}
