"""Forms of the review pages: queue filters, resolution, notes, bulk actions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from fde_site.roles import CASE_WORKERS

from .models import ReviewCase
from .reasons import reasons_for
from .selectors import QueueFilters

STATUS_CHOICES = [
    ("", "Open and claimed"),
    ("open", "Open"),
    ("claimed", "Claimed"),
    ("resolved", "Resolved"),
    ("all", "All"),
]


class QueueFilterForm(forms.Form):
    """Filters and search of the queue; everything lives in the URL's query string."""

    q = forms.CharField(
        required=False,
        max_length=128,
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "customer, request or transaction id"}),
    )
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    priority = forms.ChoiceField(required=False, choices=[("", "Any"), *ReviewCase.Priority.choices])
    reason = forms.CharField(required=False, max_length=50, label="Reason code")
    assignee = forms.CharField(required=False, max_length=150, help_text="a username, “me” or “none”")
    amount_min = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Amount from")
    amount_max = forms.DecimalField(required=False, min_value=0, decimal_places=2, label="Amount to")
    date_from = forms.DateField(required=False, label="Opened from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="Opened to", widget=forms.DateInput(attrs={"type": "date"}))
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)  # fmt: skip

    def filters(self, user: User) -> QueueFilters:
        data = self.cleaned_data
        assignee = (data.get("assignee") or "").strip()
        return QueueFilters(
            q=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            priority=data.get("priority") or "",
            reason=(data.get("reason") or "").strip().upper(),
            assignee=user.get_username() if assignee.lower() == "me" else assignee,
            amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(choices=ReviewCase.Resolution.choices, widget=forms.HiddenInput)
    reason = forms.ChoiceField(choices=[])
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, resolution: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chosen = resolution or str(self.data.get("resolution", ""))
        options = reasons_for(chosen) if chosen else [*reasons_for("approve"), *reasons_for("decline")]
        reason_field = self.fields["reason"]
        assert isinstance(reason_field, forms.ChoiceField)
        reason_field.choices = [("", "— choose a reason —"), *((r.code, r.label) for r in options)]
        self.initial.setdefault("resolution", resolution)


class NoteForm(forms.Form):
    text = forms.CharField(max_length=2000, label="Note", widget=forms.Textarea(attrs={"rows": 2}))


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("assign", "Assign to"), ("release", "Release")])
    case_ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False,
                                      to_field_name="username")  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ids = self.data.getlist("case_ids") if hasattr(self.data, "getlist") else self.data.get("case_ids", [])
        case_ids, assignee = self.fields["case_ids"], self.fields["assignee"]
        assert isinstance(case_ids, forms.ChoiceField)
        assert isinstance(assignee, forms.ModelChoiceField)
        case_ids.choices = [(value, value) for value in ids]
        assignee.queryset = case_workers()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "assign" and not data.get("assignee"):
            self.add_error("assignee", "Choose whom to assign the cases to.")
        return data


def case_workers() -> Any:
    """Users who may hold cases (the bulk-assign choices)."""
    return (
        get_user_model().objects.filter(is_active=True, groups__name__in=CASE_WORKERS).distinct().order_by("username")
    )
