"""The review queue in a real browser: sign in, take next, read the explanation, resolve; roles; escaping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from decisioning.decision.vector import FEATURE_NAMES
from review.models import ReviewCase
from tests.review.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">Evil & Co <b>bold</b>'


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next=/review/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/review/")


@pytest.fixture
def busy_queue(model_case, fallback_case):
    """A queue with model-driven cases (one high priority, one past its SLA) and a fallback case."""
    top = model_case(amount="1890.00", merchant_name="Gadget Hut", country="GB", card_country="US")
    ReviewCase.objects.filter(pk=top.pk).update(priority="high", priority_rank=0)
    model_case(amount="420.00", merchant_name="Corner Books")
    late = model_case(amount="75.00", merchant_name="Night Owl Taxi")
    ReviewCase.objects.filter(pk=late.pk).update(sla_due_at=timezone.now() - timedelta(minutes=42))
    fallback_case(amount="60.00", merchant_name="New Customer Café")
    return top


def test_analyst_takes_next_reads_waterfall_and_resolves(page, live_server, make_user, busy_queue, artifacts_dir):
    make_user("alice", "analyst")
    sign_in(page, live_server, "alice")
    assert page.locator("tr[data-case]").count() == 4
    assert page.locator("tr.breached").count() == 1
    page.screenshot(path=str(artifacts_dir / "review-queue.png"), full_page=True)

    page.click("#take-next")
    page.wait_for_url(f"{live_server.url}/review/cases/{busy_queue.pk}/")
    chart = page.locator("svg#waterfall")
    assert chart.is_visible()
    assert chart.locator("rect").count() >= 5
    assert "Log-odds scale" in chart.text_content()
    table = page.locator("table#contributions")
    assert table.is_visible()
    assert table.locator("tbody tr").count() == len(FEATURE_NAMES) + 2  # every model feature, base and final
    assert "Customer fraud score (30 days)" in table.inner_text()
    page.screenshot(path=str(artifacts_dir / "review-case.png"), full_page=True)

    page.select_option("#decline-reason", "customer_denied")
    page.fill("#decline-note", "Customer says the card is in her wallet; never shopped there.")
    page.click("#decline-form button[type=submit]")
    page.wait_for_selector("#resolution")
    assert page.locator("#outcome").inner_text() == "Fraud confirmed"
    assert page.locator("#approve-form").count() == 0
    page.screenshot(path=str(artifacts_dir / "review-case-resolved.png"), full_page=True)
    busy_queue.refresh_from_db()
    assert (busy_queue.status, busy_queue.resolution, busy_queue.outcome) == ("resolved", "decline", "fraud_confirmed")


def test_reason_is_mandatory_in_the_browser(page, live_server, make_user, fallback_case):
    case = fallback_case()
    make_user("alice", "analyst")
    sign_in(page, live_server, "alice")
    page.click("#take-next")
    page.click("#approve-form button[type=submit]")  # the browser refuses the empty required select
    assert page.url.endswith(f"/review/cases/{case.pk}/")
    case.refresh_from_db()
    assert case.status == "claimed"


def test_compliance_sees_the_case_without_action_buttons(page, live_server, make_user, model_case, artifacts_dir):
    case = model_case()
    make_user("carol", "compliance")
    sign_in(page, live_server, "carol")
    assert page.locator("#take-next").count() == 0
    page.click(f"tr[data-case='{case.pk}'] a")
    page.wait_for_selector("svg#waterfall")
    for selector in ("#case-actions", "#claim", "#approve-form", "#decline-form", "#release", "form[action*='/notes']"):
        assert page.locator(selector).count() == 0, selector
    page.screenshot(path=str(artifacts_dir / "review-case-compliance.png"), full_page=True)


def test_hostile_merchant_name_is_text_never_executed(page, live_server, make_user, fallback_case, artifacts_dir):
    case = fallback_case(merchant_name=HOSTILE)
    make_user("alice", "analyst")
    sign_in(page, live_server, "alice")
    row = page.locator(f"tr[data-case='{case.pk}']")
    assert "<script>window.__pwned = 1</script>" in row.inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.goto(f"{live_server.url}/review/cases/{case.pk}/")
    assert page.locator("#merchant-name").inner_text() == HOSTILE
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#merchant-name img, #merchant-name script, #merchant-name b").count() == 0
    page.screenshot(path=str(artifacts_dir / "review-case-hostile-merchant.png"), full_page=True)
