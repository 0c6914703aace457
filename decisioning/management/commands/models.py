"""``python manage.py models list | compare A B | activate V | rollback | shadow V | canary V --percent N |
unstage shadow|canary | ensemble V A=w B=w | judge V``: the model registry and its challengers."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from decisioning.ml.judge import ArmReport, judge
from decisioning.ml.registry import (
    ActivationRefused,
    activate_model_version,
    create_ensemble,
    rollback_model,
    stage_model_version,
    unstage_model,
)
from decisioning.models import ModelVersion

METRICS = ("roc_auc", "average_precision", "card_precision_at_100")


def _metric(record: ModelVersion, name: str) -> str:
    value = record.metrics.get(name)
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"


def _labels(record: ModelVersion, period: str) -> str:
    counts = record.metadata.get("label_counts", {}).get(period, {})
    return f"{counts.get('fraud', '?')}/{counts.get('legit', '?')}"


class Command(BaseCommand):
    help = "List, compare, activate, roll back, shadow, canary and judge model versions (changes are audited)."

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
        shadow = sub.add_parser("shadow", help="score every decision with a version too, never acting on it")
        shadow.add_argument("version")
        shadow.add_argument("--actor", default="system:manage.py")
        canary = sub.add_parser("canary", help="let a version decide for a stable share of customers")
        canary.add_argument("version")
        canary.add_argument("--percent", type=int, required=True, help="1-100")
        canary.add_argument("--actor", default="system:manage.py")
        unstage = sub.add_parser("unstage", help="withdraw the shadow or the canary")
        unstage.add_argument("stage", choices=[ModelVersion.Stage.SHADOW, ModelVersion.Stage.CANARY])
        unstage.add_argument("--actor", default="system:manage.py")
        ensemble = sub.add_parser("ensemble", help="register a weighted vote of registered versions")
        ensemble.add_argument("version", help="the new ensemble's version name")
        ensemble.add_argument("members", nargs="+", metavar="VERSION=WEIGHT")
        ensemble.add_argument("--activate", action="store_true")
        ensemble.add_argument("--actor", default="system:manage.py")
        judge_cmd = sub.add_parser("judge", help="a shadow or canary against the champion, on labels")
        judge_cmd.add_argument("version")
        judge_cmd.add_argument("--days", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_list(self, options: dict[str, Any]) -> None:
        self.stdout.write(
            f"{'':2}{'version':<30} {'created':<17} {'features':>8} {'ROC AUC':>8} {'AP':>8} {'CP@100':>8}"
        )
        for record in ModelVersion.objects.order_by("-created_at"):
            marker = "* " if record.is_active else {"shadow": "s ", "canary": "c "}.get(record.stage, "  ")
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

    def do_shadow(self, options: dict[str, Any]) -> None:
        self._stage(options, ModelVersion.Stage.SHADOW, 0)

    def do_canary(self, options: dict[str, Any]) -> None:
        self._stage(options, ModelVersion.Stage.CANARY, options["percent"])

    def _stage(self, options: dict[str, Any], stage: str, percent: int) -> None:
        try:
            record = stage_model_version(
                version=options["version"], stage=stage, percent=percent, actor=options["actor"]
            )
        except ActivationRefused as exc:
            raise CommandError(str(exc)) from exc
        share = f" for {record.canary_percent} % of customers" if stage == ModelVersion.Stage.CANARY else ""
        self.stdout.write(self.style.SUCCESS(f"{stage}: {record.version}{share} (applies within a few seconds)"))

    def do_unstage(self, options: dict[str, Any]) -> None:
        record = unstage_model(stage=options["stage"], actor=options["actor"])
        if record is None:
            raise CommandError(f"no {options['stage']} model is deployed")
        self.stdout.write(self.style.SUCCESS(f"{options['stage']} {record.version} withdrawn"))

    def do_ensemble(self, options: dict[str, Any]) -> None:
        members = []
        for item in options["members"]:
            version, separator, weight = item.rpartition("=")
            try:
                members.append((version, float(weight)))
            except ValueError:
                separator = ""
            if not separator or not version:
                raise CommandError(f"{item!r}: expected VERSION=WEIGHT, e.g. gbm-a=0.6")
        try:
            record = create_ensemble(
                version=options["version"], members=members, actor=options["actor"], activate=options["activate"]
            )
        except ActivationRefused as exc:
            raise CommandError(str(exc)) from exc
        weights = ", ".join(f"{m['version']} {m['weight']:.3f}" for m in record.metadata["ensemble"])
        state = "active" if record.is_active else "registered (try it as a shadow first: models shadow VERSION)"
        self.stdout.write(self.style.SUCCESS(f"ensemble {record.version} = {weights}; {state}"))

    def do_judge(self, options: dict[str, Any]) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        result = judge(options["version"], days=options["days"])
        if result is None:
            raise CommandError(f"{options['version']} scored no decision in the last {options['days']} days")
        window = f"{result.since:%Y-%m-%d %H:%M} → {result.until:%Y-%m-%d %H:%M}"
        self.stdout.write(f"{result.stage} {result.version}, {window}")
        for arm in (result.challenger, result.champion):
            for line in _arm_lines(arm):
                self.stdout.write(line)
        if result.agreement is not None:
            moves = ", ".join(f"{move} {count}" for move, count in result.moves.items()) or "none"
            self.stdout.write(f"  same action {result.agreement:.1%}; moves: {moves}; shadow errors {result.errors}")
        self.stdout.write(f"verdict: {result.verdict()}")

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


def _arm_lines(arm: ArmReport) -> list[str]:
    auc = "n/a" if arm.roc_auc is None else f"{arm.roc_auc:.4f}"
    ap = "n/a" if arm.average_precision is None else f"{arm.average_precision:.4f}"
    actions = ", ".join(f"{name} {count}" for name, count in sorted(arm.actions.items()))
    return [
        f"  {arm.name}: {arm.decisions:,} decisions ({actions})",
        f"    labelled {arm.labelled:,} ({arm.frauds:,} fraud): ROC AUC {auc}, AP {ap}, "
        f"fraud declined or reviewed {arm.fraud_stopped}, legitimate declined {arm.legit_declined}",
    ]
