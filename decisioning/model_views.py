"""The model registry page: versions, metrics, a precision/recall curve; admins activate (POST + CSRF)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from decisioning.ml.judge import judge
from decisioning.ml.registry import (
    ActivationRefused,
    activate_model_version,
    rollback_model,
    stage_model_version,
    unstage_model,
)
from decisioning.models import ModelActivation, ModelVersion
from fde_site.roles import ADMIN, READERS, has_role

logger = logging.getLogger("fde.models")
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 360, 240, 36
#: The challengers card judges shadow and canary on this many days of decisions.
JUDGE_DAYS = 30
#: A judgement reads every decision of the window (about 2 s per 100k): shown from the cache this long.
JUDGE_CACHE_SECONDS = 120


def pr_curve_svg_points(curve: list[dict[str, float]]) -> str:
    """The PR curve as SVG polyline points (recall on x, precision on y) inside the chart's padding."""
    width, height = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    points = sorted((float(p["recall"]), float(p["precision"])) for p in curve)
    return " ".join(f"{CHART_PAD + r * width:.1f},{CHART_PAD + (1 - p) * height:.1f}" for r, p in points)


def _chart() -> dict[str, int]:
    inner_width, inner_height = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "pad": CHART_PAD, "inner_width": inner_width,
            "inner_height": inner_height, "label_y": CHART_HEIGHT - 10, "title_y": CHART_PAD - 8}  # fmt: skip


def _row(record: ModelVersion) -> dict[str, Any]:
    metrics, metadata = record.metrics, record.metadata
    return {
        "record": record,
        "roc_auc": metrics.get("roc_auc"),
        "average_precision": metrics.get("average_precision"),
        "card_precision": metrics.get("card_precision_at_100"),
        "features": len(record.feature_names),
        "source": metadata.get("data", {}).get("source", ""),
        "window": metadata.get("training_window", {}),
        "labels": metadata.get("label_counts", {}),
    }


@require_http_methods(["GET", "HEAD"])
def registry(request: HttpRequest) -> HttpResponse:
    """Every version with its metrics; the chosen (``?version=``, default active) one's PR curve."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not has_role(request.user, *READERS):
        return render(request, "no_role.html", status=403)
    records = list(ModelVersion.objects.order_by("-created_at")[:100])
    chosen = next((r for r in records if r.version == request.GET.get("version")), None)
    chosen = chosen or next((r for r in records if r.is_active), None) or (records[0] if records else None)
    context = {
        "rows": [_row(record) for record in records],
        "chosen": _row(chosen) if chosen else None,
        "points": pr_curve_svg_points(chosen.metrics.get("pr_curve", [])) if chosen else "",
        "chart": _chart(),
        "activations": ModelActivation.objects.all()[:10],
        "is_admin": has_role(request.user, ADMIN),
        "challengers": [
            _judged(record, refresh=request.GET.get("refresh") == "1")
            for record in ModelVersion.objects.exclude(stage=ModelVersion.Stage.NONE).order_by("stage")
        ],
        "judge_days": JUDGE_DAYS,
    }
    return render(request, "models/registry.html", context)


def _judged(record: ModelVersion, *, refresh: bool) -> dict[str, Any]:
    """The challenger's judgement, from the cache when it is younger than JUDGE_CACHE_SECONDS."""
    key = f"models:judge:{record.version}:{record.stage}:{record.staged_at and record.staged_at.timestamp()}"
    cached = None if refresh else _cache_get(key)
    if cached is None:
        cached = {"judgement": judge(record.version, days=JUDGE_DAYS), "computed_at": timezone.now()}
        if cached["judgement"] is not None:  # nothing to judge yet is cheap to find out again
            _cache_set(key, cached)
    return {"record": record, **cached}


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # the cache is an optimisation: without it the page computes
        logger.warning("cache unavailable; judging challengers afresh", exc_info=True)
        return None


def _cache_set(key: str, value: Any) -> None:
    try:
        cache.set(key, value, JUDGE_CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable; judgement not cached", exc_info=True)


def _admin_only(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not has_role(request.user, ADMIN):
        return HttpResponseForbidden("Only admins may change the active model.")
    return None


@require_POST
def activate(request: HttpRequest, version: str) -> HttpResponse:
    """Make ``version`` active (admins only; audited by the service)."""
    refused = _admin_only(request)
    if refused is not None:
        return refused
    try:
        activate_model_version(version=version, actor=f"user:{request.user.get_username()}", reason="registry page")
        messages.success(request, f"{version} is now the active model.")
    except ActivationRefused as exc:
        messages.error(request, str(exc))
    return redirect("models:registry")


@require_POST
def rollback(request: HttpRequest) -> HttpResponse:
    """Re-activate the previously active version (admins only)."""
    refused = _admin_only(request)
    if refused is not None:
        return refused
    try:
        record = rollback_model(actor=f"user:{request.user.get_username()}")
        messages.success(request, f"Rolled back: {record.version} is active.")
    except ActivationRefused as exc:
        messages.error(request, str(exc))
    return redirect("models:registry")


@require_POST
def stage(request: HttpRequest, version: str) -> HttpResponse:
    """Deploy ``version`` as shadow or canary (admins only; audited by the service)."""
    refused = _admin_only(request)
    if refused is not None:
        return refused
    chosen = request.POST.get("stage", "")
    try:
        percent = int(request.POST.get("percent") or 0)
    except ValueError:
        percent = -1
    try:
        record = stage_model_version(
            version=version, stage=chosen, percent=percent, actor=f"user:{request.user.get_username()}"
        )
    except ActivationRefused as exc:
        messages.error(request, str(exc))
        return redirect("models:registry")
    share = f" for {record.canary_percent} % of customers" if record.stage == ModelVersion.Stage.CANARY else ""
    messages.success(request, f"{version} is now the {record.stage}{share}.")
    return redirect("models:registry")


@require_POST
def unstage(request: HttpRequest, stage_name: str) -> HttpResponse:
    """Withdraw the shadow or the canary (admins only; audited by the service)."""
    refused = _admin_only(request)
    if refused is not None:
        return refused
    if stage_name not in (ModelVersion.Stage.SHADOW, ModelVersion.Stage.CANARY):
        messages.error(request, f"unknown stage {stage_name!r}")
        return redirect("models:registry")
    record = unstage_model(stage=stage_name, actor=f"user:{request.user.get_username()}")
    if record is None:
        messages.error(request, f"no {stage_name} model is deployed")
    else:
        messages.success(request, f"{stage_name} {record.version} withdrawn.")
    return redirect("models:registry")
