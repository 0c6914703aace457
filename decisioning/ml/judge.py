"""Judging a challenger on labels: the shadow against the champion on the same transactions, the
canary's customers against the champion's.

Reads what the wrappers froze with each decision (``metadata["shadow"]`` / ``metadata["canary"]``,
see :mod:`decisioning.decision.wrappers`) and the latest recorded outcome of each transaction
(feedback: analysts' resolutions, chargebacks). Labels arrive late and mostly for transactions
someone looked at, so recent windows are thin and lean towards reviewed cases; the report says how
many labels it had, and a metric is None when one class is missing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.utils import timezone
from sklearn.metrics import average_precision_score, roc_auc_score

from decisioning.models import DecisionRecord, FeedbackEvent

#: Actions that stop a fraud: declined outright or held for an analyst.
STOPS_FRAUD = frozenset({"decline", "review"})


@dataclass(frozen=True, slots=True)
class ArmReport:
    """One side of a comparison, on its rows."""

    name: str
    decisions: int
    actions: dict[str, int]
    labelled: int
    frauds: int
    roc_auc: float | None
    average_precision: float | None
    fraud_stopped: int  #: labelled fraud declined or reviewed
    legit_declined: int  #: labelled legitimate declined

    def rate(self, action: str) -> float:
        return self.actions.get(action, 0) / self.decisions if self.decisions else 0.0


@dataclass(frozen=True, slots=True)
class Judgement:
    """A challenger against the champion over a window of decisions."""

    version: str
    stage: str  #: "shadow" or "canary"
    since: datetime
    until: datetime
    challenger: ArmReport
    champion: ArmReport
    agreement: float | None = None  #: shadow only: share of decisions with the same action
    moves: dict[str, int] = field(default_factory=dict)  #: shadow only: "champion→shadow" → count
    errors: int = 0  #: shadow only: decisions where the shadow failed or had no model

    @property
    def agreement_percent(self) -> float | None:
        return None if self.agreement is None else 100.0 * self.agreement

    def verdict(self) -> str:
        """A one-line reading of the figures (never a promotion by itself)."""
        c, p = self.challenger, self.champion
        if c.labelled == 0 or c.frauds == 0:
            return "not enough labels yet: wait for outcomes before judging"
        if c.average_precision is None or p.average_precision is None:
            return "one side lacks both classes of labels: not comparable yet"
        better = c.average_precision - p.average_precision
        word = "better" if better > 0 else "worse" if better < 0 else "no different"
        return (
            f"challenger average precision {better:+.3f} ({word}) on {c.labelled} labelled decisions, {c.frauds} fraud"
        )


def judge(version: str, *, days: int = 30, now: datetime | None = None) -> Judgement | None:
    """Judge ``version`` as shadow (if it scored decisions) or canary; None when it decided nothing."""
    until = now or timezone.now()
    since = until - timedelta(days=days)
    window = DecisionRecord.objects.filter(
        status=DecisionRecord.Status.DECIDED, event_time__gte=since, event_time__lte=until
    )
    shadow_rows = window.filter(challenger__shadow__model_version=version)
    if shadow_rows.exists():
        return _judge_shadow(version, shadow_rows, since, until)
    canary_rows = window.filter(challenger__canary__version=version)
    if canary_rows.exists():
        return _judge_canary(version, canary_rows, since, until)
    return None


def _latest_labels(decisions: Any) -> dict[int, bool]:
    """decision id → is_fraud of its latest recorded outcome, for the decisions in ``decisions``."""
    events = FeedbackEvent.objects.filter(decision__in=decisions.values("pk")).order_by("recorded_at", "pk")
    return dict(events.values_list("decision_id", "is_fraud").iterator(chunk_size=5_000))


def _arm(name: str, rows: Sequence[tuple[int, float | None, str]], labels: dict[int, bool]) -> ArmReport:
    """``rows`` are (decision id, model score or None, action)."""
    actions = Counter(action for _, _, action in rows)
    scored = [(labels[r], s) for r, s, _ in rows if r in labels and s is not None]
    y = np.array([int(label) for label, _ in scored])
    scores = np.array([score for _, score in scored])
    both = len(set(y.tolist())) == 2
    return ArmReport(
        name=name,
        decisions=len(rows),
        actions=dict(actions),
        labelled=sum(1 for r, _, _ in rows if r in labels),
        frauds=sum(1 for r, _, _ in rows if labels.get(r) is True),
        roc_auc=float(roc_auc_score(y, scores)) if both else None,
        average_precision=float(average_precision_score(y, scores)) if both else None,
        fraud_stopped=sum(1 for r, _, a in rows if labels.get(r) is True and a in STOPS_FRAUD),
        legit_declined=sum(1 for r, _, a in rows if labels.get(r) is False and a == "decline"),
    )


def _rows(queryset: Any) -> list[tuple[Any, ...]]:
    """(decision id, score, recommended action, model-driven, challenger) from the analysis columns."""
    columns = ("pk", "fraud_score", "recommended_action", "is_model_driven", "challenger")
    return list(queryset.values_list(*columns).iterator(chunk_size=5_000))


def _judge_shadow(version: str, queryset: Any, since: datetime, until: datetime) -> Judgement:
    raw = [(*row[:4], (row[4] or {}).get("shadow")) for row in _rows(queryset)]
    labels = _latest_labels(queryset)
    champion: list[tuple[int, float | None, str]] = []
    challenger: list[tuple[int, float | None, str]] = []
    moves, errors, same = Counter[str](), 0, 0
    for decision_id, score, action, model_driven, shadow in raw:
        if not shadow or "error" in shadow:
            errors += 1
            continue
        champion.append((decision_id, score if model_driven else None, action))
        challenger.append((decision_id, shadow["fraud_score"] if shadow["is_model_driven"] else None, shadow["action"]))
        if shadow["action"] == action:
            same += 1
        else:
            moves[f"{action}→{shadow['action']}"] += 1
    compared = len(challenger)
    return Judgement(
        version=version,
        stage="shadow",
        since=since,
        until=until,
        challenger=_arm(f"shadow {version}", challenger, labels),
        champion=_arm("champion (same transactions)", champion, labels),
        agreement=same / compared if compared else None,
        moves=dict(moves.most_common()),
        errors=errors,
    )


def _judge_canary(version: str, queryset: Any, since: datetime, until: datetime) -> Judgement:
    raw = [(*row[:4], ((row[4] or {}).get("canary") or {}).get("arm")) for row in _rows(queryset)]
    labels = _latest_labels(queryset)
    arms: dict[str, list[tuple[int, float | None, str]]] = {"canary": [], "champion": []}
    for decision_id, score, action, model_driven, arm in raw:
        arms.get(arm, arms["champion"]).append((decision_id, score if model_driven else None, action))
    return Judgement(
        version=version,
        stage="canary",
        since=since,
        until=until,
        challenger=_arm(f"canary {version} (its customers)", arms["canary"], labels),
        champion=_arm("champion (the other customers)", arms["champion"], labels),
    )
