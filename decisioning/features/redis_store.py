"""Redis backend of the online store (production).

Layout:

* ``features:{group}:{entity_id}`` — hash, one field per feature, each value JSON-encoded so
  int / float / bool / str / null round-trip, plus ``_computed_at`` (ISO 8601, aware);
* ``features_warm:{group}:{entity_id}`` — the same hash, the last good value, expiring after
  the warm-copy TTL;
* ``counter:{counter}`` — sorted set, member → event timestamp (seconds);
* ``list_cache:{list_name}:{value}`` — ``"1"`` / ``"0"`` with a TTL.

Every read of a request's groups is one pipelined round trip (live and warm keys together).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

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

COMPUTED_AT_FIELD = "_computed_at"

_clients: dict[tuple[str, float], redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A client on a module-level connection pool, created on first use and shared after.

    No retries: a store slower than its timeout is a miss for that read, and redis-py's default
    retry-with-backoff would turn a 50 ms timeout into seconds. The pool re-creates its
    connections after a fork (gunicorn, Celery prefork), so sharing it is safe.
    """
    key = (url, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
            )
            _clients[key] = client
        return client


def live_key(group: str, entity_id: str) -> str:
    return f"features:{group}:{entity_id}"


def warm_key(group: str, entity_id: str) -> str:
    return f"features_warm:{group}:{entity_id}"


def counter_key(counter: str) -> str:
    return f"counter:{counter}"


def list_cache_key(list_name: str, value: str) -> str:
    return f"list_cache:{list_name}:{value}"


@contextmanager
def _unavailable_on_error(action: str) -> Iterator[None]:
    """Turn any redis-py failure (down, timeout, protocol) into StoreUnavailable."""
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable(f"redis {action} failed: {type(exc).__name__}: {exc}") from exc


class RedisFeatureStore(FeatureStore):
    """The online store on Redis hashes and sorted sets."""

    name = "redis"

    def __init__(self, client: redis.Redis, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    # ----------------------------------------------------------------- features

    def read_groups(self, keys: Sequence[GroupKey]) -> dict[GroupKey, GroupRead]:
        # transaction=False: no MULTI/EXEC needed for reads, only the single round trip.
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(live_key(*key))
            pipe.hgetall(warm_key(*key))
        with _unavailable_on_error("read"):
            replies = pipe.execute()
        return {key: self._group_read(key, replies[2 * i], replies[2 * i + 1]) for i, key in enumerate(keys)}

    def _group_read(self, key: GroupKey, live: Mapping[bytes, bytes], warm: Mapping[bytes, bytes]) -> GroupRead:
        problems: list[str] = []
        return GroupRead(
            live=self._decode(key, "live", live, problems),
            warm=self._decode(key, "warm copy", warm, problems),
            problems=tuple(problems),
        )

    def _decode(self, key: GroupKey, kind: str, raw: Mapping[bytes, bytes], problems: list[str]) -> StoredRecord | None:
        if not raw:
            return None
        try:
            fields = {name.decode(): value.decode() for name, value in raw.items()}
            computed_at = datetime.fromisoformat(fields.pop(COMPUTED_AT_FIELD))
            if computed_at.tzinfo is None:
                raise ValueError("naive _computed_at")
            values = {name: json.loads(value) for name, value in fields.items()}
            return StoredRecord(values=self.decode_values(key.group, values), computed_at=computed_at)
        except (KeyError, ValueError, FeatureValidationError) as exc:
            # A corrupt record is treated as absent, never as zeros; the layer reports it.
            problems.append(f"{key.group}: unreadable {kind} record for {key.entity_id} ({exc})")
            return None

    def _store_group(self, key: GroupKey, record: StoredRecord) -> None:
        mapping: dict[Any, Any] = encode_record(record)  # redis-py's stub wants a wider key type
        pipe = self.client.pipeline(transaction=True)  # MULTI/EXEC: live and warm, or neither
        for redis_key in (live_key(*key), warm_key(*key)):
            pipe.delete(redis_key)  # replace the whole group, no leftover features
            pipe.hset(redis_key, mapping=mapping)
        pipe.expire(warm_key(*key), self.warm_ttl)
        with _unavailable_on_error("write"):
            pipe.execute()

    def delete_group(self, group: str, entity_id: str, *, include_warm: bool = True) -> None:
        keys = [live_key(group, entity_id)] + ([warm_key(group, entity_id)] if include_warm else [])
        with _unavailable_on_error("delete"):
            self.client.delete(*keys)

    # ----------------------------------------------------------------- counters

    def counter_add(
        self, counter: str, member: str, at: datetime, *, retention: timedelta = DEFAULT_COUNTER_RETENTION
    ) -> bool:
        key = counter_key(counter)
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(key, {member: at.timestamp()}, nx=True)  # NX: a replayed member keeps its first time
        pipe.zremrangebyscore(key, "-inf", f"({(at - retention).timestamp()}")
        pipe.expire(key, retention)  # an idle counter disappears on its own
        with _unavailable_on_error("counter_add"):
            added, _, _ = pipe.execute()
        return bool(added)

    def counter_count(self, counter: str, since: datetime, until: datetime) -> int:
        with _unavailable_on_error("counter_count"):
            return int(self.client.zcount(counter_key(counter), since.timestamp(), until.timestamp()))

    def counter_members_many(self, requests: Sequence[tuple[str, datetime, datetime]]) -> list[list[tuple[str, float]]]:
        pipe = self.client.pipeline(transaction=False)
        for counter, since, until in requests:
            pipe.zrangebyscore(counter_key(counter), since.timestamp(), until.timestamp(), withscores=True)
        with _unavailable_on_error("counter_members"):
            replies = pipe.execute()
        return [[(member.decode(), float(score)) for member, score in reply] for reply in replies]

    def counter_trim(self, counter: str, before: datetime) -> int:
        with _unavailable_on_error("counter_trim"):
            return int(self.client.zremrangebyscore(counter_key(counter), "-inf", f"({before.timestamp()}"))

    # ----------------------------------------------------------------- list cache

    def list_cache_get(self, list_name: str, value: str) -> bool | None:
        try:
            cached = self.client.get(list_cache_key(list_name, value))
        except redis.RedisError as exc:
            logger.warning("list cache read failed for %s: %s", list_name, exc)
            return None
        return None if cached is None else cached == b"1"

    def list_cache_set(self, list_name: str, value: str, is_member: bool, ttl: int) -> None:
        try:
            self.client.set(list_cache_key(list_name, value), "1" if is_member else "0", ex=ttl)
        except redis.RedisError as exc:
            logger.warning("list cache write failed for %s: %s", list_name, exc)

    def list_cache_invalidate(self, list_name: str, value: str) -> None:
        with _unavailable_on_error("list_cache_invalidate"):
            self.client.delete(list_cache_key(list_name, value))


def encode_record(record: StoredRecord) -> dict[str, str]:
    """The hash fields of a record: JSON per feature so types round-trip, plus ``_computed_at``."""
    fields: dict[str, str] = {name: json.dumps(value) for name, value in record.values.items()}
    fields[COMPUTED_AT_FIELD] = record.computed_at.isoformat()
    return fields
