"""Site-wide pages: the overview landing page."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from decisioning.models import DecisionRecord, ModelVersion
from decisioning.policy import active_policy
from review.models import ReviewCase

from .roles import READERS, has_role


@require_http_methods(["GET", "HEAD"])
@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, *READERS):
        return render(request, "no_role.html", status=403)
    decided = DecisionRecord.objects.filter(status=DecisionRecord.Status.DECIDED)
    counts = list(decided.values("action").annotate(count=Count("id")).order_by("-count"))
    total = sum(row["count"] for row in counts)
    active = ModelVersion.objects.filter(is_active=True).first()
    context: dict[str, Any] = {
        "total_decisions": total,
        "by_action": [{**row, "share": 100.0 * row["count"] / total} for row in counts],
        "open_cases": ReviewCase.objects.exclude(status=ReviewCase.Status.RESOLVED).count(),
        "active_model": active.version if active else None,
        "active_model_metrics": active.metrics if active else None,
        "policy": active_policy(),
        "recent": decided.order_by("-decided_at")[:15],
        "histogram": score_histogram(decided, active_policy()),
    }
    return render(request, "home.html", context)


HISTOGRAM_BINS = 20
HISTOGRAM_SAMPLE = 5000
CHART_WIDTH, CHART_HEIGHT = 1000, 170


def score_histogram(decided: Any, policy: Any) -> dict[str, Any]:
    """Bars of the fraud-score distribution of recent decisions, coloured by threshold band."""
    scores = list(decided.order_by("-id").values_list("fraud_score", flat=True)[:HISTOGRAM_SAMPLE])
    counts = [0] * HISTOGRAM_BINS
    for score in scores:
        if score is not None:
            counts[min(HISTOGRAM_BINS - 1, int(score * HISTOGRAM_BINS))] += 1
    # Log-scaled heights: most scores sit near 0, and the review/decline tail must stay visible.
    tallest = math.log1p(max(counts)) or 1.0
    width = CHART_WIDTH / HISTOGRAM_BINS
    bars = []
    for index, count in enumerate(counts):
        low = index / HISTOGRAM_BINS
        height = (CHART_HEIGHT - 20) * math.log1p(count) / tallest
        bars.append({
            "x": round(index * width + 1, 1), "y": round(CHART_HEIGHT - 20 - height, 1),
            "width": round(width - 2, 1), "height": round(height, 1), "count": count,
            "band": _band(low, policy), "low": low, "high": low + 1 / HISTOGRAM_BINS,
        })  # fmt: skip
    thresholds = [
        {"x": round(value * CHART_WIDTH, 1), "label": f"{name} ≥ {value:g}"}
        for name, value in (
            ("challenge", policy.challenge_threshold),
            ("review", policy.review_threshold),
            ("decline", policy.decline_threshold),
        )
    ]
    return {"bars": bars, "thresholds": thresholds, "total": len(scores), "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _band(score: float, policy: Any) -> str:
    if score >= policy.decline_threshold:
        return "decline"
    if score >= policy.review_threshold:
        return "review"
    if score >= policy.challenge_threshold:
        return "challenge"
    return "approve"
