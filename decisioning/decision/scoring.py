"""Model scoring and SHAP explanations for a loaded scikit-learn GradientBoostingClassifier.

A :class:`ModelScorer` is built once per loaded model (the TreeExplainer with it) and is then
read-only, so one instance serves every request and thread of a process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import shap

from decisioning.contracts import Explanation, FeatureContribution, FeatureSet
from decisioning.decision.vector import FEATURE_NAMES, FloatArray, check_feature_names, feature_vector

#: How far base_value + sum(contributions) may drift from the model's log-odds.
ADDITIVITY_TOLERANCE = 1e-6


class ModelScoringError(RuntimeError):
    """The model could not score or explain a vector."""


class ModelScorer:
    """A fitted binary classifier, its version, and its SHAP TreeExplainer."""

    def __init__(self, model: Any, *, version: str, feature_names: Sequence[str] = FEATURE_NAMES) -> None:
        # Any distinct subset of the known features is servable: an old 12-feature artifact keeps
        # working after the vector grew, because it is always served its own columns.
        names = check_feature_names(list(feature_names))
        if list(names) != sorted(names, key=FEATURE_NAMES.index):
            raise ValueError("model features must follow the serving order of FEATURE_NAMES")
        if list(getattr(model, "classes_", [])) != [0, 1]:
            raise ValueError("model must be a fitted binary classifier with classes [0, 1]")
        self.model = model
        self.version = version
        self.feature_names: tuple[str, ...] = names
        #: Where this model's columns sit in a full serving vector (FEATURE_NAMES order).
        self._serving_columns = [FEATURE_NAMES.index(name) for name in names]
        # Built once: constructing a TreeExplainer walks every tree.
        self._explainer = shap.TreeExplainer(model)
        self.base_value = float(np.asarray(self._explainer.expected_value, dtype=np.float64).reshape(-1)[0])

    def vector(self, fs: FeatureSet) -> list[float]:
        """This model's input for one FeatureSet (its own feature names, its own order)."""
        return feature_vector(fs, self.feature_names)

    def _matrix(self, rows: npt.ArrayLike) -> FloatArray:
        """Rows of this model's features; full serving vectors (FEATURE_NAMES) are narrowed to them."""
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim == 2 and matrix.shape[1] == len(FEATURE_NAMES) and self.feature_names != FEATURE_NAMES:
            matrix = matrix[:, self._serving_columns]
        if matrix.ndim != 2 or matrix.shape[1] != len(self.feature_names):
            raise ModelScoringError(f"expected vectors of {len(self.feature_names)} features, got shape {matrix.shape}")
        return matrix

    def score_batch(self, matrix: npt.ArrayLike) -> FloatArray:
        """Fraud probabilities, one per row."""
        probabilities = np.asarray(self.model.predict_proba(self._matrix(matrix)), dtype=np.float64)
        return probabilities[:, 1].copy()

    def score(self, vector: Sequence[float]) -> float:
        """The fraud probability of one vector."""
        return float(self.score_batch([list(vector)])[0])

    def log_odds_batch(self, matrix: npt.ArrayLike) -> FloatArray:
        """The model's raw output (log-odds), one per row."""
        return np.asarray(self.model.decision_function(self._matrix(matrix)), dtype=np.float64).reshape(-1)

    def log_odds(self, vector: Sequence[float]) -> float:
        """The model's raw output (log-odds) for one vector."""
        return float(self.log_odds_batch([list(vector)])[0])

    @staticmethod
    def confidence(score: float) -> float:
        """The larger class probability."""
        return max(score, 1.0 - score)

    def explain(self, vector: Sequence[float]) -> Explanation:
        """SHAP contributions in log-odds space, in feature order."""
        matrix = self._matrix([list(vector)])
        values = np.asarray(self._explainer.shap_values(matrix, check_additivity=False), dtype=np.float64)
        row = values.reshape(-1, len(self.feature_names))[-1]
        contributions = tuple(
            FeatureContribution(feature=name, value=float(value), contribution=float(contribution))
            for name, value, contribution in zip(self.feature_names, matrix[0], row, strict=True)
        )
        return Explanation(base_value=self.base_value, contributions=contributions, model_version=self.version)

    def additivity_error(self, vector: Sequence[float]) -> float:
        """|base_value + Σ contributions − model log-odds| for one vector (a self-check)."""
        return abs(self.explain(vector).output_value - self.log_odds(vector))


