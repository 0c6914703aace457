"""The review pages: role checks on every view, the queue's order, filters and pages, escaping."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent, AuditEventType
from decisioning.models import FeedbackEvent, GatewayCall
from review import services
from review.models import CaseNote, ReviewCase

from .factories import bulk_cases

pytestmark = pytest.mark.django_db

XSS = '<script>window.__pwned=1</script><b onmouseover="x()">Evil & Co</b>'


def post_views(case_id: int) -> dict[str, tuple[str, dict]]:
    return {
        "take-next": (reverse("review:take-next"), {}),
        "claim": (reverse("review:claim", args=[case_id]), {}),
        "release": (reverse("review:release", args=[case_id]), {}),
        "resolve": (reverse("review:resolve", args=[case_id]),
                    {"resolution": "approve", "reason": "customer_confirmed"}),
        "note": (reverse("review:note", args=[case_id]), {"text": "hello"}),
        "bulk": (reverse("review:bulk"), {"action": "release", "case_ids": [case_id]}),
    }  # fmt: skip


def state(case: ReviewCase) -> tuple:
    case.refresh_from_db()
    return (case.status, case.assignee_id, case.resolution, GatewayCall.objects.count(),
            FeedbackEvent.objects.count(), CaseNote.objects.count())  # fmt: skip


class TestRoles:
    def test_anonymous_is_sent_to_login_everywhere(self, client, fallback_case):
        case = fallback_case()
        urls = [reverse("review:queue"), reverse("review:case", args=[case.pk])]
        for url in urls:
            assert client.get(url)["Location"].startswith("/accounts/login/")
        for url, data in post_views(case.pk).values():
            assert client.post(url, data)["Location"].startswith("/accounts/login/")
        assert state(case)[:3] == ("open", None, "")

    def test_user_without_role_gets_403_everywhere_and_it_is_audited(self, signed_in, fallback_case):
        case = fallback_case()
        nobody = signed_in("nobody")
        assert nobody.get(reverse("review:queue")).status_code == 403
        assert nobody.get(reverse("review:case", args=[case.pk])).status_code == 403
        for url, data in post_views(case.pk).values():
            assert nobody.post(url, data).status_code == 403
        denied = AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED, actor="user:nobody")
        assert denied.count() == 8

    def test_compliance_reads_but_every_post_is_refused_and_changes_nothing(self, signed_in, fallback_case, make_user):
        case = fallback_case()
        alice = make_user("alice", "analyst")
        services.case_claim(case_id=case.pk, user=alice)
        officer = signed_in("carol", "compliance")
        queue = officer.get(reverse("review:queue"))
        page = officer.get(reverse("review:case", args=[case.pk]))
        assert (queue.status_code, page.status_code) == (200, 200)
        for html in (queue.content.decode(), page.content.decode()):
            for marker in (
                'id="take-next"',
                'id="claim"',
                'id="approve-form"',
                'id="decline-form"',
                'id="release"',
                'id="bulk-form"',
                'action="/review/cases/',
            ):
                assert marker not in html  # fmt: skip
        before = state(case)
        for name, (url, data) in post_views(case.pk).items():
            assert officer.post(url, data).status_code == 403, name
        assert state(case) == before
        assert AuditEvent.objects.filter(event_type=AuditEventType.PERMISSION_DENIED, actor="user:carol").count() == 6

    def test_analyst_cannot_reach_bulk_actions_by_url(self, signed_in, fallback_case, make_user):
        case = fallback_case()
        services.case_claim(case_id=case.pk, user=make_user("alice", "analyst"))
        bob = signed_in("bob", "analyst")
        before = state(case)
        response = bob.post(reverse("review:bulk"), {"action": "release", "case_ids": [case.pk]})
        assert response.status_code == 403
        assert state(case) == before
        assert 'id="bulk-form"' not in bob.get(reverse("review:queue")).content.decode()

    @pytest.mark.parametrize("role", ["senior_analyst", "admin"])
    def test_seniors_use_bulk_actions(self, signed_in, fallback_case, make_user, role):
        case = fallback_case()
        bob = make_user("bob", "analyst")
        senior = signed_in("sam", role)
        assert 'id="bulk-form"' in senior.get(reverse("review:queue")).content.decode()
        response = senior.post(reverse("review:bulk"), {"action": "assign", "case_ids": [case.pk], "assignee": "bob"})
        assert response.status_code == 302
        case.refresh_from_db()
        assert (case.status, case.assignee) == ("claimed", bob)

    def test_action_views_refuse_get_and_pages_refuse_post(self, signed_in, fallback_case):
        case = fallback_case()
        alice = signed_in("alice", "analyst")
        for url, _ in post_views(case.pk).values():
            assert alice.get(url).status_code == 405
        assert alice.post(reverse("review:queue")).status_code == 405
        assert alice.post(reverse("review:case", args=[case.pk])).status_code == 405

    def test_forms_carry_csrf_tokens(self, signed_in, fallback_case):
        case = fallback_case()
        alice = signed_in("alice", "analyst")
        alice.post(reverse("review:claim", args=[case.pk]))
        html = alice.get(reverse("review:case", args=[case.pk])).content.decode()
        assert html.count("<form") == html.count('name="csrfmiddlewaretoken"') >= 4

    def test_csrf_is_enforced(self, make_user, fallback_case):
        from django.test import Client

        case = fallback_case()
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(make_user("alice", "analyst"))
        assert strict.post(reverse("review:claim", args=[case.pk])).status_code == 403
        assert state(case)[:2] == ("open", None)


class TestAnalystFlow:
    def test_take_next_claim_and_resolve_through_the_views(self, signed_in, fallback_case):
        case = fallback_case()
        alice = signed_in("alice", "analyst")
        response = alice.post(reverse("review:take-next"))
        assert response["Location"] == reverse("review:case", args=[case.pk])
        html = alice.get(response["Location"]).content.decode()
        assert 'id="approve-form"' in html and 'id="decline-form"' in html
        assert "INSUFFICIENT_FEATURES" in html and 'id="no-explanation"' in html
        missing = alice.post(reverse("review:resolve", args=[case.pk]), {"resolution": "approve", "reason": ""})
        assert missing.status_code == 400
        assert state(case)[:3] == ("claimed", case.assignee_id, "")
        done = alice.post(reverse("review:resolve", args=[case.pk]),
                          {"resolution": "decline", "reason": "account_takeover", "note": "ATO"})  # fmt: skip
        assert done.status_code == 302
        html = alice.get(reverse("review:case", args=[case.pk]), follow=True).content.decode()
        assert "Fraud confirmed" in html and "read-only" in html
        assert 'id="approve-form"' not in html and 'id="claim"' not in html

    def test_second_analyst_gets_a_clear_message(self, signed_in, fallback_case):
        case = fallback_case()
        alice, bob = signed_in("alice", "analyst"), signed_in("bob", "analyst")
        alice.post(reverse("review:claim", args=[case.pk]))
        page = bob.post(reverse("review:claim", args=[case.pk]), follow=True).content.decode()
        assert "already claimed by alice" in page

    def test_take_next_on_empty_queue_says_so(self, signed_in, db):
        page = signed_in("alice", "analyst").post(reverse("review:take-next"), follow=True).content.decode()
        assert "The queue is empty" in page


class TestQueuePage:
    def test_rows_in_priority_then_expected_loss_then_age_order(self, signed_in, db):
        bulk_cases(30)
        html = signed_in("alice", "analyst").get(reverse("review:queue")).content.decode()
        shown = [int(x) for x in re.findall(r'data-case="(\d+)"', html)]
        expected = list(ReviewCase.objects.order_by("priority_rank", "-expected_loss", "created_at", "id")
                        .values_list("pk", flat=True))  # fmt: skip
        assert shown == expected

    def test_keyset_pages_cover_every_case_once(self, signed_in, db):
        bulk_cases(130)
        alice = signed_in("alice", "analyst")
        seen, url = [], reverse("review:queue")
        while url:
            html = alice.get(url).content.decode()
            seen += [int(x) for x in re.findall(r'data-case="(\d+)"', html)]
            found = re.search(r'href="(\?[^"]*after=[^"]*)" id="next-page"', html)
            url = reverse("review:queue") + found.group(1).replace("&amp;", "&") if found else ""
        assert len(seen) == 130 and len(set(seen)) == 130

    def test_filters_and_search_live_in_the_url(self, signed_in, db):
        cases = bulk_cases(40)
        alice = signed_in("alice", "analyst")

        def shown(**params) -> set[int]:
            html = alice.get(reverse("review:queue"), params).content.decode()
            return {int(x) for x in re.findall(r'data-case="(\d+)"', html)}

        assert shown(q=cases[5].transaction_id) == {cases[5].pk}
        assert shown(q=cases[6].request_id) == {cases[6].pk}
        assert shown(q="c-3") == {c.pk for c in cases if c.customer_id == "c-3"}
        assert shown(priority="high") == {c.pk for c in cases if c.priority == "high"}
        assert shown(reason="unusual_time") == {c.pk for c in cases if "UNUSUAL_TIME" in c.reason_codes}
        assert shown(amount_min="20", amount_max="30") == {c.pk for c in cases if 20 <= c.amount <= 30}
        assert shown(status="resolved") == set()
        ReviewCase.objects.filter(pk=cases[0].pk).update(status="claimed", assignee=alice.session["_auth_user_id"])
        assert shown(assignee="me") == {cases[0].pk}
        assert shown(assignee="none", status="claimed") == set()

    def test_breached_sla_stands_out(self, signed_in, db):
        cases = bulk_cases(3)
        html = signed_in("alice", "analyst").get(reverse("review:queue")).content.decode()
        assert 'class="breached' not in html
        from django.utils import timezone

        ReviewCase.objects.filter(pk=cases[1].pk).update(sla_due_at=timezone.now().replace(year=2020))
        html = signed_in("bob", "analyst").get(reverse("review:queue")).content.decode()
        assert re.search(rf'class="breached[^"]*" data-case="{cases[1].pk}"', html)
        assert "over by" in html

    @pytest.mark.parametrize("role", ["analyst", "senior_analyst", "compliance"])
    def test_queue_query_count_does_not_grow_with_the_page(self, signed_in, django_assert_max_num_queries, role):
        # session, user, roles, page, bounded count, (analysts for bulk assign), session save + 2 savepoints
        bulk_cases(120)
        user = signed_in("viewer", role)
        user.get(reverse("review:queue"))  # warm the session
        with django_assert_max_num_queries(10):
            first = user.get(reverse("review:queue"))
        found = re.search(r'href="(\?[^"]*after=[^"]*)" id="next-page"', first.content.decode())
        with django_assert_max_num_queries(10):
            user.get(reverse("review:queue") + found.group(1).replace("&amp;", "&"))


class TestCasePage:
    def test_hostile_merchant_name_is_escaped_everywhere(self, signed_in, fallback_case):
        case = fallback_case(merchant_name=XSS)
        alice = signed_in("alice", "analyst")
        for url in (reverse("review:queue"), reverse("review:case", args=[case.pk])):
            html = alice.get(url).content.decode()
            assert "<script>window.__pwned" not in html
            assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
            assert "onmouseover=" not in html.replace("onmouseover=&quot;", "")

    def test_model_case_shows_waterfall_table_features_and_history(self, signed_in, model_case):
        case = model_case()
        alice = signed_in("alice", "analyst")
        alice.post(reverse("review:claim", args=[case.pk]))
        html = alice.get(reverse("review:case", args=[case.pk])).content.decode()
        assert '<svg id="waterfall"' in html and 'id="contributions"' in html
        assert "Customer fraud score (30 days)" in html and "Log-odds scale" in html
        assert "Base value" in html and "Final score" in html
        for group in ("customer_risk", "spend_behaviour", "transaction_context", "session_context"):
            assert group in html
        assert "online_store" in html and "fresh" in html
        assert "threshold:review" in html and case.decision.model_version in html
        assert "case.opened" in html and "case.claimed" in html

    def test_hard_rule_case_names_the_rule(self, signed_in, fallback_case):
        case = fallback_case()
        record = case.decision
        record.decision = {**record.decision, "policy_applied": "hard_rule:velocity_limit",
                           "metadata": {"rule_inputs": {"velocity_1h": 15000.0}}}  # fmt: skip
        record.save()
        html = signed_in("alice", "analyst").get(reverse("review:case", args=[case.pk])).content.decode()
        assert 'id="rule-fired"' in html and "velocity_limit" in html and "15000.0" in html

    def test_unknown_case_is_404(self, signed_in, db):
        assert signed_in("alice", "analyst").get(reverse("review:case", args=[999999])).status_code == 404
