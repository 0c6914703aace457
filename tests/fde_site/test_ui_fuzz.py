"""No input to the web UI produces a 500: seeded random query strings and form posts, as an admin.

The pages' own forms name the inputs (filters, what-if, policy changes, model staging, case actions);
the values are hostile (NUL bytes, huge and non-finite numbers, bad dates, markup, very long text).
Any status below 500 is acceptable here: each page's own tests say which one is right.
"""

from __future__ import annotations

import random

import pytest

from audit.forms import AuditFilterForm
from decisioning.decision.policy import DecisionPolicy
from decisioning.policy_views import WhatIfForm
from review.forms import QueueFilterForm
from tests.review.conftest import PASSWORD

pytestmark = pytest.mark.django_db

VALUES = [
    "", " ", "0", "-1", "1", "0.5", "1e308", "-1e308", "NaN", "inf", "-inf", "9" * 400, "1.5.5", "\x00", "a\x00b",
    "💳", "<script>alert(1)</script>", "' OR 1=1 --", "2026-13-45", "2026-02-30", "0000-01-01", "../../etc/passwd",
    "a" * 5000, "me", "none", "%", "_", "true", "review", "shadow", "canary",
]  # fmt: skip
GET_PAGES = {
    "/": [],
    "/review/": list(QueueFilterForm.base_fields),
    "/audit/": [*AuditFilterForm.base_fields, "after", "before"],
    "/audit/export.csv": list(AuditFilterForm.base_fields),
    "/audit/export.jsonl": list(AuditFilterForm.base_fields),
    "/policy/": list(WhatIfForm.base_fields),
    "/models/": ["version", "refresh"],
    "/audit/transactions/x/": [],
    "/review/cases/1/": [],
}
POLICY_FIELDS = [*DecisionPolicy().to_dict(), "based_on", "note"]
POSTS = {
    "/policy/propose": POLICY_FIELDS,
    "/policy/activate": POLICY_FIELDS,
    "/policy/proposals/1/approve": ["note"],
    "/policy/proposals/1/reject": ["note"],
    "/policy/proposals/1/withdraw": ["note"],
    "/models/x/stage": ["stage", "percent"],
    "/models/unstage/shadow": [],
    "/review/take-next": [],
    "/review/bulk": ["action", "case_ids", "assignee"],
    "/review/cases/1/claim": [],
    "/review/cases/1/resolve": ["resolution", "reason", "note", "back"],
    "/review/cases/1/notes": ["text"],
}


def _params(rng: random.Random, names: list[str]) -> dict[str, str]:
    chosen = rng.sample(names, k=rng.randint(0, len(names))) if names else []
    params = {name: rng.choice(VALUES) for name in chosen}
    if rng.random() < 0.2:
        params[rng.choice(VALUES)[:20] or "x"] = rng.choice(VALUES)  # an unknown parameter
    return params


#: The values most likely to reach a database or a parser unchecked, tried on every input one by one.
NASTY = ["\x00", "a\x00b", "1e308", "NaN", "-inf", "9" * 400, "2026-02-30", "a" * 5000, "%", "💳"]


def _for_case(pages: dict[str, list[str]], case_id: int) -> dict[str, list[str]]:
    """The page table with the real case's id in the case URLs (ids are not reset between tests)."""
    return {path.replace("/cases/1/", f"/cases/{case_id}/"): names for path, names in pages.items()}


def _signed_in_admin(client, make_user) -> None:
    make_user("root", "admin", "senior_analyst")
    assert client.login(username="root", password=PASSWORD)


def test_every_input_of_every_page_survives_each_nasty_value(client, make_user, fallback_case):
    case = fallback_case()
    _signed_in_admin(client, make_user)
    failures, served = [], set()
    for path, names in _for_case(GET_PAGES, case.pk).items():
        for name in names:
            for value in NASTY:
                status = client.get(path, {name: value}).status_code
                if status in (200, 400):  # rendered, or its form errors
                    served.add(path)
                if status >= 500:
                    failures.append(f"GET {path}?{name}={value[:20]!r} → {status}")
    for path, names in _for_case(POSTS, case.pk).items():
        for name in names:
            for value in NASTY:
                status = client.post(path, {name: value}).status_code
                if status >= 500:
                    failures.append(f"POST {path} {name}={value[:20]!r} → {status}")
    assert failures == []
    # the values reached the pages' real code (a page that always refused would prove nothing)
    assert {"/review/", "/audit/", "/policy/", "/models/"} <= served


def test_no_query_string_or_form_post_makes_a_page_fail(client, make_user, fallback_case):
    case = fallback_case()  # a case for the case URLs
    _signed_in_admin(client, make_user)
    gets, posts = _for_case(GET_PAGES, case.pk), _for_case(POSTS, case.pk)
    rng = random.Random(20261204)
    failures = []
    for _ in range(300):
        path, names = rng.choice(list(gets.items()))
        params = _params(rng, names)
        response = client.get(path, params)
        if response.status_code >= 500:
            failures.append(f"GET {path} {params!r} → {response.status_code}")
    for _ in range(200):
        path, names = rng.choice(list(posts.items()))
        params = _params(rng, names)
        response = client.post(path, params)
        if response.status_code >= 500:
            failures.append(f"POST {path} {params!r} → {response.status_code}")
    assert failures == []