def logistic(log_odds: float) -> float:
    """The probability of a log-odds value."""
    return 1.0 / (1.0 + math.exp(-log_odds))


class StaticModelProvider:
    """A ModelProvider that always returns the same scorer (or None): tests and replays."""

    def __init__(self, scorer: ModelScorer | None) -> None:
        self._scorer = scorer

    def current(self) -> ModelScorer | None:
        return self._scorer


class Scorer(Protocol):
    """What the Decision layer needs of a model: a single one or a voting ensemble."""

    version: str
    feature_names: tuple[str, ...]

    def score(self, vector: Sequence[float]) -> float: ...

    def score_batch(self, matrix: npt.ArrayLike) -> FloatArray: ...

    def confidence(self, score: float) -> float: ...

    def explain(self, vector: Sequence[float]) -> Explanation: ...


class EnsembleScorer:
    """A weighted vote of models, in log-odds: ``logit(score) = Σ wᵢ · logitᵢ`` (weights sum to 1).

    Voting in log-odds keeps the explanation exact: Shapley values are linear in the model, so the
    ensemble's contribution of a feature is the weighted sum of the members' (0 for a member that
    doesn't use it) and ``base_value + Σ contributions`` is still the ensemble's log-odds.
    """

    def __init__(self, members: Sequence[tuple[ModelScorer, float]], *, version: str) -> None:
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        weights = [float(weight) for _, weight in members]
        if any(not math.isfinite(w) or w <= 0 for w in weights):
            raise ValueError("ensemble weights must be positive numbers")
        total = sum(weights)
        self.members: tuple[tuple[ModelScorer, float], ...] = tuple(
            (scorer, weight / total) for (scorer, _), weight in zip(members, weights, strict=True)
        )
        self.version = version
        used = {name for scorer, _ in self.members for name in scorer.feature_names}
        self.feature_names: tuple[str, ...] = tuple(name for name in FEATURE_NAMES if name in used)
        self.base_value = sum(weight * scorer.base_value for scorer, weight in self.members)

    def _full(self, rows: npt.ArrayLike) -> FloatArray:
        matrix = np.asarray(rows, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        if matrix.ndim != 2 or matrix.shape[1] != len(FEATURE_NAMES):
            raise ModelScoringError(f"an ensemble scores full vectors of {len(FEATURE_NAMES)} features")
        return matrix

    def log_odds_batch(self, matrix: npt.ArrayLike) -> FloatArray:
        full = self._full(matrix)
        total = np.zeros(full.shape[0])
        for scorer, weight in self.members:
            total += weight * scorer.log_odds_batch(full)
        return total

    def score_batch(self, matrix: npt.ArrayLike) -> FloatArray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.log_odds_batch(matrix))), dtype=np.float64)

    def score(self, vector: Sequence[float]) -> float:
        return float(self.score_batch([list(vector)])[0])

    @staticmethod
    def confidence(score: float) -> float:
        return max(score, 1.0 - score)

    def explain(self, vector: Sequence[float]) -> Explanation:
        values = dict(zip(FEATURE_NAMES, self._full([list(vector)])[0].tolist(), strict=True))
        combined = dict.fromkeys(self.feature_names, 0.0)
        for scorer, weight in self.members:
            for item in scorer.explain(vector).contributions:
                combined[item.feature] += weight * item.contribution
        contributions = tuple(
            FeatureContribution(feature=name, value=float(values[name]), contribution=contribution)
            for name, contribution in combined.items()
        )
        return Explanation(
            base_value=self.base_value,
            contributions=contributions,
            model_version=self.version,
            method="shap.TreeExplainer, weighted sum over the ensemble's members",
        )
