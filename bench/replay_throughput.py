"""Replay throughput: simulated history through ``manage.py replay``'s engine, rows per second.

    .venv/bin/python bench/replay_throughput.py [--customers 2000] [--days 60] [--retrain-every-days 7]
    .venv/bin/python bench/replay_throughput.py --file history.csv   # an existing replay file

The replay is isolated (in-memory store, no database writes), so this needs no services. Prints
the time to validate the file, to replay it (streamed), the rate, the models trained on the way
and the peak resident memory.
The issue's bar: 1,000,000 transactions in under 30 minutes on 2 cores (≥ 556 rows/s).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")
os.environ.setdefault("FDE_LOG_LEVEL", "WARNING")


def main() -> None:
    import django

    django.setup()
    from decisioning.management.commands.simulate_history import write_history_csv
    from decisioning.ml.replay import Replay, ReplayConfig, ReplaySource
    from decisioning.ml.simulator import SimulationConfig, simulate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--retrain-every-days", type=int, default=7)
    parser.add_argument("--warmup-days", type=int, default=14)
    args = parser.parse_args()
    path = args.file
    if path is None:
        history = simulate(SimulationConfig(customers=args.customers, days=args.days, mean_txns_per_day=2.0))
        path = Path(tempfile.mkdtemp()) / "history.csv"
        write_history_csv(history, path)
    started = time.perf_counter()
    with path.open("rb") as handle:
        source = ReplaySource.open(handle)
        read_seconds = time.perf_counter() - started
        config = ReplayConfig(retrain_every_days=args.retrain_every_days, warmup_days=args.warmup_days)
        result = Replay(config).run(source)
    rate = source.count / result.seconds_taken
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows                 {source.count:>12,}")
    print(f"validate             {read_seconds:>12.1f} s")
    print(f"replay               {result.seconds_taken:>12.1f} s")
    print(f"rate                 {rate:>12,.0f} rows/s")
    print(f"models trained       {len(result.models):>12}")
    print(f"1M rows would take   {1_000_000 / rate / 60:>12.1f} min")
    print(f"peak RSS             {peak_mb:>12,.0f} MB")


if __name__ == "__main__":
    main()
