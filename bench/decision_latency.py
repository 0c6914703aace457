"""In-process decision latency: each layer and the whole pipeline, on PostgreSQL and Redis.

    .venv/bin/python bench/decision_latency.py [--n 500]

Uses its own database (``fde_bench``, created if missing) and Redis db 13, never the test ones.
Prints medians and p99 in milliseconds, and each figure as a ratio of the baseline measured in
the same run: the model's ``predict_proba`` on one row (the irreducible cost of scoring).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fde_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("FDE_VAR_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")
os.environ.setdefault("FDE_LOG_LEVEL", "WARNING")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def timed(fn: Callable[[int], object], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def shadow_service():  # type: ignore[no-untyped-def]
    """The wired service with a shadow deployed: the active artifact registered again as a challenger."""
    from decisioning.ml.registry import stage_model_version
    from decisioning.models import ModelVersion
    from decisioning.service import default_service, reset_default_service

    active = ModelVersion.objects.get(is_active=True)
    shadow, _ = ModelVersion.objects.update_or_create(
        version="bench-shadow",
        defaults={
            "artifact_path": active.artifact_path, "sha256": active.sha256, "feature_names": active.feature_names,
            "metrics": active.metrics, "metadata": active.metadata,
        },
    )  # fmt: skip
    stage_model_version(version=shadow.version, stage="shadow", actor="bench")
    reset_default_service()
    return default_service()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="decisions per measurement")
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from decisioning.clients import internal_client
    from decisioning.decision.vector import feature_vector
    from decisioning.decision.wrappers import champion_of
    from decisioning.features.store import build_store
    from decisioning.ml.registry import unstage_model
    from decisioning.ml.simulator import SimulationConfig, simulate
    from decisioning.models import ModelVersion
    from decisioning.service import default_service, reset_default_service

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    if not ModelVersion.objects.filter(is_active=True).exists():
        print("training a model for the benchmark …", flush=True)
        call_command("train_model", verbosity=0)
    history = simulate(SimulationConfig(seed=99, customers=300, days=10, warmup_days=30))
    rows = list(range(len(history) - args.n, len(history)))
    store = build_store()
    now = datetime.now(UTC)
    for index in rows:
        fs = history.feature_set(index)
        for group in ("customer_risk", "spend_behaviour"):
            store.write_group(group, fs.customer_id, fs.get_vector(group), now)
    service = default_service()
    client = internal_client("bench")
    run = f"{time.time_ns()}"
    shift = timedelta(days=(now - history.timestamp(rows[-1])).days)
    txns = [replace(history.transaction(i), request_id=f"bench-{run}-{i}") for i in rows]
    txns = [replace(t, timestamp=t.timestamp + shift) for t in txns]
    scorer = champion_of(service.decision).model.current()  # type: ignore[attr-defined]
    feature_sets = [service.build_features(t) for t in txns[:20]]  # warm-up
    vectors = [feature_vector(history.feature_set(i)) for i in rows]

    results = {
        "baseline: predict_proba, one row": timed(lambda i: scorer.score(vectors[i]), args.n),
        "feature layer (Redis: stored groups + windows)": timed(lambda i: service.build_features(txns[i]), args.n),
    }
    feature_sets = [service.build_features(t) for t in txns]
    results["decision layer (rules+model+SHAP)"] = timed(lambda i: service.decide(feature_sets[i]), args.n)
    shadowed = shadow_service()
    shadowed.decide(feature_sets[0])  # loads the shadow
    results["decision layer with a shadow model deployed"] = timed(lambda i: shadowed.decide(feature_sets[i]), args.n)
    unstage_model(stage="shadow", actor="bench")
    reset_default_service()
    service = default_service()
    results["full pipeline process() incl. PostgreSQL commit"] = timed(
        lambda i: service.process(txns[i], client=client), args.n
    )
    results["idempotent replay of the same request"] = timed(lambda i: service.process(txns[i], client=client), args.n)

    baseline = statistics.median(results["baseline: predict_proba, one row"])
    print(f"\nFDE in-process decision latency — n={args.n} per row, PostgreSQL + Redis on 127.0.0.1")
    print(f"{'measurement':<50} {'median ms':>10} {'p99 ms':>9} {'× baseline':>11}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<50} {median:>10.3f} {p99(samples):>9.3f} {median / baseline:>11.1f}")
    full = statistics.median(results["full pipeline process() incl. PostgreSQL commit"])
    print(f"\nsequential throughput of the full pipeline: {1000 / full:.0f} decisions/s on one core")


if __name__ == "__main__":
    main()
