"""Audit-chain benchmark: insert N chained events, then time verification, export and paging.

    .venv/bin/python bench/audit_chain.py                 # 1,000,000 events into fde_bench
    .venv/bin/python bench/audit_chain.py --events 100000 --record-events 2000

Uses its own PostgreSQL database (``fde_bench`` unless BENCH_DATABASE_URL says otherwise; dropped
and recreated unless --keep), never the test database. Bulk insertion computes the real hash chain
in Python (``canonical_event_bytes``, as audit_record does) and loads it with COPY; the
audit_record() rate is measured separately on a smaller count. Verification and export each run
in a fresh child process so their peak RSS is their own, not the loader's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fde_bench"
COPY_COLUMNS = (
    "sequence", "occurred_at", "event_type", "actor", "origin", "request_id", "customer_id", "case_id",
    "outcome", "model_version", "payload", "prev_hash", "hash",
)  # fmt: skip
BATCH = 20_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fde_site.settings.local")
    os.environ.setdefault("FDE_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def recreate_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if not name or name.startswith("test_") or name == "fde":
        raise SystemExit(f"refusing to use database {name!r} for the benchmark")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# ------------------------------------------------------------------ loading


def sample_payload(n: int) -> tuple[str, str, str, dict[str, Any]]:
    """A realistic mix: two thirds decisions (with features and explanation), the rest case events."""
    if n % 3 == 2:
        return "case.claimed", f"user:analyst{n % 7}", "claimed", {"case_id": n, "note_length": n % 300}
    score = round((n * 7919 % 1000) / 1000, 3)
    action = "decline" if score >= 0.85 else "review" if score >= 0.6 else "approve"
    return "decision.executed", "client:acme", action, {
        "transaction": {"request_id": f"req-{n}", "amount": f"{n % 5000}.{n % 100:02d}", "currency": "EUR",
                        "merchant_id": f"m-{n % 997}", "country": "DE", "channel": "ecommerce"},
        "features": {"groups": {"customer_risk": {"freshness": "fresh", "fallback_tier": "online_store",
                                                  "values": {"chargebacks_90d": n % 3, "account_age_days": n % 900}},
                                "spend_behaviour": {"freshness": "fresh", "fallback_tier": "online_store",
                                                    "values": {"velocity_1h": float(n % 40), "amount_zscore": 0.5}}},
                     "is_complete": True, "degraded": False},
        "decision": {"action": action, "fraud_score": score, "reason_codes": ["HIGH_AMOUNT"] if score > 0.6 else [],
                     "policy_applied": "thresholds", "model_version": f"gbm-{n % 3}",
                     "explanation": {"base_value": -2.0, "contributions": [
                         {"feature": "amount_zscore", "value": 0.5, "contribution": 0.31},
                         {"feature": "velocity_1h", "value": float(n % 40), "contribution": 0.12}]}},
        "execution": {"action": action, "reference_id": f"ref-{n}"},
        "model_version": f"gbm-{n % 3}",
        "policy_version": "default-1",
    }  # fmt: skip


def chained_rows(start: int, count: int, prev_hash: str, start_time: dt.datetime) -> tuple[list[tuple[Any, ...]], str]:
    """``count`` rows continuing the chain after ``prev_hash``; returns them and the new head hash."""
    from audit.services import canonical_event_bytes, model_version_of

    rows = []
    for sequence in range(start, start + count):
        event_type, actor, outcome, payload = sample_payload(sequence)
        fields = {
            "occurred_at": start_time + dt.timedelta(milliseconds=sequence), "event_type": event_type,
            "actor": actor, "origin": "bench", "request_id": f"req-{sequence}",
            "customer_id": f"cust-{sequence % 50_000}", "case_id": None, "outcome": outcome, "payload": payload,
        }  # fmt: skip
        digest = hashlib.sha256(canonical_event_bytes(sequence=sequence, prev_hash=prev_hash, **fields)).hexdigest()
        rows.append((
            sequence, fields["occurred_at"], event_type, actor, "bench", fields["request_id"], fields["customer_id"],
            None, outcome, model_version_of(payload), json.dumps(payload), prev_hash, digest,
        ))  # fmt: skip
        prev_hash = digest
    return rows, prev_hash


def bulk_load(total: int) -> float:
    """COPY ``total`` chained events after the current head; returns seconds."""
    from django.db import connection, transaction

    from audit.models import AuditChainHead

    started = time.perf_counter()
    head = AuditChainHead.objects.get_or_create(id=1)[0]
    sequence, prev = head.sequence + 1, head.hash
    start_time = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=total + 1000)
    while sequence <= head.sequence + total:
        count = min(BATCH, head.sequence + total - sequence + 1)
        rows, prev = chained_rows(sequence, count, prev, start_time)
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY audit_auditevent ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            AuditChainHead.objects.filter(id=1).update(sequence=sequence + count - 1, hash=prev)
        sequence += count
        if (sequence - 1) % 100_000 < BATCH:
            print(f"  loaded {sequence - 1 - head.sequence:,} events", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - started


def record_rate(count: int) -> float:
    """audit_record() calls per second, one transaction each (the real write path)."""
    from django.db import transaction

    from audit.models import AuditEventType
    from audit.services import audit_record

    started = time.perf_counter()
    for n in range(count):
        _, actor, outcome, payload = sample_payload(n)
        with transaction.atomic():
            audit_record(event_type=AuditEventType.DECISION_EXECUTED, actor=actor, request_id=f"live-{n}",
                         customer_id=f"cust-{n}", outcome=outcome, payload=payload)  # fmt: skip
    return count / (time.perf_counter() - started)


# ------------------------------------------------------------------ phases run in child processes


def phase_verify() -> dict[str, Any]:
    from audit.chain import record_verification, verify_chain

    report = verify_chain()
    record_verification(report)
    return {"events": report.events_checked, "seconds": report.seconds, "valid": report.is_valid}


def phase_export() -> dict[str, Any]:
    """A full CSV export through the real view, streamed to /dev/null."""
    from django.contrib.auth.models import Group, User
    from django.test import RequestFactory

    from audit.views import export_csv

    user, _ = User.objects.get_or_create(username="bench-compliance")
    user.groups.add(Group.objects.get_or_create(name="compliance")[0])
    request = RequestFactory().get("/audit/export.csv")
    request.user = user
    started = time.perf_counter()
    response = export_csv(request)
    size = rows = 0
    with open(os.devnull, "wb") as sink:
        for chunk in response.streaming_content:
            sink.write(chunk)
            size += len(chunk)
            rows += 1
    response.close()
    return {"events": rows - 2, "seconds": time.perf_counter() - started, "bytes": size}


def phase_pages() -> dict[str, Any]:
    """Keyset page latency: newest page, a page deep in the middle, a filtered deep page."""
    from audit.chain import stored_head
    from audit.selectors import AuditFilters, events_page

    middle = stored_head().sequence // 2
    timings = {}
    cases = {
        "first page": (AuditFilters(), None),
        "middle page": (AuditFilters(), middle),
        "filtered middle page (customer)": (AuditFilters(customer_id="cust-123"), middle),
        "filtered middle page (type+model)": (
            AuditFilters(event_type="decision.executed", model_version="gbm-1"), middle,
        ),
    }  # fmt: skip
    for name, (filters, before) in cases.items():
        events_page(filters, before=before)  # warm
        started = time.perf_counter()
        page = events_page(filters, before=before)
        timings[name] = {"ms": (time.perf_counter() - started) * 1000, "rows": len(page.events)}
    return timings


PHASES = {"verify": phase_verify, "export": phase_export, "pages": phase_pages}


def run_phase(name: str, url: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--database-url", url], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to bulk-load (default 1,000,000)")
    parser.add_argument("--record-events", type=int, default=2000, help="events written through audit_record()")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="reuse the existing bench database")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        setup_django(args.database_url)
        result = PHASES[args.phase]()
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return
    if not args.keep:
        recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    report(args)


def report(args: argparse.Namespace) -> None:
    rate = record_rate(args.record_events)
    print(f"audit_record(): {args.record_events:,} events, {rate:,.0f} events/s (one transaction each)")
    seconds = bulk_load(args.events)
    print(f"bulk load (COPY, chain computed in Python): {args.events:,} events in {seconds:.1f}s "
          f"({args.events / seconds:,.0f} events/s), loader peak RSS {peak_rss_mb():.0f} MB")  # fmt: skip
    verify = run_phase("verify", args.database_url)
    print(f"verify_audit_chain: {verify['events']:,} events in {verify['seconds']:.1f}s "
          f"({verify['events'] / verify['seconds']:,.0f} events/s), valid={verify['valid']}, "
          f"peak RSS {verify['peak_rss_mb']:.0f} MB")  # fmt: skip
    export = run_phase("export", args.database_url)
    print(f"CSV export (real view, streamed to /dev/null): {export['events']:,} events, "
          f"{export['bytes'] / 1e6:,.0f} MB in {export['seconds']:.1f}s "
          f"({export['events'] / export['seconds']:,.0f} events/s), "
          f"peak RSS {export['peak_rss_mb']:.0f} MB")  # fmt: skip
    pages = run_phase("pages", args.database_url)
    for name, timing in pages.items():
        if name != "peak_rss_mb":
            print(f"keyset page, {name}: {timing['ms']:.1f} ms ({timing['rows']} rows)")


if __name__ == "__main__":
    main()
