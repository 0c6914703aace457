"""Review-queue benchmark: render the queue page with 100,000 open cases.

    .venv/bin/python bench/review_queue.py [--cases 100000] [--requests 50] [--reseed]

Uses its own PostgreSQL database (``fde_bench_review`` unless DATABASE_URL says otherwise; its
name must contain "bench", since seeding empties the review and decision tables). Seeds the cases
with bulk inserts (a DecisionRecord each, as the pipeline would store it), signs in an analyst with
Django's test Client and times full page renders (middleware, session, roles, query, template):
the first page, pages deep in the queue (keyset cursors), and filtered views. Prints p50 / p99.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fde_bench_review")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

from decisioning.clients import internal_client  # noqa: E402
from decisioning.models import DecisionRecord  # noqa: E402
from review.models import ReviewCase  # noqa: E402

BATCH = 5_000
REASONS = (["MODEL_RISK_SCORE"], ["HIGH_VELOCITY", "UNUSUAL_TIME"], ["INTERNATIONAL_TRANSACTION"],
           ["INSUFFICIENT_FEATURES"], ["UNRECOGNISED_DEVICE", "UNUSUAL_TIME"])  # fmt: skip

# The bench serves the site's URLs plus the review pages whether or not fde_site.urls mounts them yet.
from fde_site.urls import urlpatterns as _site_urls  # noqa: E402

urlpatterns = [*(p for p in _site_urls if str(getattr(p, "pattern", "")) != "review/"),
               path("review/", include("review.urls"))]  # fmt: skip


def seed(count: int) -> None:
    db_name = connection.settings_dict["NAME"]
    if "bench" not in db_name:
        raise SystemExit(f"refusing to seed {db_name!r}: the database name must contain 'bench'")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE review_casenote, review_reviewcase, decisioning_gatewaycall, "
                       "decisioning_feedbackevent, decisioning_decisionrecord CASCADE")  # fmt: skip
    client = internal_client("bench-review")
    now = timezone.now()
    started = time.perf_counter()
    for offset in range(0, count, BATCH):
        numbers = range(offset, min(offset + BATCH, count))
        records = DecisionRecord.objects.bulk_create([_record(client, i, now) for i in numbers])
        ReviewCase.objects.bulk_create([_case(record, i, now) for i, record in zip(numbers, records, strict=True)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE review_reviewcase")
        cursor.execute("ANALYZE decisioning_decisionrecord")
    print(f"seeded {count:,} open cases in {time.perf_counter() - started:.1f} s")


def _record(client: object, i: int, now: datetime) -> DecisionRecord:
    amount = Decimal(5 + (i * 7919) % 4000) + Decimal(i % 100) / 100
    txn = {"request_id": f"bench-req-{i}", "transaction_id": f"bench-txn-{i}", "customer_id": f"cust-{i % 20_000}",
           "amount": str(amount), "currency": "USD", "merchant_id": f"m-{i % 500}",
           "merchant_name": f"Merchant {i % 500}", "timestamp": now.isoformat()}  # fmt: skip
    return DecisionRecord(
        client=client, request_id=txn["request_id"], request_hash="0" * 64, status="decided",
        transaction_id=txn["transaction_id"], customer_id=txn["customer_id"], merchant_id=txn["merchant_id"],
        amount=amount, currency="USD", event_time=now - timedelta(seconds=i), transaction=txn,
        action="queued_for_review", fraud_score=0.6, decided_at=now,
    )  # fmt: skip


def _case(record: DecisionRecord, i: int, now: datetime) -> ReviewCase:
    score = 0.60 + ((i * 31) % 25) / 100
    is_high = score > 0.75
    created = now - timedelta(seconds=i * 3)
    return ReviewCase(
        decision=record, request_id=record.request_id, transaction_id=record.transaction_id,
        customer_id=record.customer_id, merchant_id=record.merchant_id,
        merchant_name=record.transaction["merchant_name"], amount=record.amount, currency="USD", fraud_score=score,
        expected_loss=(record.amount * Decimal(str(score))).quantize(Decimal("0.01")), reason_codes=REASONS[i % 5],
        priority="high" if is_high else "normal", priority_rank=0 if is_high else 1, created_at=created,
        sla_due_at=created + timedelta(minutes=60 if is_high else 240),
    )  # fmt: skip


def analyst_client() -> Client:
    user, _ = User.objects.get_or_create(username="bench-analyst")
    user.groups.add(Group.objects.get_or_create(name="analyst")[0])
    client = Client()
    client.force_login(user)
    return client


def timed(client: Client, url: str, requests: int) -> tuple[list[float], str]:
    client.get(url)  # warm
    times, body = [], ""
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        body = response.content.decode()
    return times, body


def report(label: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"{label:<44} p50 {statistics.median(ordered):7.1f} ms   p99 {p99:7.1f} ms   (n={len(ordered)})")


def deep_url(client: Client, pages: int) -> str:
    url = "/review/"
    for _ in range(pages):
        found = re.search(r'href="(\?[^"]*after=[^"]*)" id="next-page"', client.get(url).content.decode())
        if not found:
            break
        url = "/review/" + found.group(1).replace("&amp;", "&")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    settings.ROOT_URLCONF = sys.modules[__name__]
    call_command("migrate", verbosity=0)
    open_cases = ReviewCase.objects.filter(status="open").count()
    if args.reseed or open_cases != args.cases:
        seed(args.cases)
    print(
        f"database {connection.settings_dict['NAME']}: {ReviewCase.objects.filter(status='open').count():,} open cases"
    )
    client = analyst_client()
    views = {
        "queue, first page": "/review/",
        "queue, 40 pages deep (keyset cursor)": deep_url(client, 40),
        "filter priority=high": "/review/?priority=high",
        "filter reason=UNUSUAL_TIME, amount 100-500": "/review/?reason=UNUSUAL_TIME&amount_min=100&amount_max=500",
        "search customer id": "/review/?q=cust-4242",
    }
    for label, url in views.items():
        times, body = timed(client, url, args.requests)
        report(label, times)
        assert "data-case=" in body, f"no rows rendered for {url}"
    started = time.perf_counter()
    exact = ReviewCase.objects.filter(status__in=["open", "claimed"]).count()
    print(f"(for comparison: an exact COUNT(*) of {exact:,} unresolved cases takes "
          f"{(time.perf_counter() - started) * 1000:.1f} ms; the page counts at most 1,001)")  # fmt: skip
    print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL {connection.pg_version}")


if __name__ == "__main__":
    main()
