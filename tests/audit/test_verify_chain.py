"""verify_audit_chain: finds altered, removed and reordered rows at the right sequence."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditChainHead, AuditEvent, AuditVerification
from tests.audit.conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(record_event) -> list[AuditEvent]:
    """Five valid events, sequences 1..5."""
    return [record_event(request_id=f"req-{n}", payload={"n": n, "model_version": "m1"}) for n in range(1, 6)]


def verify(*args: str) -> tuple[str, str]:
    """Run the command (small batches so the keyset paging is exercised); return stdout, stderr."""
    out, err = StringIO(), StringIO()
    call_command("verify_audit_chain", "--batch-size", "2", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def verify_fails(*args: str) -> str:
    """Run the command expecting failure; return stderr."""
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("verify_audit_chain", "--batch-size", "2", *args, stdout=out, stderr=err)
    assert exited.value.code == 1
    assert "FAILED" in out.getvalue()
    return err.getvalue()


def test_valid_chain_passes_and_is_recorded(chain):
    stdout, _ = verify()
    assert "OK: 5 events checked from #1" in stdout
    assert f"head 5:{chain[-1].hash}" in stdout
    status = AuditVerification.objects.get()
    assert (status.is_valid, status.head_sequence, status.head_hash, status.events_checked) == (
        True, 5, chain[-1].hash, 5,
    )  # fmt: skip


def test_empty_chain_passes(db):
    stdout, _ = verify()
    assert "OK: 0 events checked" in stdout


def test_altered_payload_is_found_at_its_sequence(chain):
    tamper('UPDATE audit_auditevent SET payload = \'{"n": 99, "model_version": "m1"}\' WHERE sequence = 3')
    message = verify_fails()
    assert "audit chain broken at sequence 3" in message
    assert "altered" in message
    status = AuditVerification.objects.get()
    assert (status.is_valid, status.first_bad_sequence) == (False, 3)


def test_altered_denormalised_model_version_is_found(chain):
    tamper("UPDATE audit_auditevent SET model_version = 'm2' WHERE sequence = 4")
    assert "audit chain broken at sequence 4: model_version column" in verify_fails()


def test_altered_hash_and_contents_together_break_the_next_link(chain):
    """Re-hashing an altered row does not help: the next row still links to the old hash."""
    tamper("UPDATE audit_auditevent SET outcome = 'forged', hash = %s WHERE sequence = 2", ["f" * 64])
    assert "audit chain broken at sequence 2" in verify_fails()


def test_deleted_row_is_found(chain):
    tamper("DELETE FROM audit_auditevent WHERE sequence = 3")
    message = verify_fails()
    assert "audit chain broken at sequence 3: event missing (next stored event is #4)" in message


def test_reordered_rows_are_found(chain):
    tamper(
        "UPDATE audit_auditevent SET sequence = CASE sequence WHEN 2 THEN -3 WHEN 3 THEN -2 END "
        "WHERE sequence IN (2, 3)"
    )
    tamper("UPDATE audit_auditevent SET sequence = -sequence WHERE sequence < 0")
    stored_order = list(AuditEvent.objects.values_list("request_id", flat=True))
    assert stored_order == ["req-1", "req-3", "req-2", "req-4", "req-5"]
    assert "audit chain broken at sequence 2: prev_hash does not match" in verify_fails()


def test_removed_tail_is_found_against_the_recorded_head(chain):
    tamper("DELETE FROM audit_auditevent WHERE sequence >= 4")
    assert "audit chain broken at sequence 4: chain ends early: the recorded head is #5" in verify_fails()


def test_expect_head_detects_a_truncated_tail_even_with_a_rewritten_head_row(chain):
    exported = f"5:{chain[-1].hash}"
    tamper("DELETE FROM audit_auditevent WHERE sequence >= 4")
    AuditChainHead.objects.filter(id=1).update(sequence=3, hash=chain[2].hash)
    verify()  # the rewritten head row alone hides the truncation …
    message = verify_fails("--expect-head", exported)  # … the head exported earlier does not
    assert "audit chain broken at sequence 4: chain truncated: expected head #5 is missing" in message


def test_expect_head_matching_passes_and_a_different_hash_fails(chain, record_event):
    exported = f"3:{chain[2].hash}"
    record_event()
    stdout, _ = verify("--expect-head", exported)
    assert "OK: 6 events checked" in stdout
    assert "audit chain broken at sequence 3: hash differs" in verify_fails("--expect-head", f"3:{'a' * 64}")


def test_head_prints_the_current_head(chain):
    stdout, _ = verify("--head")
    assert stdout.strip() == f"5:{chain[-1].hash}"
    assert not AuditVerification.objects.exists()


def test_malformed_expect_head_is_refused(chain):
    with pytest.raises(CommandError, match="expected SEQ:HASH"):
        call_command("verify_audit_chain", "--expect-head", "five")
