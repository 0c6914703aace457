"""The policy page: roles, the active policy and its history, the what-if form, direct activation by admins.

Direct activation is the path with four eyes off (``FDE_POLICY_FOUR_EYES=False``); proposals, approvals
and the refusal of direct activation with four eyes on are in test_policy_maker_checker.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import AuditEvent, AuditEventType
from decisioning.decision.policy import DecisionPolicy
from decisioning.models import PolicyVersion
from decisioning.policy import active_policy, policy_activate
from decisioning.policy_views import field_descriptions
from fde_site import roles
from tests.review.conftest import make_user, signed_in  # noqa: F401

from .test_policy_whatif import ACTIVE, history, stored_decision  # noqa: F401

pytestmark = pytest.mark.django_db

PAGE, ACTIVATE, PROPOSE = reverse("policy:page"), reverse("policy:activate"), reverse("policy:propose")
XSS = '<script>window.__pwned=1</script><b onmouseover="x()">'
VALID = {**DecisionPolicy().to_dict(), "version": "tight-2", "based_on": "default-1", "decline_threshold": 0.8}


class FormFields(HTMLParser):
    """The name → value pairs a browser would submit from the form with ``form_id``."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select, self.values = form_id, False, None, {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "form":
            self.inside = attr.get("id") == self.form_id
        elif self.inside and tag == "input" and attr.get("name"):
            self.values[attr["name"]] = attr.get("value") or ""
        elif self.inside and tag == "select":
            self.select = attr["name"]
        elif self.inside and tag == "option" and self.select and "selected" in attr:
            self.values[self.select] = attr["value"]

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != "form"


def form_fields(html: str, form_id: str) -> dict[str, str]:
    parser = FormFields(form_id)
    parser.feed(html)
    return parser.values


@pytest.fixture
def four_eyes_off(settings) -> None:
    settings.FDE_POLICY_FOUR_EYES = False


def policy_state() -> tuple:
    return (
        list(PolicyVersion.objects.values_list("version", "is_active", "settings")),
        AuditEvent.objects.filter(event_type=AuditEventType.POLICY_CHANGED).count(),
        active_policy(),
    )


def table_row(html: str, attribute: str, key: str) -> list[str]:
    row = re.search(rf'<tr {attribute}="{key}">(.*?)</tr>', html, re.S)
    assert row, f"no row {key}"
    return [cell.strip() for cell in re.findall(r'<td class="num"[^>]*>(.*?)</td>', row.group(1), re.S)]


# ------------------------------------------------------------------ roles


def test_anonymous_is_sent_to_login_and_changes_nothing(client):
    before = policy_state()
    assert client.get(PAGE)["Location"].startswith(reverse("login"))
    assert client.post(ACTIVATE, VALID)["Location"].startswith(reverse("login"))
    assert client.post(PROPOSE, {**VALID, "note": "n"})["Location"].startswith(reverse("login"))
    assert policy_state() == before


def test_a_user_without_a_role_gets_403_and_it_is_audited(signed_in):  # noqa: F811
    nobody = signed_in("nobody")
    before = policy_state()
    assert nobody.get(PAGE).status_code == 403
    assert nobody.post(ACTIVATE, VALID).status_code == 403
    assert policy_state() == before
    denied = AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED, actor="user:nobody")
    assert [event.payload["path"] for event in denied.order_by("sequence")] == [PAGE, ACTIVATE]


@pytest.mark.parametrize("role", roles.READERS)
def test_every_reader_sees_the_policy_with_descriptions(signed_in, role):  # noqa: F811
    response = signed_in(f"user-{role}", role).get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "default-1" in html and "score ≥ this → decline" in html and "known_fraud_floor" in html
    assert ('id="propose-form"' in html) is (role == roles.ADMIN)  # four eyes is on by default
    assert 'id="activate-form"' not in html


@pytest.mark.parametrize("role", [roles.ANALYST, roles.SENIOR_ANALYST, roles.COMPLIANCE])
def test_only_admins_may_activate_and_a_refusal_changes_nothing(signed_in, four_eyes_off, role):  # noqa: F811
    user = signed_in(f"user-{role}", role)
    html = user.get(PAGE).content.decode()
    assert 'action="/policy/activate"' not in html and 'id="activate-form"' not in html
    before = policy_state()
    response = user.post(ACTIVATE, VALID)
    assert response.status_code == 403
    assert "Only admins can change the decision policy" in response.content.decode()
    assert policy_state() == before
    assert user.get(ACTIVATE).status_code == 405


