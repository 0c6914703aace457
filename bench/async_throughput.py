"""Asynchronous throughput: one Celery worker per layer, submissions faster than the workers.

    .venv/bin/python bench/async_throughput.py [--n 2000] [--customers 200]

Uses its own PostgreSQL database (``fde_bench_async``) and Redis db 12 (online features and the
broker, the broker under the key prefix ``fde-bench:``). Starts four workers on this machine —
``-Q features``, ``-Q decisions``, ``-Q execution`` (concurrency 1 each) and ``-Q outbox`` — then
submits N transactions as fast as one thread can through the async submit service (the same
code as ``POST /api/v1/transactions/async`` minus HTTP), samples the queue lengths (Redis LLEN)
while the workers catch up, and prints decisions/s from first submit to last decision, p50/p99
of submit → decided, the peak depth per queue, and checks that all N were decided exactly once.
Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fde_bench_async")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
KEYPREFIX = "fde-bench:"
QUEUES = ("features", "decisions", "execution", "outbox")
MAX_N = 20_000
ENV = {
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": REDIS_URL,
    "FDE_CELERY_KEYPREFIX": KEYPREFIX,
    "DJANGO_SETTINGS_MODULE": "fde_site.settings.local",
    "FDE_VAR_DIR": str(ROOT / "var" / "bench"),
    "FDE_LOG_LEVEL": "WARNING",
    # the backlog is expected here: don't let the drainer re-enqueue requests that are merely queued
    "FDE_OUTBOX_REDISPATCH_AFTER_SECONDS": "3600",
}


def setup_django() -> None:
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from decision_latency import ensure_database

    ensure_database(DATABASE_URL)
    import django

    django.setup()


def prepare(customers: int) -> tuple[object, list[str]]:
    """Migrate, train if needed, empty the Redis db, a fresh client, low-risk features for a pool."""
    import redis
    from django.core.management import call_command

    from decisioning.clients import api_client_create
    from decisioning.features.store import build_store
    from decisioning.models import ModelVersion

    call_command("migrate", verbosity=0)
    if not ModelVersion.objects.filter(is_active=True).exists():
        call_command("train_model", verbosity=0)
    redis.Redis.from_url(REDIS_URL).flushdb()
    client, _ = api_client_create(name=f"bench-async-{datetime.now(UTC):%Y%m%d%H%M%S%f}", actor="bench")
    store, now = build_store(), datetime.now(UTC)
    pool = [f"BA{index:05d}" for index in range(customers)]
    risk = {"credit_score": 760, "fraud_score_30d": 0.0, "account_age_months": 60, "dispute_count_90d": 0,
            "velocity_1h": 0.0, "velocity_24h": 80.0, "international_ratio": 0.1}  # fmt: skip
    spend = {"avg_txn_amount_30d": 50.0, "std_txn_amount_30d": 20.0, "top_mcc": "5411", "unique_merchants_7d": 4,
             "weekend_spend_ratio": 0.3}  # fmt: skip
    for customer in pool:
        store.write_group("customer_risk", customer, risk, now)
        store.write_group("spend_behaviour", customer, spend, now)
    return client, pool


def start_workers(log_dir: Path) -> list[subprocess.Popen[bytes]]:
    log_dir.mkdir(parents=True, exist_ok=True)
    celery = str(ROOT / ".venv" / "bin" / "celery")
    processes = []
    for queue in QUEUES:
        command = [celery, "-A", "fde_site", "worker", "-Q", queue, "-c", "1", "--pool", "prefork",
                   "-n", f"bench-{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "--loglevel", "INFO"]  # fmt: skip
        log = (log_dir / f"{queue}.log").open("wb")
        processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **ENV},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 90
    for queue in QUEUES:
        while " ready." not in (log_dir / f"{queue}.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {queue} not ready in 90 s; see {log_dir}")
            time.sleep(0.2)
    return processes


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class DepthSampler(threading.Thread):
    """LLEN of every queue every 0.25 s while the run lasts."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import redis

        self.redis = redis.Redis.from_url(REDIS_URL)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopping.is_set():
            depths = {queue: int(self.redis.llen(f"{KEYPREFIX}{queue}")) for queue in QUEUES}
            self.samples.append((time.monotonic() - started, depths))
            self.stopping.wait(0.25)


