"""Geometry of the SHAP waterfall chart, drawn by the case template as inline SVG.

The contributions are SHAP values in the model's **log-odds** space: they add up exactly from
the base value to the model's output there (they would not in probability space). So the chart is
drawn in log-odds and the probability is labelled at the base value and at the final score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from decisioning.explain import probability_of, readable_value

TOP_CONTRIBUTORS = 8
WIDTH = 680
LABEL_WIDTH = 310
RIGHT_PAD = 56
ROW_HEIGHT = 28
TOP = 34
AXIS_HEIGHT = 46


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  #: readable name (and value) shown left of the bar
    amount: str  #: the signed contribution, or the probability for base / final rows
    kind: str  #: "base", "up" (raises risk), "down" (lowers risk), "rest", "final"
    x: float
    width: float
    y: float
    text_x: float  #: where the amount label goes (right of the bar's right end)
    connector_x: float  #: where this step ends (the next bar starts here)

    @property
    def bar_y(self) -> float:
        return self.y + 5

    @property
    def text_y(self) -> float:
        return self.y + 18

    @property
    def next_y(self) -> float:
        return self.y + ROW_HEIGHT + 5


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Waterfall:
    bars: list[Bar]
    ticks: list[Tick]
    width: int
    height: int
    plot_left: int
    plot_right: int
    axis_y: float
    zero_x: float | None
    top_count: int  #: contributors drawn one by one
    rest_count: int  #: contributors summed into one bar

    @property
    def label_x(self) -> int:
        return self.plot_left - 10

    @property
    def tick_label_y(self) -> float:
        return self.axis_y + 16

    @property
    def axis_title_y(self) -> float:
        return self.axis_y + 36


@dataclass(frozen=True, slots=True)
class _Step:
    label: str
    kind: str
    start: float
    end: float
    amount: str


def _steps(explanation: dict[str, Any]) -> list[_Step]:
    base = float(explanation["base_value"])
    ranked = explanation["contributions"]
    top, rest = ranked[:TOP_CONTRIBUTORS], ranked[TOP_CONTRIBUTORS:]
    steps = [_Step(f"Base value (average case), p = {probability_of(base):.1%}", "base", base, base, f"{base:+.2f}")]
    running = base
    for item in top:
        contribution = float(item["contribution"])
        label = f"{item['label']} = {readable_value(item['feature'], float(item['value']))}"
        kind = "up" if contribution >= 0 else "down"
        steps.append(_Step(label, kind, running, running + contribution, f"{contribution:+.2f}"))
        running += contribution
    if rest:
        total = sum(float(item["contribution"]) for item in rest)
        label = f"{len(rest)} other feature{'s' if len(rest) != 1 else ''} (summed)"
        steps.append(_Step(label, "rest", running, running + total, f"{total:+.2f}"))
        running += total
    final = f"Final score, p = {probability_of(running):.1%}"
    steps.append(_Step(final, "final", running, running, f"{running:+.2f}"))
    return steps


def _nice_step(span: float) -> float:
    for step in (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0):
        if span / step <= 8:
            return step
    return 20.0


def waterfall(explanation: dict[str, Any] | None) -> Waterfall | None:
    """The chart for ``contributions_for(decision)``, or None without an explanation."""
    if not explanation or not explanation.get("contributions"):
        return None
    steps = _steps(explanation)
    values = [value for step in steps for value in (step.start, step.end)]
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 0.1)
    low, high = low - pad, high + pad
    plot_left, plot_right = LABEL_WIDTH, WIDTH - RIGHT_PAD

    def x_of(value: float) -> float:
        return plot_left + (value - low) / (high - low) * (plot_right - plot_left)

    bars = []
    for index, step in enumerate(steps):
        left, right = sorted((x_of(step.start), x_of(step.end)))
        width = max(right - left, 3.0)
        if step.kind in {"base", "final"}:
            left, width = x_of(step.end) - 2.0, 4.0
        bars.append(Bar(step.label, step.amount, step.kind, round(left, 1), round(width, 1),
                        TOP + index * ROW_HEIGHT, round(left + width + 6, 1), round(x_of(step.end), 1)))  # fmt: skip
    axis_y = TOP + len(steps) * ROW_HEIGHT + 4
    return Waterfall(
        bars=bars,
        ticks=_ticks(low, high, x_of),
        width=WIDTH,
        height=int(axis_y + AXIS_HEIGHT),
        plot_left=plot_left,
        plot_right=plot_right,
        axis_y=axis_y,
        zero_x=round(x_of(0.0), 1) if low < 0 < high else None,
        top_count=min(len(explanation["contributions"]), TOP_CONTRIBUTORS),
        rest_count=max(len(explanation["contributions"]) - TOP_CONTRIBUTORS, 0),
    )


def _ticks(low: float, high: float, x_of: Any) -> list[Tick]:
    step = _nice_step(high - low)
    first = int(low // step) + 1
    ticks = []
    value = first * step
    while value < high:
        ticks.append(Tick(round(x_of(value), 1), f"{value:g}"))
        value += step
    return ticks
