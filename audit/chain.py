"""Verifying the hash chain in streamed batches (constant memory on millions of events)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS

from .models import GENESIS_HASH, AuditChainHead, AuditCheckpoint, AuditEvent, AuditEventType, AuditVerification
from .services import event_hash, model_version_of

#: Events fetched per keyset batch.
BATCH_SIZE = 5000


class ChainBroken(Exception):
    """The first place the chain does not verify."""

    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(f"audit chain broken at sequence {sequence}: {reason}")
        self.sequence = sequence
        self.reason = reason


@dataclass(frozen=True)
class ChainHead:
    """A point in the chain: the last event's sequence and hash (``SEQ:HASH`` when exported)."""

    sequence: int
    hash: str

    def __str__(self) -> str:
        return f"{self.sequence}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read ``SEQ:HASH`` as printed by ``verify_audit_chain --head``."""
        sequence, sep, digest = text.strip().partition(":")
        if not sep or not sequence.isdigit() or len(digest) != 64:
            raise ValueError(f"expected SEQ:HASH (64 hex digits), got {text!r}")
        return cls(int(sequence), digest.lower())


@dataclass
class VerificationReport:
    """What a verification found."""

    head: ChainHead
    events_checked: int = 0
    start_sequence: int = 1
    seconds: float = 0.0
    problem: ChainBroken | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return self.problem is None


def stored_head(using: str = DEFAULT_DB_ALIAS) -> ChainHead:
    """The head as recorded by audit_record (what the next event will link to)."""
    head = AuditChainHead.objects.using(using).filter(id=1).first()
    return ChainHead(0, GENESIS_HASH) if head is None else ChainHead(head.sequence, head.hash)


def latest_checkpoint(using: str = DEFAULT_DB_ALIAS) -> AuditCheckpoint | None:
    """The checkpoint of the latest retention purge, if any."""
    return AuditCheckpoint.objects.using(using).order_by("-first_sequence").first()


def iter_events(
    start_sequence: int, *, using: str = DEFAULT_DB_ALIAS, batch_size: int = BATCH_SIZE
) -> Iterator[AuditEvent]:
    """Events from ``start_sequence`` on, in sequence order, fetched in keyset batches."""
    last = start_sequence - 1
    while True:
        batch = list(AuditEvent.objects.using(using).filter(sequence__gt=last).order_by("sequence")[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        last = batch[-1].sequence


def check_event(event: AuditEvent, *, expected_sequence: int, expected_prev: str) -> None:
    """Raise ChainBroken if ``event`` is not the valid next link."""
    if event.sequence != expected_sequence:
        raise ChainBroken(expected_sequence, f"event missing (next stored event is #{event.sequence})")
    if event.prev_hash != expected_prev:
        raise ChainBroken(event.sequence, "prev_hash does not match the previous event's hash (removed or reordered)")
    if event_hash(event) != event.hash:
        raise ChainBroken(event.sequence, "stored hash does not match the event's contents (altered)")
    if event.model_version != model_version_of(event.payload if isinstance(event.payload, dict) else {}):
        raise ChainBroken(event.sequence, "model_version column does not match the payload (altered)")


def check_checkpoint_event(event: AuditEvent, checkpoint: AuditCheckpoint) -> None:
    """The purge event recorded in the chain must vouch for the checkpoint the walk started from."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    vouched = (payload.get("first_retained_sequence"), payload.get("first_retained_prev_hash"))
    if event.event_type != AuditEventType.AUDIT_PURGED or vouched != (checkpoint.first_sequence, checkpoint.prev_hash):
        raise ChainBroken(event.sequence, "retention checkpoint is not vouched for by the purge event in the chain")


def verify_chain(
    *,
    expect_head: ChainHead | None = None,
    using: str = DEFAULT_DB_ALIAS,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> VerificationReport:
    """Walk the whole retained chain; the report names the first bad sequence, if any."""
    started = time.perf_counter()
    checkpoint = latest_checkpoint(using)
    start, prev = (checkpoint.first_sequence, checkpoint.prev_hash) if checkpoint else (1, GENESIS_HASH)
    report = VerificationReport(head=ChainHead(start - 1, prev), start_sequence=start)
    seen_hashes: dict[int, str] = {}
    try:
        for event in iter_events(start, using=using, batch_size=batch_size):
            check_event(event, expected_sequence=report.head.sequence + 1, expected_prev=report.head.hash)
            if checkpoint is not None and event.sequence == checkpoint.purge_sequence:
                check_checkpoint_event(event, checkpoint)
            if expect_head is not None and event.sequence == expect_head.sequence:
                seen_hashes[event.sequence] = event.hash
            report.head = ChainHead(event.sequence, event.hash)
            report.events_checked += 1
            if progress is not None and report.events_checked % batch_size == 0:
                progress(report.events_checked, event.sequence)
        check_tail(report, checkpoint=checkpoint, stored=stored_head(using))
        if expect_head is not None:
            check_expected_head(report, expect_head, seen_hashes.get(expect_head.sequence))
    except ChainBroken as problem:
        report.problem = problem
    report.seconds = time.perf_counter() - started
    return report


def check_tail(report: VerificationReport, *, checkpoint: AuditCheckpoint | None, stored: ChainHead) -> None:
    """The walk must end where audit_record says the chain ends (catches a removed tail)."""
    if checkpoint is not None and report.head.sequence < checkpoint.purge_sequence:
        raise ChainBroken(report.head.sequence + 1, "events after the retention checkpoint are missing")
    if stored.sequence > report.head.sequence:
        raise ChainBroken(report.head.sequence + 1, f"chain ends early: the recorded head is #{stored.sequence}")
    if stored != report.head and stored.sequence != 0:
        raise ChainBroken(report.head.sequence, "recorded chain head does not match the last event")


def check_expected_head(report: VerificationReport, expected: ChainHead, found_hash: str | None) -> None:
    """A head exported earlier must still be in the chain, with the same hash."""
    if expected.sequence < report.start_sequence:
        raise ChainBroken(expected.sequence, "expected head predates the retained chain (purged); cannot compare")
    if expected.sequence > report.head.sequence:
        raise ChainBroken(report.head.sequence + 1, f"chain truncated: expected head #{expected.sequence} is missing")
    if found_hash != expected.hash:
        raise ChainBroken(expected.sequence, "hash differs from the expected head exported earlier")


def record_verification(report: VerificationReport, using: str = DEFAULT_DB_ALIAS) -> AuditVerification:
    """Keep the outcome so the audit pages can show the chain status."""
    return AuditVerification.objects.using(using).create(
        is_valid=report.is_valid,
        head_sequence=report.head.sequence,
        head_hash=report.head.hash,
        events_checked=report.events_checked,
        first_bad_sequence=report.problem.sequence if report.problem else None,
        message=(str(report.problem) if report.problem else "chain verified")[:500],
        duration_seconds=report.seconds,
    )
