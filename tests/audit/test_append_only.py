"""Append-only: the model, its manager and PostgreSQL triggers all refuse change."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditCheckpoint, AuditEvent, AuditEventType
from audit.services import audit_record

pytestmark = pytest.mark.django_db


def _run_sql(*statements: str, params: list[object] | None = None) -> None:
    """Run raw SQL statements in one transaction (the last one gets ``params``)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements[:-1]:
            cursor.execute(sql)
        cursor.execute(statements[-1], params or [])


def _raw_refused(*statements: str, params: list[object] | None = None) -> str:
    """Run raw SQL that must be refused; return the database's message."""
    with pytest.raises(DatabaseError) as caught:
        _run_sql(*statements, params=params)
    return str(caught.value)


def test_model_refuses_save_on_existing_and_delete(record_event):
    event = record_event(outcome="added")
    event.outcome = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.get(sequence=event.sequence).outcome == "added"


def test_manager_refuses_bulk_writes(record_event):
    event = record_event(outcome="added")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(sequence=event.sequence).update(outcome="changed")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(sequence=99, prev_hash="x", hash="y")])
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_update([event], ["outcome"])
    assert list(AuditEvent.objects.values_list("sequence", "outcome")) == [(event.sequence, "added")]


def test_postgresql_refuses_update(record_event):
    event = record_event(outcome="added", payload={"value": 1})
    message = _raw_refused(
        "UPDATE audit_auditevent SET payload = '{}'::jsonb WHERE sequence = %s", params=[event.sequence]
    )
    assert "append-only: UPDATE on audit_auditevent refused" in message
    assert AuditEvent.objects.get(sequence=event.sequence).payload == {"value": 1}


def test_postgresql_refuses_delete(record_event):
    event = record_event()
    message = _raw_refused("DELETE FROM audit_auditevent WHERE sequence = %s", params=[event.sequence])
    assert "append-only: DELETE on audit_auditevent refused" in message
    assert AuditEvent.objects.filter(sequence=event.sequence).exists()


def test_postgresql_refuses_delete_of_young_rows_even_with_purge_setting(record_event):
    """The purge switch only lets through rows older than the cutoff it declares."""
    event = record_event()
    message = _raw_refused(
        "SELECT set_config('fde.audit_purge_before', '2000-01-01T00:00:00+00:00', true)",
        "DELETE FROM audit_auditevent WHERE sequence = %s",
        params=[event.sequence],
    )
    assert "append-only: DELETE" in message
    assert AuditEvent.objects.filter(sequence=event.sequence).exists()


def test_postgresql_refuses_changes_to_checkpoints(record_event):
    event = record_event()
    with transaction.atomic():
        AuditCheckpoint.objects.create(
            first_sequence=1, prev_hash="0" * 64, purge_sequence=event.sequence,
            purged_before=event.occurred_at, purged_count=0,
        )  # fmt: skip
    message = _raw_refused("UPDATE audit_auditcheckpoint SET purged_count = 5")
    assert "UPDATE on audit_auditcheckpoint refused" in message
    assert "DELETE on audit_auditcheckpoint refused" in _raw_refused("DELETE FROM audit_auditcheckpoint")
    assert AuditCheckpoint.objects.get().purged_count == 0


@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_truncate(record_event):
    """TRUNCATE is refused; test databases let Django's flush through unless strict mode is on."""
    record_event()
    record_event()
    message = _raw_refused("SET LOCAL fde.audit_strict = 'on'", "TRUNCATE audit_auditevent")
    assert "append-only: TRUNCATE on audit_auditevent refused" in message
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_audit_record_requires_a_transaction():
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        audit_record(event_type=AuditEventType.LIST_CHANGED, actor="system:test")
    assert not AuditEvent.objects.exists()
