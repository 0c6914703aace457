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
from collections.abc import Callable, Sequence
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
    #: Above this many training rows, legitimate rows are subsampled (and up-weighted to match).
    max_training_rows: int = 200_000


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


@dataclass(frozen=True, slots=True)
class LabelledHistory:
    """Point-in-time model vectors with their labels, in event-time order: what a model learns from."""

    matrix: FloatArray  #: one row per transaction, columns ``feature_names``
    labels: np.ndarray  #: 1 fraud, 0 legitimate
    seconds: FloatArray  #: event time, epoch seconds
    customers: np.ndarray  #: customer id per row (for card precision)
    feature_names: tuple[str, ...]
    source: str  #: ``simulator``, ``stored`` or ``replay``
    details: dict[str, Any] = field(default_factory=dict)  #: provenance (seed, fallback reason …)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def simulated_history(config: TrainingConfig, names: Sequence[str] = FEATURE_NAMES) -> LabelledHistory:
    """The simulator's labelled window as a LabelledHistory."""
    sim = config.simulation
    history = simulate(sim)
    return LabelledHistory(
        matrix=history.feature_matrix(names),
        labels=history.labels,
        seconds=history.seconds + sim.start.timestamp(),
        customers=np.asarray(history.columns["customer"]),
        feature_names=tuple(names),
        source="simulator",
        details={"seed": sim.seed, "customers": sim.customers, "days": sim.days, "fraud_kinds": history.kind_counts()},
    )


