"""Compare replays week by week from their ``--summary-json`` files.

    .venv/bin/python bench/replay_compare.py weekly=summary_weekly.json none=summary_none.json ...

Prints, per week, ROC AUC / average precision / card precision@100 of each run, then the means
over the weeks in which every run had a model (weeks scored only by the fallback are left out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

METRICS = ("roc_auc", "average_precision", "card_precision_at_100")
SHORT = {"roc_auc": "AUC", "average_precision": "AP", "card_precision_at_100": "CP@100"}


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def _modelled(week: dict[str, Any]) -> bool:
    return any(str(model).startswith(("replay-", "gbm-")) for model in week["models"])


def main(pairs: list[str]) -> None:
    runs = {name: json.loads(Path(path).read_text()) for name, path in (pair.split("=", 1) for pair in pairs)}
    header = "week start      volume fraud " + " ".join(f"{n + ' ' + SHORT[m]:>16}" for n in runs for m in METRICS)
    print(header)
    weeks = list(zip(*(run["weeks"] for run in runs.values()), strict=True))
    for row in weeks:
        first = row[0]
        cells = " ".join(f"{_fmt(week[m]):>16}" for week in row for m in METRICS)
        print(f"{first['week']:>4} {first['start']} {first['volume']:>7} {first['frauds']:>5} {cells}")
    scored = [row for row in weeks if all(_modelled(week) for week in row)]
    for name, index in zip(runs, range(len(runs)), strict=True):
        means = {m: sum(row[index][m] for row in scored) / len(scored) for m in METRICS}
        rate = runs[name].get("rate_per_second")
        figures = ", ".join(f"{SHORT[m]} {v:.3f}" for m, v in means.items())
        rows = f"{runs[name]['transactions']:,} rows at {rate:,.0f} rows/s"
        print(f"{name}: mean over {len(scored)} modelled weeks {figures}; {rows}")


if __name__ == "__main__":
    main(sys.argv[1:])
