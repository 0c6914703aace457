"""Score bands: policy, not model. A score exactly on a threshold belongs to the higher band."""

from __future__ import annotations

from decisioning.contracts import DecisionAction, FeatureSet
from decisioning.decision.policy import DecisionPolicy
from decisioning.decision.vector import as_number


def action_for_score(score: float, policy: DecisionPolicy) -> DecisionAction:
    """decline ≥ decline_threshold, review ≥ review_threshold, challenge ≥ challenge_threshold, else approve."""
    if score >= policy.decline_threshold:
        return DecisionAction.DECLINE
    if score >= policy.review_threshold:
        return DecisionAction.REVIEW
    if score >= policy.challenge_threshold:
        return DecisionAction.CHALLENGE
    return DecisionAction.APPROVE


def policy_applied_for(action: DecisionAction) -> str:
    """The ``policy_applied`` label of a threshold band, e.g. ``threshold:decline``."""
    return f"threshold:{action.value}"


#: Actions from least to most severe: a floor only ever moves a decision up this list.
_SEVERITY = (DecisionAction.APPROVE, DecisionAction.CHALLENGE, DecisionAction.REVIEW, DecisionAction.DECLINE)


def more_severe(action: DecisionAction, than: DecisionAction) -> bool:
    """Whether ``action`` is stricter than ``than`` (approve < challenge < review < decline)."""
    return _SEVERITY.index(action) > _SEVERITY.index(than)


def known_fraud_floor(fs: FeatureSet, policy: DecisionPolicy) -> DecisionAction | None:
    """The least severe action the policy allows for this customer (recent known fraud), or None."""
    if policy.known_fraud_floor == "off":
        return None
    risk = as_number(fs.get("customer_risk", "fraud_score_30d"))
    if risk is None or risk < policy.known_fraud_score_30d:
        return None
    return DecisionAction(policy.known_fraud_floor)


def apply_floor(action: DecisionAction, floor: DecisionAction | None) -> DecisionAction:
    """``action`` raised to ``floor`` when the floor is stricter (live decisions and replays alike)."""
    return floor if floor is not None and more_severe(floor, action) else action
