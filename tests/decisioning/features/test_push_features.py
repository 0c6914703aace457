"""``manage.py push_features FILE`` against both backends."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from decisioning.contracts import utcnow
from decisioning.features.store import FeatureStore, GroupKey, GroupRead, StoredRecord, build_store

from .conftest import CUSTOMER_RISK_VALUES, SPEND_VALUES

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured_store(backend: str, settings: Settings) -> FeatureStore:
    """The store ``build_store()`` gives the command, on the backend under test."""
    if backend == "database":
        settings.REDIS_URL = ""
    return build_store()


def write_lines(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "features.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def run(path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("push_features", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_good_file_is_written_with_a_summary(configured_store: FeatureStore, tmp_path: Path) -> None:
    # Given two valid lines, one with computed_at and one without
    computed_at = (utcnow() - timedelta(minutes=3)).replace(microsecond=0)
    path = write_lines(
        tmp_path,
        {"group": "customer_risk", "customer_id": "c1", "values": CUSTOMER_RISK_VALUES,
         "computed_at": computed_at.isoformat()},
        "",
        {"group": "spend_behaviour", "customer_id": "c1", "values": SPEND_VALUES},
    )  # fmt: skip
    # When pushed
    out, err = run(path)
    # Then both are stored and the summary says so
    assert out == f"2 lines: 2 written, 0 bad (store: {configured_store.name})\n"
    assert err == ""
    reads = configured_store.read_groups([GroupKey("customer_risk", "c1"), GroupKey("spend_behaviour", "c1")])
    assert reads[GroupKey("customer_risk", "c1")].live == StoredRecord(CUSTOMER_RISK_VALUES, computed_at)
    assert reads[GroupKey("spend_behaviour", "c1")].live.values == SPEND_VALUES  # type: ignore[union-attr]


def test_bad_lines_are_reported_by_number_and_not_applied(configured_store: FeatureStore, tmp_path: Path) -> None:
    # Given a customer already stored, and a file mixing good and bad lines
    configured_store.write_group("customer_risk", "c2", CUSTOMER_RISK_VALUES)
    before = configured_store.read_groups([GroupKey("customer_risk", "c2")])
    path = write_lines(
        tmp_path,
        {"group": "spend_behaviour", "customer_id": "c1", "values": SPEND_VALUES},
        # one good feature next to a wrongly typed one: the whole line is refused
        {"group": "customer_risk", "customer_id": "c2", "values": {"credit_score": 1.0, "dispute_count_90d": "x"}},
        "{not json",
        {"group": "customer_risk", "customer_id": "c3", "values": {"shoe_size": 44}},
        {"group": "customer_risk", "values": {}},
        {"group": "spend_behaviour", "customer_id": "c4", "values": SPEND_VALUES, "computed_at": "yesterday"},
        {"group": "spend_behaviour", "customer_id": "c5", "values": SPEND_VALUES},
    )
    # When pushed
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=r"^5 bad line\(s\); they were not applied$"):
        call_command("push_features", str(path), stdout=out, stderr=err)
    # Then the summary and each bad line's number and reason are reported
    assert out.getvalue() == f"7 lines: 2 written, 5 bad (store: {configured_store.name})\n"
    report = err.getvalue().splitlines()
    assert [line.split(":")[0] for line in report] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert report[0] == "line 2: invalid values for group customer_risk: dispute_count_90d: must be an integer"
    assert report[2].startswith("line 4: invalid values for group customer_risk: shoe_size: unknown feature; allowed:")
    assert report[3] == "line 5: missing customer_id"
    assert report[4] == "line 6: computed_at 'yesterday' is not an ISO 8601 datetime"
    # And the refused lines changed nothing; the good ones were written
    keys = [GroupKey("customer_risk", c) for c in ("c2", "c3")] + [GroupKey("spend_behaviour", "c4")]
    reads = configured_store.read_groups(keys)
    assert reads[keys[0]] == before[keys[0]]
    assert (reads[keys[1]], reads[keys[2]]) == (GroupRead(), GroupRead())
    good = configured_store.read_groups([GroupKey("spend_behaviour", "c1"), GroupKey("spend_behaviour", "c5")])
    assert all(read.live is not None for read in good.values())


def test_dry_run_validates_and_writes_nothing(configured_store: FeatureStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path, {"group": "spend_behaviour", "customer_id": "c1", "values": SPEND_VALUES})
    out, _ = run(path, "--dry-run")
    assert out == f"1 lines: 1 valid, 0 bad (store: {configured_store.name})\n"
    assert configured_store.read_groups([GroupKey("spend_behaviour", "c1")]) == {
        GroupKey("spend_behaviour", "c1"): GroupRead()
    }


def test_progress_is_shown_every_thousand_lines(configured_store: FeatureStore, tmp_path: Path) -> None:
    line = {"group": "spend_behaviour", "customer_id": "c1", "values": SPEND_VALUES}
    out, _ = run(write_lines(tmp_path, *([line] * 1000)))
    assert out.splitlines() == [
        "… 1000 lines, 1000 written, 0 bad",
        f"1000 lines: 1000 written, 0 bad (store: {configured_store.name})",
    ]


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"^cannot read .*missing\.jsonl: No such file or directory$"):
        run(tmp_path / "missing.jsonl")
