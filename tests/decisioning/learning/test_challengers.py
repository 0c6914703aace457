"""Shadow and canary models through the real service: staged, audited, recorded, judged, promoted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent, AuditEventType
from decisioning.contracts import FeatureSet
from decisioning.decision.vector import feature_vector
from decisioning.ml.registry import ActivationRefused, load_model_version, register_model, stage_model_version
from decisioning.ml.simulator import SimulationConfig
from decisioning.ml.training import TrainingConfig, save_artifact, train_model
from decisioning.models import DecisionRecord, ModelVersion

from .conftest import at, txn_body

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def challenger_artifact(tmp_path_factory):
    """A second real model, trained on other simulated history (so its scores differ)."""
    config = TrainingConfig(simulation=SimulationConfig(seed=11, customers=400, days=40), n_estimators=30)
    trained = train_model(config)
    path, sha256 = save_artifact(trained, tmp_path_factory.mktemp("challenger"))
    return trained, path, sha256


@pytest.fixture
def challenger(challenger_artifact, active_model, settings):
    settings.FDE_MODEL_REFRESH_SECONDS = 0.0  # a staging change applies to the very next decision
    trained, path, sha256 = challenger_artifact
    return register_model(
        version="challenger-2", artifact_path=path, sha256=sha256, metadata=trained.metadata,
        metrics=trained.metrics, activate=False, feature_names=trained.metadata["feature_names"],
    )  # fmt: skip


def _stored(request_id: str) -> DecisionRecord:
    return DecisionRecord.objects.get(request_id=request_id)


def _command(*args: str) -> str:
    out = StringIO()
    call_command("models", *args, stdout=out)
    return out.getvalue()


def test_a_shadow_scores_live_decisions_without_acting_and_is_judged_on_labels(
    challenger, active_model, low_risk, decide, send_feedback
):
    # Given the challenger deployed as shadow
    assert "shadow: challenger-2" in _command("shadow", "challenger-2")
    # When transactions are decided
    first = decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=2))))
    second = decide(txn_body(2, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    # Then the champion decides, and the shadow's own score on the same features is stored with it
    assert first["model_version"] == second["model_version"] == active_model.version
    record = _stored("req-loop-1")
    shadow = record.decision["metadata"]["shadow"]
    features = FeatureSet.from_dict(record.feature_set)
    expected = load_model_version(challenger).score(feature_vector(features))
    assert shadow["model_version"] == "challenger-2"
    assert shadow["fraud_score"] == pytest.approx(expected, abs=1e-6)
    assert shadow["fraud_score"] != pytest.approx(record.fraud_score, abs=1e-9)  # a different model
    assert record.decision["explanation"]["model_version"] == active_model.version
    # and when an outcome arrives it is judged against the champion on the same transactions
    send_feedback({"event_id": "cb-1", "outcome": "fraud_confirmed", "request_id": "req-loop-1"})
    send_feedback({"event_id": "ok-2", "outcome": "legitimate", "request_id": "req-loop-2"})
    report = _command("judge", "challenger-2", "--days", "1")
    assert report.startswith("shadow challenger-2")
    assert "shadow challenger-2: 2 decisions" in report
    assert "champion (same transactions): 2 decisions" in report
    assert report.count("labelled 2 (1 fraud)") == 2
    assert "verdict: challenger average precision" in report
    # Staging was audited
    staged = AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED, outcome="shadow:challenger-2")
    assert staged.count() == 1


def test_a_canary_decides_for_its_customers_and_promotion_makes_it_the_champion(
    challenger, active_model, low_risk, decide, client
):
    # Given the challenger as a canary for every customer
    assert "for 100 % of customers" in _command("canary", "challenger-2", "--percent", "100")
    # When a transaction is decided, the canary decides it, with its own explanation
    result = decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    assert result["model_version"] == "challenger-2"
    record = _stored("req-loop-1")
    assert record.decision["metadata"]["canary"]["arm"] == "canary"
    assert record.decision["explanation"]["model_version"] == "challenger-2"
    assert "canary challenger-2 (its customers): 1 decisions" in _command("judge", "challenger-2")
    # When it is promoted, it leaves the canary stage and becomes the only active model
    _command("activate", "challenger-2")
    promoted = ModelVersion.objects.get(version="challenger-2")
    assert (promoted.is_active, promoted.stage, promoted.canary_percent) == (True, "", 0)
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    event = AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED, outcome="challenger-2").get()
    assert event.payload["promoted_from_stage"] == "canary"
    # and the next decision has no canary arm any more
    decide(txn_body(2))
    assert "canary" not in _stored("req-loop-2").decision["metadata"]


def test_staging_refusals_change_nothing(challenger, active_model):
    with pytest.raises(ActivationRefused, match="is the active model"):
        stage_model_version(version=active_model.version, stage="shadow")
    for percent in ("0", "101"):
        with pytest.raises(CommandError, match="1-100"):
            _command("canary", "challenger-2", "--percent", percent)
    with pytest.raises(CommandError, match="no model version"):
        _command("shadow", "nope")
    with pytest.raises(CommandError, match="no shadow model is deployed"):
        _command("unstage", "shadow")
    with pytest.raises(CommandError, match="scored no decision"):
        _command("judge", "challenger-2")
    assert ModelVersion.objects.exclude(stage="").count() == 0
    assert not AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED, outcome__contains=":").exists()


def test_a_new_shadow_replaces_the_old_one_and_unstage_withdraws_it(challenger, active_model, trained_artifact):
    third = register_model(
        version="third-3", artifact_path=challenger.artifact_path, sha256=challenger.sha256,
        metadata=challenger.metadata, metrics={}, activate=False, feature_names=challenger.feature_names,
    )  # fmt: skip
    stage_model_version(version="challenger-2", stage="shadow")
    stage_model_version(version="third-3", stage="shadow")
    assert list(ModelVersion.objects.filter(stage="shadow").values_list("version", flat=True)) == [third.version]
    assert "withdrawn" in _command("unstage", "shadow")
    assert not ModelVersion.objects.filter(stage="shadow").exists()
    lines = _command("list")
    assert "* " + active_model.version in lines


def _signed_in(client, django_user_model, name: str, role: str):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(name, password="pw")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    client.force_login(user)
    return client


def test_the_model_page_stages_and_judges_challengers_for_admins_only(
    challenger, active_model, low_risk, decide, send_feedback, client, django_user_model
):
    # Analysts and compliance see the page but can't stage anything
    for name, role in (("ana", "analyst"), ("cora", "compliance")):
        _signed_in(client, django_user_model, name, role)
        assert "No shadow or canary is deployed" in client.get("/models/").content.decode()
        assert client.post("/models/challenger-2/stage", {"stage": "shadow"}).status_code == 403
        assert client.post("/models/unstage/shadow").status_code == 403
    assert not ModelVersion.objects.exclude(stage="").exists()
    # An admin deploys the shadow from the page
    _signed_in(client, django_user_model, "root", "admin")
    assert client.post("/models/challenger-2/stage", {"stage": "shadow"}).status_code == 302
    assert ModelVersion.objects.get(version="challenger-2").stage == "shadow"
    bad = client.post("/models/challenger-2/stage", {"stage": "canary", "percent": "lots"}, follow=True)
    assert "1-100" in bad.content.decode()
    assert ModelVersion.objects.get(version="challenger-2").stage == "shadow"
    # Decisions and outcomes arrive; the page judges the shadow
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    send_feedback({"event_id": "cb-1", "outcome": "fraud_confirmed", "request_id": "req-loop-1"})
    html = client.get("/models/").content.decode()
    assert 'id="challengers"' in html and "shadow: challenger-2" in html
    assert "shadow challenger-2</th>" in html and "<td>1 (1)</td>" in html
    assert "Same action as the champion on" in html
    assert "Verdict:" in html and "one side lacks both classes" in html
    # The judgement is cached for a while (it reads every decision of the window), unless refreshed
    decide(txn_body(2))
    send_feedback({"event_id": "ok-2", "outcome": "legitimate", "request_id": "req-loop-2"})
    assert "<td>1 (1)</td>" in client.get("/models/").content.decode()
    refreshed = client.get("/models/?refresh=1").content.decode()
    assert "<td>2 (1)</td>" in refreshed and "judge again now" in refreshed
    # and withdraws it
    assert client.post("/models/unstage/shadow").status_code == 302
    assert not ModelVersion.objects.exclude(stage="").exists()
    actors = set(
        AuditEvent.objects.filter(event_type=AuditEventType.MODEL_ACTIVATED, outcome__startswith="shadow:").values_list(
            "actor", flat=True
        )
    )
    assert actors == {"user:root"}


def test_an_ensemble_of_registered_models_is_a_version_like_any_other(
    challenger, active_model, low_risk, decide, settings, tmp_path
):
    settings.FDE_MODEL_DIR = tmp_path
    # Given a vote of the champion and the challenger, registered and deployed as shadow
    out = _command("ensemble", "vote-1", f"{active_model.version}=3", "challenger-2=1")
    assert "ensemble vote-1 = " in out and "0.750" in out and "registered" in out
    vote = ModelVersion.objects.get(version="vote-1")
    assert (vote.is_active, vote.metrics, len(vote.metadata["ensemble"])) == (False, {}, 2)
    _command("shadow", "vote-1")
    # When a transaction is decided, the stored shadow score is the ensemble's on the frozen features
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    record = _stored("req-loop-1")
    scorer = load_model_version(vote)
    vector = feature_vector(FeatureSet.from_dict(record.feature_set))
    assert record.decision["metadata"]["shadow"]["fraud_score"] == pytest.approx(scorer.score(vector), abs=1e-6)
    # Promoted, it decides and explains (its SHAP explanation adds up to its own log-odds)
    _command("activate", "vote-1")
    decide(txn_body(2))
    promoted = _stored("req-loop-2").decision
    assert promoted["model_version"] == "vote-1"
    explanation = promoted["explanation"]
    total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
    assert 1 / (1 + 2.718281828459045**-total) == pytest.approx(promoted["fraud_score"], abs=1e-6)
    assert "weighted sum" in explanation["method"]


def test_an_ensemble_whose_member_was_replaced_does_not_load(challenger, active_model, settings, tmp_path):
    from decisioning.ml.registry import ModelLoadError

    settings.FDE_MODEL_DIR = tmp_path
    _command("ensemble", "vote-2", f"{active_model.version}=1", "challenger-2=1")
    ModelVersion.objects.filter(version="challenger-2").update(sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="member challenger-2 is missing or was replaced"):
        load_model_version(ModelVersion.objects.get(version="vote-2"))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (("challenger-2=lots",), "expected VERSION=WEIGHT"),
        (("challenger-2",), "expected VERSION=WEIGHT"),
        (("challenger-2=1", "nope=1"), "no model version 'nope'"),
        (("challenger-2=1",), "at least two members"),
        (("challenger-2=1", "challenger-2=-1"), "positive"),
    ],
)
def test_bad_ensembles_are_refused_and_register_nothing(challenger, settings, tmp_path, members, message):
    settings.FDE_MODEL_DIR = tmp_path
    with pytest.raises(CommandError, match=message):
        _command("ensemble", "vote-bad", *members)
    assert not ModelVersion.objects.filter(version="vote-bad").exists()
    assert list(tmp_path.iterdir()) == []  # and no artifact file


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 65, ""])
def test_an_ensemble_name_is_never_a_path(challenger, active_model, settings, tmp_path, name):
    settings.FDE_MODEL_DIR = tmp_path / "models"
    with pytest.raises(CommandError, match="is not a version name"):
        _command("ensemble", name, f"{active_model.version}=1", "challenger-2=1")
    assert not (tmp_path / "models").exists() and not (tmp_path / "escape.joblib").exists()
    assert not ModelVersion.objects.filter(version=name).exists()


def test_judge_reads_each_decisions_own_label_even_when_another_client_reused_its_request_id(
    challenger, active_model, low_risk, decide
):
    from decisioning.clients import internal_client
    from decisioning.feedback import feedback_record

    _command("shadow", "challenger-2")
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    shadowed = _stored("req-loop-1")
    # Another client's decision with the same request id (ids are unique per client only), labelled fraud
    other = DecisionRecord.objects.create(
        client=internal_client("other-acquirer"), request_id="req-loop-1", request_hash="1" * 64,
        status=DecisionRecord.Status.DECIDED, transaction_id="txn-other", customer_id="cust-x", amount="5.00",
        currency="USD", event_time=shadowed.event_time, transaction={},
    )  # fmt: skip
    feedback_record(decision=other, outcome="fraud_confirmed", source="other-feed", event_id="o-1", actor="test")
    report = _command("judge", "challenger-2", "--days", "1")
    assert "shadow challenger-2: 1 decisions" in report
    assert report.count("labelled 0 (0 fraud)") == 2  # the other client's label is not this decision's


def test_the_migration_backfills_the_analysis_columns_from_the_stored_json(challenger, active_model, low_risk, decide):
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("decisioning.migrations.0009_decision_analysis_columns").backfill
    _command("shadow", "challenger-2")
    decide(txn_body(1, timestamp=at(datetime.now(UTC) - timedelta(minutes=1))))
    filled = DecisionRecord.objects.values(
        "recommended_action", "is_model_driven", "customer_fraud_score_30d", "challenger"
    ).get(request_id="req-loop-1")
    assert filled["is_model_driven"] is True and filled["challenger"]["shadow"]["model_version"] == "challenger-2"
    # a decision stored before the columns existed
    DecisionRecord.objects.update(
        recommended_action="", is_model_driven=False, customer_fraud_score_30d=None, challenger=None
    )
    backfill(apps, None)
    assert (
        DecisionRecord.objects.values(
            "recommended_action", "is_model_driven", "customer_fraud_score_30d", "challenger"
        ).get(request_id="req-loop-1")
        == filled
    )