def time_split(
    history: SimulatedHistory | LabelledHistory, holdout_fraction: float, label_delay: float = 0.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Indices of the training rows (earlier) and held-out rows (later), and the cut (seconds).

    Training rows end ``label_delay`` seconds before the cut: at the cut their labels are known,
    the later ones' are not yet, which is exactly what a model trained at that moment would see.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1")
    seconds = history.seconds
    if isinstance(history, SimulatedHistory):
        cut = float(round(history.config.days * (1.0 - holdout_fraction)) * 86_400)
    else:
        first, last = float(seconds.min()), float(seconds.max())
        cut = first + float(np.floor((last - first) * (1.0 - holdout_fraction) / 86_400) * 86_400)
    return np.flatnonzero(seconds < cut - label_delay), np.flatnonzero(seconds >= cut), cut


def card_precision_at_k(
    seconds: FloatArray, customers: np.ndarray, labels: np.ndarray, scores: FloatArray, k: int = 100
) -> float:
    """Per day, the share of truly fraudulent customers among the ``k`` highest-scoring ones, averaged.

    A customer's daily score is their highest transaction score that day, and they are fraudulent
    that day when any of their transactions was. On a day with fewer than ``k`` customers the
    share is over all of them (so small test sets are not punished for their size).
    """
    if labels.shape[0] == 0:
        return 0.0
    frame = np.rec.fromarrays(
        [np.floor(seconds / 86_400), np.unique(customers, return_inverse=True)[1], scores, labels]
    )
    shares = []
    for day in np.unique(frame.f0):
        rows = frame[frame.f0 == day]
        best: dict[int, tuple[float, int]] = {}
        for customer, score, label in zip(rows.f1.tolist(), rows.f2.tolist(), rows.f3.tolist(), strict=True):
            previous = best.get(customer, (-1.0, 0))
            best[customer] = (max(previous[0], score), max(previous[1], int(label)))
        ranked = sorted(best.values(), reverse=True)[:k]
        shares.append(sum(label for _, label in ranked) / len(ranked))
    return float(np.mean(shares))


def evaluate(
    labels: np.ndarray,
    scores: FloatArray,
    policy: DecisionPolicy,
    *,
    seconds: FloatArray | None = None,
    customers: np.ndarray | None = None,
) -> dict[str, Any]:
    """ROC AUC, average precision, card precision@100, precision/recall at the thresholds, a PR curve."""
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
    both_classes = 0 < int(labels.sum()) < labels.shape[0]
    metrics: dict[str, Any] = {
        "roc_auc": float(roc_auc_score(labels, scores)) if both_classes else None,
        "average_precision": float(average_precision_score(labels, scores)) if both_classes else None,
        "holdout_rows": int(labels.shape[0]),
        "holdout_frauds": int(labels.sum()),
        "at_thresholds": at_thresholds,
        "pr_curve": _sampled_pr_curve(labels, scores) if both_classes else [],
    }
    if seconds is not None and customers is not None:
        metrics["card_precision_at_100"] = card_precision_at_k(seconds, customers, labels, scores, 100)
    return metrics


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
    sim = config.simulation
    progress(f"simulating {sim.customers} customers over {sim.days} days (seed {sim.seed}) …")
    history = simulated_history(config)
    if not 0.0 < config.holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be between 0 and 1")
    cut = sim.start.timestamp() + round(sim.days * (1.0 - config.holdout_fraction)) * 86_400
    train, holdout = np.flatnonzero(history.seconds < cut), np.flatnonzero(history.seconds >= cut)
    return fit_history(history, config, train=train, holdout=holdout, progress=progress)


def train_on_history(
    history: LabelledHistory, config: TrainingConfig, *, label_delay_days: float = 0.0, progress: Progress = _silent
) -> TrainedModel:
    """Split ``history`` by time (with the label delay), fit and evaluate."""
    train, holdout, _ = time_split(history, config.holdout_fraction, label_delay_days * 86_400)
    return fit_history(
        history, config, train=train, holdout=holdout, progress=progress, label_delay_days=label_delay_days
    )


def fit_history(
    history: LabelledHistory,
    config: TrainingConfig,
    *,
    train: np.ndarray,
    holdout: np.ndarray,
    progress: Progress = _silent,
    label_delay_days: float = 0.0,
) -> TrainedModel:
    """Fit on the ``train`` rows and judge on the ``holdout`` rows."""
    started = time.perf_counter()
    labels = history.labels
    progress(
        f"{len(history)} transactions, {int(labels.sum())} fraud ({labels.mean() if len(history) else 0:.3%}); "
        f"training on {train.shape[0]}, holding out {holdout.shape[0]}"
    )
    if labels[train].sum() == 0 or labels[holdout].sum() == 0:
        raise ValueError("both periods need fraud examples: use more customers or days")
    fit_started = time.perf_counter()
    model = fit_model(history.matrix[train], labels[train], config)
    fit_seconds = time.perf_counter() - fit_started
    progress(f"fitted {config.n_estimators} trees of depth {config.max_depth} in {fit_seconds:.1f} s")
    scores = model.predict_proba(history.matrix[holdout])[:, 1]
    metrics = evaluate(
        labels[holdout], scores, config.policy, seconds=history.seconds[holdout], customers=history.customers[holdout]
    )
    metadata = _metadata(config, history, train, holdout, fit_seconds, time.perf_counter() - started, label_delay_days)
    return TrainedModel(model=model, version=new_version(), metrics=metrics, metadata=metadata)


def fit_model(matrix: FloatArray, labels: np.ndarray, config: TrainingConfig) -> GradientBoostingClassifier:
    """A fitted, converged GradientBoostingClassifier (legit rows subsampled above ``max_training_rows``)."""
    rng = np.random.default_rng(config.simulation.seed)
    weights = np.where(labels == 1, config.fraud_weight, 1.0)
    legit = np.flatnonzero(labels == 0)
    if matrix.shape[0] > config.max_training_rows and legit.shape[0]:
        keep_share = max(config.max_training_rows - int(labels.sum()), 1) / legit.shape[0]
        kept = rng.random(legit.shape[0]) < keep_share
        rows = np.sort(np.concatenate([np.flatnonzero(labels == 1), legit[kept]]))
        weights = np.where(labels == 1, config.fraud_weight, 1.0 / keep_share)[rows]
        matrix, labels = matrix[rows], labels[rows]
        weights = weights / weights[labels == 0].mean()  # keep the legit weight at 1 on average
    model = GradientBoostingClassifier(
        n_estimators=config.n_estimators,
        max_depth=config.max_depth,
        learning_rate=config.learning_rate,
        subsample=config.subsample,
        min_samples_leaf=config.min_samples_leaf,
        random_state=config.simulation.seed,
    )
    model.fit(matrix, labels, sample_weight=weights)
    _check_converged(model)
    return model


class TrainingError(RuntimeError):
    """Training produced no usable model (e.g. the boosting loss diverged)."""


def _check_converged(model: GradientBoostingClassifier) -> None:
    losses = np.asarray(model.train_score_, dtype=np.float64)
    if not np.isfinite(losses).all() or losses[-1] > losses[0]:
        raise TrainingError(f"boosting diverged: train loss went from {losses[0]:.4g} to {losses[-1]:.4g}")


def _window(seconds: FloatArray, rows: np.ndarray) -> dict[str, str | None]:
    if rows.shape[0] == 0:
        return {"start": None, "end": None}
    start, end = float(seconds[rows].min()), float(seconds[rows].max())
    return {
        "start": datetime.fromtimestamp(start, UTC).isoformat(),
        "end": datetime.fromtimestamp(end, UTC).isoformat(),
    }


def _counts(labels: np.ndarray) -> dict[str, int]:
    return {"fraud": int(labels.sum()), "legit": int(labels.shape[0] - labels.sum())}


def _metadata(
    config: TrainingConfig,
    history: LabelledHistory,
    train: np.ndarray,
    holdout: np.ndarray,
    fit_seconds: float,
    total_seconds: float,
    label_delay_days: float,
) -> dict[str, Any]:
    training_window, holdout_window = _window(history.seconds, train), _window(history.seconds, holdout)
    if history.source == "simulator":  # whole simulated days, as the simulator defines them
        sim = config.simulation
        split_at = sim.start + timedelta(days=round(sim.days * (1.0 - config.holdout_fraction)))
        training_window = {"start": sim.start.isoformat(), "end": split_at.isoformat()}
        holdout_window = {"start": split_at.isoformat(), "end": (sim.start + timedelta(days=sim.days)).isoformat()}
    return {
        "algorithm": "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn_version": sklearn.__version__,
        "feature_names": list(history.feature_names),
        "hyperparameters": {
            "n_estimators": config.n_estimators,
            "max_depth": config.max_depth,
            "learning_rate": config.learning_rate,
            "subsample": config.subsample,
            "min_samples_leaf": config.min_samples_leaf,
            "fraud_weight": config.fraud_weight,
            "max_training_rows": config.max_training_rows,
        },
        "data": {"source": history.source, **history.details},
        "label_delay_days": label_delay_days,
        "training_window": training_window,
        "holdout_window": holdout_window,
        "label_counts": {"train": _counts(history.labels[train]), "holdout": _counts(history.labels[holdout])},
        "fraud_kinds": history.details.get("fraud_kinds", {}),
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
        "feature_names": list(trained.metadata["feature_names"]),
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
    """Train on simulated history, save the artifact under ``FDE_MODEL_DIR`` and record it."""
    trained = train_model(config, progress=progress)
    return trained, register_trained(trained, activate=activate, model_dir=model_dir, progress=progress)


def register_trained(
    trained: TrainedModel, *, activate: bool, model_dir: Path | None = None, progress: Progress = _silent
) -> Any:
    """Save a trained model's artifact and record it in the registry (active unless told not to)."""
    from django.conf import settings

    from decisioning.ml.registry import register_model

    path, sha256 = save_artifact(trained, Path(model_dir or settings.FDE_MODEL_DIR))
    progress(f"saved {path} (sha256 {sha256[:12]}…)")
    return register_model(
        version=trained.version,
        artifact_path=path,
        sha256=sha256,
        metadata={**trained.metadata, "artifact_bytes": path.stat().st_size},
        metrics=trained.metrics,
        activate=activate,
        feature_names=trained.metadata["feature_names"],
    )
