"""An in-memory online store: the isolated store of history replays (and fast tests).

It implements the whole :class:`FeatureStore` interface in process memory, so a replay runs the
real Feature layer, feature pipeline and feedback logic without touching Redis or the
database. Not for serving: state is per process and lost on exit.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from decisioning.features.store import (
    DEFAULT_COUNTER_RETENTION,
    FeatureStore,
    GroupKey,
    GroupRead,
    StoredRecord,
)


@dataclass(slots=True)
class _Counter:
    """Members sorted by score (epoch seconds), each recorded once."""

    scores: list[float] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, member: str, score: float) -> bool:
        if member in self.seen:
            return False
        position = bisect.bisect_right(self.scores, score)
        self.scores.insert(position, score)
        self.members.insert(position, member)
        self.seen.add(member)
        return True

    def trim(self, before: float) -> int:
        cut = bisect.bisect_left(self.scores, before)
        if cut:
            self.seen.difference_update(self.members[:cut])
            del self.scores[:cut], self.members[:cut]
        return cut

    def between(self, since: float, until: float) -> list[tuple[str, float]]:
        low, high = bisect.bisect_left(self.scores, since), bisect.bisect_right(self.scores, until)
        return list(zip(self.members[low:high], self.scores[low:high], strict=True))


class InMemoryFeatureStore(FeatureStore):
    """The FeatureStore interface over dictionaries (no warm-copy expiry, no list cache)."""

    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("warm_ttl", timedelta(days=1))
        super().__init__(**kwargs)
        self._groups: dict[GroupKey, StoredRecord] = {}
        self._counters: dict[str, _Counter] = {}

    def read_groups(self, keys: Sequence[GroupKey]) -> dict[GroupKey, GroupRead]:
        return {key: GroupRead(live=self._groups.get(key), warm=self._groups.get(key)) for key in keys}

    def _store_group(self, key: GroupKey, record: StoredRecord) -> None:
        self._groups[key] = record

    def delete_group(self, group: str, entity_id: str, *, include_warm: bool = True) -> None:
        self._groups.pop(GroupKey(group, entity_id), None)

    def counter_add(
        self, counter: str, member: str, at: datetime, *, retention: timedelta = DEFAULT_COUNTER_RETENTION
    ) -> bool:
        entry = self._counters.setdefault(counter, _Counter())
        added = entry.add(member, at.timestamp())
        if entry.scores[0] < (at - retention).timestamp():
            entry.trim((at - retention).timestamp())
        return added

    def counter_count(self, counter: str, since: datetime, until: datetime) -> int:
        return len(self._counter_between(counter, since, until))

    def counter_members_many(self, requests: Sequence[tuple[str, datetime, datetime]]) -> list[list[tuple[str, float]]]:
        return [self._counter_between(counter, since, until) for counter, since, until in requests]

    def _counter_between(self, counter: str, since: datetime, until: datetime) -> list[tuple[str, float]]:
        entry = self._counters.get(counter)
        return [] if entry is None else entry.between(since.timestamp(), until.timestamp())

    def counter_trim(self, counter: str, before: datetime) -> int:
        entry = self._counters.get(counter)
        return 0 if entry is None else entry.trim(before.timestamp())

    def list_cache_get(self, list_name: str, value: str) -> bool | None:
        return None

    def list_cache_set(self, list_name: str, value: str, is_member: bool, ttl: int) -> None:
        return None

    def list_cache_invalidate(self, list_name: str, value: str) -> None:
        return None
