"""``manage.py verify_audit_chain``: prove no audit event was altered, removed or reordered."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.chain import BATCH_SIZE, ChainHead, VerificationReport, record_verification, stored_head, verify_chain


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain in streamed batches and exit non-zero naming the first bad sequence. "
        "--head prints the current head; --expect-head SEQ:HASH also checks a head exported earlier."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--head", action="store_true", help="print the current chain head (SEQ:HASH) and exit")
        parser.add_argument("--expect-head", metavar="SEQ:HASH", help="a head exported earlier that must still verify")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="events per streamed batch")
        parser.add_argument("--database", default="default", help="database alias")
        parser.add_argument("--no-record", action="store_true", help="do not store the result as the chain status")

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        self.verbosity = int(options["verbosity"])
        if options["head"]:
            self.stdout.write(str(stored_head(using)))
            return
        expected = self._parse_head(options["expect_head"])
        report = verify_chain(
            expect_head=expected, using=using, batch_size=options["batch_size"], progress=self._progress
        )
        if not options["no_record"]:
            record_verification(report, using)
        self._summary(report)
        if report.problem is not None:
            # SystemExit rather than CommandError so the exit status is the same under call_command.
            self.stderr.write(str(report.problem))
            raise SystemExit(1)

    @staticmethod
    def _parse_head(text: str | None) -> ChainHead | None:
        if text is None:
            return None
        try:
            return ChainHead.parse(text)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc

    def _progress(self, checked: int, sequence: int) -> None:
        if self.verbosity >= 2 or (self.verbosity == 1 and checked % 100_000 == 0):
            self.stderr.write(f"  … {checked} events verified (at #{sequence})")

    def _summary(self, report: VerificationReport) -> None:
        rate = report.events_checked / report.seconds if report.seconds else 0.0
        status = "OK" if report.is_valid else "FAILED"
        self.stdout.write(
            f"{status}: {report.events_checked} events checked from #{report.start_sequence} "
            f"in {report.seconds:.2f}s ({rate:,.0f} events/s); head {report.head}"
        )
