"""The waterfall geometry (no database) and the frozen explanation behind it."""

from __future__ import annotations

import itertools
import math

import pytest

from decisioning.explain import explanation_for, readable_value
from decisioning.models import ModelVersion
from review.waterfall import TOP_CONTRIBUTORS, waterfall


def explanation(contributions: list[float], base: float = -2.0) -> dict:
    ranked = sorted(
        ({"feature": f"f{i}", "label": f"Feature {i}", "value": 1.0, "contribution": c}
         for i, c in enumerate(contributions)),
        key=lambda item: abs(item["contribution"]), reverse=True,
    )  # fmt: skip
    return {"base_value": base, "contributions": ranked}


def test_top_contributors_then_rest_summed_then_final():
    chart = waterfall(explanation([1.0, -0.5, 0.25, 0.1, 0.05, -0.04, 0.03, 0.02, 0.01, 0.005, -0.002]))
    kinds = [bar.kind for bar in chart.bars]
    assert kinds == ["base", "up", "down", "up", "up", "up", "down", "up", "up", "rest", "final"]
    assert (chart.top_count, chart.rest_count) == (TOP_CONTRIBUTORS, 3)
    assert chart.bars[-2].label == "3 other features (summed)"
    assert chart.bars[-2].amount == "+0.01"  # 0.01 + 0.005 - 0.002
    final = -2.0 + 1.0 - 0.5 + 0.25 + 0.1 + 0.05 - 0.04 + 0.03 + 0.02 + 0.01 + 0.005 - 0.002
    assert chart.bars[-1].label == f"Final score, p = {1 / (1 + math.exp(-final)):.1%}"
    assert chart.bars[0].label == f"Base value (average case), p = {1 / (1 + math.exp(2.0)):.1%}"


def test_each_step_starts_where_the_previous_ended():
    chart = waterfall(explanation([0.8, -0.3, 0.2]))
    for previous, bar in itertools.pairwise(chart.bars[:-1]):
        start = bar.x if bar.kind == "up" else bar.x + bar.width
        end = bar.x + bar.width if bar.kind == "up" else bar.x
        assert (start, end) == (pytest.approx(previous.connector_x, abs=0.2), pytest.approx(bar.connector_x, abs=0.2))
    assert all(chart.plot_left <= bar.x <= chart.plot_right for bar in chart.bars)


def test_no_explanation_draws_nothing():
    assert waterfall(None) is None
    assert waterfall({"base_value": 0.0, "contributions": []}) is None


@pytest.mark.parametrize(
    ("feature", "value", "shown"),
    [("is_night", 1.0, "yes"), ("device_fingerprint_match", 0.0, "no"),
     ("amount_log", math.log1p(99.0), "4.61 (≈ 99.00)"), ("international_ratio", 0.25, "25%"),
     ("dispute_count_90d", 2.0, "2")],
)  # fmt: skip
def test_readable_values(feature, value, shown):
    assert readable_value(feature, value) == shown


@pytest.mark.django_db
def test_explanation_is_the_frozen_one_after_a_new_model_is_activated(model_case):
    case = model_case()
    before = explanation_for(case.decision)
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    old = ModelVersion.objects.get(version=before["decision"]["model_version"])
    ModelVersion.objects.create(version="gbm-newer", artifact_path=old.artifact_path, sha256=old.sha256,
                                feature_names=old.feature_names, is_active=True)  # fmt: skip
    case.decision.refresh_from_db()
    after = explanation_for(case.decision)
    assert after["explanation"] == before["explanation"]
    assert after["decision"]["model_version"] == old.version
