"""The online store interface shared by the Redis and database backends.

No Django imports: the Feature layer depends only on :class:`FeatureReader`, and the backends
(:mod:`.redis_store`, :mod:`.db_store`) implement :class:`FeatureStore`.

Failure contract, the same for both backends:

* ``read_groups``, ``write_group``, ``delete_group`` and the counters raise
  :class:`StoreUnavailable` when the store is down, slower than its timeout, or broken. Callers
  choose the policy (the Feature layer degrades; the write API answers 503).
* ``list_cache_get`` answers ``None`` ("not cached") on failure and ``list_cache_set`` only logs:
  a cache miss is always safe. ``list_cache_invalidate`` raises, because a failed invalidation
  would leave a wrong answer cached and the caller has to know.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from decisioning.contracts import FeatureValue, utcnow
from decisioning.features.groups import STORED_GROUPS, FeatureValidationError, GroupSpec, get_group

logger = logging.getLogger("fde.features")

#: Feature values may be written with a computed_at this far ahead of our clock (clock skew).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Counter members older than this (relative to the newest ``at``) are trimmed on every add.
DEFAULT_COUNTER_RETENTION = timedelta(days=1)
_ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")  # the contracts' identifier rule

Clock = Callable[[], datetime]


class StoreUnavailable(Exception):
    """The online store is down, slower than its timeout, or answered nonsense."""


class GroupKey(NamedTuple):
    """Where one group of one entity lives."""

    group: str
    entity_id: str


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """Values of one group as stored, with the time they were computed (aware)."""

    values: dict[str, FeatureValue]
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class GroupRead:
    """What the store holds for one key: the live value and the warm copy (last good value)."""

    live: StoredRecord | None = None
    warm: StoredRecord | None = None
    problems: tuple[str, ...] = ()  #: records that were present but unreadable (treated as absent)


class FeatureReader(Protocol):
    """What the Feature layer needs from a store."""

    @property
    def name(self) -> str:
        """The backend's name, recorded as a group's ``source`` (``redis``, ``database``)."""
        ...

    def read_groups(self, keys: Sequence[GroupKey]) -> dict[GroupKey, GroupRead]:
        """Live and warm records of every key in one round trip; raises StoreUnavailable."""
        ...


class FeatureStore(ABC):
    """Online features, warm copies, windowed counters and a list-membership cache."""

    name: str = "abstract"

    def __init__(
        self, *, warm_ttl: timedelta, groups: tuple[GroupSpec, ...] = STORED_GROUPS, clock: Clock = utcnow
    ) -> None:
        self.warm_ttl = warm_ttl
        self.groups = groups
        self.clock = clock

    # ----------------------------------------------------------------- features

    @abstractmethod
    def read_groups(self, keys: Sequence[GroupKey]) -> dict[GroupKey, GroupRead]:
        """Live and warm records of every key in one round trip; raises StoreUnavailable."""

    def write_group(
        self, group: str, entity_id: str, values: Mapping[str, object], computed_at: datetime | None = None
    ) -> StoredRecord:
        """Validate and store ``values`` as the group's live value and its warm copy.

        The whole group is replaced, live and warm together, or nothing is written.
        Raises FeatureValidationError (nothing written) or StoreUnavailable.
        """
        key, record = self.validate_write(group, entity_id, values, computed_at)
        self._store_group(key, record)
        return record

    def validate_write(
        self, group: str, entity_id: str, values: Mapping[str, object], computed_at: datetime | None = None
    ) -> tuple[GroupKey, StoredRecord]:
        """What ``write_group`` would store, without storing it; raises FeatureValidationError."""
        spec = get_group(group, self.groups)
        _check_entity_id(entity_id)
        record = StoredRecord(values=spec.validate(values), computed_at=self._check_computed_at(computed_at))
        return GroupKey(group, entity_id), record

    @abstractmethod
    def delete_group(self, group: str, entity_id: str, *, include_warm: bool = True) -> None:
        """Forget an entity's group (erasure requests; tests of the warm-copy fallback)."""

    @abstractmethod
    def _store_group(self, key: GroupKey, record: StoredRecord) -> None:
        """Write live and warm copies atomically."""

    def decode_values(self, group: str, raw: Mapping[str, object]) -> dict[str, FeatureValue]:
        """Stored values checked again on the way out; features no longer defined are dropped."""
        spec = get_group(group, self.groups)
        return spec.validate({name: value for name, value in raw.items() if name in spec.features})

    def _check_computed_at(self, computed_at: datetime | None) -> datetime:
        now = self.clock()
        if computed_at is None:
            return now
        if not isinstance(computed_at, datetime) or computed_at.tzinfo is None:
            raise FeatureValidationError("computed_at must be a time-zone aware datetime", {"computed_at": "naive"})
        if computed_at > now + MAX_CLOCK_SKEW:
            # A future computed_at would read as FRESH for longer than it deserves.
            raise FeatureValidationError("computed_at is in the future", {"computed_at": "in the future"})
        return computed_at

    # ----------------------------------------------------------------- counters

    @abstractmethod
    def counter_add(
        self, counter: str, member: str, at: datetime, *, retention: timedelta = DEFAULT_COUNTER_RETENTION
    ) -> bool:
        """Record ``member`` at ``at`` once (True when new); trims members older than ``at - retention``."""

    @abstractmethod
    def counter_count(self, counter: str, since: datetime, until: datetime) -> int:
        """Members recorded in ``[since, until]`` (both ends included)."""

    @abstractmethod
    def counter_members_many(self, requests: Sequence[tuple[str, datetime, datetime]]) -> list[list[tuple[str, float]]]:
        """For each ``(counter, since, until)``: its members in ``[since, until]`` with their epoch seconds,
        oldest first, all in one round trip; raises StoreUnavailable."""

    @abstractmethod
    def counter_trim(self, counter: str, before: datetime) -> int:
        """Drop members recorded strictly before ``before``; answers how many went."""

    # ----------------------------------------------------------------- list cache

    @abstractmethod
    def list_cache_get(self, list_name: str, value: str) -> bool | None:
        """Cached membership of ``value`` in ``list_name``; None when not cached or store down."""

    @abstractmethod
    def list_cache_set(self, list_name: str, value: str, is_member: bool, ttl: int) -> None:
        """Cache membership for ``ttl`` seconds (best effort: failures are only logged)."""

    @abstractmethod
    def list_cache_invalidate(self, list_name: str, value: str) -> None:
        """Forget cached membership; raises StoreUnavailable so a stale answer is never silent."""

    def purge_expired(self) -> int:
        """Delete expired warm copies and cache entries (Redis expires keys itself)."""
        return 0


def build_store() -> FeatureStore:
    """Redis when ``settings.REDIS_URL`` is set (production), the database table otherwise.

    Django is imported here, not at module level, so the Feature layer stays importable
    without it. The Redis client (and its pool) is module-level and lazy: no connect per request.
    """
    from django.conf import settings

    timeout = float(settings.FDE_FEATURE_STORE_TIMEOUT)
    warm_ttl = timedelta(seconds=settings.FDE_WARM_COPY_TTL)
    if settings.REDIS_URL:
        from decisioning.features.redis_store import RedisFeatureStore, redis_client

        return RedisFeatureStore(redis_client(settings.REDIS_URL, timeout), warm_ttl=warm_ttl)
    from decisioning.features.db_store import DatabaseFeatureStore

    return DatabaseFeatureStore(timeout=timeout, warm_ttl=warm_ttl)


def _check_entity_id(entity_id: str) -> None:
    if not isinstance(entity_id, str) or not _ENTITY_ID.match(entity_id):
        raise FeatureValidationError(
            "entity id must be 1-128 characters: letters, digits, _ . : -", {"entity_id": "invalid"}
        )
