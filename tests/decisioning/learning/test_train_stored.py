"""train_model on the stored labelled history: point-in-time vectors, labels known by now, a label delay."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from decisioning.clients import api_client_create
from decisioning.decision.vector import FEATURE_NAMES, MERCHANT_RISK_FEATURES
from decisioning.ml.simulator import SimulationConfig, simulate
from decisioning.models import DecisionRecord, FeedbackEvent, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_history():
    """Simulated decisions stored as the service stores them, shifted to end 3 days ago; frauds reported."""
    client, _ = api_client_create(name="history", actor="test")
    history = simulate(SimulationConfig(seed=9, customers=250, days=36))
    shift = timezone.now() - timedelta(days=3) - history.timestamp(len(history) - 1)
    records = []
    for index in range(len(history)):
        txn = history.transaction(index)
        fs = history.feature_set(index).to_dict()
        records.append(DecisionRecord(
            client=client, request_id=txn.request_id, request_hash="0" * 64, status=DecisionRecord.Status.DECIDED,
            transaction_id=txn.transaction_id, customer_id=txn.customer_id, merchant_id=txn.merchant_id,
            amount=txn.amount, currency="USD", event_time=txn.timestamp + shift, transaction=txn.to_dict(),
            feature_set=fs,
        ))  # fmt: skip
    DecisionRecord.objects.bulk_create(records, batch_size=2000)
    frauds = DecisionRecord.objects.filter(request_id__in=[history.transaction(i).request_id for i in
                                                           range(len(history)) if history.labels[i]])  # fmt: skip
    FeedbackEvent.objects.bulk_create([
        FeedbackEvent(
            source="chargebacks", event_id=f"cb-{record.pk}", decision=record, request_id=record.request_id,
            customer_id=record.customer_id, merchant_id=record.merchant_id, outcome="disputed", is_fraud=True,
            occurred_at=record.event_time + timedelta(days=2), recorded_at=record.event_time + timedelta(days=2),
            actor="test",
        ) for record in frauds if record.event_time + timedelta(days=2) < timezone.now()
    ])  # fmt: skip
    return history


def test_trains_on_stored_history_with_a_label_delay_and_records_it(stored_history, settings, tmp_path):
    settings.FDE_MODEL_DIR, settings.FDE_MIN_FRAUD_LABELS = tmp_path, 5
    out = StringIO()
    call_command("train_model", "--source", "stored", "--label-delay-days", "7", "--trees", "30", stdout=out)
    record = ModelVersion.objects.get()
    assert record.is_active and record.metadata["data"]["source"] == "stored"
    assert record.feature_names == list(FEATURE_NAMES)
    assert record.metadata["label_delay_days"] == 7
    # the decisions of the last 7 days are left out: their labels may still be coming
    latest = max(r.event_time for r in DecisionRecord.objects.all())
    assert record.metadata["holdout_window"]["end"] <= (latest - timedelta(days=4)).isoformat()
    counts = record.metadata["label_counts"]
    assert counts["train"]["fraud"] > 0 and counts["holdout"]["fraud"] > 0
    for name in ("roc_auc", "average_precision", "card_precision_at_100"):
        assert 0.0 <= record.metrics[name] <= 1.0
    assert "card precision@100" in out.getvalue()


def test_without_merchant_features_and_falls_back_to_simulated_when_too_few_labels(stored_history, settings, tmp_path):
    settings.FDE_MODEL_DIR, settings.FDE_MIN_FRAUD_LABELS = tmp_path, 5
    call_command("train_model", "--features", "no-merchant", "--trees", "20", "--no-activate", stdout=StringIO())
    assert not set(MERCHANT_RISK_FEATURES) & set(ModelVersion.objects.get().feature_names)
    FeedbackEvent.objects.all().delete()
    out = StringIO()
    call_command("train_model", "--customers", "300", "--days", "40", "--trees", "20", stdout=out)
    fallback = ModelVersion.objects.get(is_active=True)
    assert fallback.metadata["data"]["source"] == "simulator"
    assert "fraud labels train/held-out 0/0" in fallback.metadata["data"]["fallback_reason"]
    assert "falling back to simulated history" in out.getvalue()
