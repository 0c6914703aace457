"""Replay: every row scored, event time, isolated, and labels never visible before their delay."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from sklearn.ensemble import GradientBoostingClassifier

from decisioning.decision.scoring import ModelScorer
from decisioning.decision.vector import FEATURE_NAMES
from decisioning.management.commands.simulate_history import write_history_csv
from decisioning.ml.replay import Replay, ReplayConfig, read_rows
from decisioning.ml.simulator import SimulationConfig, simulate
from decisioning.models import DecisionRecord, FeedbackEvent, ModelVersion

START = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_small_simulated_file_gets_a_score_for_every_row_and_touches_no_live_state(tmp_path, redis_client):
    # Given a small simulated history as a CSV
    history = simulate(SimulationConfig(seed=21, customers=250, days=30, merchants_per_country=40))
    source = tmp_path / "history.csv"
    rows = write_history_csv(history, source)
    # When it is replayed with weekly retraining
    scores, summary = tmp_path / "scores.csv", tmp_path / "summary.json"
    out = StringIO()
    call_command(
        "replay", str(source), "--retrain-every-days", "7", "--warmup-days", "10", "--trees", "20",
        "--scores-out", str(scores), "--summary-json", str(summary), stdout=out,
    )  # fmt: skip
    # Then every row has a score, a decision and the model (or fallback) that gave it
    with scores.open() as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == rows == len(history)
    assert {row["transaction_id"] for row in written} == {f"tx-21-{i}" for i in range(rows)}
    assert all(0.0 <= float(row["fraud_score"]) <= 1.0 and row["decision"] for row in written)
    assert any(row["model_version"].startswith("replay-") for row in written)
    report = json.loads(summary.read_text())
    assert sum(week["volume"] for week in report["weeks"]) == rows
    assert len(report["models"]) >= 2  # the warm-up model, then weekly retrains
    assert "ROC AUC" in out.getvalue()
    # and nothing live was touched: no decisions, labels, models, nor online features
    assert (DecisionRecord.objects.count(), FeedbackEvent.objects.count(), ModelVersion.objects.count()) == (0, 0, 0)
    assert redis_client.dbsize() == 0


def _merchant_share_model() -> ModelScorer:
    """A model that scores by the merchant's known-fraud share: a leaked label would show in the score."""
    rng = np.random.default_rng(0)
    matrix = np.zeros((400, len(FEATURE_NAMES)))
    share = FEATURE_NAMES.index("merchant_fraud_share_30d")
    matrix[:, share] = rng.random(400) * 0.5
    labels = (matrix[:, share] > 0.1).astype(int)
    model = GradientBoostingClassifier(n_estimators=10, max_depth=1).fit(matrix, labels)
    return ModelScorer(model, version="share-1", feature_names=FEATURE_NAMES)


def _csv(rows: list[tuple[str, datetime, str, str, str]]) -> io.StringIO:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["transaction_id", "timestamp", "customer_id", "merchant_id", "amount", "is_fraud"])
    for transaction_id, when, customer, merchant, fraud in rows:
        writer.writerow([transaction_id, when.isoformat(), customer, merchant, "30.00", fraud])
    text.seek(0)
    return text


def test_labels_are_never_visible_before_their_delay():
    # Given a fraud at merchant M-1, then other customers buying there 3, 6.9 and 7.1 days later
    # (label delay 7 days); each buyer shopped elsewhere two hours earlier, so the model is asked
    buyers = [("fraud", 0.0, "1"), ("d3", 3.0, "0"), ("d6-9", 6.9, "0"), ("d7-1", 7.1, "0")]
    rows = []
    for name, day, fraud in buyers:
        when = START + timedelta(days=day)
        rows.append((f"pre-{name}", when - timedelta(hours=2), f"cust-{name}", "M-other", "0"))
        rows.append((name, when, f"cust-{name}", "M-1", fraud))
    txns, labels = read_rows(_csv(rows))
    # When it is replayed with a model that reads the merchant's known-fraud share
    result = Replay(ReplayConfig(label_delay_days=7), initial_model=_merchant_share_model()).run(txns, labels)
    index = {tid: i for i, tid in enumerate(result.transaction_ids)}
    share = FEATURE_NAMES.index("merchant_fraud_share_30d")
    # Then before day 7 the label is invisible (share 0, low score); just after, both change
    assert result.vectors[index["d3"], share] == result.vectors[index["d6-9"], share] == 0.0
    assert result.vectors[index["d7-1"], share] == pytest.approx(1 / 3)
    assert result.scores[index["d3"]] == result.scores[index["d6-9"]] < 0.5
    assert result.scores[index["d7-1"]] > 0.5
    assert result.model_versions[index["d7-1"]] == "share-1"
