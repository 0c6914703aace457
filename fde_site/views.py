"""Site-wide pages: the overview landing page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from decisioning.models import DecisionRecord, ModelVersion
from decisioning.policy import active_policy
from review.models import ReviewCase

from .roles import READERS, has_role


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
    }
    return render(request, "home.html", context)
