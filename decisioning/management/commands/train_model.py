"""``python manage.py train_model``: train on simulated history, save, register (and activate)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from decisioning.decision.policy import DecisionPolicy
from decisioning.ml.simulator import SimulationConfig
from decisioning.ml.training import TrainingConfig, TrainingError, train_and_register


class Command(BaseCommand):
    help = "Train the fraud model on simulated history, register it, and (by default) make it active."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        defaults, fitting = SimulationConfig(), TrainingConfig()
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--customers", type=int, default=defaults.customers)
        parser.add_argument("--days", type=int, default=defaults.days, help="labelled days (after a 30-day warm-up)")
        parser.add_argument("--trees", type=int, default=fitting.n_estimators)
        parser.add_argument("--model-dir", default=None, help="defaults to settings.FDE_MODEL_DIR")
        parser.add_argument(
            "--activate", action=argparse.BooleanOptionalAction, default=True, help="make it the active model"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["customers"] < 50 or options["days"] < 8:
            raise CommandError("need at least 50 customers and 8 days")
        config = TrainingConfig(
            simulation=SimulationConfig(seed=options["seed"], customers=options["customers"], days=options["days"]),
            n_estimators=options["trees"],
            policy=DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY),
        )
        started = time.perf_counter()
        try:
            trained, record = train_and_register(
                config, activate=options["activate"], model_dir=options["model_dir"], progress=self._progress
            )
        except (TrainingError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self._summary(trained.metrics, record, time.perf_counter() - started)

    def _progress(self, message: str) -> None:
        self.stdout.write(f"  {message}")

    def _summary(self, metrics: dict[str, Any], record: Any, seconds: float) -> None:
        self.stdout.write(self.style.SUCCESS(f"model {record.version}"))
        self.stdout.write(f"  held-out ROC AUC    {metrics['roc_auc']:.4f}")
        self.stdout.write(f"  average precision   {metrics['average_precision']:.4f}")
        for threshold, row in metrics["at_thresholds"].items():
            self.stdout.write(
                f"  at {threshold} ({row['band']:<9}) precision {row['precision']:.3f} recall {row['recall']:.3f}"
            )
        self.stdout.write(f"  training time       {seconds:.1f} s")
        self.stdout.write(f"  active              {'yes' if record.is_active else 'no'}")
