"""Token authentication for API clients (payment systems).

``Authorization: Bearer fde_…`` (or ``Token fde_…``). Only the SHA-256 of a token is stored.
Analysts and compliance officers signed in to the web UI use their session instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from decisioning.models import ApiClient


@dataclass(frozen=True)
class ClientPrincipal:
    """``request.user`` for a request authenticated with an API token."""

    client: ApiClient

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    @property
    def username(self) -> str:
        return f"client:{self.client.name}"

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[ClientPrincipal, ApiClient] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        try:
            token = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        client = ApiClient.objects.filter(token_hash=ApiClient.hash_token(token)).first()
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not client.is_active:
            raise exceptions.AuthenticationFailed("This API client is disabled.")
        return ClientPrincipal(client), client

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="fde"'


def request_client(request: Any) -> ApiClient | None:
    """The API client behind a request, if it authenticated with a token."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiClient) else None


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents the bearer token in the OpenAPI schema."""

    target_class = "decisioning.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Token from `manage.py create_api_client NAME`."}
