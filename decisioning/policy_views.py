"""The policy page: the policy in force, its versions, a threshold what-if, and changes (POST + CSRF, admins).

With four eyes on (``FDE_POLICY_FOUR_EYES``, the default) an admin proposes a change and a different
admin approves or rejects it; the proposer may withdraw it. Off, an admin activates at once.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import AuditEventType
from audit.services import audit_record
from decisioning.contracts import ContractError
from decisioning.decision.policy import KNOWN_FRAUD_FLOORS, DecisionPolicy
from decisioning.models import PolicyProposal, PolicyVersion
from decisioning.policy import (
    NOTE_MAX_LENGTH,
    PolicyChangeRefused,
    PolicyProposalSuperseded,
    active_policy,
    four_eyes_required,
    pending_proposal,
    policy_activate,
    policy_approve,
    policy_differences,
    policy_propose,
    policy_reject,
    policy_withdraw,
)
from decisioning.policy_whatif import ACTIONS, BINS, MAX_DAYS, THRESHOLD_FIELDS, WhatIf, threshold_whatif
from fde_site.roles import ADMIN, READERS, has_role

HISTORY_LIMIT = 100
PROPOSALS_LIMIT = 10
CHART_WIDTH, CHART_HEIGHT, CHART_AXIS = 720, 200, 34
_FIELD_LINE = re.compile(r"^    (?P<name>\w+):[^=]+=[^#]*(?:#:\s*(?P<comment>.*))?$")  # in the class body


@functools.cache
def field_descriptions() -> dict[str, str]:
    """Each DecisionPolicy field's ``#:`` comment (inline, or the comment lines just above the field)."""
    names = {field.name for field in dataclasses.fields(DecisionPolicy)}
    descriptions: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(DecisionPolicy).splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD_LINE.match(line)
        if match and match.group("name") in names:
            parts = [*pending, match.group("comment") or ""]
            descriptions[match.group("name")] = " ".join(part for part in parts if part).replace("``", "")
        pending = []
    return descriptions


# ------------------------------------------------------------------ forms


def _number_field(label: str, **kwargs: Any) -> forms.FloatField:
    return forms.FloatField(label=label, widget=forms.NumberInput(attrs={"step": "any"}), **kwargs)


def _add_contract_errors(form: forms.Form, error: ContractError) -> None:
    for name, message in error.fields.items():
        if name in form.fields:
            form.add_error(name, message)
        else:  # a rule across fields, e.g. "thresholds"
            form.add_error(None, f"{name.replace('_', ' ').capitalize()} {message}")


class WhatIfForm(forms.Form):
    """Proposed thresholds and the window; a GET form so the URL can be shared."""

    challenge_threshold = _number_field("Challenge ≥", min_value=0.0, max_value=1.0)
    review_threshold = _number_field("Review ≥", min_value=0.0, max_value=1.0)
    decline_threshold = _number_field("Decline ≥", min_value=0.0, max_value=1.0)
    days = forms.IntegerField(label="Last days", min_value=1, max_value=MAX_DAYS)

    def __init__(self, data: Any, *, policy: DecisionPolicy) -> None:
        defaults = {name: getattr(policy, name) for name in THRESHOLD_FIELDS} | {"days": 30}
        # Its own ids: the activation form on the same page has fields of the same names.
        super().__init__({**defaults, **{key: data[key] for key in data if key in defaults}}, auto_id="whatif_%s")
        self.policy = policy
        self.proposed: DecisionPolicy | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            thresholds = {name: cleaned[name] for name in THRESHOLD_FIELDS}
            try:
                self.proposed = self.policy.replace(version=f"{self.policy.version} (what-if)", **thresholds)
            except ContractError as exc:
                _add_contract_errors(self, exc)
        return cleaned


def _policy_field(name: str, default: object) -> forms.Field:
    label, help_text = name.replace("_", " ").capitalize(), field_descriptions().get(name, "")
    if name == "known_fraud_floor":
        return forms.ChoiceField(label=label, help_text=help_text, choices=[(v, v) for v in KNOWN_FRAUD_FLOORS])
    if isinstance(default, float):
        return _number_field(label, help_text=help_text)
    if isinstance(default, int):
        return forms.IntegerField(label=label, help_text=help_text, min_value=1)
    return forms.CharField(label="New version name", help_text="never reused", max_length=64)


