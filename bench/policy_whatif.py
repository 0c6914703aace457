"""Policy what-if and challenger judgement on 100,000 stored decisions, and the pages that show them.

    .venv/bin/python bench/policy_whatif.py [--decisions 100000] [--runs 20] [--reseed]

Uses its own PostgreSQL database (``fde_bench_policy``, created if missing; its name must contain
"bench", since seeding empties the decision tables) and Redis db 14, never the test ones. Seeds the
decisions with bulk inserts, as the pipeline with a shadow deployed stores them (DecisionResult with
its SHAP explanation and ``metadata["shadow"]``, the FeatureSet), spread over the last 30 days of
transaction time, with outcomes for ~5 % of them (1 in 50 of those fraud); a seed of the requested
size is reused, moved forward in time so that it fills the window again. Times ``threshold_whatif``,
``judge`` of the shadow, and full renders of ``/policy/`` with a what-if query and ``/models/`` (which
judges the deployed challengers: fresh with ``?refresh=1``, then from its two-minute cache) through
Django's test Client as an admin. Prints medians and p99 in milliseconds (with 20 runs the p99 is
the slowest run), and each figure as a ratio of the baseline measured in the same run: a plain
``SELECT count(*)`` over the same 30-day window of decisions.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fde_bench_policy")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("FDE_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("FDE_LOG_LEVEL", "WARNING")


from decision_latency import ensure_database  # noqa: E402 (after the environment it reads)

ensure_database(os.environ["DATABASE_URL"])

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F, Max  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.http import urlencode  # noqa: E402

from decisioning.clients import internal_client  # noqa: E402
from decisioning.contracts import DecisionAction  # noqa: E402
from decisioning.decision.policy import DecisionPolicy  # noqa: E402
from decisioning.decision.thresholds import action_for_score, apply_floor, policy_applied_for  # noqa: E402
from decisioning.decision.vector import FEATURE_NAMES  # noqa: E402
from decisioning.ml.judge import judge  # noqa: E402
from decisioning.ml.registry import stage_model_version  # noqa: E402
from decisioning.models import ApiClient, DecisionRecord, FeedbackEvent, ModelVersion  # noqa: E402
from decisioning.policy import active_policy  # noqa: E402
from decisioning.policy_whatif import threshold_whatif  # noqa: E402
from fde_site.roles import ADMIN  # noqa: E402

BATCH = 5_000
DAYS = 30
#: Seeded transaction times end this far before "now" and start this far after the window's start,
#: so every row stays inside the 30-day window for the whole run.
MARGIN = timedelta(hours=1)
CHAMPION, SHADOW = "gbm-bench-champion", "bench-shadow"
PROPOSED = {"challenge_threshold": 0.35, "review_threshold": 0.55, "decline_threshold": 0.90}
REASONS = (["MODEL_RISK_SCORE"], ["HIGH_VELOCITY", "UNUSUAL_TIME"], ["INTERNATIONAL_TRANSACTION"],
           ["UNRECOGNISED_DEVICE", "UNUSUAL_TIME"])  # fmt: skip


# ------------------------------------------------------------------ seeding


def seed(count: int, policy: DecisionPolicy) -> None:
    db_name = connection.settings_dict["NAME"]
    if "bench" not in db_name:
        raise SystemExit(f"refusing to seed {db_name!r}: the database name must contain 'bench'")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE decisioning_feedbackevent, decisioning_decisionrecord CASCADE")
    client, rng, now = internal_client("bench-policy"), random.Random(42), timezone.now()
    step = (timedelta(days=DAYS) - 2 * MARGIN) / max(count - 1, 1)
    started = time.perf_counter()
    for offset in range(0, count, BATCH):
        numbers = range(offset, min(offset + BATCH, count))
        records = DecisionRecord.objects.bulk_create(
            [_record(client, i, now - MARGIN - i * step, policy, rng) for i in numbers]
        )
        FeedbackEvent.objects.bulk_create([_label(record, i, now) for i, record in zip(numbers, records, strict=True)
                                           if _is_labelled(i)])  # fmt: skip
        if (offset + BATCH) % 20_000 == 0 or offset + BATCH >= count:
            print(f"  seeded {min(offset + BATCH, count):,} / {count:,} decisions "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)  # fmt: skip
    vacuum()
    print(f"seeded {count:,} decisions and {FeedbackEvent.objects.count():,} labels "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip


def _is_labelled(i: int) -> bool:
    return i % 20 == 0  # 5 % of the decisions have an outcome …


def _is_fraud(i: int) -> bool:
    return i % 1_000 == 0  # … and 1 in 50 of those is fraud


def _record(
    client: ApiClient, i: int, event_time: datetime, policy: DecisionPolicy, rng: random.Random
) -> DecisionRecord:
    customer = f"cust-{i % 20_000}"
    fraud_30d = 0.3 if i % 20_000 % 100 == 0 else round(rng.random() * 0.01, 6)  # 1 % of customers: known fraud
    # Labelled fraud and 3 % of the rest score high, most low: the what-if moves decisions between bands,
    # and judge's ROC AUC / average precision mean something.
    score = rng.betavariate(4, 3) if _is_fraud(i) or rng.random() < 0.03 else rng.betavariate(0.6, 12)
    shadow_score = min(1.0, max(0.0, score + rng.gauss(0, 0.05)))
    amount = Decimal(5 + (i * 7919) % 4000) + Decimal(i % 100) / 100
    txn = {"schema_version": "1.0", "request_id": f"bench-policy-{i}", "transaction_id": f"bench-txn-{i}",
           "customer_id": customer, "merchant_id": f"m-{i % 500}", "merchant_name": f"Merchant {i % 500}",
           "amount": str(amount), "currency": "USD", "mcc": "5999", "channel": "online", "country": "GB",
           "card_country": "GB", "timestamp": event_time.isoformat()}  # fmt: skip
    decision = _decision(txn["request_id"], score, shadow_score, fraud_30d, policy, rng)
    record = DecisionRecord(
        client=client, request_id=txn["request_id"], request_hash="0" * 64, status="decided",
        transaction_id=txn["transaction_id"], customer_id=customer, merchant_id=txn["merchant_id"], amount=amount,
        currency="USD", event_time=event_time, transaction=txn,
        feature_set=_feature_set(txn, event_time, float(amount), fraud_30d, rng), decision=decision,
        action=decision["action"], fraud_score=score, model_version=CHAMPION, policy_version=policy.version,
        created_at=event_time, decided_at=event_time + timedelta(milliseconds=30),
    )  # fmt: skip
    record.copy_analysis_columns()  # as the Execution layer does when it stores a decision
    return record


def _decide(score: float, fraud_30d: float, policy: DecisionPolicy) -> tuple[DecisionAction, str]:
    """The live model path's action and ``policy_applied``: the threshold band, raised by the known-fraud floor."""
    action = action_for_score(score, policy)
    is_known_fraud = policy.known_fraud_floor != "off" and fraud_30d >= policy.known_fraud_score_30d
    floored = apply_floor(action, DecisionAction(policy.known_fraud_floor) if is_known_fraud else None)
    return floored, "floor:known_fraud" if floored is not action else policy_applied_for(action)


