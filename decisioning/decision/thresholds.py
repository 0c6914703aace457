"""Score bands: policy, not model. A score exactly on a threshold belongs to the higher band."""

from __future__ import annotations

from decisioning.contracts import DecisionAction
from decisioning.decision.policy import DecisionPolicy


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
