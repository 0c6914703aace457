"""Many review cases at once (bulk inserts), for queue tests where the pipeline would be slow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from decisioning.clients import internal_client
from decisioning.models import DecisionRecord
from review.models import ReviewCase


def bulk_cases(count: int, *, prefix: str = "bulk", start: int = 0) -> list[ReviewCase]:
    client = internal_client()
    now = timezone.now()
    records = []
    for i in range(start, start + count):
        txn = {
            "request_id": f"{prefix}-req-{i}",
            "transaction_id": f"{prefix}-txn-{i}",
            "customer_id": f"c-{i % 97}",
            "amount": f"{10 + i % 500}.00",
            "merchant_name": f"Shop {i % 13}",
            "timestamp": "2026-12-01T10:00:00Z",
        }
        records.append(DecisionRecord(
            client=client, request_id=txn["request_id"], request_hash="0" * 64, status="decided",
            transaction_id=txn["transaction_id"], customer_id=txn["customer_id"], merchant_id=f"m-{i % 13}",
            amount=Decimal(txn["amount"]), currency="USD", event_time=datetime(2026, 12, 1, 10, tzinfo=UTC),
            transaction=txn, action="queued_for_review", fraud_score=0.5, decided_at=now,
        ))  # fmt: skip
    DecisionRecord.objects.bulk_create(records)
    cases = []
    for i, record in enumerate(records):
        score = 0.6 + (i % 25) / 100
        is_high = score > 0.75
        cases.append(ReviewCase(
            decision=record, request_id=record.request_id, transaction_id=record.transaction_id,
            customer_id=record.customer_id, merchant_id=record.merchant_id,
            merchant_name=record.transaction["merchant_name"], amount=record.amount, currency="USD",
            fraud_score=score, expected_loss=(record.amount * Decimal(str(score))).quantize(Decimal("0.01")),
            reason_codes=["MODEL_RISK_SCORE"] if i % 3 else ["HIGH_VELOCITY", "UNUSUAL_TIME"],
            priority="high" if is_high else "normal", priority_rank=0 if is_high else 1,
            created_at=now - timedelta(minutes=i), sla_due_at=now + timedelta(minutes=60 - i),
        ))  # fmt: skip
    return ReviewCase.objects.bulk_create(cases)
