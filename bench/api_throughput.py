"""API throughput and latency under gunicorn, PostgreSQL and Redis, driven from a second process.

    .venv/bin/python bench/api_throughput.py [--seconds 10] [--workers 2]

Starts gunicorn on a free 127.0.0.1 port against its own database (``fde_bench``) and Redis db 13,
then for concurrency 1 and 8 sends POST /api/v1/transactions (new request ids, so every call
decides and commits) and, in the same run, POST /bench/bare — a DRF endpoint that only validates
the same body and returns a constant. Prints decisions/s, p50, p99 and the ratio to the bare
endpoint. Every loop is bounded in time and count; traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fde_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
MAX_REQUESTS_PER_RUN = 200_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "bench.settings_bench",
        "FDE_VAR_DIR": str(ROOT / "var" / "bench"),
        "FDE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def prepare() -> tuple[str, list[str]]:
    """Migrate, train if needed, create a client and write features for a pool of customers."""
    script = r"""
import json, sys
from datetime import UTC, datetime
import django; django.setup()
from django.core.management import call_command
from decisioning.clients import api_client_create
from decisioning.features.store import build_store
from decisioning.ml.simulator import SimulationConfig, simulate
from decisioning.models import ModelVersion
call_command("migrate", verbosity=0)
if not ModelVersion.objects.filter(is_active=True).exists():
    call_command("train_model", verbosity=0)
_, token = api_client_create(name=f"bench-{datetime.now(UTC):%Y%m%d%H%M%S%f}", actor="bench")
history = simulate(SimulationConfig(seed=5, customers=200, days=5, warmup_days=30))
store, now, customers = build_store(), datetime.now(UTC), {}
for i in range(len(history) - 400, len(history)):
    fs = history.feature_set(i)
    for g in ("customer_risk", "spend_behaviour"):
        store.write_group(g, fs.customer_id, fs.get_vector(g), now)
    customers[fs.customer_id] = 1
print(json.dumps({"token": token, "customers": sorted(customers)}))
"""
    sys.path.insert(0, str(ROOT / "bench"))
    from decision_latency import ensure_database

    ensure_database(DATABASE_URL)
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=server_env(), capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["token"], data["customers"]


def start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "fde_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), "--log-level", "warning"],
        cwd=ROOT, env=server_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start within 60 s")


def drive(port: int, path: str, token: str, customers: list[str], concurrency: int, seconds: float) -> list[float]:
    """Closed-loop load: ``concurrency`` keep-alive connections for ``seconds``; returns latencies (ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    counter = iter(range(MAX_REQUESTS_PER_RUN))
    run = time.time_ns()

    def worker(worker_id: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while time.monotonic() < stop_at:
            try:
                n = next(counter)
            except StopIteration:
                break
            body = json.dumps({
                "request_id": f"b{run}-{worker_id}-{n}", "transaction_id": f"t{n}",
                "customer_id": customers[n % len(customers)], "amount": f"{20 + n % 180}.00",
                "merchant_id": "M00001", "mcc": "5411", "country": "US", "channel": "pos",
            })  # fmt: skip
            started = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"{path} answered {response.status}")
            with lock:
                latencies.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return latencies


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    print("preparing database, model and features …", flush=True)
    token, customers = prepare()
    port = free_port()
    server = start_server(port, args.workers)
    try:
        drive(port, "/api/v1/transactions", token, customers, 2, 2.0)  # warm-up: load the model in workers
        rows = []
        for concurrency in (1, 8):
            for label, path in (("decide", "/api/v1/transactions"), ("bare DRF", "/bench/bare")):
                samples = drive(port, path, token, customers, concurrency, args.seconds)
                rows.append((concurrency, label, len(samples) / args.seconds, samples))
    finally:
        server.terminate()
        server.wait(timeout=30)
    cores = os.cpu_count()
    print(
        f"\nFDE API under gunicorn ({args.workers} workers), PostgreSQL + Redis, {cores} cores shared with the client"
    )
    print(f"{'conc':>4} {'endpoint':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s vs bare':>14}")
    bare = {c: rate for c, label, rate, _ in rows if label == "bare DRF"}
    for concurrency, label, rate, samples in rows:
        print(
            f"{concurrency:>4} {label:<10} {rate:>8.1f} {statistics.median(samples):>8.2f} {p99(samples):>8.2f} "
            f"{rate / bare[concurrency]:>14.2f}"
        )


if __name__ == "__main__":
    main()
