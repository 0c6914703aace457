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


def test_an_admin_compares_thresholds_and_proposes_them_and_another_admin_approves(
    page, live_server, make_user, artifacts_dir
):
    from tests.decisioning.test_policy_whatif import stored_decision

    labels = {0.05: "legitimate", 0.45: "legitimate", 0.52: "disputed", 0.74: "legitimate", 0.81: "fraud_confirmed",
              0.93: "disputed"}  # fmt: skip
    for score in (0.05, 0.12, 0.33, 0.45, 0.52, 0.64, 0.74, 0.81, 0.93):
        stored_decision(score, label=labels.get(score))
    make_user("root", "admin")
    make_user("checker", "admin")
    sign_in(page, live_server, "root", "/policy/")
    page.fill("#whatif_challenge_threshold", "0.3")
    page.fill("#whatif_review_threshold", "0.5")
    page.fill("#whatif_decline_threshold", "0.7")
    page.click("#whatif button[type=submit]")
    page.wait_for_url("**/policy/?*decline_threshold=0.7*")
    assert page.locator("#whatif-actions tr[data-action=decline] td").nth(2).inner_text() == "3"
    assert page.locator("#whatif-chart line.threshold").count() == 6
    page.screenshot(path=str(artifacts_dir / "policy-whatif.png"), full_page=True)

    # The maker: the propose form carries the what-if's thresholds; nothing applies yet.
    assert page.input_value("#id_decline_threshold") == "0.7"
    page.fill("#id_version", "tight-e2e")
    page.fill("#id_note", "Fraud caught rises from 2 to 3 on the last 30 days")
    page.click("#propose-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/policy/")
    assert "another admin must approve it" in page.locator(".messages").inner_text()
    assert "default-1" in page.locator("#active-policy h2").inner_text()
    assert page.locator("#withdraw-form").count() == 1 and page.locator("#approve-form").count() == 0
    page.context.clear_cookies()  # sign out: the checker uses the same browser

    # The checker: sees who proposed what and why, against the policy in force, and approves.
    sign_in(page, live_server, "checker", "/policy/")
    card = page.locator("#pending-proposal")
    assert "user:root" in card.inner_text() and "Fraud caught rises" in card.inner_text()
    assert page.locator("#pending-changes tr[data-setting=decline_threshold] td").all_inner_texts() == [
        "decline_threshold", "0.85", "0.7",
    ]  # fmt: skip
    page.click("#pending-whatif")  # the checker recounts history under the proposed thresholds
    page.wait_for_url("**/policy/?*decline_threshold=0.7*")
    assert page.locator("#whatif-actions tr[data-action=decline] td").nth(2).inner_text() == "3"
    page.screenshot(path=str(artifacts_dir / "policy-proposal.png"), full_page=True)
    page.fill("#approve-note", "What-if checked")
    page.click("#approve-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/policy/")
    assert "policy tight-e2e is now active." in page.locator(".messages").inner_text()
    page.screenshot(path=str(artifacts_dir / "policy-approved.png"), full_page=True)
    assert "tight-e2e" in page.locator("#active-policy h2").inner_text()
    assert "decline_threshold: 0.85 → 0.7" in page.locator("#history").inner_text()
    assert page.locator("#pending-proposal").count() == 0
