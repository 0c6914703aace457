"""audit_record: secrets never stored, model_version denormalised, a gapless chain under concurrency."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from audit.models import AuditEvent, AuditEventType
from audit.services import REDACTED, audit_record, mask_card_numbers, scrub_secrets

pytestmark = pytest.mark.django_db

SECRET_VALUES = ("tok-123-abc", "hunter2-pw", "s3cr3t-value", "Bearer xyz-789", "key-456-def", "4111111111111111")


def test_scrub_secrets_redacts_secret_keys_and_masks_card_numbers():
    payload = {
        "token": "tok-123-abc",
        "nested": {"Password": "hunter2-pw", "items": [{"client_secret": "s3cr3t-value"}]},
        "Authorization": "Bearer xyz-789",
        "api_key": "key-456-def",
        "note": "card 4111111111111111 used",
        "order_number": "1234567890123",  # 13 digits, fails Luhn: not a card number
        "amount": "12.50",
    }
    assert scrub_secrets(payload) == {
        "token": REDACTED,
        "nested": {"Password": REDACTED, "items": [{"client_secret": REDACTED}]},
        "Authorization": REDACTED,
        "api_key": REDACTED,
        "note": "card ****1111 used",
        "order_number": "1234567890123",
        "amount": "12.50",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", "****1111"),
        ("card 4111-1111-1111-1111.", "card ****1111."),
        ("amex 3782 822463 10005", "amex ****0005"),
        ("pan=4111111111111111;", "pan=****1111;"),
        # A 13-digit Luhn-valid run inside a SHA-256 digest (seen in a real chain) is not a card.
        (
            "45b7ccce9d620b232f683847b9118167691071f62a6f7c98575b925ddb3487d5",
            "45b7ccce9d620b232f683847b9118167691071f62a6f7c98575b925ddb3487d5",
        ),
        ("ref4111111111111111", "ref4111111111111111"),
        ("4111 1111 1111 1112", "4111 1111 1111 1112"),  # fails Luhn
        ("2026-12-04 16:23:12", "2026-12-04 16:23:12"),
    ],
)
def test_mask_card_numbers_masks_printed_pans_but_not_digits_inside_identifiers(text, expected):
    assert mask_card_numbers(text) == expected


def test_no_secret_reaches_any_stored_payload(record_event):
    record_event(
        payload={
            "token": "tok-123-abc",
            "callback": {
                "password": "hunter2-pw",
                "secret": "s3cr3t-value",
                "headers": {"Authorization": "Bearer xyz-789"},
            },
            "authorization": "Bearer xyz-789",
            "client": {"api_key": "key-456-def"},
            "transaction": {"card_number": "4111111111111111", "memo": "pan 4111111111111111"},
        }
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM audit_auditevent")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert [value for value in SECRET_VALUES if value in stored] == []
    assert "****1111" in stored
    assert stored.count(REDACTED) == 7


def test_model_version_is_denormalised_from_the_payload(record_event):
    top = record_event(payload={"model_version": "gbm-7"})
    nested = record_event(payload={"decision": {"model_version": "gbm-8"}})
    none = record_event(payload={"decision": {"model_version": None}})
    assert [AuditEvent.objects.get(pk=e.pk).model_version for e in (top, nested, none)] == ["gbm-7", "gbm-8", ""]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_produce_a_gapless_valid_chain():
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(index: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                with transaction.atomic():
                    audit_record(event_type=AuditEventType.LIST_CHANGED, actor=f"system:w{index}", payload={"n": n})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == list(range(1, threads * per_thread + 1))
    out = StringIO()
    call_command("verify_audit_chain", stdout=out, stderr=StringIO())
    assert f"OK: {threads * per_thread} events checked" in out.getvalue()
