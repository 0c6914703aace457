"""Compliance pages: browse, a transaction's trail, streamed exports. Read-only for every role."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from fde_site.roles import READERS, has_role

from .chain import ChainHead
from .export import csv_lines, export_header, jsonl_lines, stream_events
from .forms import AuditFilterForm
from .models import AuditEvent, AuditEventType
from .selectors import AuditFilters, chain_status, events_page, filtered_events, transaction_trail
from .services import audit_record

View = Callable[..., HttpResponseBase]


def request_actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


def request_origin(request: HttpRequest) -> str:
    """IP and user agent of the request (REMOTE_ADDR only: a forwarded header can be forged)."""
    return f"{request.META.get('REMOTE_ADDR', '')} {request.META.get('HTTP_USER_AGENT', '')}".strip()


def audit_reader_required(view: View) -> View:
    """GET/HEAD only (405 otherwise), signed in (else login), holding a reader role (else 403, audited)."""

    @require_safe
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not has_role(request.user, *READERS):
            with transaction.atomic():
                audit_record(
                    event_type=AuditEventType.PERMISSION_DENIED, actor=request_actor(request),
                    origin=request_origin(request), outcome="refused", payload={"path": request.path},
                )  # fmt: skip
            return render(request, "no_role.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def _bound_form(request: HttpRequest) -> tuple[AuditFilterForm, AuditFilters | None]:
    form = AuditFilterForm(request.GET or None)
    if not request.GET:
        return form, AuditFilters()
    return form, (form.filters() if form.is_valid() else None)


@audit_reader_required
def event_list(request: HttpRequest) -> HttpResponse:
    """Browse and filter the trail, newest first, keyset-paginated."""
    form, filters = _bound_form(request)
    context: dict[str, Any] = {"form": form, "status": chain_status(), "page": None}
    if filters is not None:
        data = form.cleaned_data if form.is_bound else {}
        page = events_page(filters, before=data.get("before"), after=data.get("after"))
        query = filters.as_query()
        context.update(
            page=page,
            rows=[_row(event) for event in page.events],
            filter_query=urlencode(query),
            newer_query=urlencode({**query, "after": str(page.newer_cursor)}) if page.newer_cursor else "",
            older_query=urlencode({**query, "before": str(page.older_cursor)}) if page.older_cursor else "",
        )
    return render(request, "audit/event_list.html", context)


def _row(event: AuditEvent) -> dict[str, Any]:
    return {"event": event, "payload_json": pretty_json(event.payload)}


def pretty_json(value: Any) -> str:
    """Indented JSON for a <pre> block (the template escapes it)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@audit_reader_required
def transaction_trail_view(request: HttpRequest, request_id: str) -> HttpResponse:
    """One transaction's full story from the trail."""
    trail = transaction_trail(request_id)
    decision = trail.section("decision") or {}
    context = {
        "trail": trail,
        "status": chain_status(),
        "request_json": pretty_json(trail.section("transaction")),
        "features": (trail.section("features") or {}).get("groups", {}),
        "features_meta": trail.section("features") or {},
        "decision": decision,
        "explanation": readable_explanation(decision.get("explanation") if isinstance(decision, dict) else None),
        "execution": trail.section("execution") or {},
        "rows": [_row(event) for event in trail.events],
        "review_events": trail.of_types(*REVIEW_TYPES),
        "feedback_events": trail.of_types(AuditEventType.FEEDBACK_RECORDED),
    }
    return render(request, "audit/transaction_trail.html", context, status=200 if trail.events else 404)


def readable_explanation(explanation: Any) -> dict[str, Any] | None:
    """The frozen explanation with readable names and values, largest contribution first."""
    if not isinstance(explanation, dict) or not isinstance(explanation.get("contributions"), list):
        return None
    from decisioning.decision.vector import display_name
    from decisioning.explain import readable_value

    ranked = sorted(explanation["contributions"], key=lambda item: abs(item.get("contribution", 0.0)), reverse=True)
    rows = [
        {
            "label": display_name(str(item.get("feature"))),
            "value": readable_value(str(item.get("feature")), float(item.get("value", 0.0))),
            "contribution": item.get("contribution", 0.0),
        }
        for item in ranked
    ]
    return {**explanation, "contributions": rows}


REVIEW_TYPES = (
    AuditEventType.CASE_OPENED, AuditEventType.CASE_CLAIMED, AuditEventType.CASE_RELEASED,
    AuditEventType.CASE_RESOLVED, AuditEventType.NOTE_ADDED,
)  # fmt: skip


@audit_reader_required
def export_csv(request: HttpRequest) -> HttpResponseBase:
    return _export(request, export_format="csv")


@audit_reader_required
def export_jsonl(request: HttpRequest) -> HttpResponseBase:
    return _export(request, export_format="jsonl")


_CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def _export(request: HttpRequest, *, export_format: str) -> HttpResponseBase:
    """Stream the filtered view up to the chain head taken now; the export is audited first."""
    form, filters = _bound_form(request)
    if filters is None:
        return HttpResponse(f"invalid filters: {form.errors.as_text()}", status=400, content_type="text/plain")
    head = _record_export(request, filters, export_format)
    header = export_header(
        head, exported_at=timezone.now().isoformat(), filters=filters.as_query(), export_format=export_format
    )
    events = stream_events(filtered_events(filters, upto_sequence=head.sequence))
    lines = csv_lines(header, events) if export_format == "csv" else jsonl_lines(header, events)
    response = StreamingHttpResponse(lines, content_type=_CONTENT_TYPES[export_format])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="fde-audit-{stamp}.{export_format}"'
    response["X-Audit-Chain-Head"] = str(head)
    return response


def _record_export(request: HttpRequest, filters: AuditFilters, export_format: str) -> ChainHead:
    """Audit the export; the head it exports up to is the one just before its own event."""
    with transaction.atomic():
        event = audit_record(
            event_type=AuditEventType.EXPORT_MADE, actor=request_actor(request), origin=request_origin(request),
            outcome=export_format, payload={"format": export_format, "filters": filters.as_query()},
        )  # fmt: skip
    return ChainHead(event.sequence - 1, event.prev_hash)
