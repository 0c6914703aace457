"""Database backend of the online store (the embedded default, no Redis needed).

Live values and warm copies are :class:`~decisioning.models.OnlineFeature` rows (``kind`` live /
warm, warm with ``expires_at``); counters are :class:`~decisioning.models.CounterEvent` rows,
unique per (counter, member). The list-membership cache reuses OnlineFeature under the reserved
group ``_list_cache`` (feature group names never start with ``_``) rather than a table of its own.

On PostgreSQL every read runs under ``statement_timeout`` = the store timeout, so a locked or
overloaded table is a miss for that read rather than a stalled request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Q

from decisioning.features.groups import FeatureValidationError
from decisioning.features.store import (
    DEFAULT_COUNTER_RETENTION,
    FeatureStore,
    GroupKey,
    GroupRead,
    StoredRecord,
    StoreUnavailable,
    logger,
)
from decisioning.models import CounterEvent, OnlineFeature

LIST_CACHE_GROUP = "_list_cache"
_FEATURE_UPDATE_FIELDS = ["values", "computed_at", "expires_at", "updated_at"]
_KEY_FIELDS = ["group", "entity_id", "kind"]


@contextmanager
def _unavailable_on_error(action: str) -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        raise StoreUnavailable(f"database {action} failed: {type(exc).__name__}: {exc}") from exc


class DatabaseFeatureStore(FeatureStore):
    """The online store on the project database."""

    name = "database"

    def __init__(self, *, timeout: float | None = None, using: str = "default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self.using = using

    # ----------------------------------------------------------------- features

    def read_groups(self, keys: Sequence[GroupKey]) -> dict[GroupKey, GroupRead]:
        if not keys:
            return {}
        wanted = Q()
        for group, entity_id in keys:
            wanted |= Q(group=group, entity_id=entity_id)
        usable = Q(kind=OnlineFeature.Kind.LIVE) | Q(kind=OnlineFeature.Kind.WARM, expires_at__gt=self.clock())
        with _unavailable_on_error("read"), self._read_timeout():
            rows = list(OnlineFeature.objects.using(self.using).filter(wanted, usable))  # one query
        by_key: dict[GroupKey, dict[str, OnlineFeature]] = {}
        for row in rows:
            by_key.setdefault(GroupKey(row.group, row.entity_id), {})[row.kind] = row
        return {key: self._group_read(key, by_key.get(key, {})) for key in keys}

    def _group_read(self, key: GroupKey, rows: dict[str, OnlineFeature]) -> GroupRead:
        problems: list[str] = []
        return GroupRead(
            live=self._decode(rows.get(OnlineFeature.Kind.LIVE), problems),
            warm=self._decode(rows.get(OnlineFeature.Kind.WARM), problems),
            problems=tuple(problems),
        )

    def _decode(self, row: OnlineFeature | None, problems: list[str]) -> StoredRecord | None:
        if row is None:
            return None
        try:
            if not isinstance(row.values, dict):
                raise ValueError("values is not an object")
            return StoredRecord(values=self.decode_values(row.group, row.values), computed_at=row.computed_at)
        except (ValueError, FeatureValidationError) as exc:
            problems.append(f"{row.group}: unreadable {row.kind} record for {row.entity_id} ({exc})")
            return None

    @contextmanager
    def _read_timeout(self) -> Iterator[None]:
        """Bound the read by ``statement_timeout`` on PostgreSQL (other databases: unbounded)."""
        connection = connections[self.using]
        if self.timeout is None or connection.vendor != "postgresql":
            yield
            return
        was_in_transaction = connection.in_atomic_block
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
        try:
            # A savepoint: a cancelled statement must not poison the caller's transaction.
            with transaction.atomic(using=self.using), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{int(self.timeout * 1000)}ms"])
                yield
        finally:
            if was_in_transaction:  # SET LOCAL outlives a released savepoint: put it back
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])

    def _store_group(self, key: GroupKey, record: StoredRecord) -> None:
        common = {"group": key.group, "entity_id": key.entity_id, "values": record.values}
        rows = [
            OnlineFeature(**common, kind=OnlineFeature.Kind.LIVE, computed_at=record.computed_at, expires_at=None),
            OnlineFeature(
                **common,
                kind=OnlineFeature.Kind.WARM,
                computed_at=record.computed_at,
                expires_at=self.clock() + self.warm_ttl,
            ),
        ]
        # One INSERT … ON CONFLICT DO UPDATE: both rows or neither, safe against concurrent writers.
        with _unavailable_on_error("write"):
            self._upsert(rows)

    def _upsert(self, rows: list[OnlineFeature]) -> None:
        OnlineFeature.objects.using(self.using).bulk_create(
            rows, update_conflicts=True, unique_fields=_KEY_FIELDS, update_fields=_FEATURE_UPDATE_FIELDS
        )

    def delete_group(self, group: str, entity_id: str, *, include_warm: bool = True) -> None:
        rows = OnlineFeature.objects.using(self.using).filter(group=group, entity_id=entity_id)
        if not include_warm:
            rows = rows.filter(kind=OnlineFeature.Kind.LIVE)
        with _unavailable_on_error("delete"):
            rows.delete()

    def purge_expired(self) -> int:
        with _unavailable_on_error("purge"):
            deleted, _ = OnlineFeature.objects.using(self.using).filter(expires_at__lte=self.clock()).delete()
        return deleted

    # ----------------------------------------------------------------- counters

    def counter_add(
        self, counter: str, member: str, at: datetime, *, retention: timedelta = DEFAULT_COUNTER_RETENTION
    ) -> bool:
        events = CounterEvent.objects.using(self.using)
        with _unavailable_on_error("counter_add"), transaction.atomic(using=self.using):
            try:
                # The unique (counter, member) constraint decides, not a check-then-insert.
                with transaction.atomic(using=self.using):
                    events.create(counter=counter, member=member, occurred_at=at)
                added = True
            except IntegrityError:
                added = False
            events.filter(counter=counter, occurred_at__lt=at - retention).delete()
        return added

    def counter_count(self, counter: str, since: datetime, until: datetime) -> int:
        events = CounterEvent.objects.using(self.using)
        with _unavailable_on_error("counter_count"):
            return events.filter(counter=counter, occurred_at__gte=since, occurred_at__lte=until).count()

    def counter_members_many(self, requests: Sequence[tuple[str, datetime, datetime]]) -> list[list[tuple[str, float]]]:
        if not requests:
            return []
        wanted = Q()
        for counter, since, until in requests:
            wanted |= Q(counter=counter, occurred_at__gte=since, occurred_at__lte=until)
        rows = CounterEvent.objects.using(self.using).filter(wanted).order_by("occurred_at")
        with _unavailable_on_error("counter_members"), self._read_timeout():
            found = list(rows.values_list("counter", "member", "occurred_at"))  # one query
        by_counter: dict[str, list[tuple[str, float]]] = {}
        for counter, member, occurred_at in found:
            by_counter.setdefault(counter, []).append((member, occurred_at.timestamp()))
        return [
            [(member, at) for member, at in by_counter.get(counter, []) if since.timestamp() <= at <= until.timestamp()]
            for counter, since, until in requests
        ]

    def counter_trim(self, counter: str, before: datetime) -> int:
        events = CounterEvent.objects.using(self.using)
        with _unavailable_on_error("counter_trim"):
            deleted, _ = events.filter(counter=counter, occurred_at__lt=before).delete()
        return deleted

    # ----------------------------------------------------------------- list cache

    def list_cache_get(self, list_name: str, value: str) -> bool | None:
        rows = OnlineFeature.objects.using(self.using).filter(
            group=LIST_CACHE_GROUP, entity_id=list_cache_entity(list_name, value), expires_at__gt=self.clock()
        )
        try:
            found = rows.values_list("values", flat=True).first()
        except DatabaseError as exc:
            logger.warning("list cache read failed for %s: %s", list_name, exc)
            return None
        return None if not isinstance(found, dict) else bool(found.get("is_member"))

    def list_cache_set(self, list_name: str, value: str, is_member: bool, ttl: int) -> None:
        now = self.clock()
        row = OnlineFeature(
            group=LIST_CACHE_GROUP,
            entity_id=list_cache_entity(list_name, value),
            kind=OnlineFeature.Kind.LIVE,
            values={"is_member": is_member},
            computed_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        try:
            with transaction.atomic(using=self.using):  # a failure must not poison the caller's transaction
                self._upsert([row])
        except DatabaseError as exc:
            logger.warning("list cache write failed for %s: %s", list_name, exc)

    def list_cache_invalidate(self, list_name: str, value: str) -> None:
        rows = OnlineFeature.objects.using(self.using).filter(
            group=LIST_CACHE_GROUP, entity_id=list_cache_entity(list_name, value)
        )
        with _unavailable_on_error("list_cache_invalidate"):
            rows.delete()


def list_cache_entity(list_name: str, value: str) -> str:
    """The entity id of a cache entry; hashed when ``list_name:value`` exceeds the column's 128."""
    entity = f"{list_name}:{value}"
    return entity if len(entity) <= 128 else "sha256:" + hashlib.sha256(entity.encode()).hexdigest()
