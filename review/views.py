"""Analyst pages: the queue, take-next, the case page and its actions. Views validate and call services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from fde_site.roles import CASE_WORKERS, has_role

from . import services
from .access import SENIORS, reader_view, senior_action, signed_in, worker_action
from .forms import BulkForm, NoteForm, QueueFilterForm, ResolveForm, case_workers
from .models import ReviewCase
from .reasons import RESOLUTION_REASONS, reasons_for
from .selectors import CaseStory, QueueFilters, case_story, queue_page
from .waterfall import waterfall


@reader_view
def queue(request: HttpRequest) -> HttpResponse:
    """Cases in priority order with filters and keyset pages; everything in the query string."""
    form = QueueFilterForm(request.GET or None)
    filters = form.filters(signed_in(request)) if form.is_bound and form.is_valid() else QueueFilters()
    after = form.cleaned_data.get("after", "") if form.is_bound and form.is_valid() else ""
    page = queue_page(filters, after=after)
    query = filters.as_query()
    is_senior = has_role(request.user, *SENIORS)
    context: dict[str, Any] = {
        "form": form,
        "page": page,
        "rows": [_row(case) for case in page.cases],
        "filter_query": urlencode(query),
        "next_query": urlencode({**query, "after": page.next_cursor}) if page.next_cursor else "",
        "can_work": has_role(request.user, *CASE_WORKERS),
        "is_senior": is_senior,
        "workers": list(case_workers()) if is_senior else [],
    }
    return render(request, "review/queue.html", context)


def _row(case: ReviewCase) -> dict[str, Any]:
    now = timezone.now()
    sla_left = case.sla_due_at - now
    return {
        "case": case,
        "age": now - case.created_at,
        "sla_left": sla_left,
        "is_breached": not case.is_resolved and sla_left.total_seconds() < 0,
    }


@worker_action
def take_next(request: HttpRequest) -> HttpResponse:
    case = services.case_claim_next(user=signed_in(request))
    if case is None:
        messages.info(request, "The queue is empty: there is no unclaimed case to take.")
        return redirect("review:queue")
    messages.success(request, f"You now hold case {case.pk}.")
    return redirect("review:case", case_id=case.pk)


@reader_view
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    story = case_story(case_id)
    if story is None:
        raise Http404("no such case")
    services.case_touch(case=story.case, user=signed_in(request))
    return _render_case(request, story)


def _render_case(
    request: HttpRequest, story: CaseStory, *, resolve_form: ResolveForm | None = None, status: int = 200
) -> HttpResponse:
    case = story.case
    user = request.user
    is_worker = has_role(user, *CASE_WORKERS)
    holds = case.status == ReviewCase.Status.CLAIMED and case.assignee_id == user.pk
    explanation = story.explain.get("explanation")
    context: dict[str, Any] = {
        "story": story,
        "case": case,
        "row": _row(case),
        "txn": story.record.transaction or {},
        "decision": story.explain["decision"],
        "features": story.explain.get("features"),
        "explanation": explanation,
        "chart": waterfall(explanation),
        "audit_trail": story.explain["audit_trail"],
        "holds": holds,
        "can_claim": is_worker and not case.is_resolved and not holds,
        "can_act": is_worker and holds,
        "can_note": not case.is_resolved and (holds or has_role(user, *SENIORS)),
        "approve_reasons": reasons_for("approve"),
        "decline_reasons": reasons_for("decline"),
        "resolve_form": resolve_form,
        "note_form": NoteForm(),
        "resolution_reason_label": _reason_label(case.resolution_reason),
    }
    return render(request, "review/case.html", context, status=status)


def _reason_label(code: str) -> str:
    reason = RESOLUTION_REASONS.get(code)
    return reason.label if reason else code


def _refused(request: HttpRequest, exc: services.CaseActionRefused, case_id: int) -> HttpResponse:
    messages.error(request, exc.message)
    return redirect("review:case", case_id=case_id)


@worker_action
def claim(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        services.case_claim(case_id=case_id, user=signed_in(request))
    except services.CaseActionRefused as exc:
        return _refused(request, exc, case_id)
    messages.success(request, f"You now hold case {case_id}.")
    return redirect("review:case", case_id=case_id)


@worker_action
def release(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        services.case_release(case_id=case_id, user=signed_in(request))
    except services.CaseActionRefused as exc:
        return _refused(request, exc, case_id)
    messages.success(request, f"Case {case_id} is back in the queue.")
    return redirect("review:queue")


@worker_action
def resolve(request: HttpRequest, case_id: int) -> HttpResponse:
    form = ResolveForm(request.POST)
    if not form.is_valid():
        story = case_story(case_id)
        if story is None:
            raise Http404("no such case")
        messages.error(request, "Choose a reason from the list before resolving.")
        return _render_case(request, story, resolve_form=form, status=400)
    data = form.cleaned_data
    try:
        case = services.case_resolve(
            case_id=case_id, user=signed_in(request), resolution=data["resolution"], reason=data["reason"],
            note=data.get("note", ""),
        )  # fmt: skip
    except services.CaseActionRefused as exc:
        return _refused(request, exc, case_id)
    verb = "approved (authorised)" if case.resolution == ReviewCase.Resolution.APPROVE else "declined"
    messages.success(request, f"Case {case_id} {verb}; outcome recorded as {case.get_outcome_display()}.")
    return redirect("review:case", case_id=case_id)


@worker_action
def add_note(request: HttpRequest, case_id: int) -> HttpResponse:
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A note needs some text (at most 2,000 characters).")
        return redirect("review:case", case_id=case_id)
    try:
        services.case_add_note(
            case_id=case_id, user=signed_in(request), text=form.cleaned_data["text"],
            may_note_any=has_role(request.user, *SENIORS),
        )  # fmt: skip
    except services.CaseActionRefused as exc:
        return _refused(request, exc, case_id)
    messages.success(request, "Note added.")
    return redirect(reverse("review:case", kwargs={"case_id": case_id}) + "#notes")


@senior_action
def bulk(request: HttpRequest) -> HttpResponse:
    """Assign or release the selected cases (senior analysts and admins)."""
    form = BulkForm(request.POST)
    back = request.POST.get("back", "")
    target = reverse("review:queue") + (f"?{back}" if back and not back.startswith(("/", "http")) else "")
    if not form.is_valid():
        messages.error(request, "Select cases, an action and (to assign) an analyst.")
        return redirect(target)
    data = form.cleaned_data
    if data["action"] == "assign":
        result = services.case_bulk_assign(
            case_ids=data["case_ids"], assignee=data["assignee"], actor_user=signed_in(request)
        )
        done = f"Assigned {len(result.changed)} case(s) to {data['assignee'].get_username()}"
    else:
        result = services.case_bulk_release(case_ids=data["case_ids"], actor_user=signed_in(request))
        done = f"Released {len(result.changed)} case(s)"
    skipped = f"; skipped {len(result.skipped)} (resolved or not claimed)" if result.skipped else ""
    messages.success(request, done + skipped + ".")
    return redirect(target)
