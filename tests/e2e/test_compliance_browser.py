"""The overview and the compliance audit pages in a real browser: find a transaction's story and export it."""

from __future__ import annotations

import csv
import io

import pytest

from tests.review.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username: str, next_url: str = "/") -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_url}")


def test_overview_shows_decisions_cases_and_model(page, live_server, make_user, model_case, artifacts_dir):
    case = model_case(amount="310.00", merchant_name="Corner Books")
    make_user("ana", "analyst")
    sign_in(page, live_server, "ana")
    text = page.locator("main").inner_text()
    assert "Open review cases" in text
    assert case.request_id in text
    assert "queued_for_review" in text
    assert "gbm-" in text  # the active model version
    page.screenshot(path=str(artifacts_dir / "overview.png"), full_page=True)


def test_compliance_finds_the_story_of_a_transaction_and_exports_it(
    page,
    live_server,
    make_user,
    model_case,
    artifacts_dir,
):
    case = model_case(amount="1890.00", merchant_name="Gadget Hut")
    make_user("carla", "compliance")
    sign_in(page, live_server, "carla", "/audit/")
    page.fill("input[name=request_id]", case.request_id)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**/audit/?*request_id={case.request_id}*")
    rows = page.locator("table tbody tr")
    assert rows.count() >= 2  # case opened and decision executed
    assert "decision.executed" in page.locator("table").inner_text()
    page.screenshot(path=str(artifacts_dir / "audit-events.png"), full_page=True)

    page.goto(f"{live_server.url}/audit/transactions/{case.request_id}/")
    story = page.locator("main").inner_text()
    assert "Gadget Hut" in story
    assert case.request_id in story
    page.screenshot(path=str(artifacts_dir / "audit-transaction.png"), full_page=True)

    response = page.request.get(f"{live_server.url}/audit/export.csv?request_id={case.request_id}")
    assert response.status == 200
    lines = [line for line in response.text().splitlines() if line and not line.startswith("#")]
    exported = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert {row["request_id"] for row in exported} == {case.request_id}
    assert "decision.executed" in {row["event_type"] for row in exported}
    # read-only: the only form that posts is the sign-out button
    assert page.locator("main form[method=post]").count() == 0