class ActivateForm(forms.Form):
    """A new version: every DecisionPolicy field, built from the dataclass, prefilled with the active values."""

    based_on = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, default in DecisionPolicy().to_dict().items():
            self.fields[name] = _policy_field(name, default)

    def clean_version(self) -> str:
        version: str = self.cleaned_data["version"].strip()
        if PolicyVersion.objects.filter(version=version).exists():
            raise forms.ValidationError("exists already; versions are never reused")
        return version

    def changes_from(self, policy: DecisionPolicy) -> dict[str, Any]:
        """The submitted fields that differ from ``policy``."""
        current = {name: value for name, value in policy.to_dict().items() if name != "version"}
        return {name: self.cleaned_data[name] for name in current if self.cleaned_data[name] != current[name]}


class ProposeForm(ActivateForm):
    """The activation form plus the proposer's mandatory note, for a second admin to approve."""

    note = forms.CharField(
        label="Why (for the approver and the audit trail)", max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["note"] = self.fields.pop("note")  # after the policy fields, on its own row


class DecideForm(forms.Form):
    """The checker's (or the withdrawing proposer's) note on a proposal; required to reject."""

    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, is_note_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["note"].required = is_note_required


def change_form_for(policy: DecisionPolicy, proposed: DecisionPolicy | None = None) -> ActivateForm:
    """The propose form with four eyes on, the activate form without; prefilled from ``proposed``."""
    values = (proposed or policy).to_dict()
    form_class = ProposeForm if four_eyes_required() else ActivateForm
    return form_class(initial={**values, "version": "", "based_on": policy.version})


# ------------------------------------------------------------------ reads


def policy_history(limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """Stored versions, newest first, each with its changes against the version before it."""
    versions = list(PolicyVersion.objects.select_related("proposal").order_by("-created_at", "-pk")[: limit + 1])
    default = DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY).to_dict()
    rows = []
    for index, version in enumerate(versions[:limit]):
        previous = versions[index + 1].settings if index + 1 < len(versions) else default
        names = sorted((set(previous) | set(version.settings)) - {"version"})
        changes = [(name, previous.get(name), version.settings.get(name)) for name in names
                   if previous.get(name) != version.settings.get(name)]  # fmt: skip
        rows.append({"record": version, "changes": changes, "is_first": index + 1 >= len(versions),
                     "proposal": getattr(version, "proposal", None)})  # fmt: skip
    return rows


PLOT_HEIGHT = CHART_HEIGHT - CHART_AXIS


def _bar_height(count: int, tallest: float) -> float:
    # Log-scaled: most scores sit near 0, and the review/decline tail must stay visible.
    return round((PLOT_HEIGHT - 14) * math.log1p(count) / tallest, 1)


def _bar(index: int, count: int, fraud: int, tallest: float) -> dict[str, Any]:
    width = CHART_WIDTH / BINS
    height, fraud_height = _bar_height(count, tallest), _bar_height(fraud, tallest)
    return {
        "x": round(index * width + 1, 1),
        "width": round(width - 2, 1),
        "y": round(PLOT_HEIGHT - height, 1),
        "height": height,
        "fraud_y": round(PLOT_HEIGHT - fraud_height, 1),
        "fraud_height": fraud_height,
        "count": count,
        "fraud": fraud,
        "low": index / BINS,
        "high": (index + 1) / BINS,
    }


def _threshold_line(kind: str, policy: DecisionPolicy, name: str) -> dict[str, Any]:
    value = getattr(policy, name)
    label_y = PLOT_HEIGHT + (14 if kind == "active" else 28)
    return {"x": round(value * CHART_WIDTH, 1), "kind": kind, "name": name.split("_")[0], "value": value,
            "label_y": label_y}  # fmt: skip


def score_chart(result: WhatIf, policy: DecisionPolicy, proposed: DecisionPolicy) -> dict[str, Any]:
    """SVG geometry: the score histogram with the active and proposed thresholds as vertical lines."""
    tallest = math.log1p(max(result.histogram)) or 1.0
    counts = zip(result.histogram, result.fraud_histogram, strict=True)
    bars = [_bar(index, count, fraud, tallest) for index, (count, fraud) in enumerate(counts)]
    sides = (("active", policy), ("proposed", proposed))
    lines = [_threshold_line(kind, side, name) for kind, side in sides for name in THRESHOLD_FIELDS]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "plot_height": PLOT_HEIGHT, "bars": bars, "lines": lines}


