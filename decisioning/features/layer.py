"""The Feature layer: given a transaction, build the :class:`FeatureSet` (what do we know?).

No Django imports: the store and the clock are injected, so the same code runs in web workers,
Celery workers and history replays (where the clock is the event time).

Each stored group walks its fallback tiers, best first, and records the one it used:
online store → warm copy → approximated from the request → population default → MISSING.
A store that is down or slow never raises through here: its groups continue down the tiers,
the set is marked ``degraded`` and ``warnings`` say why. No policy lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from decisioning.contracts import (
    CRITICAL_GROUPS,
    FallbackTier,
    FeatureFreshness,
    FeatureGroup,
    FeatureSet,
    TransactionIn,
    utcnow,
)
from decisioning.features.groups import REQUEST_COMPUTATIONS, STORED_GROUPS, GroupSpec
from decisioning.features.store import FeatureReader, GroupKey, GroupRead, StoredRecord, StoreUnavailable
from decisioning.features.windows import DerivedValues, WindowFeatures

logger = logging.getLogger("fde.features")

DEFAULT_FRESHNESS_MINUTES: Mapping[str, int] = {"default": 60}
REQUEST_SOURCE = "request"
POPULATION_SOURCE = "population_default"
#: Groups whose values the windows compute entirely (a stored copy is only their fallback).
FULLY_DERIVED = frozenset({"spend_windows", "merchant_risk"})


@dataclass(slots=True)
class _BuildNotes:
    """What went wrong or was substituted while building one set."""

    warnings: list[str] = field(default_factory=list)
    degraded: bool = False


class FeatureLayer:
    """Builds FeatureSets from the online store and the request itself."""

    def __init__(
        self,
        store: FeatureReader,
        clock: Callable[[], datetime] = utcnow,
        *,
        freshness_minutes: Mapping[str, int] = DEFAULT_FRESHNESS_MINUTES,
        groups: Sequence[GroupSpec] = STORED_GROUPS,
        windows: WindowFeatures | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.freshness_minutes = dict(freshness_minutes)
        self.groups = tuple(groups)
        #: Sliding windows of the feature pipeline, computed at the transaction's event time.
        self.windows = windows

    def build(self, txn: TransactionIn) -> FeatureSet:
        """Everything known about ``txn``; never raises because a store failed."""
        started = time.perf_counter()
        now = self.clock()
        notes = _BuildNotes()
        reads = self._read_store(txn, notes)
        derived = self._derive(txn, notes)
        groups = {
            spec.name: self._resolve(spec, txn, reads.get(spec.name), now, notes, derived) for spec in self.groups
        }
        groups.update(self._request_groups(txn, now))
        feature_set = self._assemble(txn, groups, now, notes)
        self._log_built(feature_set, started)
        return feature_set

    # ----------------------------------------------------------------- store

    def _read_store(self, txn: TransactionIn, notes: _BuildNotes) -> dict[str, GroupRead]:
        """All stored groups in one round trip; a failure is a miss for every one of them."""
        keys = {spec.name: GroupKey(spec.name, spec.entity_id(txn)) for spec in self.groups if spec.entity_id(txn)}
        if not keys:
            return {}
        try:
            reads = self.store.read_groups(list(keys.values()))
        except StoreUnavailable as exc:
            self._store_failed(txn, notes, str(exc))
            return {}
        except Exception as exc:  # a backend bug must not take the decision down with it
            logger.exception("feature store %s raised unexpectedly", self.store.name)
            self._store_failed(txn, notes, f"{type(exc).__name__}: {exc}")
            return {}
        return {name: self._note_problems(reads.get(key, GroupRead()), notes) for name, key in keys.items()}

    def _derive(self, txn: TransactionIn, notes: _BuildNotes) -> DerivedValues | None:
        """The window values at the transaction's event time; None (degraded) when unreadable."""
        if self.windows is None:
            return None
        try:
            return self.windows.derive(txn)
        except StoreUnavailable as exc:
            self._store_failed(txn, notes, f"windows: {exc}")
        except Exception as exc:  # a backend bug must not take the decision down with it
            logger.exception("feature windows raised unexpectedly")
            self._store_failed(txn, notes, f"windows: {type(exc).__name__}: {exc}")
        return None

    def _store_failed(self, txn: TransactionIn, notes: _BuildNotes, reason: str) -> None:
        notes.degraded = True
        notes.warnings.append(f"feature store {self.store.name} unavailable, stored groups not read: {reason}")
        logger.warning(
            "feature store unavailable request_id=%s store=%s reason=%s",
            txn.request_id,
            self.store.name,
            reason,
            extra={"request_id": txn.request_id, "layer": "features", "store": self.store.name},
        )

    @staticmethod
    def _note_problems(read: GroupRead, notes: _BuildNotes) -> GroupRead:
        if read.problems:
            notes.degraded = True  # corrupt data forced a fallback, just like an outage would
            notes.warnings.extend(read.problems)
        return read

    # ----------------------------------------------------------------- tiers

    def _resolve(
        self,
        spec: GroupSpec,
        txn: TransactionIn,
        read: GroupRead | None,
        now: datetime,
        notes: _BuildNotes,
        derived: DerivedValues | None = None,
    ) -> FeatureGroup:
        """The best tier available for one stored group, with the pipeline's windows applied."""
        if derived is not None:
            windowed = self._windowed(spec, read, derived, now, notes)
            if windowed is not None:
                return windowed
        if read is not None and read.live is not None:
            return self._from_record(spec, read.live, FallbackTier.ONLINE_STORE, now, notes)
        if read is not None and read.warm is not None:
            notes.warnings.append(f"{spec.name}: no live value, used the warm copy")
            return self._from_record(spec, read.warm, FallbackTier.WARM_CACHE, now, notes)
        return self._synthesise(spec, txn, now, notes)

    def _windowed(
        self, spec: GroupSpec, read: GroupRead | None, derived: DerivedValues, now: datetime, notes: _BuildNotes
    ) -> FeatureGroup | None:
        stored, tier = None, FallbackTier.ONLINE_STORE
        if read is not None and (read.live or read.warm) is not None:
            stored = read.live or read.warm
            tier = FallbackTier.ONLINE_STORE if read.live is not None else FallbackTier.WARM_CACHE
        values = derived.for_group(spec.name, stored.values if stored is not None else None)
        if values is None:
            return None
        computed_at = now if stored is None or spec.name in FULLY_DERIVED else stored.computed_at
        record = StoredRecord(values=spec.validate(values), computed_at=computed_at)
        if stored is None or spec.name in FULLY_DERIVED:
            tier = FallbackTier.ONLINE_STORE  # computed from the live windows just now
        return self._from_record(spec, record, tier, now, notes)

    def _from_record(
        self, spec: GroupSpec, record: StoredRecord, tier: FallbackTier, now: datetime, notes: _BuildNotes
    ) -> FeatureGroup:
        freshness = self._freshness(spec.name, record.computed_at, now, notes)
        return FeatureGroup(
            name=spec.name,
            values=record.values,
            freshness=freshness,
            fallback_tier=tier,
            source=self.store.name,
            computed_at=record.computed_at,
            is_critical=spec.is_critical,
        )

    def _synthesise(self, spec: GroupSpec, txn: TransactionIn, now: datetime, notes: _BuildNotes) -> FeatureGroup:
        """Approximation, then population default, then MISSING (critical groups: MISSING only)."""
        approximated = spec.approximate(txn) if spec.approximate is not None else None
        if approximated is not None:
            notes.warnings.append(f"{spec.name}: no stored value, approximated from the request")
            return self._synthetic(spec, approximated, FallbackTier.APPROXIMATED, REQUEST_SOURCE, now)
        if spec.population_default is not None:
            notes.warnings.append(f"{spec.name}: no stored value, used the population default")
            return self._synthetic(
                spec, dict(spec.population_default), FallbackTier.POPULATION_DEFAULT, POPULATION_SOURCE, now
            )
        notes.warnings.append(f"{spec.name}: missing (no stored value or warm copy)")
        return FeatureGroup.missing(spec.name, source=self.store.name, is_critical=spec.is_critical)

    @staticmethod
    def _synthetic(
        spec: GroupSpec, values: Mapping[str, object], tier: FallbackTier, source: str, now: datetime
    ) -> FeatureGroup:
        return FeatureGroup(
            name=spec.name,
            values=spec.validate(values),
            freshness=FeatureFreshness.SYNTHETIC,
            fallback_tier=tier,
            source=source,
            computed_at=now,
            is_critical=spec.is_critical,
        )

    def _freshness(self, group: str, computed_at: datetime, now: datetime, notes: _BuildNotes) -> FeatureFreshness:
        """FRESH when younger than the group's threshold, else STALE (still used, with a warning)."""
        threshold_minutes = self.freshness_minutes.get(group, self.freshness_minutes.get("default", 60))
        age = now - computed_at
        if age < timedelta(minutes=threshold_minutes):
            return FeatureFreshness.FRESH
        age_minutes = age.total_seconds() / 60
        notes.warnings.append(f"{group}: stale, computed {age_minutes:.0f} min ago (threshold {threshold_minutes} min)")
        return FeatureFreshness.STALE

    # ----------------------------------------------------------------- request groups

    @staticmethod
    def _request_groups(txn: TransactionIn, now: datetime) -> dict[str, FeatureGroup]:
        """Groups computed exactly from the request: always FRESH, tier REQUEST."""
        return {
            name: FeatureGroup(
                name=name,
                values=compute(txn),
                freshness=FeatureFreshness.FRESH,
                fallback_tier=FallbackTier.REQUEST,
                source=REQUEST_SOURCE,
                computed_at=now,
            )
            for name, compute in REQUEST_COMPUTATIONS.items()
        }

    # ----------------------------------------------------------------- result

    @staticmethod
    def _assemble(txn: TransactionIn, groups: dict[str, FeatureGroup], now: datetime, notes: _BuildNotes) -> FeatureSet:
        unusable = {name for name, group in groups.items() if group.is_critical and not group.is_usable}
        missing = sorted(unusable | {name for name in CRITICAL_GROUPS if name not in groups})
        if missing:
            notes.warnings.append(f"feature set incomplete: critical group(s) missing: {', '.join(missing)}")
        return FeatureSet(
            request_id=txn.request_id,
            customer_id=txn.customer_id,
            groups=groups,
            built_at=now,
            warnings=tuple(notes.warnings),
            degraded=notes.degraded,
        )

    @staticmethod
    def _log_built(feature_set: FeatureSet, started: float) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        freshness = {name: group.freshness.value for name, group in feature_set.groups.items()}
        logger.info(
            "features built request_id=%s layer=features freshness=%s degraded=%s is_complete=%s duration_ms=%s",
            feature_set.request_id,
            ",".join(f"{name}:{value}" for name, value in freshness.items()),
            feature_set.degraded,
            feature_set.is_complete,
            duration_ms,
            extra={
                "request_id": feature_set.request_id,
                "layer": "features",
                "freshness": freshness,
                "degraded": feature_set.degraded,
                "is_complete": feature_set.is_complete,
                "duration_ms": duration_ms,
            },
        )
