"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from .roles import user_roles


def roles(request: HttpRequest) -> dict[str, list[str]]:
    return {"fde_roles": sorted(user_roles(getattr(request, "user", None)))}
