"""Fixtures for the audit tests: role users, event factories, tampering as a superuser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, transaction

from audit.models import AuditEvent, AuditEventType
from audit.services import audit_record

EventFactory = Callable[..., AuditEvent]


@pytest.fixture
def record_event() -> EventFactory:
    """Append one event through the real service, in its own transaction."""

    def record(event_type: AuditEventType = AuditEventType.LIST_CHANGED, **fields: Any) -> AuditEvent:
        fields.setdefault("actor", "system:test")
        with transaction.atomic():
            return audit_record(event_type=event_type, **fields)

    return record


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """A user holding the given role groups (none → a signed-in user without any FDE role)."""

    def make(username: str, *roles: str) -> User:
        user = User.objects.create_user(username=username, password="pw-for-tests-only")
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


def tamper(sql: str, params: list[Any] | None = None) -> None:
    """Change the audit table behind the application's back, as a superuser would."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params or [])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
