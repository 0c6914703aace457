"""Role checks of the review pages. Every view carries exactly one of these decorators.

Reading (queue, case page) is open to every FDE role; acting on cases needs a case-worker role
(analyst, senior analyst, admin — compliance is read-only); bulk actions need a senior role.
A refusal is a 403 page and an audited ``auth.permission_denied`` event; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST, require_safe

from audit.models import AuditEventType
from audit.services import audit_record
from fde_site.roles import ADMIN, CASE_WORKERS, READERS, SENIOR_ANALYST, has_role

View = Callable[..., HttpResponse]

#: Roles that may use the bulk actions (assign, release) and note any case.
SENIORS = (SENIOR_ANALYST, ADMIN)


def request_origin(request: HttpRequest) -> str:
    """IP and user agent (REMOTE_ADDR only: a forwarded header can be forged)."""
    return f"{request.META.get('REMOTE_ADDR', '')} {request.META.get('HTTP_USER_AGENT', '')}".strip()


def _refuse(request: HttpRequest, needed: tuple[str, ...]) -> HttpResponse:
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.PERMISSION_DENIED, actor=f"user:{request.user.get_username()}",
            origin=request_origin(request), outcome="refused",
            payload={"path": request.path, "method": request.method, "needs_one_of": list(needed)},
        )  # fmt: skip
    return render(request, "review/forbidden.html", {"needed": needed}, status=403)


def _role_required(roles: tuple[str, ...], method_check: Callable[[View], View]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @method_check
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                return _refuse(request, roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


#: GET/HEAD for anyone with an FDE role.
reader_view = _role_required(READERS, require_safe)
#: POST for analysts, senior analysts and admins.
worker_action = _role_required(CASE_WORKERS, require_POST)
#: POST for senior analysts and admins.
senior_action = _role_required(SENIORS, require_POST)


def signed_in(request: HttpRequest) -> User:
    """The signed-in user of a request that passed one of the role decorators above."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("sign in first")
    return user
