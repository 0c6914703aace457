"""Replay of history: past transactions through the real Feature layer, windows and decision logic.

Isolation (the documented equivalent of "its own store and schema"): the replay runs on an
:class:`~decisioning.features.memory_store.InMemoryFeatureStore` and writes nothing to the
database or Redis; the only database read is the optional initial model. Execution side effects
that leave the process (gateway calls, review cases, audit events) are not replayed; the
decision logic is the live one (hard rules, incomplete-features fallback, thresholds, the
known-fraud floor and the Execution layer's decline rate limit), without the per-decision SHAP
explanation.

Input: :class:`ReplaySource` validates the whole file first and then streams it in event-time
order, one row in memory at a time (per-row results are kept as compact arrays).

Event-time order: rows are sorted by timestamp; before each transaction at ``t`` every label
with ``revealed_at < t`` is applied through the same :func:`record_label` the live feedback path
uses, so features at ``t`` see only events before ``t`` and labels known before ``t``. A
transaction's ``is_fraud`` is revealed ``label_delay_days`` after it, never sooner.

Speed: features are computed per transaction (sequentially, point in time); only the model is
batched — vectors wait in a micro-batch that is scored when it fills and always before the model
changes, so every row is scored by the model in force at its own time.
"""

from __future__ import annotations

import csv
import heapq
import logging
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import numpy as np

from decisioning.contracts import (
    AuthMethod,
    Channel,
    ContractError,
    DecisionAction,
    DecisionResult,
    TransactionIn,
    parse_amount,
)
from decisioning.decision.layer import FALLBACK_SCORE
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.rules import InMemoryLists, first_hard_rule
from decisioning.decision.scoring import ModelScorer, Scorer
from decisioning.decision.thresholds import action_for_score, apply_floor, known_fraud_floor, policy_applied_for
from decisioning.decision.vector import FEATURE_NAMES, feature_vector
from decisioning.execution.rate_limit import DeclineRateLimiter
from decisioning.features.layer import FeatureLayer
from decisioning.features.memory_store import InMemoryFeatureStore
from decisioning.features.windows import LabelEvent, WindowFeatures, record_label, record_transaction
from decisioning.ml.training import TrainingConfig, evaluate, fit_model

REQUIRED_COLUMNS = ("transaction_id", "timestamp", "customer_id", "merchant_id", "amount")
OPTIONAL_COLUMNS = (
    "country",
    "card_country",
    "channel",
    "mcc",
    "device_known",
    "ip_matches_billing",
    "auth_method",
    "is_fraud",
)
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}
WEEK = 7 * 86_400.0
Progress = Callable[[str], None]


class ReplayInputError(ValueError):
    """The file cannot be replayed (missing columns, bad rows); the message names the row."""


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """How to replay."""

    label_delay_days: float = 7.0
    retrain_every_days: int = 0  #: 0 = never retrain
    warmup_days: int = 14  #: the first model (when none is given) is trained at the end of these
    feature_names: tuple[str, ...] = FEATURE_NAMES  #: features of the models trained by the replay
    batch_size: int = 4_096
    fraud_outcome: str = "disputed"  #: how a revealed is_fraud=1 arrives (a chargeback by default)
    min_frauds_to_train: int = 10
    training: TrainingConfig = field(default_factory=lambda: TrainingConfig(n_estimators=100, max_training_rows=60_000))
    policy: DecisionPolicy = field(default_factory=DecisionPolicy)


# --------------------------------------------------------------------------- input


