"""``python manage.py train_model``: train on stored labelled history (or simulated), register, activate.

``--source auto`` (the default) trains on the decisions stored in the database with the labels
known now, split by time with a label delay; when that history has too few fraud labels in either
period it falls back to simulated history and says so (the reason is kept in the registry).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.vector import FEATURE_NAMES, LEGACY_FEATURE_NAMES, MERCHANT_RISK_FEATURES
from decisioning.ml.simulator import SimulationConfig
from decisioning.ml.training import (
    LabelledHistory,
    TrainedModel,
    TrainingConfig,
    TrainingError,
    register_trained,
    time_split,
    train_model,
    train_on_history,
)

FEATURE_SETS = {
    "all": FEATURE_NAMES,
    "legacy": LEGACY_FEATURE_NAMES,
    "no-merchant": tuple(name for name in FEATURE_NAMES if name not in MERCHANT_RISK_FEATURES),
}


class Command(BaseCommand):
    help = "Train the fraud model on stored labelled history (simulated as a fallback) and register it."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        defaults, fitting = SimulationConfig(), TrainingConfig()
        parser.add_argument("--source", choices=("auto", "stored", "simulated"), default="auto")
        parser.add_argument("--label-delay-days", type=float, default=settings.FDE_LABEL_DELAY_DAYS)
        parser.add_argument("--holdout-fraction", type=float, default=fitting.holdout_fraction)
        parser.add_argument("--features", choices=sorted(FEATURE_SETS), default="all")
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--customers", type=int, default=defaults.customers, help="simulated customers")
        parser.add_argument("--days", type=int, default=defaults.days, help="simulated labelled days")
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
            holdout_fraction=options["holdout_fraction"],
            policy=DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY),
        )
        started = time.perf_counter()
        try:
            trained = self._train(config, options)
            record = register_trained(
                trained, activate=options["activate"], model_dir=options["model_dir"], progress=self._progress
            )
        except (TrainingError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self._summary(trained, record, time.perf_counter() - started)

    def _train(self, config: TrainingConfig, options: dict[str, Any]) -> TrainedModel:
        names = FEATURE_SETS[options["features"]]
        shortfall: str | None = None
        if options["source"] != "simulated":
            from decisioning.ml.datasets import stored_history

            history = stored_history(as_of=timezone.now(), label_delay_days=options["label_delay_days"], names=names)
            shortfall = self._shortfall(history, config, options["label_delay_days"])
            if shortfall is None:
                self._progress(f"training on stored history ({len(history)} labelled decisions)")
                return train_on_history(
                    history, config, label_delay_days=options["label_delay_days"], progress=self._progress
                )
            if options["source"] == "stored":
                raise CommandError(f"stored history is not enough to train on: {shortfall}")
            self._progress(f"stored history not usable ({shortfall}); falling back to simulated history")
        if names != FEATURE_NAMES:
            raise CommandError("--features applies to stored history only; the simulator serves all features")
        trained = train_model(config, progress=self._progress)
        if options["source"] != "simulated":
            trained.metadata["data"]["fallback_reason"] = shortfall
        return trained

    @staticmethod
    def _shortfall(history: LabelledHistory, config: TrainingConfig, delay_days: float) -> str | None:
        """Why the stored history cannot be trained on, or None when it can."""
        if len(history) == 0:
            return "no decided transactions older than the label delay"
        train, holdout, _ = time_split(history, config.holdout_fraction, delay_days * 86_400)
        needed = settings.FDE_MIN_FRAUD_LABELS
        frauds = int(history.labels[train].sum()), int(history.labels[holdout].sum())
        if min(frauds) < needed:
            return f"fraud labels train/held-out {frauds[0]}/{frauds[1]}, need {needed} in each"
        return None

    def _progress(self, message: str) -> None:
        self.stdout.write(f"  {message}")

    def _summary(self, trained: TrainedModel, record: Any, seconds: float) -> None:
        metrics = trained.metrics
        self.stdout.write(self.style.SUCCESS(f"model {record.version}"))
        self.stdout.write(f"  data                {trained.metadata['data']['source']}")
        self.stdout.write(f"  held-out ROC AUC    {_fmt(metrics['roc_auc'])}")
        self.stdout.write(f"  average precision   {_fmt(metrics['average_precision'])}")
        self.stdout.write(f"  card precision@100  {_fmt(metrics.get('card_precision_at_100'))}")
        for threshold, row in metrics["at_thresholds"].items():
            self.stdout.write(
                f"  at {threshold} ({row['band']:<9}) precision {row['precision']:.3f} recall {row['recall']:.3f}"
            )
        self.stdout.write(f"  training time       {seconds:.1f} s")
        self.stdout.write(f"  active              {'yes' if record.is_active else 'no'}")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
