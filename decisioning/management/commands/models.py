"""``python manage.py models list | compare A B | activate V | rollback``: the model registry."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from decisioning.ml.registry import ActivationRefused, activate_model_version, rollback_model
from decisioning.models import ModelVersion

METRICS = ("roc_auc", "average_precision", "card_precision_at_100")


def _metric(record: ModelVersion, name: str) -> str:
    value = record.metrics.get(name)
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"


def _labels(record: ModelVersion, period: str) -> str:
    counts = record.metadata.get("label_counts", {}).get(period, {})
    return f"{counts.get('fraud', '?')}/{counts.get('legit', '?')}"


class Command(BaseCommand):
    help = "List, compare, activate and roll back model versions (activation is audited)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every version, newest first")
        compare = sub.add_parser("compare", help="two versions side by side")
        compare.add_argument("first")
        compare.add_argument("second")
        activate = sub.add_parser("activate", help="make a version the active one")
        activate.add_argument("version")
        activate.add_argument("--actor", default="system:manage.py")
        rollback = sub.add_parser("rollback", help="re-activate the version active before the current one")
        rollback.add_argument("--actor", default="system:manage.py")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_list(self, options: dict[str, Any]) -> None:
        self.stdout.write(
            f"{'':2}{'version':<30} {'created':<17} {'features':>8} {'ROC AUC':>8} {'AP':>8} {'CP@100':>8}"
        )
        for record in ModelVersion.objects.order_by("-created_at"):
            marker = "* " if record.is_active else "  "
            self.stdout.write(
                f"{marker}{record.version:<30} {record.created_at:%Y-%m-%d %H:%M} {len(record.feature_names):>8} "
                + " ".join(f"{_metric(record, name):>8}" for name in METRICS)
            )

    def do_compare(self, options: dict[str, Any]) -> None:
        first, second = (self._get(options[key]) for key in ("first", "second"))
        rows = [("version", first.version, second.version), ("active", str(first.is_active), str(second.is_active))]
        rows += [(name, _metric(first, name), _metric(second, name)) for name in METRICS]
        rows += [
            ("features", str(len(first.feature_names)), str(len(second.feature_names))),
            ("train fraud/legit", _labels(first, "train"), _labels(second, "train")),
            ("held-out fraud/legit", _labels(first, "holdout"), _labels(second, "holdout")),
            (
                "data",
                first.metadata.get("data", {}).get("source", "?"),
                second.metadata.get("data", {}).get("source", "?"),
            ),
            ("training window", _window(first), _window(second)),
            ("sha256", first.sha256[:16], second.sha256[:16]),
        ]
        for name, left, right in rows:
            self.stdout.write(f"{name:<22} {left:<36} {right}")
        only = sorted(set(second.feature_names) - set(first.feature_names))
        if only:
            self.stdout.write(f"features only in {second.version}: {', '.join(only)}")

    def do_activate(self, options: dict[str, Any]) -> None:
        try:
            record = activate_model_version(
                version=options["version"], actor=options["actor"], reason="manage.py models"
            )
        except ActivationRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"active model: {record.version}"))

    def do_rollback(self, options: dict[str, Any]) -> None:
        try:
            record = rollback_model(actor=options["actor"])
        except ActivationRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"rolled back; active model: {record.version}"))

    @staticmethod
    def _get(version: str) -> ModelVersion:
        record = ModelVersion.objects.filter(version=version).first()
        if record is None:
            raise CommandError(f"no model version {version!r}")
        return record


def _window(record: ModelVersion) -> str:
    window = record.metadata.get("training_window", {})
    return f"{str(window.get('start', '?'))[:10]} → {str(window.get('end', '?'))[:10]}"
