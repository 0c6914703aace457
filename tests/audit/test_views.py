"""Compliance pages: roles, read-only, filters in the URL, keyset pages, exports, the trail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent, AuditEventType
from audit.selectors import PAGE_SIZE
from fde_site import roles

pytestmark = pytest.mark.django_db

AUDIT_URLS = ("audit:events", "audit:export-csv", "audit:export-jsonl")


@pytest.fixture
def compliance_client(client, make_user):
    client.force_login(make_user("carol", roles.COMPLIANCE))
    return client


def page_sequences(response) -> list[int]:
    return [int(n) for n in re.findall(r'data-sequence="(\d+)"', response.content.decode())]


def link(response, label: str) -> str | None:
    match = re.search(rf'<a href="(\?[^"]*)">{re.escape(label)}</a>', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else None


def walk_view(client, query: str = "") -> list[int]:
    """Every sequence the browser shows for ``query``, following the Older links page by page."""
    url, seen = reverse("audit:events") + query, []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += page_sequences(response)
        older = link(response, "Older →")
        url = reverse("audit:events") + older if older else None
    return seen


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


# ------------------------------------------------------------------ roles and read-only


@pytest.mark.parametrize("name", [*AUDIT_URLS, "audit:transaction-trail"])
def test_anonymous_is_sent_to_login(client, name):
    url = reverse(name, args=["r-1"]) if name == "audit:transaction-trail" else reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_without_a_role_gets_403_and_is_audited(client, make_user):
    client.force_login(make_user("nobody"))
    response = client.get(reverse("audit:events"))
    assert response.status_code == 403
    denied = AuditEvent.objects.get()
    assert (denied.event_type, denied.actor, denied.payload) == (
        AuditEventType.PERMISSION_DENIED, "user:nobody", {"path": "/audit/"},
    )  # fmt: skip


@pytest.mark.parametrize("role", roles.READERS)
def test_every_reader_role_may_browse(client, make_user, role):
    client.force_login(make_user(f"user-{role}", role))
    assert client.get(reverse("audit:events")).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("name", [*AUDIT_URLS, "audit:transaction-trail"])
def test_compliance_cannot_change_anything(compliance_client, record_event, method, name):
    record_event(request_id="r-1")
    before = list(AuditEvent.objects.values_list("sequence", "hash"))
    url = reverse(name, args=["r-1"]) if name == "audit:transaction-trail" else reverse(name)
    response = getattr(compliance_client, method)(url, data={"outcome": "x"})
    assert response.status_code == 405
    assert list(AuditEvent.objects.values_list("sequence", "hash")) == before


# ------------------------------------------------------------------ browsing


def test_filters_narrow_the_view_and_stay_in_the_paging_links(compliance_client, record_event):
    for n in range(PAGE_SIZE + 10):
        record_event(AuditEventType.CASE_CLAIMED if n % 2 else AuditEventType.LIST_CHANGED, actor=f"user:a{n % 3}")
    query = f"?event_type={AuditEventType.CASE_CLAIMED}&actor=user:a1"
    response = compliance_client.get(reverse("audit:events") + query)
    expected = list(
        AuditEvent.objects.filter(event_type=AuditEventType.CASE_CLAIMED, actor="user:a1")
        .order_by("-sequence")
        .values_list("sequence", flat=True)
    )
    assert page_sequences(response) == expected
    assert len(expected) == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [("customer_id", "cust-2"), ("request_id", "req-2"), ("outcome", "declined"), ("model_version", "gbm-2")],
)
def test_each_exact_filter(compliance_client, record_event, field, value):
    for n in range(4):
        record_event(
            request_id=f"req-{n}", customer_id=f"cust-{n}", outcome="declined" if n == 2 else "approved",
            payload={"model_version": f"gbm-{n}"},
        )  # fmt: skip
    response = compliance_client.get(reverse("audit:events"), {field: value})
    assert page_sequences(response) == [3]


def test_date_range_filter_is_inclusive_whole_days(compliance_client, record_event):
    event = record_event()
    today = event.occurred_at.date()
    events_url = reverse("audit:events")
    assert page_sequences(compliance_client.get(events_url, {"date_from": today, "date_to": today})) == [1]
    tomorrow = today + dt.timedelta(days=1)
    assert page_sequences(compliance_client.get(events_url, {"date_from": tomorrow})) == []
    response = compliance_client.get(events_url, {"date_from": tomorrow, "date_to": today})
    assert "must not be after" in response.content.decode()


def test_keyset_pages_have_no_duplicates_or_gaps_in_both_directions(compliance_client, record_event):
    total = PAGE_SIZE * 2 + 1  # pages of 50, 50, 1: boundaries at exact multiples
    for _ in range(total):
        record_event()
    first = compliance_client.get(reverse("audit:events"))
    assert page_sequences(first) == list(range(total, total - PAGE_SIZE, -1))
    assert link(first, "← Newer") is None
    assert walk_view(compliance_client) == list(range(total, 0, -1))

    last = compliance_client.get(reverse("audit:events") + "?before=2")
    assert page_sequences(last) == [1]
    assert link(last, "Older →") is None
    newer = compliance_client.get(reverse("audit:events") + link(last, "← Newer"))
    assert page_sequences(newer) == list(range(PAGE_SIZE + 1, 1, -1))
    top = compliance_client.get(reverse("audit:events") + link(newer, "← Newer"))
    assert page_sequences(top) == list(range(total, PAGE_SIZE + 1, -1))
    assert link(top, "← Newer") is None


def test_a_page_uses_no_count_and_no_offset(compliance_client, record_event):
    for _ in range(3):
        record_event()
    with CaptureQueriesContext(connection) as queries:
        compliance_client.get(reverse("audit:events"), {"before": 3, "event_type": AuditEventType.LIST_CHANGED})
    audit_sql = [q["sql"].upper() for q in queries.captured_queries if "AUDIT_AUDITEVENT" in q["sql"].upper()]
    assert audit_sql
    assert not [sql for sql in audit_sql if "COUNT(" in sql or "OFFSET" in sql]


def test_data_is_escaped(compliance_client, record_event):
    record_event(actor="<script>alert(1)</script>", request_id="r<b>", payload={"note": "<img src=x onerror=1>"})
    body = compliance_client.get(reverse("audit:events")).content.decode()
    assert "<script>alert(1)" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_chain_status_is_shown(compliance_client, record_event):
    from django.core.management import call_command

    event = record_event()
    call_command("verify_audit_chain", stdout=io.StringIO(), stderr=io.StringIO())
    body = compliance_client.get(reverse("audit:events")).content.decode()
    assert event.hash in body
    assert "valid" in body


# ------------------------------------------------------------------ exports


def _mixed_events(record_event) -> None:
    for n in range(PAGE_SIZE + 20):
        record_event(
            AuditEventType.DECISION_EXECUTED if n % 3 else AuditEventType.CASE_OPENED,
            request_id=f"req-{n}", customer_id=f"cust-{n % 4}", outcome="=HYPERLINK(x)" if n == 7 else "approved",
            payload={"n": n, "model_version": "gbm-1"},
        )  # fmt: skip


@pytest.mark.parametrize("query", ["", "?customer_id=cust-1", f"?event_type={AuditEventType.DECISION_EXECUTED}"])
def test_jsonl_export_matches_the_filtered_view(compliance_client, record_event, query):
    _mixed_events(record_event)
    shown = walk_view(compliance_client, query)
    head = AuditEvent.objects.order_by("-sequence").first()
    response = compliance_client.get(reverse("audit:export-jsonl") + query)
    assert response.status_code == 200
    header, *lines = [json.loads(line) for line in streamed(response).splitlines()]
    assert header["export"]["chain_head"] == {"sequence": head.sequence, "hash": head.hash}
    assert response["X-Audit-Chain-Head"] == f"{head.sequence}:{head.hash}"
    assert [line["sequence"] for line in lines] == shown
    for line in lines:
        stored = AuditEvent.objects.get(sequence=line["sequence"])
        assert (line["hash"], line["payload"], line["outcome"]) == (stored.hash, stored.payload, stored.outcome)


@pytest.mark.parametrize("query", ["", "?customer_id=cust-3&outcome=approved"])
def test_csv_export_matches_the_filtered_view(compliance_client, record_event, query):
    _mixed_events(record_event)
    shown = walk_view(compliance_client, query)
    response = compliance_client.get(reverse("audit:export-csv") + query)
    comment, *rest = streamed(response).splitlines(keepends=True)
    header = json.loads(comment.removeprefix("# "))
    assert header["export"]["filters"] == {k: v[0] for k, v in parse_qs(urlparse(query).query).items()}
    rows = list(csv.DictReader(io.StringIO("".join(rest))))
    assert [int(row["sequence"]) for row in rows] == shown
    for row in rows:
        stored = AuditEvent.objects.get(sequence=int(row["sequence"]))
        assert (row["hash"], json.loads(row["payload"])) == (stored.hash, stored.payload)
        assert row["outcome"] == ("'" + stored.outcome if stored.outcome.startswith("=") else stored.outcome)


def test_export_is_audited_and_exports_up_to_the_head_before_its_own_event(compliance_client, record_event):
    record_event()
    response = compliance_client.get(reverse("audit:export-jsonl"), {"event_type": AuditEventType.LIST_CHANGED})
    header, *lines = [json.loads(line) for line in streamed(response).splitlines()]
    export_event = AuditEvent.objects.get(event_type=AuditEventType.EXPORT_MADE)
    assert (export_event.sequence, export_event.actor, export_event.outcome) == (2, "user:carol", "jsonl")
    assert export_event.payload == {"format": "jsonl", "filters": {"event_type": "list.changed"}}
    assert header["export"]["chain_head"]["sequence"] == 1
    assert [line["sequence"] for line in lines] == [1]


def test_export_with_invalid_filters_is_refused(compliance_client):
    response = compliance_client.get(reverse("audit:export-csv"), {"date_from": "yesterday"})
    assert response.status_code == 400
    assert not AuditEvent.objects.exists()


# ------------------------------------------------------------------ transaction trail


def test_transaction_trail_tells_the_whole_story(compliance_client, record_event):
    record_event(request_id="other")
    decision = {
        "action": "review", "fraud_score": 0.71, "confidence": 0.4, "reason_codes": ["HIGH_AMOUNT"],
        "policy_applied": "thresholds", "policy_version": "default-1", "model_version": "gbm-3",
        "is_model_driven": True,
        "explanation": {"base_value": -2.1, "output_space": "log_odds", "method": "shap.TreeExplainer",
                        "model_version": "gbm-3", "contributions": [{"feature": "amount_zscore", "value": 4.2,
                                                                     "contribution": 1.3}]},
    }  # fmt: skip
    features = {"groups": {"customer_risk": {"freshness": "fresh", "fallback_tier": "online_store", "source": "redis",
                                             "computed_at": None, "is_critical": True, "values": {"chargebacks": 2}}},
                "warnings": [], "degraded": False, "is_complete": True}  # fmt: skip
    record_event(AuditEventType.CASE_OPENED, request_id="r-9", case_id=41, outcome="high")
    record_event(
        AuditEventType.DECISION_EXECUTED, actor="client:acme", request_id="r-9", customer_id="c-1", case_id=41,
        outcome="queued_for_review",
        payload={"transaction": {"request_id": "r-9", "amount": "950.00", "merchant_name": "Shop <b>"},
                 "features": features, "decision": decision,
                 "execution": {"action": "queued_for_review", "reference_id": "case_41", "case_id": 41},
                 "model_version": "gbm-3", "policy_version": "default-1"},
    )  # fmt: skip
    record_event(AuditEventType.CASE_CLAIMED, actor="user:ann", case_id=41, outcome="claimed")
    record_event(AuditEventType.CASE_RESOLVED, actor="user:ann", case_id=41, outcome="declined")
    record_event(AuditEventType.FEEDBACK_RECORDED, request_id="r-9", outcome="fraud_confirmed")

    response = compliance_client.get(reverse("audit:transaction-trail", args=["r-9"]))

    assert response.status_code == 200
    body = response.content.decode()
    assert page_sequences(response) == [2, 3, 4, 5, 6]
    for text in ("950.00", "Shop &lt;b&gt;", "customer_risk", "chargebacks=2", "amount_zscore", "HIGH_AMOUNT",
                 "gbm-3", "case_41", "user:ann", "Case resolved", "fraud_confirmed", "client:acme"):  # fmt: skip
        assert text in body, text


def test_unknown_transaction_is_404(compliance_client):
    assert compliance_client.get(reverse("audit:transaction-trail", args=["nope"])).status_code == 404
