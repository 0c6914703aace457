"""The voting ensemble: a weighted vote in log-odds whose SHAP explanation still adds up exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from decisioning.decision.scoring import EnsembleScorer, ModelScorer
from decisioning.decision.vector import FEATURE_NAMES, LEGACY_FEATURE_NAMES


def _model(names, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.random((300, len(names)))
    labels = (matrix[:, 0] + 0.5 * matrix[:, -1] + 0.2 * rng.random(300) > 0.9).astype(int)
    model = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=seed).fit(matrix, labels)
    return ModelScorer(model, version=f"m-{seed}", feature_names=names)


@pytest.fixture(scope="module")
def members():
    return _model(FEATURE_NAMES, 1), _model(LEGACY_FEATURE_NAMES, 2)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_the_score_is_the_weighted_vote_in_log_odds(members):
    full, legacy = members
    ensemble = EnsembleScorer([(full, 3.0), (legacy, 1.0)], version="ens-1")
    vector = list(np.random.default_rng(5).random(len(FEATURE_NAMES)))
    expected = 1 / (1 + math.exp(-(0.75 * _logit(full.score(vector)) + 0.25 * _logit(legacy.score(vector)))))
    assert ensemble.score(vector) == pytest.approx(expected, abs=1e-9)
    assert [w for _, w in ensemble.members] == [0.75, 0.25]  # weights are normalised
    batch = np.random.default_rng(6).random((7, len(FEATURE_NAMES)))
    assert ensemble.score_batch(batch) == pytest.approx([ensemble.score(list(row)) for row in batch])
    assert ensemble.feature_names == FEATURE_NAMES  # the union, in serving order


def test_the_explanation_is_the_weighted_sum_of_the_members_and_adds_up(members):
    full, legacy = members
    ensemble = EnsembleScorer([(full, 0.5), (legacy, 0.5)], version="ens-2")
    vector = list(np.random.default_rng(8).random(len(FEATURE_NAMES)))
    explanation = ensemble.explain(vector)
    assert explanation.model_version == "ens-2"
    assert explanation.output_value == pytest.approx(_logit(ensemble.score(vector)), abs=1e-6)
    by_member = [{c.feature: c.contribution for c in m.explain(vector).contributions} for m in members]
    for item in explanation.contributions:
        expected = 0.5 * by_member[0].get(item.feature, 0.0) + 0.5 * by_member[1].get(item.feature, 0.0)
        assert item.contribution == pytest.approx(expected, abs=1e-12)
    only_in_full = next(name for name in FEATURE_NAMES if name not in LEGACY_FEATURE_NAMES)
    assert {c.feature: c.contribution for c in explanation.contributions}[only_in_full] == pytest.approx(
        0.5 * by_member[0][only_in_full]
    )


@pytest.mark.parametrize(
    ("weights", "message"), [((1.0,), "at least two"), ((1.0, 0.0), "positive"), ((1.0, float("nan")), "positive")]
)
def test_bad_ensembles_are_refused(members, weights, message):
    with pytest.raises(ValueError, match=message):
        EnsembleScorer(list(zip(members, weights, strict=False)), version="bad")
