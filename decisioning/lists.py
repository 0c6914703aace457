"""Named lists (the blocklist and others): stored in the database, cached in the online store."""

from __future__ import annotations

import logging
import re
from typing import Protocol

from django.conf import settings
from django.db import transaction

from audit.models import AuditEventType
from audit.services import audit_record

from .models import ListEntry

logger = logging.getLogger("fde.lists")

BLOCKLIST = "blocklist"
LIST_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


class ListCache(Protocol):
    def list_cache_get(self, list_name: str, value: str) -> bool | None: ...

    def list_cache_set(self, list_name: str, value: str, is_member: bool, ttl: int) -> None: ...

    def list_cache_invalidate(self, list_name: str, value: str) -> None: ...


class StoredListLookup:
    """``contains()`` for the Decision layer: the online-store cache, then the database."""

    def __init__(self, cache: ListCache) -> None:
        self.cache = cache

    def contains(self, list_name: str, value: str) -> bool:
        cached = self._cached(list_name, value)
        if cached is not None:
            return cached
        is_member = ListEntry.objects.filter(list_name=list_name, value=value).exists()
        try:
            self.cache.list_cache_set(list_name, value, is_member, settings.FDE_LIST_CACHE_TTL)
        except Exception:
            logger.warning("list cache write failed for %s", list_name, exc_info=True)
        return is_member

    def _cached(self, list_name: str, value: str) -> bool | None:
        try:
            return self.cache.list_cache_get(list_name, value)
        except Exception:
            logger.warning("list cache read failed for %s; reading the database", list_name, exc_info=True)
            return None


def list_entry_add(
    *, list_name: str, value: str, actor: str, reason: str = "", cache: ListCache | None = None
) -> tuple[ListEntry, bool]:
    """Add ``value`` to a list (idempotent). Returns the entry and whether it was created."""
    with transaction.atomic():
        entry, created = ListEntry.objects.get_or_create(
            list_name=list_name, value=value, defaults={"reason": reason, "created_by": actor}
        )
        if created:
            audit_record(
                event_type=AuditEventType.LIST_CHANGED,
                actor=actor,
                customer_id=value if list_name == BLOCKLIST else "",
                outcome="added",
                payload={"list": list_name, "value": value, "reason": reason},
            )
        _invalidate_on_commit(cache, list_name, value)
    return entry, created


def list_entry_remove(*, list_name: str, value: str, actor: str, cache: ListCache | None = None) -> bool:
    """Remove ``value`` from a list. Returns whether it was there."""
    with transaction.atomic():
        deleted, _ = ListEntry.objects.filter(list_name=list_name, value=value).delete()
        if deleted:
            audit_record(
                event_type=AuditEventType.LIST_CHANGED,
                actor=actor,
                customer_id=value if list_name == BLOCKLIST else "",
                outcome="removed",
                payload={"list": list_name, "value": value},
            )
        _invalidate_on_commit(cache, list_name, value)
    return bool(deleted)


def _invalidate_on_commit(cache: ListCache | None, list_name: str, value: str) -> None:
    if cache is None:
        from decisioning.features.store import build_store

        cache = build_store()

    def invalidate() -> None:
        try:
            cache.list_cache_invalidate(list_name, value)
        except Exception:
            # The stale answer expires with FDE_LIST_CACHE_TTL; say so loudly meanwhile.
            logger.error("list cache invalidation failed for %s:%s", list_name, value, exc_info=True)

    # Now, so this transaction's own later reads see the change, and again after commit, so a
    # concurrent reader that re-cached the old answer before we committed is corrected.
    invalidate()
    transaction.on_commit(invalidate)
