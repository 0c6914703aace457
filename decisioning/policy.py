"""Decision policy storage: the active PolicyVersion, or the settings default."""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEventType
from audit.services import audit_record

from .decision.policy import DecisionPolicy
from .models import PolicyVersion


class StoredPolicyProvider:
    """Reads the active policy, caching it for a few seconds so a change applies quickly."""

    def __init__(self, refresh_seconds: float = 2.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._cached: DecisionPolicy | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> DecisionPolicy:
        with self._lock:
            if self._cached is None or time.monotonic() - self._loaded_at > self.refresh_seconds:
                self._cached = active_policy()
                self._loaded_at = time.monotonic()
            return self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


def active_policy() -> DecisionPolicy:
    stored = PolicyVersion.objects.filter(is_active=True).first()
    if stored is None:
        return DecisionPolicy.from_dict(settings.FDE_DEFAULT_POLICY)
    return DecisionPolicy.from_dict({**stored.settings, "version": stored.version})


def policy_activate(*, version: str, changes: dict[str, Any], actor: str) -> PolicyVersion:
    """Store a new policy version built from the active one plus ``changes`` and activate it."""
    current = active_policy()
    policy = DecisionPolicy.from_dict({**current.to_dict(), **changes, "version": version})
    with transaction.atomic():
        PolicyVersion.objects.filter(is_active=True).update(is_active=False)
        stored = PolicyVersion.objects.create(
            version=version, settings=policy.to_dict(), is_active=True, created_by=actor, created_at=timezone.now()
        )
        audit_record(
            event_type=AuditEventType.POLICY_CHANGED,
            actor=actor,
            outcome="activated",
            payload={"from": current.to_dict(), "to": policy.to_dict()},
        )
    return stored
