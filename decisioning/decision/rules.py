"""Hard rules: deterministic checks that decide before (and regardless of) the model.

They run in order; the first that fires decides. The blocklist needs only the customer id, so it
runs even on an incomplete FeatureSet; the velocity and geo rules need ``customer_risk`` and stay
silent when it is unavailable (the incomplete-features policy then applies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from decisioning.contracts import DecisionAction, FeatureSet
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.vector import as_flag, as_number

BLOCKLIST = "blocklist"


class ListLookup(Protocol):
    """Membership of named lists (``blocklist`` …); the database-backed one lives outside this package."""

    def contains(self, list_name: str, value: str) -> bool: ...


class InMemoryLists:
    """A ListLookup over a dict of sets: for tests and replays of history."""

    def __init__(self, entries: Mapping[str, Iterable[str]] | None = None) -> None:
        self._entries = {name: set(values) for name, values in (entries or {}).items()}

    def contains(self, list_name: str, value: str) -> bool:
        return value in self._entries.get(list_name, set())


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A hard rule fired: what it decides and why."""

    action: DecisionAction
    fraud_score: float
    reason_code: str
    policy_applied: str
    inputs: Mapping[str, Any] = field(default_factory=dict)  #: the values the rule looked at (metadata)

    @property
    def confidence(self) -> float:
        """The larger class probability of the rule's fixed score."""
        return max(self.fraud_score, 1.0 - self.fraud_score)


def blocklist_rule(fs: FeatureSet, policy: DecisionPolicy, lists: ListLookup) -> RuleHit | None:
    """A blocklisted customer is declined outright."""
    if not lists.contains(BLOCKLIST, fs.customer_id):
        return None
    return RuleHit(
        DecisionAction.DECLINE, 1.0, "BLOCKED_ENTITY", "hard_rule:blocklist", {"customer_id": fs.customer_id}
    )


def velocity_rule(fs: FeatureSet, policy: DecisionPolicy, lists: ListLookup) -> RuleHit | None:
    """One-hour spend above the policy's limit is declined."""
    velocity_1h = as_number(fs.get("customer_risk", "velocity_1h"))
    if velocity_1h is None or velocity_1h <= policy.velocity_1h_limit:
        return None
    inputs = {"velocity_1h": velocity_1h, "velocity_1h_limit": policy.velocity_1h_limit}
    return RuleHit(DecisionAction.DECLINE, 0.95, "VELOCITY_EXCEEDED", "hard_rule:velocity_limit", inputs)


def geo_rule(fs: FeatureSet, policy: DecisionPolicy, lists: ListLookup) -> RuleHit | None:
    """An international transaction on an account that (almost) never goes abroad is challenged."""
    ratio = as_number(fs.get("customer_risk", "international_ratio"))
    if ratio is None or as_flag(fs.get("transaction_context", "is_international")) is not True:
        return None
    if ratio >= policy.geo_min_international_ratio:
        return None
    inputs = {"international_ratio": ratio, "geo_min_international_ratio": policy.geo_min_international_ratio}
    return RuleHit(DecisionAction.CHALLENGE, 0.50, "UNUSUAL_GEO", "hard_rule:geo", inputs)


Rule = Callable[[FeatureSet, DecisionPolicy, ListLookup], "RuleHit | None"]

#: The hard rules in the order they run.
HARD_RULES: tuple[Rule, ...] = (blocklist_rule, velocity_rule, geo_rule)


def first_hard_rule(fs: FeatureSet, policy: DecisionPolicy, lists: ListLookup) -> RuleHit | None:
    """The first hard rule that fires, or None."""
    for rule in HARD_RULES:
        hit = rule(fs, policy, lists)
        if hit is not None:
            return hit
    return None
