"""Train the fraud model on simulated history and register it.

The split is by time: the model learns from the earlier part of the labelled window and is
judged on the later part it never saw, which is how it will meet production traffic. Training
uses the same feature-vector definition as serving (``decisioning.decision.vector``).

``train_model`` is pure (no database); ``save_artifact`` writes the file and its checksum;
``register_model`` records it in the registry and, if asked, makes it the one active model.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.vector import FEATURE_NAMES, FloatArray
from decisioning.ml.simulator import SimulatedHistory, SimulationConfig, simulate

Progress = Callable[[str], None]
ARTIFACT_FORMAT = 1
PR_CURVE_POINTS = 50


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """What to simulate and how to fit."""

    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    holdout_fraction: float = 0.25  #: the latest share of the labelled days, held out for evaluation
    n_estimators: int = 150
    max_depth: int = 3
    learning_rate: float = 0.05
    min_samples_leaf: int = 50
    subsample: float = 0.5
    # With fraud this rare, the Newton leaf step of sklearn's GradientBoostingClassifier overshoots
    # on near-pure leaves and the loss diverges (scikit-learn issue #11452; seen here unweighted:
    # held-out AUC 0.75 and a 1e27 train loss). Up-weighting fraud keeps the hessians away from zero.
    # The price: scores are risk scores on a fraud-enriched scale, not calibrated probabilities.
    fraud_weight: float = 20.0
    policy: DecisionPolicy = field(default_factory=DecisionPolicy)  #: thresholds the metrics are reported at


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted model with its metrics and metadata, not yet saved."""

    model: GradientBoostingClassifier
    version: str
    metrics: dict[str, Any]
    metadata: dict[str, Any]


def _silent(message: str) -> None:
    return None


def new_version(now: datetime | None = None) -> str:
    """A unique, sortable model version such as ``gbm-20250101T120000-3f9a1c``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"gbm-{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def time_split(history: SimulatedHistory, holdout_fraction: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Indices of the training rows (earlier) and held-out rows (later), and the cut in seconds."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1")
    cut = float(round(history.config.days * (1.0 - holdout_fraction)) * 86_400)
    seconds = history.seconds
    return np.flatnonzero(seconds < cut), np.flatnonzero(seconds >= cut), cut


def evaluate(labels: np.ndarray, scores: FloatArray, policy: DecisionPolicy) -> dict[str, Any]:
    """ROC AUC, average precision, precision/recall at the policy's thresholds, a sampled PR curve."""
    at_thresholds = {}
    for band, threshold in (
        ("challenge", policy.challenge_threshold),
        ("review", policy.review_threshold),
        ("decline", policy.decline_threshold),
    ):
        flagged = scores >= threshold
        true_positive = int((flagged & (labels == 1)).sum())
        at_thresholds[f"{threshold:.2f}"] = {
            "band": band,
            "threshold": threshold,
            "flagged": int(flagged.sum()),
            "precision": true_positive / int(flagged.sum()) if flagged.any() else 0.0,
            "recall": true_positive / int(labels.sum()) if labels.any() else 0.0,
        }
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "holdout_rows": int(labels.shape[0]),
        "holdout_frauds": int(labels.sum()),
        "at_thresholds": at_thresholds,
        "pr_curve": _sampled_pr_curve(labels, scores),
    }


def _sampled_pr_curve(labels: np.ndarray, scores: FloatArray) -> list[dict[str, float]]:
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    if thresholds.shape[0] == 0:
        return []
    picks = np.unique(np.linspace(0, thresholds.shape[0] - 1, PR_CURVE_POINTS).round().astype(int))
    return [
        {"threshold": float(thresholds[i]), "precision": float(precision[i]), "recall": float(recall[i])} for i in picks
    ]