def _comparison(result: WhatIf) -> list[dict[str, Any]]:
    rows = []
    for action in ACTIONS:
        active, proposed = result.active.counts[action], result.proposed.counts[action]
        rows.append({"action": action.value, "active": active, "proposed": proposed, "delta": proposed - active})
    return rows


def _whatif_context(form: WhatIfForm) -> dict[str, Any]:
    if not form.is_valid() or form.proposed is None:
        return {"whatif_form": form}
    result = threshold_whatif(policy=form.policy, proposed=form.proposed, days=form.cleaned_data["days"])
    chart = score_chart(result, form.policy, form.proposed) if result.total else None
    return {"whatif_form": form, "whatif": result, "comparison": _comparison(result), "chart": chart}


def _proposal_context(request: HttpRequest, policy: DecisionPolicy) -> dict[str, Any]:
    """The pending proposal with its changes against the policy in force, and what this user may do."""
    pending = pending_proposal()
    context: dict[str, Any] = {"proposals": list(PolicyProposal.objects.all()[:PROPOSALS_LIMIT]), "pending": pending}
    if pending is not None:
        active = policy.to_dict()
        changes = policy_differences(active, pending.settings)
        context |= {
            "pending_changes": [(name, change["from"], change["to"]) for name, change in changes.items()],
            "pending_is_stale": active != pending.base_settings,
            "pending_whatif_query": urlencode({name: pending.settings[name] for name in THRESHOLD_FIELDS}),
            "is_proposer": pending.proposed_by == _actor(request),
        }
    return context


def _render_page(
    request: HttpRequest,
    policy: DecisionPolicy,
    whatif: dict[str, Any],
    form: ActivateForm | None,
    status: int,
    decision_error: str = "",
) -> HttpResponse:
    stored = PolicyVersion.objects.filter(is_active=True).first()
    descriptions = field_descriptions()
    context = {
        "policy": policy,
        "stored": stored,
        "fields": [(name, value, descriptions.get(name, "")) for name, value in policy.to_dict().items()],
        "history": policy_history(),
        "history_limit": HISTORY_LIMIT,
        "is_admin": has_role(request.user, ADMIN),
        "four_eyes": four_eyes_required(),
        "change_form": form,
        "decision_error": decision_error,
        "note_max_length": NOTE_MAX_LENGTH,
        **_proposal_context(request, policy),
        **whatif,
    }
    return render(request, "policy/page.html", context, status=status)


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


# ------------------------------------------------------------------ views


