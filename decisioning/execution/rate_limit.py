"""Per-customer decline rate limit: after N declines in a window the next goes to review.

Declines are counted in the online store as a windowed counter whose members are request ids,
so a replayed request can never count twice. Counting uses event time (the transaction's own
timestamp) so history replays behave like live traffic.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from decisioning.contracts import DecisionAction, DecisionResult

logger = logging.getLogger("fde.execution")

RATE_LIMIT_REASON = "DECLINE_RATE_LIMITED"
#: Declines the limit never softens: a person put this customer on the blocklist on purpose.
EXEMPT_POLICIES = frozenset({"hard_rule:blocklist"})


class CounterStore(Protocol):
    def counter_add(self, counter: str, member: str, at: datetime) -> bool: ...

    def counter_count(self, counter: str, since: datetime, until: datetime) -> int: ...


class DeclineRateLimiter:
    def __init__(self, store: CounterStore, *, limit: int, window: timedelta) -> None:
        self.store = store
        self.limit = limit
        self.window = window

    @staticmethod
    def counter_name(customer_id: str) -> str:
        return f"declines:{customer_id}"

    def apply(self, decision: DecisionResult, *, customer_id: str, at: datetime) -> DecisionResult:
        """Turn a would-be decline into a review when the customer hit the limit.

        If the counter cannot be read the decline stands: failing open here would only
        ever turn declines into reviews, and the store failure is logged.
        """
        if decision.action is not DecisionAction.DECLINE or decision.policy_applied in EXEMPT_POLICIES:
            return decision
        try:
            recent = self.store.counter_count(self.counter_name(customer_id), at - self.window, at)
        except Exception:
            logger.exception("decline counter unreadable for customer %s; decline stands", customer_id)
            return decision
        if recent < self.limit:
            return decision
        return replace(
            decision,
            action=DecisionAction.REVIEW,
            reason_codes=(RATE_LIMIT_REASON, *decision.reason_codes)[:4],
            policy_applied="rate_limit:declines",
            metadata={**decision.metadata, "rate_limited_from": decision.action.value, "recent_declines": recent},
        )

    def record(self, *, customer_id: str, request_id: str, at: datetime) -> None:
        """Count one executed decline (called after the decision commits)."""
        try:
            self.store.counter_add(self.counter_name(customer_id), request_id, at)
        except Exception:
            logger.exception("could not count decline %s for customer %s", request_id, customer_id)
