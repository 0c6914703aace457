"""After losing the online store, rebuild_features restores windows, labels and aggregates from the DB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from .conftest import at, stored_features, txn_body

pytestmark = pytest.mark.django_db


def test_rebuild_after_a_store_loss_gives_the_same_next_features(redis_client, low_risk, decide, send_feedback):
    # Given three purchases and a chargeback on the first
    base = datetime.now(UTC) - timedelta(minutes=50)
    for number, minutes in ((1, 0), (2, 10), (3, 20)):
        decide(txn_body(number, amount="25.00", timestamp=at(base + timedelta(minutes=minutes)), mcc="5812"))
    send_feedback({"event_id": "cb-1", "outcome": "disputed", "request_id": "req-loop-1"})
    decide(txn_body(4))
    assert stored_features("req-loop-4")["customer_risk"]["values"]["credit_score"] == 780
    before_loss = stored_features("req-loop-4")["merchant_risk"]["values"]
    assert (before_loss["merchant_txn_count_30d"], before_loss["merchant_fraud_share_30d"]) == (3, 1 / 3)
    # When Redis loses everything and the store is rebuilt
    redis_client.flushdb()
    out = StringIO()
    call_command("rebuild_features", stdout=out)
    # Then the next transaction sees every earlier transaction and label again
    decide(txn_body(5))
    rebuilt = stored_features("req-loop-5")
    merchant = rebuilt["merchant_risk"]["values"]
    assert (merchant["merchant_txn_count_30d"], merchant["merchant_fraud_share_30d"]) == (4, 0.25)
    assert rebuilt["spend_windows"]["values"]["txn_count_1d"] == 4
    assert rebuilt["customer_risk"]["values"]["velocity_1h"] == 25 * 3 + 40
    risk = rebuilt["customer_risk"]["values"]
    assert (risk["fraud_score_30d"], risk["dispute_count_90d"], risk["credit_score"]) == (0.3, 1, 780)
    # and the aggregates were recomputed from the stored history
    spend = rebuilt["spend_behaviour"]["values"]
    assert (spend["avg_txn_amount_30d"], spend["top_mcc"]) == (pytest.approx((25 * 3 + 40) / 4), "5812")
    assert "4 transactions and 1 labels" in out.getvalue()


def test_recompute_features_prints_a_summary(low_risk, decide):
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=5))))
    out = StringIO()
    call_command("recompute_features", stdout=out)
    assert "1 customers recomputed, 2 groups written" in out.getvalue()


def test_recompute_keeps_a_pushed_fraud_score_and_labels_still_raise_it(low_risk, feature_store, decide, send_feedback):
    # Given a customer whose fraud score was pushed from outside (a consortium feed, say)
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=5))))
    risk = stored_features("req-loop-1")["customer_risk"]["values"]
    feature_store.write_group("customer_risk", "cust-loop", {**risk, "fraud_score_30d": 0.2}, datetime.now(UTC))
    # When the periodic job recomputes the aggregates from history (which has no labels)
    call_command("recompute_features", stdout=StringIO())
    # Then the pushed value is kept, not overwritten by the label-derived 0.0
    decide(txn_body(2))
    assert stored_features("req-loop-2")["customer_risk"]["values"]["fraud_score_30d"] == 0.2
    # and once a chargeback arrives, the label (0.3) raises it, through another recompute too
    send_feedback({"event_id": "cb-7", "outcome": "disputed", "request_id": "req-loop-1"})
    call_command("recompute_features", stdout=StringIO())
    decide(txn_body(3))
    values = stored_features("req-loop-3")["customer_risk"]["values"]
    assert (values["fraud_score_30d"], values["dispute_count_90d"]) == (0.3, 1)
