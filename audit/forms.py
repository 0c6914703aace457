"""The audit browser's GET filter form."""

from __future__ import annotations

from django import forms

from .models import AuditEventType
from .selectors import AuditFilters


class AuditFilterForm(forms.Form):
    """Every field is optional; the form is bound to ``request.GET`` so filters live in the URL."""

    date_from = forms.DateField(required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    event_type = forms.ChoiceField(required=False, choices=[("", "any type"), *AuditEventType.choices])
    actor = forms.CharField(required=False, max_length=150)
    customer_id = forms.CharField(required=False, max_length=128, label="Customer")
    request_id = forms.CharField(required=False, max_length=128, label="Request id")
    outcome = forms.CharField(required=False, max_length=40, label="Action / outcome")
    model_version = forms.CharField(required=False, max_length=64, label="Model version")
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("“From” must not be after “To”.")
        return cleaned

    def filters(self) -> AuditFilters:
        """The validated filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        return AuditFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            **{name: (data.get(name) or "").strip() for name in ("event_type", "actor", "customer_id")},
            **{name: (data.get(name) or "").strip() for name in ("request_id", "outcome", "model_version")},
        )
