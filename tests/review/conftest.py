"""Fixtures for the review tests: role users and cases made by the real decision pipeline."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from decisioning.clients import internal_client
from decisioning.contracts import TransactionIn
from decisioning.policy import policy_activate
from decisioning.service import default_service
from review.models import ReviewCase

PASSWORD = "pw-for-tests-only"
_counter = itertools.count(1)

REVIEW_FEATURES = {
    "customer_risk": {
        "credit_score": 700,
        "fraud_score_30d": 0.3,
        "account_age_months": 12,
        "dispute_count_90d": 1,
        "velocity_1h": 900.0,
        "velocity_24h": 2400.0,
        "international_ratio": 0.4,
    },
    "spend_behaviour": {
        "avg_txn_amount_30d": 45.0,
        "std_txn_amount_30d": 20.0,
        "top_mcc": "5411",
        "unique_merchants_7d": 9,
        "weekend_spend_ratio": 0.3,
    },
}


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """A user holding the given role groups (none → signed in without any FDE role)."""

    def make(username: str, *roles: str) -> User:
        user = User.objects.create_user(username=username, password=PASSWORD)
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def signed_in(make_user: Callable[..., User]) -> Callable[..., Client]:
    """A Django test client signed in as a new user with the given roles."""

    def sign_in(username: str, *roles: str) -> Client:
        client = Client()
        client.force_login(make_user(username, *roles))
        return client

    return sign_in


def transaction_in(**overrides: Any) -> TransactionIn:
    number = next(_counter)
    fields: dict[str, Any] = {
        "request_id": f"req-review-{number}",
        "transaction_id": f"txn-review-{number}",
        "customer_id": f"cust-new-{number}",
        "amount": Decimal("250.00"),
        "timestamp": datetime(2026, 12, 1, 14, 5, tzinfo=UTC),
        "merchant_id": "m-electronics",
        "merchant_name": "Gadget Hut",
        "mcc": "5732",
        "country": "US",
    }
    fields.update(overrides)
    fields["amount"] = Decimal(str(fields["amount"]))
    return TransactionIn(**fields)


def decide(txn: TransactionIn) -> ReviewCase:
    """Run the real pipeline; the transaction must go to review."""
    result = default_service().process(txn, client=internal_client())
    assert result.case_id is not None, f"expected review, got {result.action}"
    return ReviewCase.objects.get(pk=result.case_id)


@pytest.fixture
def fallback_case(db: None) -> Callable[..., ReviewCase]:
    """Cases for customers with no stored features: REVIEW, INSUFFICIENT_FEATURES, no SHAP."""

    def make(**overrides: Any) -> ReviewCase:
        return decide(transaction_in(**overrides))

    return make


@pytest.fixture
def model_review_policy(db: None) -> None:
    """A policy under which every model score goes to review (decline only at 1.0)."""
    policy_activate(
        version="review-everything",
        changes={"decline_threshold": 1.0, "review_threshold": 0.0, "challenge_threshold": 0.0},
        actor="test",
    )


@pytest.fixture
def model_case(active_model: Any, feature_store: Any, model_review_policy: None) -> Callable[..., ReviewCase]:
    """Model-driven review cases with a SHAP explanation (features stored for the customer)."""

    def make(**overrides: Any) -> ReviewCase:
        txn = transaction_in(**overrides)
        now = datetime.now(UTC)
        for group, values in REVIEW_FEATURES.items():
            feature_store.write_group(group, txn.customer_id, values, now)  # type: ignore[attr-defined]
        return decide(txn)

    return make