def run(n: int, customers: int) -> None:
    from django.db.models import Count

    from audit.models import AuditEvent, AuditEventType
    from decisioning.contracts import TransactionIn
    from decisioning.execution.idempotency import transaction_hash
    from decisioning.execution.pipeline import async_submit
    from decisioning.models import DecisionRecord

    client, pool = prepare(customers)
    run_id = f"{datetime.now(UTC):%H%M%S}"
    processes = start_workers(ROOT / "var" / "bench" / "async-workers")
    sampler = DepthSampler()
    try:
        sampler.start()
        submit_started = time.monotonic()
        for index in range(n):
            txn = TransactionIn.from_dict({
                "request_id": f"ba{run_id}-{index}", "transaction_id": f"bt{run_id}-{index}",
                "customer_id": pool[index % len(pool)],
                "amount": f"{20 + index % 50}.50", "merchant_id": "M00001", "mcc": "5411",
                "timestamp": datetime.now(UTC).isoformat(),
            })  # fmt: skip
            async_submit(client=client, txn=txn, request_hash=transaction_hash(txn))
        submit_seconds = time.monotonic() - submit_started
        records = DecisionRecord.objects.filter(client=client)
        deadline = time.monotonic() + max(120.0, n * 0.5)
        while records.filter(status="decided").count() < n and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        sampler.stopping.set()
        sampler.join(timeout=5)
        stop_workers(processes)
    report(n, submit_seconds, records, sampler.samples)
    executed = (
        AuditEvent.objects.filter(event_type=AuditEventType.DECISION_EXECUTED, request_id__startswith=f"ba{run_id}-")
        .filter(request_id__in=records.values("request_id"))
        .values("request_id").annotate(times=Count("id")).filter(times__gt=1).count()
    )  # fmt: skip
    print(f"executed more than once: {executed}")


def report(n: int, submit_seconds: float, records: object, samples: list[tuple[float, dict[str, int]]]) -> None:
    rows = list(records.values_list("created_at", "decided_at", "status"))  # type: ignore[attr-defined]
    decided = [(created, done) for created, done, state in rows if state == "decided" and done]
    delays = sorted((done - created).total_seconds() * 1000 for created, done in decided)
    first, last = min(c for c, _ in decided), max(d for _, d in decided)
    span = (last - first).total_seconds()
    print(f"submitted {n} in {submit_seconds:.2f} s ({n / submit_seconds:.0f}/s, one thread)")
    print(f"decided {len(decided)}/{n}; pending/failed {n - len(decided)}")
    print(f"throughput first submit → last decision: {len(decided) / span:.1f} decisions/s over {span:.1f} s")
    print(f"submit → decided: p50 {statistics.median(delays):.0f} ms, p99 {delays[int(len(delays) * 0.99) - 1]:.0f} ms,"
          f" max {delays[-1]:.0f} ms")  # fmt: skip
    for queue in QUEUES:
        peak_at, peak = max(((at, depths[queue]) for at, depths in samples), key=lambda item: item[1])
        print(f"queue {queue:<9} peak depth {peak:>5} at t={peak_at:5.1f} s")
    step = max(1, len(samples) // 12)
    print("depth timeline (t s: features/decisions/execution):")
    print("  " + "  ".join(f"{at:.0f}:{d['features']}/{d['decisions']}/{d['execution']}" for at, d in samples[::step]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    setup_django()
    run(min(args.n, MAX_N), args.customers)


if __name__ == "__main__":
    main()
