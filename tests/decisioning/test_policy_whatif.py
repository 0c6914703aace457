"""Threshold what-if: exact counts on a handcrafted history, labels, the floor, the window, the bands."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from decisioning.clients import internal_client
from decisioning.contracts import DecisionAction
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.thresholds import action_for_score
from decisioning.feedback import feedback_record
from decisioning.models import DecisionRecord, FeedbackEvent
from decisioning.policy_whatif import BINS, band_score, threshold_whatif

APPROVE, CHALLENGE, REVIEW, DECLINE = (
    DecisionAction.APPROVE, DecisionAction.CHALLENGE, DecisionAction.REVIEW, DecisionAction.DECLINE,
)  # fmt: skip
# Explicit, so a change of the shipped defaults doesn't change what these tests mean.
ACTIVE = DecisionPolicy(
    version="base", challenge_threshold=0.40, review_threshold=0.60, decline_threshold=0.85,
    known_fraud_score_30d=0.30, known_fraud_floor="review",
)  # fmt: skip
PROPOSED = ACTIVE.replace(version="proposal", challenge_threshold=0.30, review_threshold=0.50, decline_threshold=0.70)
_numbers = itertools.count(1)


def stored_decision(
    score: float | None,
    *,
    days_ago: float = 1,
    is_model_driven: bool = True,
    fraud_score_30d: float = 0.0,
    label: str | None = None,
    status: str = DecisionRecord.Status.DECIDED,
) -> DecisionRecord:
    """A decided transaction as the Execution layer stores it (only the fields the what-if reads matter)."""
    number = next(_numbers)
    record = DecisionRecord(
        client=internal_client(),
        request_id=f"req-whatif-{number}",
        request_hash="0" * 64,
        status=status,
        transaction_id=f"txn-whatif-{number}",
        customer_id=f"cust-{number}",
        amount=Decimal("10.00"),
        currency="USD",
        event_time=timezone.now() - timedelta(days=days_ago),
        transaction={},
        feature_set={"groups": {"customer_risk": {"values": {"fraud_score_30d": fraud_score_30d}}}},
        decision=None if score is None else {"is_model_driven": is_model_driven, "fraud_score": score},
        fraud_score=score,
    )
    record.copy_analysis_columns()  # as the Execution layer does when it stores a decision
    record.save()
    if label is not None:
        label_decision(record, label)
    return record


def label_decision(record: DecisionRecord, outcome: str) -> FeedbackEvent:
    event, _ = feedback_record(
        decision=record, outcome=outcome, source="test", event_id=f"ev-{next(_numbers)}", actor="test"
    )
    return event


@pytest.fixture
def history(db) -> None:
    """Twelve decisions in the window (three labelled fraud, five legitimate) and four that don't count."""
    stored_decision(0.10, label="legitimate")  #           approve   → approve
    stored_decision(0.35)  #                                approve   → challenge
    stored_decision(0.40, label="legitimate")  #           challenge → challenge (on the threshold: higher band)
    stored_decision(0.55, label="fraud_confirmed")  #      challenge → review
    stored_decision(0.60)  #                                review    → review
    stored_decision(0.75, label="legitimate")  #           review    → decline
    stored_decision(0.85, label="disputed")  #             decline   → decline
    stored_decision(0.95, label="legitimate")  #           decline   → decline
    stored_decision(0.20, fraud_score_30d=0.3, label="fraud_confirmed")  # floor: review → review
    stored_decision(0.72, fraud_score_30d=0.6)  #          review    → decline
    stored_decision(0.45, fraud_score_30d=0.3)  #          floor review → floor review
    relabelled = stored_decision(0.30)  #                   approve   → challenge; latest label: legitimate
    first = label_decision(relabelled, "fraud_confirmed")
    later = label_decision(relabelled, "legitimate")
    FeedbackEvent.objects.filter(pk=first.pk).update(recorded_at=timezone.now() - timedelta(hours=2))
    FeedbackEvent.objects.filter(pk=later.pk).update(recorded_at=timezone.now() - timedelta(hours=1))
    # Not counted: a hard rule, an old decision (40 days), a pending request, a failed one.
    stored_decision(0.99, is_model_driven=False, label="fraud_confirmed")
    stored_decision(0.90, days_ago=40)
    stored_decision(None, status=DecisionRecord.Status.PENDING)
    stored_decision(0.5, status=DecisionRecord.Status.FAILED)


