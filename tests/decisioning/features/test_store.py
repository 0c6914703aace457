"""The online store, run against both backends (real Redis, real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from decisioning.features.db_store import DatabaseFeatureStore
from decisioning.features.groups import FeatureValidationError
from decisioning.features.redis_store import RedisFeatureStore, warm_key
from decisioning.features.store import FeatureStore, GroupKey, GroupRead, StoredRecord
from decisioning.models import OnlineFeature

from .conftest import CUSTOMER_RISK_VALUES, NOW, SPEND_VALUES, WARM_TTL, FrozenClock

pytestmark = pytest.mark.django_db

RISK = GroupKey("customer_risk", "cust-1")
SPEND = GroupKey("spend_behaviour", "cust-1")


def test_round_trip_keeps_values_types_and_computed_at(store: FeatureStore) -> None:
    # Given customer_risk written with an explicit computed_at
    computed_at = NOW - timedelta(minutes=5)
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, computed_at)
    # When it is read back
    reads = store.read_groups([RISK])
    # Then live and warm copies hold exactly what was written, types included
    expected = StoredRecord(values=CUSTOMER_RISK_VALUES, computed_at=computed_at)
    assert reads == {RISK: GroupRead(live=expected, warm=expected)}
    assert type(reads[RISK].live.values["account_age_months"]) is int  # type: ignore[union-attr]


def test_strings_and_nulls_round_trip(store: FeatureStore) -> None:
    values = {**SPEND_VALUES, "top_mcc": "0742", "std_txn_amount_30d": None}
    store.write_group("spend_behaviour", "cust-1", values, NOW)
    assert store.read_groups([SPEND])[SPEND].live == StoredRecord(values=values, computed_at=NOW)


def test_write_without_computed_at_uses_the_store_clock(store: FeatureStore) -> None:
    record = store.write_group("spend_behaviour", "cust-1", SPEND_VALUES)
    assert record.computed_at == NOW
    assert store.read_groups([SPEND])[SPEND].live == StoredRecord(values=SPEND_VALUES, computed_at=NOW)


def test_absent_keys_read_as_empty(store: FeatureStore) -> None:
    assert store.read_groups([RISK, SPEND]) == {RISK: GroupRead(), SPEND: GroupRead()}


def test_a_write_replaces_the_whole_group(store: FeatureStore) -> None:
    # Given a full group
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    # When a later write carries only one feature
    store.write_group("customer_risk", "cust-1", {"credit_score": 650.0}, NOW)
    # Then no feature of the old value lingers
    assert store.read_groups([RISK])[RISK].live == StoredRecord(values={"credit_score": 650.0}, computed_at=NOW)


def test_warm_copy_survives_when_the_live_value_is_gone(store: FeatureStore) -> None:
    # Given a written group whose live value was then lost
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    store.delete_group("customer_risk", "cust-1", include_warm=False)
    # When read
    read = store.read_groups([RISK])[RISK]
    # Then only the warm copy answers
    assert read == GroupRead(live=None, warm=StoredRecord(values=CUSTOMER_RISK_VALUES, computed_at=NOW))


def test_warm_copy_expires_after_its_ttl(store: FeatureStore, clock: FrozenClock) -> None:
    # Given a written group
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    # Then the warm copy is kept for the warm-copy TTL (24 h), by the backend's own expiry
    if isinstance(store, RedisFeatureStore):
        ttl = store.client.ttl(warm_key("customer_risk", "cust-1"))
        assert WARM_TTL.total_seconds() - 5 <= ttl <= WARM_TTL.total_seconds()
        assert store.client.ttl("features:customer_risk:cust-1") == -1  # the live value does not expire
    else:
        warm = OnlineFeature.objects.get(group="customer_risk", entity_id="cust-1", kind=OnlineFeature.Kind.WARM)
        assert warm.expires_at == NOW + WARM_TTL
        store.delete_group("customer_risk", "cust-1", include_warm=False)
        clock.advance(WARM_TTL)
        assert store.read_groups([RISK])[RISK] == GroupRead()
        assert store.purge_expired() == 1


def test_delete_group_forgets_live_and_warm(store: FeatureStore) -> None:
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    store.delete_group("customer_risk", "cust-1")
    assert store.read_groups([RISK]) == {RISK: GroupRead()}


@pytest.mark.parametrize(
    ("group", "entity_id", "values", "field"),
    [
        ("customer_risk", "cust-1", {"credit_score": 700.0, "favourite_colour": "blue"}, "favourite_colour"),
        ("customer_risk", "cust-1", {"credit_score": 700.0, "dispute_count_90d": "2"}, "dispute_count_90d"),
        ("no_such_group", "cust-1", {"credit_score": 700.0}, "group"),
        ("customer_risk", "cust 1 with spaces", {"credit_score": 700.0}, "entity_id"),
    ],
)
def test_refused_write_changes_nothing(
    store: FeatureStore, group: str, entity_id: str, values: dict[str, object], field: str
) -> None:
    # Given a stored value
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW - timedelta(hours=1))
    before = store.read_groups([RISK])
    # When an invalid write is attempted
    with pytest.raises(FeatureValidationError) as refused:
        store.write_group(group, entity_id, values, NOW)
    # Then it names the offending field and nothing changed
    assert field in refused.value.fields
    assert store.read_groups([RISK]) == before


def test_naive_or_future_computed_at_is_refused(store: FeatureStore) -> None:
    with pytest.raises(FeatureValidationError, match="time-zone aware"):
        store.write_group("spend_behaviour", "cust-1", SPEND_VALUES, NOW.replace(tzinfo=None))
    with pytest.raises(FeatureValidationError, match="in the future"):
        store.write_group("spend_behaviour", "cust-1", SPEND_VALUES, NOW + timedelta(hours=1))
    assert store.read_groups([SPEND]) == {SPEND: GroupRead()}


# --------------------------------------------------------------------------- one round trip


class CountingConnection(redis.Connection):
    """A real redis-py connection that counts what it sends and reads."""

    sends = 0
    replies = 0

    def send_packed_command(self, command: object, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)

    def read_response(self, *args: object, **kwargs: object) -> object:
        CountingConnection.replies += 1
        return super().read_response(*args, **kwargs)


def test_redis_reads_all_groups_live_and_warm_in_one_round_trip(clock: FrozenClock) -> None:
    # Given a Redis store on a connection that counts its traffic, already connected
    pool = redis.ConnectionPool.from_url(settings.REDIS_URL, connection_class=CountingConnection)
    store = RedisFeatureStore(redis.Redis(connection_pool=pool), warm_ttl=WARM_TTL, clock=clock)
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    store.write_group("spend_behaviour", "cust-1", SPEND_VALUES, NOW)
    CountingConnection.sends = CountingConnection.replies = 0
    # When three groups are read
    reads = store.read_groups([RISK, SPEND, GroupKey("customer_risk", "cust-2")])
    # Then one send carried all six HGETALLs (3 live + 3 warm) and six replies came back
    assert (CountingConnection.sends, CountingConnection.replies) == (1, 6)
    assert reads[RISK].live == StoredRecord(values=CUSTOMER_RISK_VALUES, computed_at=NOW)
    pool.disconnect()


def test_database_reads_all_groups_live_and_warm_in_one_query(clock: FrozenClock) -> None:
    store = DatabaseFeatureStore(timeout=1.0, warm_ttl=WARM_TTL, clock=clock)
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    with CaptureQueriesContext(connection) as queries:
        store.read_groups([RISK, SPEND, GroupKey("customer_risk", "cust-2")])
    feature_queries = [q["sql"] for q in queries.captured_queries if "decisioning_onlinefeature" in q["sql"]]
    assert len(feature_queries) == 1


# --------------------------------------------------------------------------- corrupt data


def test_corrupt_record_reads_as_absent_with_a_problem(store: FeatureStore) -> None:
    # Given a live record whose stored value has the wrong type (written behind the store's back)
    store.write_group("customer_risk", "cust-1", CUSTOMER_RISK_VALUES, NOW)
    if isinstance(store, RedisFeatureStore):
        store.client.hset("features:customer_risk:cust-1", "credit_score", '"high"')
    else:
        OnlineFeature.objects.filter(kind=OnlineFeature.Kind.LIVE).update(values={"credit_score": "high"})
    # When read
    read = store.read_groups([RISK])[RISK]
    # Then the live record is absent (never zeros), the warm copy still answers, and the problem is named
    assert read.live is None
    assert read.warm == StoredRecord(values=CUSTOMER_RISK_VALUES, computed_at=NOW)
    assert len(read.problems) == 1
    assert read.problems[0].startswith("customer_risk: unreadable live record for cust-1")


# --------------------------------------------------------------------------- counters


def test_counter_is_idempotent_per_member(store: FeatureStore) -> None:
    # Given one member added twice (a replayed request) and another once
    first = store.counter_add("declines:cust-1", "req-1", NOW - timedelta(minutes=5))
    replay = store.counter_add("declines:cust-1", "req-1", NOW)
    other = store.counter_add("declines:cust-1", "req-2", NOW)
    # Then the replay is not counted again, and keeps its first time
    assert (first, replay, other) == (True, False, True)
    assert store.counter_count("declines:cust-1", NOW - timedelta(minutes=10), NOW) == 2
    assert store.counter_count("declines:cust-1", NOW - timedelta(minutes=1), NOW) == 1


def test_counter_counts_only_inside_the_window_both_ends_included(store: FeatureStore) -> None:
    for minutes in (0, 10, 11, 30):
        store.counter_add("declines:cust-1", f"req-{minutes}", NOW - timedelta(minutes=minutes))
    store.counter_add("declines:cust-2", "req-x", NOW)
    assert store.counter_count("declines:cust-1", NOW - timedelta(minutes=10), NOW) == 2
    assert store.counter_count("declines:cust-1", NOW - timedelta(minutes=30), NOW - timedelta(minutes=11)) == 2
    assert store.counter_count("declines:nobody", NOW - timedelta(days=1), NOW) == 0


def test_counter_trims_old_members(store: FeatureStore) -> None:
    # Given members 2 h, 30 min and 0 min old
    for minutes in (120, 30, 0):
        store.counter_add("declines:cust-1", f"req-{minutes}", NOW - timedelta(minutes=minutes))
    # When members older than an hour are trimmed
    trimmed = store.counter_trim("declines:cust-1", NOW - timedelta(hours=1))
    # Then only the old one went
    assert trimmed == 1
    assert store.counter_count("declines:cust-1", NOW - timedelta(days=1), NOW) == 2


def test_counter_add_trims_beyond_the_retention(store: FeatureStore) -> None:
    store.counter_add("declines:cust-1", "old", NOW - timedelta(hours=3), retention=timedelta(hours=1))
    store.counter_add("declines:cust-1", "new", NOW, retention=timedelta(hours=1))
    assert store.counter_count("declines:cust-1", NOW - timedelta(days=1), NOW) == 1


# --------------------------------------------------------------------------- list cache


def test_list_cache_set_get_and_invalidate(store: FeatureStore) -> None:
    # Given nothing cached
    assert store.list_cache_get("blocklist", "cust-1") is None
    # When membership is cached both ways
    store.list_cache_set("blocklist", "cust-1", True, ttl=60)
    store.list_cache_set("blocklist", "cust-2", False, ttl=60)
    # Then both answers come back, and another list is separate
    assert store.list_cache_get("blocklist", "cust-1") is True
    assert store.list_cache_get("blocklist", "cust-2") is False
    assert store.list_cache_get("allowlist", "cust-1") is None
    # And after invalidation the value is no longer cached
    store.list_cache_invalidate("blocklist", "cust-1")
    assert store.list_cache_get("blocklist", "cust-1") is None


def test_list_cache_overwrite_and_long_values(store: FeatureStore) -> None:
    long_value = "v" * 128
    store.list_cache_set("blocklist", long_value, False, ttl=60)
    store.list_cache_set("blocklist", long_value, True, ttl=60)
    assert store.list_cache_get("blocklist", long_value) is True


def test_list_cache_entries_expire(store: FeatureStore, clock: FrozenClock) -> None:
    store.list_cache_set("blocklist", "cust-1", True, ttl=60)
    if isinstance(store, RedisFeatureStore):
        assert 55 <= store.client.ttl("list_cache:blocklist:cust-1") <= 60
    else:
        clock.advance(timedelta(seconds=60))
        assert store.list_cache_get("blocklist", "cust-1") is None


def test_list_cache_entries_are_not_feature_groups(store: FeatureStore) -> None:
    store.list_cache_set("blocklist", "cust-1", True, ttl=60)
    assert store.read_groups([RISK]) == {RISK: GroupRead()}
