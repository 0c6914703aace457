"""Threshold what-if on stored history: what other thresholds would have done to recent decisions.

Only model-driven decisions are replayed (hard rules and fallbacks do not depend on thresholds), by
transaction time (``event_time``), with the live logic: ``action_for_score`` and the active policy's
known-fraud floor (from the customer's ``fraud_score_30d`` frozen in the stored FeatureSet). Both
sides are recomputed, so "active" means "under the policy in force now", not what happened then.
The Execution layer's decline rate limit is not replayed.

The counting happens in the database: the (at most six) thresholds of both policies cut the score
range into bands in which each policy's action is constant, so one GROUP BY over (band, known-fraud
customer, latest label, histogram bin) returns a few hundred rows, whatever the number of decisions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import BooleanField, Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast, Floor, Least
from django.utils import timezone

from decisioning.contracts import DecisionAction
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.thresholds import action_for_score, apply_floor

from .models import DecisionRecord, FeedbackEvent

#: Least to most severe, the order the page shows them in.
ACTIONS = (DecisionAction.APPROVE, DecisionAction.CHALLENGE, DecisionAction.REVIEW, DecisionAction.DECLINE)
#: Actions that stop a fraud (declined outright or held for an analyst).
CATCHES_FRAUD = frozenset({DecisionAction.DECLINE, DecisionAction.REVIEW})
THRESHOLD_FIELDS = ("challenge_threshold", "review_threshold", "decline_threshold")
MAX_DAYS = 365
#: Histogram bins of width 1 / BINS over the score range 0..1.
BINS = 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one policy would have done with the decisions in the window."""

    counts: Mapping[DecisionAction, int]  #: decisions per action (every action present)
    fraud_caught: int  #: decisions labelled fraud that would be declined or reviewed
    legit_declined: int  #: decisions labelled legitimate that would be declined


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The active policy against the proposed thresholds on the same decisions."""

    since: datetime  #: window start (event time, inclusive)
    until: datetime  #: window end (event time, inclusive)
    total: int  #: model-driven decisions with a score in the window
    fraud_labelled: int  #: of those, whose latest outcome is fraud
    legit_labelled: int  #: of those, whose latest outcome is legitimate
    active: Outcome  #: under the policy in force
    proposed: Outcome  #: under the proposed thresholds
    transitions: Mapping[tuple[DecisionAction, DecisionAction], int]  #: (active, proposed) → count, moved only
    histogram: tuple[int, ...]  #: decisions per score bin (BINS bins of width 1/BINS)
    fraud_histogram: tuple[int, ...]  #: decisions labelled fraud per score bin

    @property
    def changed(self) -> int:
        """Decisions whose action would differ."""
        return sum(self.transitions.values())


def threshold_whatif(
    *, policy: DecisionPolicy, proposed: DecisionPolicy, days: int, now: datetime | None = None
) -> WhatIf:
    """Count the last ``days`` days of model-driven decisions under ``policy`` and ``proposed``.

    ``proposed`` may differ from ``policy`` only in its thresholds (and version).
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}")
    if _without_thresholds(policy) != _without_thresholds(proposed):
        raise ValueError("the what-if changes thresholds only")
    until = now or timezone.now()
    since = until - timedelta(days=days)
    bounds = _bounds(policy, proposed)
    rows = _grouped_rows(policy, bounds, since, until)
    return _tally(rows, policy, proposed, bounds, since, until)


def _without_thresholds(policy: DecisionPolicy) -> dict[str, Any]:
    values = policy.to_dict()
    for name in (*THRESHOLD_FIELDS, "version"):
        values.pop(name)
    return values


def _bounds(*policies: DecisionPolicy) -> tuple[float, ...]:
    return tuple(sorted({getattr(policy, name) for policy in policies for name in THRESHOLD_FIELDS}))


def band_score(bounds: tuple[float, ...], band: int) -> float:
    """A score inside band ``band``: scores ≥ bounds[band - 1] and below bounds[band] (band 0: below all)."""
    return bounds[band - 1] if band else math.nextafter(bounds[0], -math.inf)


