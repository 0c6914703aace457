"""The reasons an analyst may give for a resolution, and the outcome each one records.

Policy as data: adding a reason is one line here. Each reason fixes the feedback outcome, so the
label used for retraining follows from what the analyst established, not a second free choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from decisioning.models import FeedbackEvent


@dataclass(frozen=True, slots=True)
class ResolutionReason:
    code: str
    label: str
    resolution: str  #: ``approve`` or ``decline``
    outcome: str  #: a FeedbackEvent.Outcome value


_REASONS = (
    ResolutionReason("customer_confirmed", "Customer confirmed the transaction", "approve",
                     FeedbackEvent.Outcome.LEGITIMATE),
    ResolutionReason("consistent_history", "Consistent with the customer's history", "approve",
                     FeedbackEvent.Outcome.LEGITIMATE),
    ResolutionReason("false_positive", "Model false positive (explained signal is benign)", "approve",
                     FeedbackEvent.Outcome.LEGITIMATE),
    ResolutionReason("customer_denied", "Customer denied making the transaction", "decline",
                     FeedbackEvent.Outcome.FRAUD_CONFIRMED),
    ResolutionReason("known_fraud_pattern", "Matches a known fraud pattern", "decline",
                     FeedbackEvent.Outcome.FRAUD_CONFIRMED),
    ResolutionReason("account_takeover", "Account takeover evidence", "decline",
                     FeedbackEvent.Outcome.FRAUD_CONFIRMED),
    ResolutionReason("dispute_filed", "Customer disputes it (chargeback filed)", "decline",
                     FeedbackEvent.Outcome.DISPUTED),
)  # fmt: skip

RESOLUTION_REASONS: Mapping[str, ResolutionReason] = {reason.code: reason for reason in _REASONS}


def reasons_for(resolution: str) -> list[ResolutionReason]:
    return [reason for reason in _REASONS if reason.resolution == resolution]