def _refuse(request: HttpRequest, roles: tuple[str, ...]) -> HttpResponse | None:
    """Login redirect for anonymous users, an audited 403 for users without one of ``roles``."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if has_role(request.user, *roles):
        return None
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.PERMISSION_DENIED, actor=f"user:{request.user.get_username()}",
            outcome="refused", payload={"path": request.path, "method": request.method, "needs_one_of": list(roles)},
        )  # fmt: skip
    template = "no_role.html" if roles == READERS else "policy/forbidden.html"
    return render(request, template, status=403)


@require_http_methods(["GET", "HEAD"])
def page(request: HttpRequest) -> HttpResponse:
    """The active policy, its history, and the what-if of ``?challenge_threshold=…&days=…`` (400 when invalid)."""
    refused = _refuse(request, READERS)
    if refused is not None:
        return refused
    policy = active_policy()
    form = WhatIfForm(request.GET, policy=policy)
    whatif = _whatif_context(form)
    status = 200 if form.is_valid() else 400
    change_form = change_form_for(policy, form.proposed) if has_role(request.user, ADMIN) else None
    return _render_page(request, policy, whatif, change_form, status)


class _Refused(Exception):
    """The form is valid but cannot be applied; the message is shown above the form."""


@require_POST
def activate(request: HttpRequest) -> HttpResponse:
    """Activate a new version through ``policy_activate`` (admins only, and only without four eyes; audited)."""
    refused = _refuse(request, (ADMIN,)) or _refuse_direct_change(request)
    if refused is not None:
        return refused
    form = ActivateForm(request.POST)
    if form.is_valid():
        try:
            stored = _activate(form, actor=_actor(request))
        except ContractError as exc:
            _add_contract_errors(form, exc)
        except _Refused as exc:
            form.add_error(None, str(exc))
        except IntegrityError:  # a concurrent activation took the version name or the active slot
            form.add_error("version", "exists already or another change won: reload and try again")
        else:
            messages.success(request, f"Policy {stored.version} is now active.")
            return redirect("policy:page")
    return _rerender(request, form)


def _rerender(request: HttpRequest, form: ActivateForm | None = None, decision_error: str = "") -> HttpResponse:
    """The page again with the errors, status 400 (nothing was changed)."""
    policy = active_policy()
    if form is None:
        form = change_form_for(policy)
    whatif = {"whatif_form": WhatIfForm({}, policy=policy)}
    return _render_page(request, policy, whatif, form, status=400, decision_error=decision_error)


def _refuse_direct_change(request: HttpRequest) -> HttpResponse | None:
    """With four eyes on, nobody activates directly: an audited 403 that points to proposing instead."""
    if not four_eyes_required():
        return None
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.PERMISSION_DENIED, actor=_actor(request), outcome="refused",
            payload={"path": request.path, "method": request.method, "reason": "four eyes: propose, don't activate"},
        )  # fmt: skip
    return render(request, "policy/forbidden.html", {"is_four_eyes_refusal": True}, status=403)


def _activate(form: ActivateForm, *, actor: str) -> PolicyVersion:
    # The form carries every field: refuse it if another activation happened since it was rendered,
    # or its stale values would silently undo that change. The lock makes the check hold until commit.
    with transaction.atomic():
        locked = PolicyVersion.objects.select_for_update().filter(is_active=True).first()
        policy = active_policy()
        if form.cleaned_data["based_on"] != (locked.version if locked else policy.version):
            raise _Refused("The policy changed since this page was loaded: reload it and try again.")
        changes = form.changes_from(policy)
        if not changes:
            raise _Refused("Nothing changed: change at least one setting.")
        return policy_activate(version=form.cleaned_data["version"], changes=changes, actor=actor)


@require_POST
def propose(request: HttpRequest) -> HttpResponse:
    """Propose a new version for another admin to approve (admins only; audited by the service)."""
    refused = _refuse(request, (ADMIN,))
    if refused is not None:
        return refused
    form = ProposeForm(request.POST)
    if form.is_valid():
        try:
            proposal = policy_propose(
                version=form.cleaned_data["version"], changes=form.changes_from(active_policy()),
                actor=_actor(request), note=form.cleaned_data["note"], based_on=form.cleaned_data["based_on"],
            )  # fmt: skip
        except ContractError as exc:
            _add_contract_errors(form, exc)
        except PolicyChangeRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"Proposed policy {proposal.version} (proposal #{proposal.pk}); another admin must approve it."
            )
            return redirect("policy:page")
    return _rerender(request, form)


@require_POST
def approve(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """Approve and activate another admin's pending proposal (admins only; audited by the service)."""
    return _decide(request, proposal_id, action="approve")


@require_POST
def reject(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """Reject another admin's pending proposal with a reason (admins only; audited by the service)."""
    return _decide(request, proposal_id, action="reject")


@require_POST
def withdraw(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """Withdraw one's own pending proposal (admins only; audited by the service)."""
    return _decide(request, proposal_id, action="withdraw")


def _decide(request: HttpRequest, proposal_id: int, *, action: str) -> HttpResponse:
    refused = _refuse(request, (ADMIN,))
    if refused is not None:
        return refused
    form = DecideForm(request.POST, is_note_required=action == "reject")
    if not form.is_valid():
        needs = "a reason" if action == "reject" else f"at most {NOTE_MAX_LENGTH:,} characters"
        return _rerender(request, decision_error=f"Not done: the note needs {needs}.")
    try:
        done = _apply_decision(proposal_id, action=action, actor=_actor(request), note=form.cleaned_data["note"])
    except PolicyProposalSuperseded as exc:  # the proposal changed state (superseded); nothing was activated
        messages.error(request, exc.message)
        return redirect("policy:page")
    except PolicyChangeRefused as exc:
        return _rerender(request, decision_error=exc.message)
    messages.success(request, done)
    return redirect("policy:page")


def _apply_decision(proposal_id: int, *, action: str, actor: str, note: str) -> str:
    """Run the service for ``action``; the success message."""
    if action == "approve":
        stored = policy_approve(proposal_id=proposal_id, actor=actor, note=note)
        return f"Approved proposal #{proposal_id}: policy {stored.version} is now active."
    service = policy_reject if action == "reject" else policy_withdraw
    proposal = service(proposal_id=proposal_id, actor=actor, note=note)
    return f"Proposal #{proposal.pk} ({proposal.version}) {proposal.status}."