class ReplaySource:
    """A CSV of past transactions, validated whole up front, then streamed in event-time order.

    :meth:`open` reads the file once: every row is parsed and validated (a bad row stops the replay
    before anything is replayed, naming its line), and only ``(timestamp, byte offset)`` per row is
    kept. Iterating reads the rows again: sequentially when the file is already in time order (the
    usual export), otherwise by seeking to each row in sorted order. Either way, memory holds no
    more than one row at a time, whatever the file's size. Ties keep file order.
    """

    def __init__(self, handle: IO[bytes], times: np.ndarray, offsets: np.ndarray, header: list[str]) -> None:
        self._handle = handle
        self._times = times
        self._offsets = offsets
        self._header = header
        self.count = int(times.shape[0])
        self.in_order = bool(self.count < 2 or np.all(np.diff(times) >= 0))
        self.first = datetime.fromtimestamp(float(times.min()), UTC) if self.count else None
        self.last = datetime.fromtimestamp(float(times.max()), UTC) if self.count else None

    @classmethod
    def open(cls, handle: IO[bytes]) -> ReplaySource:
        """Validate every row of a binary, seekable CSV handle; raises ReplayInputError on the first bad one."""
        handle.seek(0)
        lines = _Lines(handle)
        reader = csv.reader(lines)
        header = next(reader, None)
        if header is None:
            raise ReplayInputError("the file is empty (no header row)")
        header = [name.strip().lstrip("\ufeff") for name in header]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise ReplayInputError(f"missing required column(s): {', '.join(missing)}")
        times, offsets = array("d"), array("q")
        while True:
            offset = lines.offset
            values = next(reader, None)
            if values is None:
                break
            if not any(value.strip() for value in values):
                continue  # a blank line
            row = dict(zip(header, values, strict=False))
            try:
                txn, _label = _row(row)
            except ContractError as exc:
                details = "; ".join(f"{name}: {problem}" for name, problem in exc.fields.items())
                raise ReplayInputError(f"line {reader.line_num}: {exc.message} ({details or 'no details'})") from exc
            except (ValueError, KeyError) as exc:
                raise ReplayInputError(f"line {reader.line_num}: {exc}") from exc
            times.append(txn.timestamp.timestamp())
            offsets.append(offset)
        return cls(handle, np.frombuffer(times, dtype=np.float64), np.frombuffer(offsets, dtype=np.int64), header)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[TransactionIn, int | None]]:
        if self.in_order:
            self._handle.seek(int(self._offsets[0]) if self.count else 0)
            reader = csv.reader(_Lines(self._handle))
            for values in reader:
                if any(value.strip() for value in values):
                    yield _row(dict(zip(self._header, values, strict=False)))
            return
        for position in np.argsort(self._times, kind="stable").tolist():
            self._handle.seek(int(self._offsets[position]))
            values = next(csv.reader(_Lines(self._handle)))
            yield _row(dict(zip(self._header, values, strict=False)))