def _decision(
    request_id: str, score: float, shadow_score: float, fraud_30d: float, policy: DecisionPolicy, rng: random.Random
) -> dict[str, Any]:
    """A ``DecisionResult.to_dict()`` of the champion, with what the shadow said in its metadata."""
    action, applied = _decide(score, fraud_30d, policy)
    shadow_action, shadow_applied = _decide(shadow_score, fraud_30d, policy)
    reasons = ["WITHIN_NORMAL_PARAMETERS"] if action is DecisionAction.APPROVE else REASONS[rng.randrange(4)]
    shadow = {"model_version": SHADOW, "fraud_score": round(shadow_score, 6), "action": shadow_action.value,
              "policy_applied": shadow_applied, "is_model_driven": True}  # fmt: skip
    contributions = [{"feature": name, "value": round(rng.random() * 3, 6), "contribution": rng.gauss(0, 0.1)}
                     for name in FEATURE_NAMES]  # fmt: skip
    return {
        "schema_version": "1.0", "request_id": request_id, "action": action.value, "fraud_score": score,
        "confidence": max(score, 1 - score), "reason_codes": reasons, "policy_applied": applied,
        "is_model_driven": True, "model_version": CHAMPION, "policy_version": policy.version,
        "explanation": {"method": "shap.TreeExplainer", "base_value": -6.03, "output_space": "log_odds",
                        "contributions": contributions, "model_version": CHAMPION},
        "degraded": False, "metadata": {"shadow": shadow},
    }  # fmt: skip


