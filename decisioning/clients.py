"""Services for API clients: create (token shown once), disable, enable."""

from __future__ import annotations

import secrets

from django.db import transaction

from audit.models import AuditEventType
from audit.services import audit_record

from .models import ApiClient


def api_client_create(
    *, name: str, role: str = ApiClient.Role.SYSTEM, callback_url: str = "", actor: str, token: str | None = None
) -> tuple[ApiClient, str]:
    """Create a client and return it with its token (the only time the token is known)."""
    token = token or ApiClient.new_token()
    with transaction.atomic():
        client = ApiClient.objects.create(
            name=name,
            token_hash=ApiClient.hash_token(token),
            token_prefix=token[:12],
            role=role,
            callback_url=callback_url,
            callback_secret=secrets.token_urlsafe(32),
        )
        audit_record(
            event_type=AuditEventType.CLIENT_CREATED,
            actor=actor,
            outcome=role,
            payload={"client": name, "token_prefix": client.token_prefix, "callback_url": callback_url},
        )
    return client, token


def api_client_set_active(*, name: str, is_active: bool, actor: str) -> ApiClient:
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(name=name)
        client.is_active = is_active
        client.save(update_fields=["is_active"])
        audit_record(
            event_type=AuditEventType.CLIENT_CHANGED,
            actor=actor,
            outcome="enabled" if is_active else "disabled",
            payload={"client": name},
        )
    return client


def api_client_rotate_token(*, name: str, actor: str) -> str:
    """Give a client a new token (the old one stops working at once) and return it."""
    token = ApiClient.new_token()
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(name=name)
        client.token_hash = ApiClient.hash_token(token)
        client.token_prefix = token[:12]
        client.save(update_fields=["token_hash", "token_prefix"])
        audit_record(
            event_type=AuditEventType.CLIENT_CHANGED,
            actor=actor,
            outcome="token_rotated",
            payload={"client": name, "token_prefix": client.token_prefix},
        )
    return token


def internal_client(name: str = "internal") -> ApiClient:
    """A client for in-process callers (demo, replay) that never authenticates over HTTP."""
    client, _ = ApiClient.objects.get_or_create(
        name=name,
        defaults={"token_hash": ApiClient.hash_token(secrets.token_urlsafe(32)), "token_prefix": "internal"},
    )
    return client