def test_the_page_itself_refuses_writes(signed_in):  # noqa: F811
    admin = signed_in("root", roles.ADMIN)
    for method in ("post", "put", "delete"):
        assert getattr(admin, method)(PAGE).status_code == 405


# ------------------------------------------------------------------ the policy in force and its history


def test_every_policy_field_has_a_one_line_description():
    descriptions = field_descriptions()
    assert set(descriptions) == set(DecisionPolicy().to_dict())
    assert all(text and "\n" not in text for text in descriptions.values())
    assert descriptions["known_fraud_score_30d"].startswith("A customer whose fraud_score_30d is at or above")


def test_history_is_newest_first_with_what_changed(signed_in):  # noqa: F811
    default = DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY)
    first = {"decline_threshold": 0.8, "review_threshold": 0.6, "known_fraud_floor": "review"}
    policy_activate(version="v-1", changes=first, actor="user:ann")
    policy_activate(version="v-2", changes={"review_threshold": 0.55, "known_fraud_floor": "decline"}, actor="user:bo")
    html = signed_in("ana", roles.ANALYST).get(PAGE).content.decode()
    history_table = html[html.index('id="history"') :]
    assert history_table.index("v-2") < history_table.index("v-1")
    assert "known_fraud_floor: review → decline" in history_table and "review_threshold: 0.6 → 0.55" in history_table
    assert f"decline_threshold: {default.decline_threshold} → 0.8" in history_table  # v-1 against the default
    v2_row = history_table[history_table.index("v-2") : history_table.index("v-1")]
    assert "decline_threshold" not in v2_row and "user:bo" in v2_row and "active" in v2_row


def test_hostile_values_are_escaped(signed_in):  # noqa: F811
    policy_activate(version=XSS[:64], changes={"decline_threshold": 0.9}, actor=XSS)
    html = signed_in("ana", roles.ANALYST).get(PAGE, {"days": XSS}).content.decode()
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "onmouseover=" not in html.replace("onmouseover=&quot;", "")


# ------------------------------------------------------------------ what-if


@pytest.fixture
def base_policy(db) -> None:
    """The policy the handcrafted history is counted against (see test_policy_whatif.ACTIVE)."""
    policy_activate(version=ACTIVE.version, changes=ACTIVE.to_dict(), actor="user:ann")


def test_the_what_if_shows_exact_counts_and_a_chart(signed_in, base_policy, history):  # noqa: F811
    query = {"challenge_threshold": "0.3", "review_threshold": "0.5", "decline_threshold": "0.7", "days": "30"}
    response = signed_in("ana", roles.ANALYST).get(PAGE, query)
    html = response.content.decode()
    assert response.status_code == 200
    assert [table_row(html, "data-action", action) for action in ("approve", "challenge", "review", "decline")] == [
        ["3", "1", "-2"], ["2", "3", "+1"], ["5", "4", "-1"], ["2", "4", "+2"],
    ]  # fmt: skip
    assert table_row(html, "data-metric", "fraud-caught") == ["2", "3"]
    assert table_row(html, "data-metric", "legit-declined") == ["1", "2"]
    assert table_row(html, "data-metric", "changed") == ["5"]
    assert "12 model-driven decisions" in html and "3 labelled fraud, 5 labelled legitimate" in html
    chart = html[html.index('<svg id="whatif-chart"') : html.index("</svg>", html.index('<svg id="whatif-chart"'))]
    assert chart.count('class="threshold active"') == 3 and chart.count('class="threshold proposed"') == 3
    assert chart.count('class="bar all"') == 20
    assert 'id="change"' not in html and 'method="post" action="/policy/' not in html  # analysts see no change form


def test_without_parameters_the_what_if_compares_the_policy_with_itself(signed_in, base_policy, history):  # noqa: F811
    html = signed_in("ana", roles.ANALYST).get(PAGE).content.decode()
    assert table_row(html, "data-action", "review") == ["5", "5", "0"]
    assert table_row(html, "data-metric", "changed") == ["0"]


