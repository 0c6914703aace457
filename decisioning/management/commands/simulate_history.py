"""``python manage.py simulate_history OUT.csv``: a simulated history as a replay input file.

Columns: transaction_id, timestamp, customer_id, merchant_id, amount, country, card_country,
channel, mcc, device_known, ip_matches_billing, auth_method, is_fraud. The defaults give ~150
days, 5,000 customers and 10,000 merchants (~1.5M rows, fraud well under 1 %).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from decisioning.ml.simulator import COUNTRIES, SimulatedHistory, SimulationConfig, simulate

COLUMNS = (
    "transaction_id", "timestamp", "customer_id", "merchant_id", "amount", "country", "card_country",
    "channel", "mcc", "device_known", "ip_matches_billing", "auth_method", "is_fraud",
)  # fmt: skip


def write_history_csv(history: SimulatedHistory, path: Path) -> int:
    """Write every row of ``history`` to ``path``; returns the number of rows."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        labels = history.labels.tolist()
        for index in range(len(history)):
            txn = history.transaction(index)
            writer.writerow([
                txn.transaction_id, txn.timestamp.isoformat(), txn.customer_id, txn.merchant_id, str(txn.amount),
                txn.country, txn.card_country, txn.channel.value, txn.mcc, int(txn.device_known),
                int(txn.ip_matches_billing), txn.auth_method.value, labels[index],
            ])  # fmt: skip
    return len(history)


class Command(BaseCommand):
    help = "Write a simulated labelled history as a CSV for manage.py replay."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out", type=Path)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--customers", type=int, default=5_000)
        parser.add_argument("--days", type=int, default=150)
        parser.add_argument(
            "--merchants", type=int, default=10_000, help=f"total, spread over {len(COUNTRIES)} countries"
        )
        parser.add_argument("--txns-per-day", type=float, default=2.0, help="mean per customer")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        config = SimulationConfig(
            seed=options["seed"],
            customers=options["customers"],
            days=options["days"],
            merchants_per_country=max(options["merchants"] // len(COUNTRIES), 1),
            mean_txns_per_day=options["txns_per_day"],
        )
        history = simulate(config)
        rows = write_history_csv(history, options["out"])
        self.stdout.write(
            f"wrote {rows:,} transactions ({history.fraud_rate:.3%} fraud) to {options['out']} "
            f"in {time.perf_counter() - started:.1f} s"
        )
