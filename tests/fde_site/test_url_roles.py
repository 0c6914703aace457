"""Compliance is read-only everywhere: every URL the site routes refuses every mutating method.

Walks the real URL configuration, so a view added later is covered without anyone remembering to
list it here. Each path is called with POST, PUT, PATCH and DELETE as a signed-in compliance
officer; nothing may succeed and no table but the audit trail (which records the refusals) and
the session store may change.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from audit.models import AuditEvent
from tests.review.conftest import PASSWORD

pytestmark = pytest.mark.django_db

#: Routes that are not the product's own actions: sign-in/out, and Django's admin (staff only).
EXEMPT_PREFIXES = ("accounts/login/", "accounts/logout/", "admin/")
_CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")
_SAMPLE = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000000"}


def _routes(patterns=None, prefix: str = "") -> list[str]:
    found: list[str] = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            found.append(route)
    return found


def _concrete(route: str) -> str | None:
    if route.startswith("^") or "(?P" in route:  # a regex route (DRF format suffixes …): skip
        return None
    return "/" + _CONVERTER.sub(lambda m: _SAMPLE.get(m.group("kind") or "str", "x"), route)


def _snapshot() -> dict[str, int]:
    skip = {AuditEvent._meta.label, "sessions.Session"}
    return {model._meta.label: model.objects.count() for model in apps.get_models() if model._meta.label not in skip}


def test_the_walk_finds_the_mutating_views():
    paths = {_concrete(route) for route in _routes()}
    for expected in (
        "/api/v1/transactions", "/api/v1/feedback", "/review/cases/1/resolve", "/review/take-next",
        "/models/x/activate", "/models/x/stage", "/policy/activate", "/api/v1/lists/x/entries",
    ):  # fmt: skip
        assert expected in paths, expected


def test_compliance_cannot_change_anything_anywhere(client, make_user, fallback_case):
    fallback_case()  # something to act on: a decision with an open case (id 1 or later)
    make_user("cora", "compliance")
    assert client.login(username="cora", password=PASSWORD)
    paths = sorted({p for p in map(_concrete, _routes()) if p and not p.lstrip("/").startswith(EXEMPT_PREFIXES)})
    before = _snapshot()
    accepted = []
    for path in paths:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(client, method)(path, data={}, content_type="application/json")
            if response.status_code < 400:
                accepted.append(f"{method.upper()} {path} → {response.status_code}")
    assert accepted == []
    assert _snapshot() == before
    assert len(paths) > 30


#: What a case worker may change: review cases, and outcomes through the feedback API.
CASE_WORK_PREFIXES = ("review/", "api/v1/feedback")


@pytest.mark.parametrize("role", ["analyst", "senior_analyst"])
def test_case_workers_change_nothing_outside_case_work(client, make_user, fallback_case, role):
    fallback_case()
    make_user("worker", role)
    assert client.login(username="worker", password=PASSWORD)
    paths = sorted(
        p for p in map(_concrete, _routes()) if p and not p.lstrip("/").startswith(EXEMPT_PREFIXES + CASE_WORK_PREFIXES)
    )
    before = _snapshot()
    accepted = [
        f"{method.upper()} {path} → {status}"
        for path in paths
        for method in ("post", "put", "patch", "delete")
        if (status := getattr(client, method)(path, data={}, content_type="application/json").status_code) < 400
    ]
    assert accepted == []
    assert _snapshot() == before
