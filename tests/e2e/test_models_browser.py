"""The model page in a real browser: an admin deploys a shadow and reads its judgement on labels."""

from __future__ import annotations

import pytest

from decisioning.feedback import feedback_record
from decisioning.models import ModelVersion
from decisioning.service import reset_default_service
from tests.e2e.test_compliance_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_deploys_a_shadow_and_reads_its_judgement(
    page, live_server, make_user, model_case, active_model, artifacts_dir
):
    # Given a second registered version (the same artifact under another name is enough for the page)
    ModelVersion.objects.create(
        version="challenger-e2e", artifact_path=active_model.artifact_path, sha256=active_model.sha256,
        feature_names=active_model.feature_names, metrics=active_model.metrics, metadata=active_model.metadata,
    )  # fmt: skip
    make_user("root", "admin")
    sign_in(page, live_server, "root", "/models/")
    assert "No shadow or canary is deployed" in page.locator("main").inner_text()
    # When the admin deploys it as shadow from the page
    page.locator("tr", has_text="challenger-e2e").locator("button", has_text="Shadow").click()
    page.wait_for_load_state()
    assert "challenger-e2e is now the shadow" in page.locator("body").inner_text()
    # and a transaction is decided and later confirmed as fraud
    reset_default_service()  # the wired service picks the shadow up at once
    case = model_case(amount="420.00", merchant_name="Shadow Books")
    assert case.decision.decision["metadata"]["shadow"]["model_version"] == "challenger-e2e"
    feedback_record(decision=case.decision, outcome="fraud_confirmed", source="e2e", event_id="e2e-1", actor="test")
    # Then the challengers card judges it on that label against the champion
    page.reload()
    card = page.locator("section.card", has_text="shadow: challenger-e2e").inner_text()
    assert "Same action as the champion on 100.0 % of the decisions" in card
    assert "Verdict:" in card
    page.screenshot(path=str(artifacts_dir / "models-challengers.png"), full_page=True)