def _grouped_rows(
    policy: DecisionPolicy, bounds: tuple[float, ...], since: datetime, until: datetime
) -> Iterable[Mapping[str, Any]]:
    latest_label = FeedbackEvent.objects.filter(decision=OuterRef("pk")).order_by("-recorded_at", "-pk")
    band = Case(
        *(When(fraud_score__gte=bound, then=Value(index + 1)) for index, bound in reversed(list(enumerate(bounds)))),
        default=Value(0),
        output_field=IntegerField(),
    )
    return (
        DecisionRecord.objects.filter(
            status=DecisionRecord.Status.DECIDED,
            is_model_driven=True,
            fraud_score__isnull=False,
            event_time__gte=since,
            event_time__lte=until,
        )
        .annotate(
            band=band,
            is_known_fraud=_known_fraud(policy),
            label=Subquery(latest_label.values("is_fraud")[:1]),
            score_bin=Least(Cast(Floor(F("fraud_score") * BINS), IntegerField()), Value(BINS - 1)),
        )
        .order_by()
        .values("band", "is_known_fraud", "label", "score_bin")
        .annotate(decisions=Count("pk"))
    )


def _known_fraud(policy: DecisionPolicy) -> Case | Value:
    """Whether the known-fraud floor applied to the customer (feature values are validated numbers)."""
    if policy.known_fraud_floor == "off":
        return Value(False, output_field=BooleanField())
    return Case(
        When(Q(customer_fraud_score_30d__gte=policy.known_fraud_score_30d), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def _action(score: float, policy: DecisionPolicy, is_known_fraud: bool) -> DecisionAction:
    floor = DecisionAction(policy.known_fraud_floor) if is_known_fraud else None
    return apply_floor(action_for_score(score, policy), floor)


def _tally(
    rows: Iterable[Mapping[str, Any]],
    policy: DecisionPolicy,
    proposed: DecisionPolicy,
    bounds: tuple[float, ...],
    since: datetime,
    until: datetime,
) -> WhatIf:
    counts: dict[str, Counter[Any]] = {key: Counter() for key in ("active", "proposed", "moved", "labels", "bins")}
    caught, declined, fraud_bins = Counter[str](), Counter[str](), Counter[int]()
    for row in rows:
        score, number, label = band_score(bounds, row["band"]), row["decisions"], row["label"]
        sides = {
            "active": _action(score, policy, row["is_known_fraud"]),
            "proposed": _action(score, proposed, row["is_known_fraud"]),
        }
        for side, action in sides.items():
            counts[side][action] += number
            caught[side] += number if label is True and action in CATCHES_FRAUD else 0
            declined[side] += number if label is False and action is DecisionAction.DECLINE else 0
        if sides["active"] is not sides["proposed"]:
            counts["moved"][(sides["active"], sides["proposed"])] += number
        counts["labels"][label] += number
        counts["bins"][row["score_bin"]] += number
        fraud_bins[row["score_bin"]] += number if label is True else 0
    return WhatIf(
        since=since,
        until=until,
        total=sum(counts["active"].values()),
        fraud_labelled=counts["labels"][True],
        legit_labelled=counts["labels"][False],
        active=_outcome(counts["active"], caught["active"], declined["active"]),
        proposed=_outcome(counts["proposed"], caught["proposed"], declined["proposed"]),
        transitions=dict(sorted(counts["moved"].items(), key=lambda item: -item[1])),
        histogram=tuple(counts["bins"][index] for index in range(BINS)),
        fraud_histogram=tuple(fraud_bins[index] for index in range(BINS)),
    )


def _outcome(counts: Counter[Any], fraud_caught: int, legit_declined: int) -> Outcome:
    return Outcome(
        counts={action: counts[action] for action in ACTIONS}, fraud_caught=fraud_caught, legit_declined=legit_declined
    )
