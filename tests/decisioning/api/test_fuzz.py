"""No input produces a 500: seeded random bodies, headers and paths against the real API."""

from __future__ import annotations

import json
import random

import pytest

from decisioning.models import DecisionRecord

from .conftest import ORDINARY_TXN

pytestmark = pytest.mark.django_db

WEIRD_VALUES = [
    None, True, False, 0, -1, 1e308, -1e308, 1.5, "", " ", "0", "-0.00", "1e3", "NaN", "inf", "💳", "\x00", "a" * 5000,
    [], [1, 2], {}, {"a": {"b": []}}, "2026-13-45T99:99:99Z", "../../etc/passwd", "<script>alert(1)</script>",
    "' OR 1=1 --", 2**64, "١٢٣",
]  # fmt: skip
PATHS = [
    "/api/v1/transactions", "/api/v1/transactions/x", "/api/v1/explain/x", "/api/v1/features/customer_risk/c1",
    "/api/v1/lists/blocklist/entries", "/api/v1/lists/blocklist/entries/x", "/api/v1/transactions/%00",
    "/api/v1/features/%2e%2e/c1", "/api/v1/lists/UPPER/entries",
]  # fmt: skip


def mutated_body(rng: random.Random) -> object:
    body: dict[str, object] = dict(ORDINARY_TXN)
    body["request_id"] = f"fuzz-{rng.randrange(10**9)}"
    if rng.random() < 0.3:
        return body  # a valid body, so successes are in the mix too
    for _ in range(rng.randint(1, 4)):
        key = rng.choice([*ORDINARY_TXN, "extra", ""])
        if rng.random() < 0.2:
            body.pop(key, None)
        else:
            body[key] = rng.choice(WEIRD_VALUES)
    return rng.choice([body, body, body, [body], "just a string", 42, None])


def test_random_bodies_never_produce_a_server_error(system_api, low_risk_customer):
    rng = random.Random(20261204)
    statuses = set()
    for _ in range(250):
        method = rng.choice(["post", "post", "put", "get", "delete", "patch"])
        path = "/api/v1/transactions" if method == "post" and rng.random() < 0.5 else rng.choice(PATHS)
        payload = json.dumps(mutated_body(rng))
        if rng.random() < 0.1:
            payload = payload[: rng.randrange(len(payload) + 1)]  # truncated JSON
        if method == "get":
            response = system_api.get(path)
        else:
            response = getattr(system_api, method)(path, data=payload, content_type="application/json")
        statuses.add(response.status_code)
        assert response.status_code < 500, (method, path, payload[:300], response.content[:300])
        assert response["Content-Type"].startswith("application/json") or response.status_code == 204
    assert {200, 400, 404, 405} <= statuses
    # every accepted transaction is a whole decision: no pending or half-written rows
    assert not DecisionRecord.objects.filter(execution__isnull=True).exists()