def _feature_set(
    txn: dict[str, Any], built_at: datetime, amount: float, fraud_30d: float, rng: random.Random
) -> dict[str, Any]:
    """A ``FeatureSet.to_dict()``; the what-if reads ``customer_risk.values.fraud_score_30d``."""
    values = {
        "customer_risk": {"velocity_1h": 0.0, "velocity_24h": round(rng.random() * 500, 2), "credit_score": 640.0,
                          "fraud_score_30d": fraud_30d, "dispute_count_90d": 0, "account_age_months": 60,
                          "international_ratio": 0.0},
        "spend_behaviour": {"top_mcc": "5999", "avg_txn_amount_30d": 94.1, "std_txn_amount_30d": 78.6,
                            "unique_merchants_7d": 4, "weekend_spend_ratio": 0.18},
        "spend_windows": {"txn_count_1d": 1, "txn_count_7d": 5, "txn_count_30d": 20, "avg_amount_1d": 80.0,
                          "avg_amount_7d": 90.0, "avg_amount_30d": 94.1},
        "merchant_risk": {"merchant_txn_count_1d": 40, "merchant_txn_count_7d": 280, "merchant_txn_count_30d": 1200,
                          "merchant_fraud_share_1d": 0.0, "merchant_fraud_share_7d": 0.001,
                          "merchant_fraud_share_30d": 0.002},
        "transaction_context": {"mcc": "5999", "amount": amount, "amount_log": 5.3, "is_night": False,
                                "is_online": True, "is_international": False, "merchant_country": "GB"},
        "session_context": {"auth_method": "3ds", "ip_country_match": True, "device_fingerprint_match": True},
    }  # fmt: skip
    stamp = built_at.isoformat()
    return {
        "schema_version": "1.0", "request_id": txn["request_id"], "customer_id": txn["customer_id"],
        "groups": {name: {"name": name, "source": "request" if name.endswith("context") else "redis",
                          "values": group, "freshness": "fresh", "computed_at": stamp,
                          "is_critical": name == "customer_risk", "fallback_tier": "online_store"}
                   for name, group in values.items()},
        "built_at": stamp, "warnings": [], "degraded": False, "is_complete": True,
    }  # fmt: skip


def _label(record: DecisionRecord, i: int, now: datetime) -> FeedbackEvent:
    occurred = min(record.event_time + timedelta(days=3), now)
    outcome = FeedbackEvent.Outcome.FRAUD_CONFIRMED if _is_fraud(i) else FeedbackEvent.Outcome.LEGITIMATE
    return FeedbackEvent(
        source="bench", event_id=f"bench-outcome-{i}", decision=record, request_id=record.request_id,
        customer_id=record.customer_id, merchant_id=record.merchant_id, outcome=outcome, is_fraud=_is_fraud(i),
        occurred_at=occurred, recorded_at=occurred, actor="bench",
    )  # fmt: skip


def redate() -> None:
    """Move a reused seed forward in time so that it fills the last 30 days again."""
    newest = DecisionRecord.objects.aggregate(newest=Max("event_time"))["newest"]
    shift = timezone.now() - MARGIN - newest
    if shift < timedelta(minutes=10):
        print("reusing the seeded decisions (--reseed to rebuild them)")
        return
    DecisionRecord.objects.update(event_time=F("event_time") + shift, created_at=F("created_at") + shift,
                                  decided_at=F("decided_at") + shift)  # fmt: skip
    FeedbackEvent.objects.update(occurred_at=F("occurred_at") + shift, recorded_at=F("recorded_at") + shift)
    vacuum()
    print(f"reusing the seeded decisions, moved {shift} forward in transaction time (--reseed to rebuild them)")


def vacuum() -> None:
    # A table at rest has been vacuumed by autovacuum: fresh statistics and a visibility map.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE decisioning_decisionrecord")
        cursor.execute("VACUUM ANALYZE decisioning_feedbackevent")


