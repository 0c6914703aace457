"""``python manage.py replay FILE.csv``: past transactions through the real pipeline, in event time.

Isolated: an in-memory feature store, no database or Redis writes (see ``decisioning.ml.replay``).
Labels (``is_fraud``) are revealed only ``--label-delay-days`` after each transaction.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.scoring import Scorer
from decisioning.management.commands.train_model import FEATURE_SETS
from decisioning.ml.replay import Replay, ReplayConfig, ReplayInputError, ReplayResult, ReplaySource
from decisioning.ml.training import TrainingConfig


class Command(BaseCommand):
    help = "Replay a CSV of past transactions in event time with delayed labels; print weekly metrics."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--label-delay-days", type=float, default=7.0)
        parser.add_argument("--retrain-every-days", type=int, default=0, help="0 = never retrain")
        parser.add_argument("--warmup-days", type=int, default=14)
        parser.add_argument(
            "--features", choices=sorted(FEATURE_SETS), default="all", help="features of retrained models"
        )
        parser.add_argument("--ignore-active-model", action="store_true", help="start from a warm-up model instead")
        parser.add_argument("--trees", type=int, default=100)
        parser.add_argument("--max-training-rows", type=int, default=60_000)
        parser.add_argument("--batch-size", type=int, default=4_096)
        parser.add_argument("--scores-out", type=Path)
        parser.add_argument("--summary-json", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        policy = DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY)
        config = ReplayConfig(
            label_delay_days=options["label_delay_days"],
            retrain_every_days=options["retrain_every_days"],
            warmup_days=options["warmup_days"],
            feature_names=tuple(FEATURE_SETS[options["features"]]),
            batch_size=options["batch_size"],
            training=TrainingConfig(n_estimators=options["trees"], max_training_rows=options["max_training_rows"]),
            policy=policy,
        )
        started = time.perf_counter()
        try:
            handle = options["file"].open("rb")
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from exc
        with handle:
            try:
                source = ReplaySource.open(handle)
            except ReplayInputError as exc:
                raise CommandError(str(exc)) from exc
            order = "in time order" if source.in_order else "not in time order: streamed in sorted order"
            self.stdout.write(
                f"validated {source.count:,} transactions in {time.perf_counter() - started:.1f} s ({order})"
            )
            initial = None if options["ignore_active_model"] else self._active_model()
            replay = Replay(config, initial_model=initial, progress=lambda message: self.stdout.write(f"  {message}"))
            result = replay.run(source)
        rate = source.count / result.seconds_taken if result.seconds_taken else 0.0
        self.stdout.write(f"replayed {source.count:,} transactions in {result.seconds_taken:.1f} s ({rate:,.0f}/s)")
        self._outputs(result, policy, options, rate)

    def _active_model(self) -> Scorer | None:
        from decisioning.ml.registry import ModelLoadError, load_active_model

        try:
            scorer = load_active_model()
        except ModelLoadError as exc:
            self.stdout.write(f"no usable active model ({exc}); a model is trained at the end of the warm-up")
            return None
        self.stdout.write(f"starting with the active model {scorer.version}")
        return scorer

    def _outputs(self, result: ReplayResult, policy: DecisionPolicy, options: dict[str, Any], rate: float) -> None:
        if options["scores_out"]:
            with options["scores_out"].open("w", encoding="utf-8", newline="") as handle:
                result.write_scores(handle)
        weeks = result.weekly_summary(policy)
        self._print_weeks(weeks)
        if options["summary_json"]:
            summary = {
                "transactions": len(result.transaction_ids),
                "seconds": round(result.seconds_taken, 1),
                "rate_per_second": round(rate, 1),
                "options": {k: str(v) for k, v in options.items() if k not in ("stdout", "stderr")},
                "models": result.models,
                "weeks": weeks,
            }
            options["summary_json"].write_text(json.dumps(summary, indent=2))

    def _print_weeks(self, weeks: list[dict[str, Any]]) -> None:
        self.stdout.write(
            f"{'week':>4} {'start':<10} {'volume':>8} {'fraud':>6} {'ROC AUC':>8} {'AP':>7} {'CP@100':>7}  decisions"
        )
        for week in weeks:
            decisions = ", ".join(f"{name} {count}" for name, count in sorted(week["decisions"].items()))
            self.stdout.write(
                f"{week['week']:>4} {week['start']:<10} {week['volume']:>8} {week['frauds']:>6} "
                f"{_fmt(week['roc_auc']):>8} {_fmt(week['average_precision']):>7} "
                f"{_fmt(week['card_precision_at_100']):>7}  {decisions}"
            )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
