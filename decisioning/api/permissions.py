"""Who may call what: systems decide and write; analysts and compliance read; nobody anonymous."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from decisioning.models import ApiClient
from fde_site.roles import READERS, has_role

from .authentication import request_client


class IsSystemClient(permissions.BasePermission):
    """An active API client with the system role."""

    message = "Only API clients with the system role may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        client = request_client(request)
        return client is not None and client.role == ApiClient.Role.SYSTEM


class CanReadDecisions(permissions.BasePermission):
    """Any API client, or a signed-in user with an FDE role."""

    message = "You need an FDE role (analyst, senior_analyst, compliance or admin) or an API token."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request_client(request) is not None:
            return True
        return has_role(request.user, *READERS)


class SystemWritesReadersRead(permissions.BasePermission):
    """Safe methods for readers; anything else for system clients only."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return CanReadDecisions().has_permission(request, view)
        return IsSystemClient().has_permission(request, view)
