"""purge_audit: retention is enforced, the run is audited, the chain still verifies."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEvent, AuditEventType
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db(transaction=True)


def purge(before: dt.datetime) -> str:
    out = StringIO()
    call_command("purge_audit", "--before", before.isoformat(), stdout=out)
    return out.getvalue()


def verify_ok() -> str:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_refuses_anything_younger_than_the_retention(record_event, settings):
    settings.FDE_AUDIT_RETENTION_DAYS = 365
    record_event()
    with pytest.raises(CommandError, match="refusing to purge events younger than the 365-day retention"):
        call_command("purge_audit", "--before", (timezone.now() - dt.timedelta(days=300)).date().isoformat())
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == [1]


def test_default_retention_is_twelve_months(record_event, settings):
    del settings.FDE_AUDIT_RETENTION_DAYS  # unset → 365 days
    with pytest.raises(CommandError, match="365-day retention"):
        purge(timezone.now() - dt.timedelta(days=364))


def test_purges_a_prefix_records_its_run_and_the_chain_still_verifies(record_event, settings):
    settings.FDE_AUDIT_RETENTION_DAYS = 0
    old = [record_event(outcome="old") for _ in range(3)]
    cutoff = timezone.now()
    kept = [record_event(outcome="kept") for _ in range(2)]

    stdout = purge(cutoff)

    assert "purged 3 events" in stdout
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == [4, 5, 6]
    run = AuditEvent.objects.get(sequence=6)
    assert run.event_type == AuditEventType.AUDIT_PURGED
    assert run.payload["purged_count"] == 3
    assert run.payload["first_retained_sequence"] == 4
    assert run.payload["first_retained_prev_hash"] == old[-1].hash == kept[0].prev_hash
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.first_sequence, checkpoint.prev_hash, checkpoint.purge_sequence) == (4, old[-1].hash, 6)
    assert "OK: 3 events checked from #4" in verify_ok()


def test_after_a_purge_raw_delete_is_refused_again(record_event, settings):
    settings.FDE_AUDIT_RETENTION_DAYS = 0
    record_event()
    cutoff = timezone.now()
    record_event()
    purge(cutoff)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.count() == 2


def test_tampering_after_a_purge_is_still_found(record_event, settings):
    settings.FDE_AUDIT_RETENTION_DAYS = 0
    record_event()
    cutoff = timezone.now()
    record_event()
    record_event()
    purge(cutoff)
    tamper("UPDATE audit_auditevent SET actor = 'user:mallory' WHERE sequence = 3")
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_audit_chain", stdout=StringIO(), stderr=err)
    assert "audit chain broken at sequence 3" in err.getvalue()


def test_a_forged_checkpoint_does_not_verify(record_event, settings):
    """Deleting old rows and inserting a checkpoint by hand is caught: no purge event vouches for it."""
    record_event()
    record_event()
    third = record_event()
    tamper("DELETE FROM audit_auditevent WHERE sequence < 3")
    with transaction.atomic():
        AuditCheckpoint.objects.create(
            first_sequence=3, prev_hash=third.prev_hash, purge_sequence=3,
            purged_before=timezone.now(), purged_count=2,
        )  # fmt: skip
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_audit_chain", stdout=StringIO(), stderr=err)
    assert "audit chain broken at sequence 3: retention checkpoint is not vouched for" in err.getvalue()


def test_bad_date_is_refused(db):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("purge_audit", "--before", "last year")
