"""Retention purge: the one sanctioned way audit events leave the table.

How the purge gets past the append-only triggers (migration 0003), honestly:

* PostgreSQL: inside one transaction the purge sets the *transaction-local* setting
  ``fde.audit_purge_before`` (``set_config(…, true)``, gone at COMMIT/ROLLBACK). The trigger then
  lets a DELETE through only for rows older than that instant, never UPDATE or TRUNCATE. A
  setting is not a privilege boundary by itself: code running as the application role could set
  it too. For a real boundary, create a role ``fde_audit_purger`` (the trigger then also requires
  ``session_user`` to be a member), keep the application role out of it, and run the command on a
  separate database alias that logs in as a member (``purge_audit --database audit_purge``).
  Either way the cutoff is re-checked by the trigger row by row, so even a privileged session
  can only remove events older than the cutoff it declared.
* SQLite (embedded default, single user, no roles): the delete trigger is dropped and recreated
  inside the purge transaction (SQLite DDL is transactional).

The chain stays verifiable: only a *prefix* of the chain is removed (every sequence below the
first event at or after the cutoff), an ``AuditCheckpoint`` keeps the first retained sequence and
its ``prev_hash``, and the purge's own ``audit.purged`` event carries the same two values inside
the hashed chain, so verification starts at the checkpoint and a forged checkpoint is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from .models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditEventType
from .services import audit_record

SQLITE_DELETE_TRIGGER = "audit_auditevent_no_delete"


class RetentionRefused(Exception):
    """The cutoff would remove events still inside the retention period."""


@dataclass(frozen=True)
class PurgeResult:
    """What one purge run removed and where the retained chain now starts."""

    purged_count: int
    first_retained_sequence: int
    purge_event_sequence: int


def retention_days() -> int:
    """Configured retention (days); PCI DSS 10.5.1 asks for at least 12 months."""
    return int(getattr(settings, "FDE_AUDIT_RETENTION_DAYS", 365))


def earliest_allowed_cutoff(now: datetime | None = None) -> datetime:
    """The latest ``before`` a purge may use: anything younger than retention stays."""
    return (now or timezone.now()) - timedelta(days=retention_days())


def check_cutoff(before: datetime) -> None:
    """Refuse a cutoff inside the retention period."""
    limit = earliest_allowed_cutoff()
    if before > limit:
        raise RetentionRefused(
            f"refusing to purge events younger than the {retention_days()}-day retention: "
            f"--before must be on or before {limit.isoformat()}"
        )


def purge_before(*, before: datetime, actor: str, using: str = DEFAULT_DB_ALIAS) -> PurgeResult:
    """Remove every event older than ``before`` (a chain prefix) and audit the run."""
    check_cutoff(before)
    with transaction.atomic(using=using):
        # Lock the head first: no event is appended while the prefix is cut.
        head = AuditChainHead.objects.using(using).select_for_update().get_or_create(id=1)[0]
        first_kept = _first_retained(before, head.sequence, using)
        prev_hash = _prev_hash_of(first_kept, head.hash, using)
        removed = _delete_prefix(first_kept, before, using)
        event = audit_record(
            event_type=AuditEventType.AUDIT_PURGED,
            actor=actor,
            origin="system:purge_audit",
            outcome="purged",
            payload={
                "purged_before": before.isoformat(),
                "purged_count": removed,
                "retention_days": retention_days(),
                "first_retained_sequence": first_kept,
                "first_retained_prev_hash": prev_hash,
            },
            using=using,
        )
        AuditCheckpoint.objects.using(using).create(
            first_sequence=first_kept, prev_hash=prev_hash, purge_sequence=event.sequence,
            purged_before=before, purged_count=removed,
        )  # fmt: skip
    return PurgeResult(removed, first_kept, event.sequence)


def _first_retained(before: datetime, head_sequence: int, using: str) -> int:
    """The first sequence kept: the first event at or after the cutoff (or the next one to come)."""
    first = AuditEvent.objects.using(using).filter(occurred_at__gte=before).order_by("sequence").first()
    return first.sequence if first is not None else head_sequence + 1


def _prev_hash_of(first_kept: int, head_hash: str, using: str) -> str:
    """The hash the first retained event links to."""
    event = AuditEvent.objects.using(using).filter(sequence=first_kept).only("prev_hash").first()
    return event.prev_hash if event is not None else head_hash


def _delete_prefix(first_kept: int, before: datetime, using: str) -> int:
    """Raw DELETE of sequences below ``first_kept`` past the trigger (see the module docstring)."""
    connection = connections[using]
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('fde.audit_purge_before', %s, true)", [before.isoformat()])
            cursor.execute(f"DELETE FROM {table} WHERE sequence < %s", [first_kept])  # noqa: S608 - table name is ours
            return int(cursor.rowcount)
        if connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_DELETE_TRIGGER}")
            cursor.execute(f"DELETE FROM {table} WHERE sequence < %s", [first_kept])  # noqa: S608
            removed = int(cursor.rowcount)
            cursor.execute(
                f"CREATE TRIGGER {SQLITE_DELETE_TRIGGER} BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE on {table} refused'); END"
            )
            return removed
        cursor.execute(f"DELETE FROM {table} WHERE sequence < %s", [first_kept])  # noqa: S608
        return int(cursor.rowcount)
