"""Audited sign-in: Django's LoginView plus the SIGN_IN_SUCCEEDED / SIGN_IN_FAILED events.

A view subclass rather than the ``user_logged_in`` / ``user_login_failed`` signals, following the
project rule of explicit calls over signals. fde_site.urls mounts it as ``login``.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.http import HttpResponse

from .models import AuditEventType
from .services import audit_record


class AuditedLoginView(auth_views.LoginView):
    """Every sign-in attempt through the web UI is in the audit trail (never the password)."""

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        self._audit(AuditEventType.SIGN_IN_SUCCEEDED, f"user:{form.get_user().get_username()}", "succeeded")
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        attempted = str(self.request.POST.get("username", ""))[:100]
        self._audit(AuditEventType.SIGN_IN_FAILED, f"user:{attempted}", "failed")
        return super().form_invalid(form)

    def _audit(self, event_type: AuditEventType, actor: str, outcome: str) -> None:
        meta = self.request.META
        with transaction.atomic():
            audit_record(
                event_type=event_type, actor=actor, outcome=outcome,
                origin=f"{meta.get('REMOTE_ADDR', '')} {meta.get('HTTP_USER_AGENT', '')}".strip(),
            )  # fmt: skip