def test_counts_actions_moves_and_labels_under_both_policies(history):
    result = threshold_whatif(policy=ACTIVE, proposed=PROPOSED, days=30)
    assert (result.total, result.fraud_labelled, result.legit_labelled) == (12, 3, 5)
    assert result.active.counts == {APPROVE: 3, CHALLENGE: 2, REVIEW: 5, DECLINE: 2}
    assert result.proposed.counts == {APPROVE: 1, CHALLENGE: 3, REVIEW: 4, DECLINE: 4}
    assert result.transitions == {(APPROVE, CHALLENGE): 2, (REVIEW, DECLINE): 2, (CHALLENGE, REVIEW): 1}
    assert result.changed == 5
    assert (result.active.fraud_caught, result.proposed.fraud_caught) == (2, 3)
    assert (result.active.legit_declined, result.proposed.legit_declined) == (1, 2)
    assert sum(result.histogram) == 12 and sum(result.fraud_histogram) == 3
    assert result.histogram[19] == 1  # 0.95
    assert result.until - result.since == timedelta(days=30)


def test_the_same_thresholds_change_nothing(history):
    result = threshold_whatif(policy=ACTIVE, proposed=ACTIVE.replace(version="same"), days=30)
    assert result.active == result.proposed
    assert result.changed == 0 and result.transitions == {}


def test_the_window_is_chosen_in_days_of_transaction_time(history):
    result = threshold_whatif(policy=ACTIVE, proposed=PROPOSED, days=60)
    assert result.total == 13
    assert (result.active.counts[DECLINE], result.proposed.counts[DECLINE]) == (3, 5)


def test_without_the_known_fraud_floor_the_scores_alone_decide(history):
    no_floor = ACTIVE.replace(known_fraud_floor="off")
    result = threshold_whatif(policy=no_floor, proposed=no_floor.replace(version="same"), days=30)
    assert result.active.counts == {APPROVE: 4, CHALLENGE: 3, REVIEW: 3, DECLINE: 2}
    assert result.active.fraud_caught == 1  # the 0.20 fraud is approved without the floor


def test_a_score_of_one_lands_in_the_last_bin(db):
    stored_decision(1.0)
    stored_decision(0.0)
    result = threshold_whatif(policy=ACTIVE, proposed=PROPOSED, days=2)
    assert result.histogram[BINS - 1] == 1 and result.histogram[0] == 1
    assert result.active.counts == {APPROVE: 1, CHALLENGE: 0, REVIEW: 0, DECLINE: 1}


def test_an_empty_window_counts_zero(db):
    result = threshold_whatif(policy=ACTIVE, proposed=PROPOSED, days=1)
    assert result.total == 0 and result.changed == 0 and sum(result.histogram) == 0
    assert result.active.counts == dict.fromkeys((APPROVE, CHALLENGE, REVIEW, DECLINE), 0)


@pytest.mark.parametrize("days", [0, 366, -1])
def test_days_out_of_range_are_refused(days):
    with pytest.raises(ValueError, match="days"):
        threshold_whatif(policy=ACTIVE, proposed=PROPOSED, days=days)


def test_only_thresholds_may_differ():
    with pytest.raises(ValueError, match="thresholds only"):
        threshold_whatif(policy=ACTIVE, proposed=PROPOSED.replace(velocity_1h_limit=1.0), days=30)


@pytest.mark.parametrize(
    "policy", [ACTIVE, PROPOSED, ACTIVE.replace(challenge_threshold=0.0), ACTIVE.replace(decline_threshold=0.6)]
)
def test_each_band_holds_one_action_per_policy(policy):
    """The band representatives agree with action_for_score just inside and on every boundary."""
    bounds = tuple(sorted({policy.challenge_threshold, policy.review_threshold, policy.decline_threshold}))
    for band in range(len(bounds) + 1):
        upper = bounds[band] if band < len(bounds) else 1.0
        inside = [band_score(bounds, band)] + ([upper - 1e-9] if band < len(bounds) else [1.0])
        assert len({action_for_score(score, policy) for score in inside}) == 1