def train_model(config: TrainingConfig | None = None, *, progress: Progress = _silent) -> TrainedModel:
    """Simulate, split by time, fit and evaluate. No database, no files."""
    config = config or TrainingConfig()
    started = time.perf_counter()
    sim = config.simulation
    progress(f"simulating {sim.customers} customers over {sim.days} days (seed {sim.seed}) …")
    history = simulate(sim)
    features, labels = history.feature_matrix(), history.labels
    train, holdout, cut = time_split(history, config.holdout_fraction)
    progress(
        f"{len(history)} transactions, {int(labels.sum())} fraud ({history.fraud_rate:.3%}); "
        f"training on {train.shape[0]}, holding out {holdout.shape[0]}"
    )
    if labels[train].sum() == 0 or labels[holdout].sum() == 0:
        raise ValueError("both periods need fraud examples: simulate more customers or days")
    model = GradientBoostingClassifier(
        n_estimators=config.n_estimators,
        max_depth=config.max_depth,
        learning_rate=config.learning_rate,
        subsample=config.subsample,
        min_samples_leaf=config.min_samples_leaf,
        random_state=sim.seed,
    )
    fit_started = time.perf_counter()
    weights = np.where(labels[train] == 1, config.fraud_weight, 1.0)
    model.fit(features[train], labels[train], sample_weight=weights)
    fit_seconds = time.perf_counter() - fit_started
    _check_converged(model)
    progress(f"fitted {config.n_estimators} trees of depth {config.max_depth} in {fit_seconds:.1f} s")
    metrics = evaluate(labels[holdout], model.predict_proba(features[holdout])[:, 1], config.policy)
    metadata = _metadata(config, history, labels, train, holdout, cut, fit_seconds, time.perf_counter() - started)
    return TrainedModel(model=model, version=new_version(), metrics=metrics, metadata=metadata)


class TrainingError(RuntimeError):
    """Training produced no usable model (e.g. the boosting loss diverged)."""


def _check_converged(model: GradientBoostingClassifier) -> None:
    losses = np.asarray(model.train_score_, dtype=np.float64)
    if not np.isfinite(losses).all() or losses[-1] > losses[0]:
        raise TrainingError(f"boosting diverged: train loss went from {losses[0]:.4g} to {losses[-1]:.4g}")


def _metadata(
    config: TrainingConfig,
    history: SimulatedHistory,
    labels: np.ndarray,
    train: np.ndarray,
    holdout: np.ndarray,
    cut: float,
    fit_seconds: float,
    total_seconds: float,
) -> dict[str, Any]:
    sim = config.simulation
    split_at = sim.start + timedelta(seconds=cut)
    return {
        "algorithm": "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn_version": sklearn.__version__,
        "feature_names": list(FEATURE_NAMES),
        "hyperparameters": {
            "n_estimators": config.n_estimators,
            "max_depth": config.max_depth,
            "learning_rate": config.learning_rate,
            "subsample": config.subsample,
            "min_samples_leaf": config.min_samples_leaf,
            "fraud_weight": config.fraud_weight,
        },
        "data": {"source": "simulator", "seed": sim.seed, "customers": sim.customers, "days": sim.days},
        "training_window": {"start": sim.start.isoformat(), "end": split_at.isoformat()},
        "holdout_window": {"start": split_at.isoformat(), "end": (sim.start + timedelta(days=sim.days)).isoformat()},
        "label_counts": {
            "train": {"fraud": int(labels[train].sum()), "legit": int(train.shape[0] - labels[train].sum())},
            "holdout": {"fraud": int(labels[holdout].sum()), "legit": int(holdout.shape[0] - labels[holdout].sum())},
        },
        "fraud_kinds": history.kind_counts(),
        "fit_seconds": round(fit_seconds, 3),
        "training_seconds": round(total_seconds, 3),
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_artifact(trained: TrainedModel, model_dir: Path) -> tuple[Path, str]:
    """Write ``<model_dir>/<version>.joblib`` (atomically) and return its path and sha256."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / f"{trained.version}.joblib"
    partial = path.with_suffix(".joblib.partial")
    payload = {
        "format": ARTIFACT_FORMAT,
        "version": trained.version,
        "feature_names": list(FEATURE_NAMES),
        "model": trained.model,
    }
    joblib.dump(payload, partial, compress=3)
    partial.replace(path)  # readers never see a half-written artifact
    return path, sha256_of(path)


def train_and_register(
    config: TrainingConfig | None = None,
    *,
    activate: bool = True,
    model_dir: Path | None = None,
    progress: Progress = _silent,
) -> tuple[TrainedModel, Any]:
    """Train, save the artifact under ``FDE_MODEL_DIR`` and record it (active unless told not to)."""
    from django.conf import settings

    from decisioning.ml.registry import register_model

    trained = train_model(config, progress=progress)
    path, sha256 = save_artifact(trained, Path(model_dir or settings.FDE_MODEL_DIR))
    progress(f"saved {path} (sha256 {sha256[:12]}…)")
    record = register_model(
        version=trained.version,
        artifact_path=path,
        sha256=sha256,
        metadata={**trained.metadata, "artifact_bytes": path.stat().st_size},
        metrics=trained.metrics,
        activate=activate,
    )
    return trained, record