class _Lines:
    """Decoded lines of a binary handle for ``csv.reader``, tracking the byte offset of the next line."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.offset = handle.tell()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._handle.readline()
        if not line:
            raise StopIteration
        self.offset += len(line)
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReplayInputError(f"byte {self.offset - len(line) + exc.start}: not UTF-8") from exc


def _row(row: dict[str, str]) -> tuple[TransactionIn, int | None]:
    label = (row.get("is_fraud") or "").strip()
    return _transaction(row), (None if label == "" else int(_flag(label, default=False, column="is_fraud")))


def _transaction(row: dict[str, str]) -> TransactionIn:
    timestamp = datetime.fromisoformat(row["timestamp"].strip().replace("Z", "+00:00"))
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)  # a file of naive times is read as UTC, the API's zone
    return TransactionIn(
        request_id=row["transaction_id"],
        transaction_id=row["transaction_id"],
        customer_id=row["customer_id"],
        merchant_id=row.get("merchant_id", "") or "",
        amount=parse_amount(row["amount"].strip()),
        timestamp=timestamp,
        country=(row.get("country") or "US").upper(),
        card_country=(row.get("card_country") or "US").upper(),
        channel=Channel((row.get("channel") or "pos").lower()),
        mcc=row.get("mcc") or "",
        device_known=_flag(row.get("device_known"), default=True, column="device_known"),
        ip_matches_billing=_flag(row.get("ip_matches_billing"), default=True, column="ip_matches_billing"),
        auth_method=AuthMethod((row.get("auth_method") or "chip").lower()),
    )


def _flag(value: str | None, *, default: bool, column: str) -> bool:
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{column}: {value!r} is not a boolean (1/0, true/false, yes/no)")


# --------------------------------------------------------------------------- the replay


class Replay:
    """One isolated replay: its own in-memory store, Feature layer, label queue and models."""

    def __init__(
        self, config: ReplayConfig, *, initial_model: Scorer | None = None, progress: Progress | None = None
    ) -> None:
        self.config = config
        self.now = datetime(1970, 1, 1, tzinfo=UTC)
        self.store = InMemoryFeatureStore(clock=self._clock)
        self.layer = FeatureLayer(self.store, self._clock, windows=WindowFeatures(self.store))
        self.lists = InMemoryLists()  # live lists are live state: the replay uses none
        self.model = initial_model
        self.models_trained: list[dict[str, Any]] = []
        self.progress = progress or (lambda message: None)
        self._labels: list[tuple[float, int, LabelEvent | None, int]] = []
        self._pending: list[int] = []
        self._floors: list[DecisionAction | None] = []

    def _clock(self) -> datetime:
        return self.now

    def run(self, source: ReplaySource) -> ReplayResult:
        """Replay every row of ``source`` in event-time order; returns the per-row scores and decisions."""
        result = ReplayResult.empty(source.count)
        if not source.count or source.first is None or source.last is None:
            return result
        quiet = _quiet_layer_logs()
        started, self._result = time.perf_counter(), result
        boundaries = self._boundaries(source.first, source.last)
        try:
            for index, (txn, label) in enumerate(source):
                if txn.timestamp < self.now:
                    raise ReplayInputError(f"row {index + 1} of the replay order goes back in time")
                self._step(index, txn, label, boundaries)
                if (index + 1) % 100_000 == 0:
                    rate = (index + 1) / (time.perf_counter() - started)
                    self.progress(f"{index + 1:,} / {source.count:,} transactions ({rate:,.0f}/s)")
            self._flush()
            self._rate_limit_declines()
        finally:
            quiet()
        result.seconds_taken = time.perf_counter() - started
        result.models = list(self.models_trained)
        return result

    def _boundaries(self, first: datetime, last: datetime) -> list[datetime]:
        """When models change: the end of the warm-up, then every ``retrain_every_days``."""
        start = first + timedelta(days=self.config.warmup_days)
        if self.config.retrain_every_days <= 0:
            return [start] if self.model is None else []
        step = timedelta(days=self.config.retrain_every_days)
        points, moment = [], start
        while moment <= last:
            points.append(moment)
            moment += step
        return points

    def _step(self, index: int, txn: TransactionIn, label: int | None, boundaries: list[datetime]) -> None:
        while boundaries and boundaries[0] <= txn.timestamp:
            self._retrain(boundaries.pop(0))
        self._reveal_before(txn.timestamp)
        self.now = txn.timestamp
        fs = self.layer.build(txn)
        self._result.vectors[index] = feature_vector(fs)
        self._decide_or_queue(index, fs)
        record_transaction(self.store, txn)
        self._result.record(index, txn, label)
        if label is not None:
            self._schedule_label(index, txn, label)

    # ----------------------------------------------------------------- labels

    def _schedule_label(self, index: int, txn: TransactionIn, label: int) -> None:
        revealed = txn.timestamp + timedelta(days=self.config.label_delay_days)
        event = None
        if label:
            event = LabelEvent(
                key=f"replay:{txn.transaction_id}",
                request_id=txn.request_id,
                customer_id=txn.customer_id,
                merchant_id=txn.merchant_id,
                event_time=txn.timestamp,
                known_at=revealed,
                is_fraud=True,
                is_dispute=self.config.fraud_outcome == "disputed",
            )
        heapq.heappush(self._labels, (revealed.timestamp(), index, event, label))

    def _reveal_before(self, moment: datetime) -> None:
        """Apply every label revealed strictly before ``moment`` (the live feedback logic)."""
        cutoff = moment.timestamp()
        while self._labels and self._labels[0][0] < cutoff:
            _, index, event, _label = heapq.heappop(self._labels)
            self._result.revealed[index] = True
            if event is not None:
                record_label(self.store, event)

    # ----------------------------------------------------------------- decisions

    def _decide_or_queue(self, index: int, fs: Any) -> None:
        policy = self.config.policy
        hit = first_hard_rule(fs, policy, self.lists)
        result = self._result
        if hit is not None:
            result.decide(index, hit.fraud_score, hit.action, "rule", hit.policy_applied)
        elif not fs.is_complete or self.model is None:
            applied = "incomplete_features" if not fs.is_complete else "model_unavailable"
            result.decide(index, FALLBACK_SCORE, DecisionAction.REVIEW, "fallback", applied)
        else:
            self._pending.append(index)
            self._floors.append(known_fraud_floor(fs, policy))  # the live layer's policy floor, decided at t
            if len(self._pending) >= self.config.batch_size:
                self._flush()

    def _flush(self) -> None:
        """Score the micro-batch with the model in force (always before the model changes)."""
        if not self._pending or self.model is None:
            return
        scores = self.model.score_batch(self._result.vectors[self._pending].astype(np.float64))
        for index, score, floor in zip(self._pending, scores.tolist(), self._floors, strict=True):
            clipped = min(max(score, 0.0), 1.0)
            banded = action_for_score(clipped, self.config.policy)
            action = apply_floor(banded, floor)
            applied = policy_applied_for(banded) if action is banded else "floor:known_fraud"
            self._result.decide(index, clipped, action, self.model.version, applied)
        self._pending, self._floors = [], []

    def _rate_limit_declines(self) -> None:
        """The Execution layer's decline rate limit, over the declines in event-time order.

        Actions feed nothing else in a replay (features come from every transaction, training from
        labels), so the limit can run once over the finished decisions: the live limiter, on its
        own in-memory counters, sees the declines in the order live traffic would have.
        """
        policy, result = self.config.policy, self._result
        limiter = DeclineRateLimiter(
            InMemoryFeatureStore(clock=self._clock),
            limit=policy.decline_rate_limit_count,
            window=timedelta(minutes=policy.decline_rate_limit_window_minutes),
        )
        for index in (i for i, action in enumerate(result.actions) if action == DecisionAction.DECLINE.value):
            at = datetime.fromtimestamp(float(result.seconds[index]), UTC)
            decision = DecisionResult(
                request_id=result.transaction_ids[index],
                action=DecisionAction.DECLINE,
                fraud_score=float(result.scores[index]),
                confidence=1.0,
                reason_codes=("REPLAY",),
                policy_applied=result.policies[index],
                is_model_driven=result.model_versions[index] not in ("rule", "fallback"),
                model_version=result.model_versions[index],
            )
            final = limiter.apply(decision, customer_id=result.customers[index], at=at)
            if final.action is DecisionAction.DECLINE:
                limiter.record(customer_id=result.customers[index], request_id=decision.request_id, at=at)
            else:
                result.actions[index], result.policies[index] = final.action.value, final.policy_applied

    # ----------------------------------------------------------------- retraining

    def _retrain(self, moment: datetime) -> None:
        """Train on the labels known at ``moment`` and make the new model the one in force."""
        self._flush()
        self._reveal_before(moment)
        known = np.flatnonzero(self._result.revealed & (self._result.labels >= 0))
        labels = self._result.labels[known]
        if int(labels.sum()) < self.config.min_frauds_to_train:
            self.progress(f"{moment:%Y-%m-%d}: {int(labels.sum())} fraud labels known, too few to train; model kept")
            return
        matrix = self._result.vectors[known][:, [FEATURE_NAMES.index(n) for n in self.config.feature_names]]
        started = time.perf_counter()
        model = fit_model(matrix, labels, self.config.training)
        version = f"replay-{moment:%Y%m%d}-{len(self.models_trained) + 1}"
        self.model = ModelScorer(model, version=version, feature_names=self.config.feature_names)
        seconds = time.perf_counter() - started
        self.models_trained.append(
            {
                "version": version,
                "at": moment.isoformat(),
                "rows": int(known.shape[0]),
                "frauds": int(labels.sum()),
                "fit_seconds": round(seconds, 1),
            }
        )
        self.progress(
            f"{moment:%Y-%m-%d}: trained {version} on {known.shape[0]:,} labelled rows "
            f"({int(labels.sum())} fraud) in {seconds:.1f} s"
        )


def _quiet_layer_logs() -> Callable[[], None]:
    """The Feature layer logs one INFO line per transaction: right live, a flood in a replay."""
    loggers = [logging.getLogger(name) for name in ("fde.features", "fde.decision")]
    levels = [item.level for item in loggers]
    for item in loggers:
        item.setLevel(logging.WARNING)

    def restore() -> None:
        for item, level in zip(loggers, levels, strict=True):
            item.setLevel(level)

    return restore


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class ReplayResult:
    """Per-row outcome of a replay, as arrays."""

    transaction_ids: list[str]
    customers: list[str]
    seconds: np.ndarray
    labels: np.ndarray  #: 1 / 0, -1 when the file had no label
    revealed: np.ndarray  #: the label had been revealed to the replay (by the time it ended)
    scores: np.ndarray
    actions: list[str]
    model_versions: list[str]
    policies: list[str]  #: policy_applied per row (threshold band, hard rule, floor, fallback, rate limit)
    vectors: np.ndarray  #: point-in-time vectors (FEATURE_NAMES, float32), the training data of retrains
    seconds_taken: float = 0.0
    models: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, size: int) -> ReplayResult:
        return cls(
            transaction_ids=[""] * size,
            customers=[""] * size,
            seconds=np.zeros(size),
            labels=np.full(size, -1, dtype=np.int64),
            revealed=np.zeros(size, dtype=bool),
            scores=np.full(size, np.nan),
            actions=[""] * size,
            model_versions=[""] * size,
            policies=[""] * size,
            vectors=np.zeros((size, len(FEATURE_NAMES)), dtype=np.float32),
        )

    def record(self, index: int, txn: TransactionIn, label: int | None) -> None:
        self.transaction_ids[index] = txn.transaction_id
        self.customers[index] = txn.customer_id
        self.seconds[index] = txn.timestamp.timestamp()
        self.labels[index] = -1 if label is None else label

    def decide(self, index: int, score: float, action: DecisionAction, model_version: str, applied: str) -> None:
        self.scores[index] = score
        self.actions[index] = action.value
        self.model_versions[index] = model_version
        self.policies[index] = applied

    def write_scores(self, handle: IO[str]) -> None:
        writer = csv.writer(handle)
        writer.writerow(["transaction_id", "fraud_score", "decision", "model_version", "policy_applied"])
        rows = zip(
            self.transaction_ids, self.scores.tolist(), self.actions, self.model_versions, self.policies, strict=True
        )
        for row in rows:
            writer.writerow([row[0], f"{row[1]:.6f}", row[2], row[3], row[4]])

    def weekly_summary(self, policy: DecisionPolicy) -> list[dict[str, Any]]:
        """Per week from the first transaction: volume, decisions by action, metrics against the labels."""
        if not self.transaction_ids:
            return []
        week = np.floor((self.seconds - self.seconds.min()) / WEEK).astype(np.int64)
        actions = np.asarray(self.actions)
        customers = np.asarray(self.customers, dtype=object)
        return [self._week(int(w), week == w, actions, customers, policy) for w in np.unique(week)]

    def _week(
        self, number: int, rows: np.ndarray, actions: np.ndarray, customers: np.ndarray, policy: DecisionPolicy
    ) -> dict[str, Any]:
        labelled = rows & (self.labels >= 0)
        metrics = evaluate(
            self.labels[labelled],
            self.scores[labelled],
            policy,
            seconds=self.seconds[labelled],
            customers=customers[labelled],
        )
        start = datetime.fromtimestamp(float(self.seconds[rows].min()), UTC)
        values, counts = np.unique(actions[rows], return_counts=True)
        return {
            "week": number,
            "start": start.date().isoformat(),
            "volume": int(rows.sum()),
            "frauds": int(self.labels[labelled].sum()),
            "decisions": {str(v): int(c) for v, c in zip(values, counts, strict=True)},
            "roc_auc": metrics["roc_auc"],
            "average_precision": metrics["average_precision"],
            "card_precision_at_100": metrics.get("card_precision_at_100"),
            "models": sorted(set(np.asarray(self.model_versions, dtype=object)[rows].tolist())),
        }