def test_an_empty_window_says_so(signed_in):  # noqa: F811
    stored_decision(0.5, days_ago=10)
    html = signed_in("ana", roles.ANALYST).get(PAGE, {"days": "5"}).content.decode()
    assert 'id="whatif-empty"' in html and 'id="whatif-chart"' not in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"decline_threshold": "high"}, "Enter a number."),
        ({"decline_threshold": "1.5"}, "less than or equal to 1"),
        ({"challenge_threshold": "-0.1"}, "greater than or equal to 0"),
        ({"decline_threshold": "nan"}, "Enter a number."),
        ({"challenge_threshold": "0.7", "review_threshold": "0.6"}, "Thresholds must be ordered"),
        ({"days": "0"}, "greater than or equal to 1"),
        ({"days": "366"}, "less than or equal to 365"),
        ({"days": "week"}, "Enter a whole number."),
        ({"days": ""}, "This field is required."),
    ],
)
def test_invalid_what_if_input_is_a_400_with_the_errors_and_nothing_computed(signed_in, history, query, message):  # noqa: F811
    response = signed_in("ana", roles.ANALYST).get(PAGE, query)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert 'id="whatif-actions"' not in html and 'id="whatif-chart"' not in html and 'id="whatif-empty"' not in html


# ------------------------------------------------------------------ direct activation (four eyes off)


def test_an_admin_activates_from_the_rendered_form_and_it_is_audited(signed_in, four_eyes_off):  # noqa: F811
    admin = signed_in("root", roles.ADMIN)
    page = admin.get(PAGE, {"decline_threshold": "0.8", "review_threshold": "0.5"}).content.decode()
    assert "Four eyes is off" in page and "not implemented" not in page and 'id="propose-form"' not in page
    submitted = form_fields(page, "activate-form")
    assert (submitted["decline_threshold"], submitted["review_threshold"], submitted["based_on"]) == (
        "0.8", "0.5", "default-1",
    )  # fmt: skip  # prefilled from the what-if
    response = admin.post(ACTIVATE, {**submitted, "version": "tight-1"}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert "Policy tight-1 is now active." in response.content.decode()
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.review_threshold) == ("tight-1", 0.8, 0.5)
    assert policy.challenge_threshold == 0.40 and policy.velocity_1h_limit == 10_000.0  # the rest unchanged
    stored = PolicyVersion.objects.get()
    assert (stored.created_by, stored.is_active) == ("user:root", True)
    event = AuditEvent.objects.get(event_type=AuditEventType.POLICY_CHANGED)
    assert (event.actor, event.payload["from"]["decline_threshold"], event.payload["to"]["decline_threshold"]) == (
        "user:root", 0.85, 0.8,
    )  # fmt: skip


def test_every_policy_field_can_be_changed(signed_in, four_eyes_off):  # noqa: F811
    admin = signed_in("root", roles.ADMIN)
    changed = {**VALID, "known_fraud_floor": "off", "decline_rate_limit_count": "5", "velocity_1h_limit": "5000"}
    assert admin.post(ACTIVATE, changed).status_code == 302
    policy = active_policy()
    assert (policy.known_fraud_floor, policy.decline_rate_limit_count, policy.velocity_1h_limit) == ("off", 5, 5000.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decline_threshold": "0.3"}, "Thresholds must be ordered"),
        ({"decline_threshold": "1.2"}, "must be between 0 and 1"),
        ({"review_threshold": "soon"}, "Enter a number."),
        ({"decline_rate_limit_count": "0"}, "greater than or equal to 1"),
        ({"known_fraud_floor": "maybe"}, "Select a valid choice."),
        ({"version": ""}, "This field is required."),
        ({"version": "existing"}, "exists already; versions are never reused"),
        ({"based_on": "someone-elses-1"}, "The policy changed since this page was loaded"),
        ({}, "Nothing changed: change at least one setting."),
    ],
)
def test_invalid_activation_is_a_400_with_errors_and_changes_nothing(signed_in, four_eyes_off, changes, message):  # noqa: F811
    policy_activate(version="existing", changes={"high_priority_score": 0.7}, actor="user:ann")
    admin = signed_in("root", roles.ADMIN)
    before = policy_state()
    form = {**active_policy().to_dict(), "version": "new-1", "based_on": "existing", **changes}
    response = admin.post(ACTIVATE, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert policy_state() == before


def test_the_activation_form_needs_the_csrf_token(make_user, four_eyes_off):  # noqa: F811
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("root", roles.ADMIN))
    before = policy_state()
    assert browser.post(ACTIVATE, VALID).status_code == 403
    assert policy_state() == before
