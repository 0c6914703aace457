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
from django.core.management.base import CommandError
from sklearn.ensemble import GradientBoostingClassifier

from decisioning.decision.scoring import ModelScorer
from decisioning.decision.vector import FEATURE_NAMES
from decisioning.management.commands.simulate_history import write_history_csv
from decisioning.ml.replay import Replay, ReplayConfig, ReplayInputError, ReplaySource
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


def _csv(rows: list[tuple[str, datetime, str, str, str]]) -> io.BytesIO:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["transaction_id", "timestamp", "customer_id", "merchant_id", "amount", "is_fraud"])
    for transaction_id, when, customer, merchant, fraud in rows:
        writer.writerow([transaction_id, when.isoformat(), customer, merchant, "30.00", fraud])
    return io.BytesIO(text.getvalue().encode())


def test_labels_are_never_visible_before_their_delay():
    # Given a fraud at merchant M-1, then other customers buying there 3, 6.9 and 7.1 days later
    # (label delay 7 days); each buyer shopped elsewhere two hours earlier, so the model is asked
    buyers = [("fraud", 0.0, "1"), ("d3", 3.0, "0"), ("d6-9", 6.9, "0"), ("d7-1", 7.1, "0")]
    rows = []
    for name, day, fraud in buyers:
        when = START + timedelta(days=day)
        rows.append((f"pre-{name}", when - timedelta(hours=2), f"cust-{name}", "M-other", "0"))
        rows.append((name, when, f"cust-{name}", "M-1", fraud))
    source = ReplaySource.open(_csv(rows))
    # When it is replayed with a model that reads the merchant's known-fraud share
    result = Replay(ReplayConfig(label_delay_days=7), initial_model=_merchant_share_model()).run(source)
    index = {tid: i for i, tid in enumerate(result.transaction_ids)}
    share = FEATURE_NAMES.index("merchant_fraud_share_30d")
    # Then before day 7 the label is invisible (share 0, low score); just after, both change
    assert result.vectors[index["d3"], share] == result.vectors[index["d6-9"], share] == 0.0
    assert result.vectors[index["d7-1"], share] == pytest.approx(1 / 3)
    assert result.scores[index["d3"]] == result.scores[index["d6-9"]] < 0.5
    assert result.scores[index["d7-1"]] > 0.5
    assert result.model_versions[index["d7-1"]] == "share-1"


def _bytes(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


HEADER = "transaction_id,timestamp,customer_id,merchant_id,amount,is_fraud\n"


def test_a_file_out_of_time_order_is_streamed_in_event_time_and_ties_keep_file_order():
    # Given rows out of order, a tie, a quoted memo spanning two lines, a blank line and a BOM
    text = (
        "\ufefftransaction_id,timestamp,customer_id,merchant_id,amount,is_fraud,memo\n"
        "late,2025-05-03T00:00:00+00:00,c1,m1,10.00,0,\n"
        "tie-a,2025-05-02T00:00:00+00:00,c2,m1,10.00,,\n"
        'early,2025-05-01T00:00:00+00:00,c3,m1,10.00,1,"two\nlines, quoted"\n'
        "\n"
        "tie-b,2025-05-02T00:00:00+00:00,c4,m1,10.00,0,\n"
    )
    source = ReplaySource.open(_bytes(text))
    # Then it is validated whole, known to be out of order, and streamed sorted
    assert (source.count, source.in_order) == (4, False)
    assert (source.first, source.last) == (datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 5, 3, tzinfo=UTC))
    rows = [(txn.transaction_id, label) for txn, label in source]
    assert rows == [("early", 1), ("tie-a", None), ("tie-b", 0), ("late", 0)]
    # and a second pass gives the same rows (the replay and its summary read it once each)
    assert [txn.transaction_id for txn, _ in source] == [row[0] for row in rows]


def test_a_file_in_time_order_streams_sequentially():
    text = HEADER + "a,2025-05-01T00:00:00Z,c1,m1,10.00,0\nb,2025-05-01T00:00:00Z,c1,m1,12.50,1\n"
    source = ReplaySource.open(_bytes(text))
    assert source.in_order is True
    assert [(t.transaction_id, str(t.amount), label) for t, label in source] == [("a", "10.00", 0), ("b", "12.50", 1)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a,2025-05-01T00:00:00Z,c1,m1,10.00,0\nb,not-a-time,c1,m1,10.00,0\n", "line 3"),
        ("a,2025-05-01T00:00:00Z,c1,m1,-5,0\n", "line 2: .*amount"),
        ("a,2025-05-01T00:00:00Z,c1,m1,10.00,maybe\n", "is_fraud: 'maybe' is not a boolean"),
    ],
)
def test_a_bad_row_stops_the_replay_before_anything_is_replayed(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + body)
    with pytest.raises(ReplayInputError, match=message):
        ReplaySource.open(path.open("rb"))
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("replay", str(path), "--ignore-active-model", "--scores-out", str(tmp_path / "s.csv"), stdout=out)
    assert not (tmp_path / "s.csv").exists()
    assert "replayed" not in out.getvalue()


def test_missing_columns_and_an_empty_file_are_refused():
    with pytest.raises(ReplayInputError, match="missing required column"):
        ReplaySource.open(_bytes("transaction_id,timestamp\n"))
    with pytest.raises(ReplayInputError, match="empty"):
        ReplaySource.open(_bytes(""))


def test_the_replay_applies_the_live_known_fraud_floor_once_a_label_is_revealed():
    # Given a customer whose fraud at day 0 is revealed (as a chargeback) 7 days later
    rows = [
        ("fraud", START, "cust-f", "M-a", "1"),
        ("day3", START + timedelta(days=3), "cust-f", "M-b", "0"),
        ("day8", START + timedelta(days=8), "cust-f", "M-b", "0"),
    ]
    # When it is replayed with a model that scores it low (the merchants' share stays 0 at M-b)
    result = Replay(ReplayConfig(label_delay_days=7), initial_model=_merchant_share_model()).run(
        ReplaySource.open(_csv(rows))
    )
    index = {tid: i for i, tid in enumerate(result.transaction_ids)}
    # Then before the reveal the model's band stands; after it, the floor steps it up to a challenge
    assert result.scores[index["day3"]] < 0.4 and result.actions[index["day3"]] == "approve"
    assert result.scores[index["day8"]] < 0.4 and result.actions[index["day8"]] == "challenge"
    assert result.policies[index["day8"]] == "floor:known_fraud"
    assert result.vectors[index["day8"], FEATURE_NAMES.index("fraud_score_30d")] == pytest.approx(0.3)


def test_the_replay_applies_the_decline_rate_limit_in_event_time():
    # Given six 20,000 purchases by one customer a minute apart: from the second on, the 1-hour
    # velocity is over the 10,000 limit (a hard decline), and the policy allows 3 declines per 10 min
    text = HEADER + "".join(
        f"v{n},{(START + timedelta(minutes=n)).isoformat()},cust-v,M-v,20000.00,0\n" for n in range(6)
    )
    result = Replay(ReplayConfig(), initial_model=_merchant_share_model()).run(ReplaySource.open(_bytes(text)))
    # Then three declines stand and the next two go to review, as the Execution layer would do live
    # (the first purchase of an unknown customer has no customer_risk yet: review, incomplete features)
    assert result.actions == ["review", "decline", "decline", "decline", "review", "review"]
    assert result.policies == ["incomplete_features"] + ["hard_rule:velocity_limit"] * 3 + ["rate_limit:declines"] * 2
