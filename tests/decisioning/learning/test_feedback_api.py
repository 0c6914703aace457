"""POST /api/v1/feedback: validated, idempotent, audited; the next transaction sees the outcome at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings

from audit.models import AuditEvent, AuditEventType
from decisioning.models import FeedbackEvent

from .conftest import at, stored_features, txn_body

pytestmark = pytest.mark.django_db


def _stream_entries() -> list:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.xrange(settings.FDE_LABEL_STREAM)


def test_fraud_confirmed_changes_the_next_transactions_features_and_a_duplicate_changes_nothing(
    low_risk, decide, send_feedback
):
    # Given an approved purchase a minute ago
    first = decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    before = stored_features("req-loop-1")
    assert before["customer_risk"]["values"]["fraud_score_30d"] == 0.0
    # When the chargeback feed reports it as fraud
    response = send_feedback({"event_id": "cb-1", "outcome": "fraud_confirmed", "request_id": "req-loop-1"})
    assert response.status_code == 201, response.content
    assert response.json()["is_fraud"] is True
    # Then the customer's next transaction sees the label at once (customer and merchant risk)
    second = decide(txn_body(2))
    after = stored_features("req-loop-2")
    assert after["customer_risk"]["values"]["fraud_score_30d"] == 0.3
    assert after["merchant_risk"]["values"]["merchant_fraud_share_30d"] == 1.0
    # The decision changes: the model scores the new features, and however low its score, the
    # known-fraud floor steps the customer's next purchase up to a challenge instead of approving it.
    assert first["decision"] == "approve"
    assert second["fraud_score"] != first["fraud_score"]
    assert (second["decision"], second["policy_applied"]) == ("challenge", "floor:known_fraud")
    assert second["reason_codes"][0] == "RECENT_CONFIRMED_FRAUD"
    # and it is a label: stored, audited, on the stream a consumer reads
    assert FeedbackEvent.objects.filter(source="chargeback-feed", event_id="cb-1", is_fraud=True).count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.FEEDBACK_RECORDED, request_id="req-loop-1").count() == 1
    entries = _stream_entries()
    assert [fields[b"event_id"] for _, fields in entries] == [b"cb-1"]
    assert entries[0][1][b"outcome"] == b"fraud_confirmed"

    # When the same event is delivered again
    again = send_feedback({"event_id": "cb-1", "outcome": "fraud_confirmed", "request_id": "req-loop-1"})
    # Then nothing changes: 200 duplicate, one event, one audit record, one stream entry, same features
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert FeedbackEvent.objects.count() == 1
    assert AuditEvent.objects.filter(event_type=AuditEventType.FEEDBACK_RECORDED).count() == 1
    assert len(_stream_entries()) == 1
    decide(txn_body(3))
    assert stored_features("req-loop-3")["customer_risk"]["values"]["fraud_score_30d"] == 0.3


def test_the_case_the_floor_opened_tells_the_analyst_why(low_risk, decide, send_feedback, client):
    from django.contrib.auth.models import Group, User
    from django.urls import reverse

    from decisioning.policy import policy_activate
    from review.models import ReviewCase

    # Given a policy whose known-fraud floor is review (the default is challenge)
    policy_activate(version="floor-review-1", changes={"known_fraud_floor": "review"}, actor="test")
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    send_feedback({"event_id": "cb-2", "outcome": "fraud_confirmed", "request_id": "req-loop-1"})
    assert decide(txn_body(2))["decision"] == "review"
    case = ReviewCase.objects.get(decision__request_id="req-loop-2")
    analyst = User.objects.create_user("floor-analyst", password="x")
    analyst.groups.add(Group.objects.get(name="analyst"))
    client.force_login(analyst)

    page = client.get(reverse("review:case", args=[case.pk])).content.decode()

    assert 'id="floor"' in page
    assert "the known-fraud floor sent it to review" in page
    assert "RECENT_CONFIRMED_FRAUD" in page
    assert 'id="waterfall"' in page  # the model's explanation is still shown


def test_disputed_counts_a_dispute_and_transaction_id_finds_the_decision(low_risk, decide, send_feedback):
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    response = send_feedback({"event_id": "cb-9", "outcome": "disputed", "transaction_id": "txn-loop-1"})
    assert response.status_code == 201
    decide(txn_body(2))
    values = stored_features("req-loop-2")["customer_risk"]["values"]
    assert (values["dispute_count_90d"], values["fraud_score_30d"]) == (1, 0.3)


def test_legitimate_outcome_is_a_label_but_raises_no_risk(low_risk, decide, send_feedback):
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    assert send_feedback({"event_id": "ok-1", "outcome": "legitimate", "request_id": "req-loop-1"}).status_code == 201
    decide(txn_body(2))
    values = stored_features("req-loop-2")
    assert values["customer_risk"]["values"]["fraud_score_30d"] == 0.0
    assert values["merchant_risk"]["values"]["merchant_fraud_share_30d"] == 0.0
    assert FeedbackEvent.objects.get().is_fraud is False


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"event_id": "x-1", "outcome": "fraud_confirmed", "request_id": "no-such-request"}, 404, "request_id"),
        ({"event_id": "x-2", "outcome": "stolen", "request_id": "req-loop-1"}, 400, "outcome"),
        ({"event_id": "x-3", "outcome": "fraud_confirmed"}, 400, "request_id"),
        ({"outcome": "fraud_confirmed", "request_id": "req-loop-1"}, 400, "event_id"),
    ],
)
def test_refused_feedback_changes_nothing(low_risk, decide, send_feedback, body, status, field):
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    response = send_feedback(body)
    assert response.status_code == status
    assert field in response.json()["error"]["fields"]
    assert FeedbackEvent.objects.count() == 0
    assert _stream_entries() == []


def test_event_id_reused_for_another_outcome_is_a_conflict(low_risk, decide, send_feedback):
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    send_feedback({"event_id": "cb-1", "outcome": "legitimate", "request_id": "req-loop-1"})
    response = send_feedback({"event_id": "cb-1", "outcome": "fraud_confirmed", "request_id": "req-loop-1"})
    assert response.status_code == 409
    assert list(FeedbackEvent.objects.values_list("outcome", flat=True)) == ["legitimate"]


def test_signed_in_analyst_may_report_and_anonymous_may_not(low_risk, decide, send_feedback, django_user_model):
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    body = {"event_id": "case-77", "outcome": "challenge_failed", "request_id": "req-loop-1"}
    assert send_feedback(body, client=APIClient()).status_code in (401, 403)
    analyst = django_user_model.objects.create_user("ana", password="pw")
    analyst.groups.add(Group.objects.get_or_create(name="analyst")[0])
    browser = APIClient()
    browser.force_authenticate(analyst)
    response = send_feedback(body, client=browser)
    assert response.status_code == 201, response.content
    event = FeedbackEvent.objects.get()
    assert (event.source, event.actor, event.is_fraud) == ("analyst", "user:ana", True)
