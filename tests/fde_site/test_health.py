"""/healthz and /readyz: what a load balancer sees, on the real database, Redis and model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_is_200_and_touches_nothing(client):
    # no django_db mark: any database access here would raise
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ok_with_database_store_and_model(client, active_model):
    body = client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "vendor": "postgresql", "ms": body["checks"]["database"]["ms"]}
    assert body["checks"]["feature_store"]["backend"] == "redis"
    assert body["checks"]["model"]["version"] == active_model.version


@pytest.mark.django_db
def test_readyz_without_a_model_is_ready_but_degraded(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["model"]["ok"] is False
    assert "rules-only" in response.json()["checks"]["model"]["error"]


@pytest.mark.django_db
def test_readyz_with_the_feature_store_down_is_503(client, active_model, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert (body["status"], body["checks"]["feature_store"]["ok"], body["checks"]["database"]["ok"]) == (
        "unavailable",
        False,
        True,
    )


@pytest.mark.django_db
def test_readyz_with_the_broker_down_is_degraded_not_down(client, active_model, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/1"
    from fde_site.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url = None
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["broker"]["ok"] is False


def test_readyz_with_the_database_down_is_503():
    """A real process whose DATABASE_URL points at a closed port: 503, the database named."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "fde_site.settings.test",
           "DATABASE_URL": "postgres://postgres@127.0.0.1:1/fde"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == 503
    assert result["body"]["status"] == "unavailable"
    assert result["body"]["checks"]["database"]["ok"] is False