def deploy_shadow() -> None:
    """Register the shadow (its artifact is never loaded: judging reads stored decisions) and stage it."""
    record, _ = ModelVersion.objects.update_or_create(
        version=SHADOW,
        defaults={
            "artifact_path": str(ROOT / "var" / "bench" / "models" / f"{SHADOW}.joblib"), "sha256": "0" * 64,
            "feature_names": list(FEATURE_NAMES),
            "metrics": {"roc_auc": 0.95, "average_precision": 0.61, "card_precision_at_100": 0.7,
                        "pr_curve": [{"threshold": t / 10, "precision": 0.2 + t / 15, "recall": 1 - t / 10}
                                     for t in range(10)]},
        },
    )  # fmt: skip
    if record.stage != ModelVersion.Stage.SHADOW:
        stage_model_version(version=SHADOW, stage=ModelVersion.Stage.SHADOW, actor="bench")


def admin_client() -> Client:
    user, _ = User.objects.get_or_create(username="bench-admin")
    user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
    client = Client()
    client.force_login(user)
    return client


# ------------------------------------------------------------------ measuring


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def count_window() -> int:
    """The baseline: a plain count of the decisions in the window the what-if and judge read."""
    until = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM decisioning_decisionrecord WHERE event_time >= %s AND event_time <= %s",
            [until - timedelta(days=DAYS), until],
        )
        return int(cursor.fetchone()[0])


def page(client: Client, url: str, marker: str) -> Callable[[], None]:
    def get() -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert marker in response.content.decode(), f"{marker!r} not rendered by {url}"

    return get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per measurement")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    policy = active_policy()
    if args.reseed or DecisionRecord.objects.count() != args.decisions:
        seed(args.decisions, policy)
    else:
        redate()
    deploy_shadow()
    in_window = count_window()
    print(f"database {connection.settings_dict['NAME']}: {in_window:,} decisions in the last {DAYS} days")
    proposed = policy.replace(version=f"{policy.version} (bench what-if)", **PROPOSED)
    client = admin_client()
    query = urlencode({**{name: str(value) for name, value in PROPOSED.items()}, "days": str(DAYS)})
    results = {
        f"baseline: SELECT count(*) over the {DAYS}-day window": timed(count_window, args.runs),
        "threshold_whatif (active vs proposed)": timed(
            lambda: threshold_whatif(policy=policy, proposed=proposed, days=DAYS), args.runs
        ),
        f"judge({SHADOW!r}) shadow vs champion": timed(lambda: judge(SHADOW, days=DAYS), args.runs),
        "GET /policy/?… what-if (admin, full render)": timed(
            page(client, f"/policy/?{query}", "model-driven decisions with a transaction time"), args.runs
        ),
        "GET /models/?refresh=1 judging the shadow (admin)": timed(
            page(client, "/models/?refresh=1", "Verdict:"), args.runs
        ),
        "GET /models/ judgement from the cache (admin)": timed(page(client, "/models/", "Verdict:"), args.runs),
    }
    summarise(results, args.runs, in_window, policy, proposed)


def summarise(
    results: dict[str, list[float]], runs: int, in_window: int, policy: DecisionPolicy, proposed: DecisionPolicy
) -> None:
    baseline = statistics.median(next(iter(results.values())))
    print(f"\nFDE policy what-if and challenger judgement — {in_window:,} decisions, {runs} runs per row, "
          "PostgreSQL + Redis on 127.0.0.1")  # fmt: skip
    print(f"{'measurement':<50} {'median ms':>10} {'p99 ms':>9} {'× baseline':>11}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<50} {median:>10.1f} {p99(samples):>9.1f} {median / baseline:>11.1f}")
    whatif = threshold_whatif(policy=policy, proposed=proposed, days=DAYS)
    judgement = judge(SHADOW, days=DAYS)
    assert judgement is not None, "the shadow judged nothing"
    print(f"\nwhat-if: {whatif.total:,} model-driven decisions, {whatif.changed:,} would change "
          f"({whatif.fraud_labelled:,} labelled fraud, {whatif.legit_labelled:,} legitimate)")  # fmt: skip
    print(f"judge: {judgement.challenger.decisions:,} shadowed decisions, "
          f"agreement {judgement.agreement_percent or 0:.1f} %; {judgement.verdict()}")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('decisioning_decisionrecord')), "
                       "current_setting('server_version')")  # fmt: skip
        size, version = cursor.fetchone()
    print(f"decisioning_decisionrecord: {size} with indexes and TOAST")
    print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL {version}")


if __name__ == "__main__":
    main()
