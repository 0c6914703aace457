"""Group definitions: request-computed features and value validation (pure, no services)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from decisioning.contracts import AuthMethod, Channel
from decisioning.features.groups import (
    CUSTOMER_RISK,
    SPEND_BEHAVIOUR,
    FeatureValidationError,
    approximate_spend_behaviour,
    get_group,
    is_night,
    session_context,
    transaction_context,
)

from .conftest import CUSTOMER_RISK_VALUES, make_txn

NEW_YORK_WINTER = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ((21, 59, 59), False),
        ((22, 0, 0), True),  # night starts at 22:00 inclusive
        ((0, 0, 0), True),
        ((5, 59, 59), True),
        ((6, 0, 0), False),  # and ends at 06:00 exclusive
        ((12, 0, 0), False),
    ],
)
def test_is_night_boundaries(local_time: tuple[int, int, int], expected: bool) -> None:
    # Given a timestamp at that local time
    timestamp = datetime(2025, 3, 14, *local_time, tzinfo=UTC)
    # Then night is [22:00, 06:00)
    assert is_night(timestamp) is expected


def test_is_night_reads_the_transactions_own_offset_not_utc() -> None:
    # Given 23:30 in New York, which is 04:30 UTC the next day
    late_evening_local = datetime(2025, 3, 14, 23, 30, tzinfo=NEW_YORK_WINTER)
    # And 21:00 in New York, which is 02:00 UTC (night in UTC)
    evening_local = datetime(2025, 3, 14, 21, 0, tzinfo=NEW_YORK_WINTER)
    assert is_night(late_evening_local) is True
    assert is_night(evening_local) is False


def test_transaction_context_values() -> None:
    # Given an international online transaction at 22:00 local time
    txn = make_txn(
        amount=Decimal("99.99"),
        channel=Channel.WEB,
        country="FR",
        card_country="US",
        mcc="5732",
        timestamp=datetime(2025, 3, 14, 22, 0, tzinfo=UTC),
    )
    # When the context is computed
    context = transaction_context(txn)
    # Then every value is derived exactly from the request
    assert context == {
        "amount": 99.99,
        "amount_log": math.log1p(99.99),
        "is_international": True,
        "is_online": True,
        "is_night": True,
        "mcc": "5732",
        "merchant_country": "FR",
    }
    assert type(context["amount"]) is float


@pytest.mark.parametrize(
    ("channel", "expected"), [(Channel.POS, False), (Channel.WEB, True), (Channel.MOBILE, True), (Channel.API, True)]
)
def test_is_online_for_web_mobile_and_api(channel: Channel, expected: bool) -> None:
    assert transaction_context(make_txn(channel=channel))["is_online"] is expected


def test_amount_log_is_log1p_of_amount() -> None:
    assert transaction_context(make_txn(amount=Decimal("1.00")))["amount_log"] == math.log(2.0)


def test_session_context_values() -> None:
    txn = make_txn(device_known=False, ip_matches_billing=True, auth_method=AuthMethod.THREE_DS)
    assert session_context(txn) == {"device_fingerprint_match": False, "ip_country_match": True, "auth_method": "3ds"}


def test_spend_approximation_uses_the_amount_as_the_average() -> None:
    txn = make_txn(amount=Decimal("250.00"), mcc="5999")
    assert approximate_spend_behaviour(txn) == {
        "avg_txn_amount_30d": 250.0,
        "std_txn_amount_30d": 120.0,
        "top_mcc": "5999",
        "unique_merchants_7d": 1,
        "weekend_spend_ratio": 0.29,
    }


def test_customer_risk_is_critical_and_never_synthesised() -> None:
    assert CUSTOMER_RISK.is_critical is True
    assert CUSTOMER_RISK.approximate is None
    assert CUSTOMER_RISK.population_default is None


def test_validate_normalises_numbers_to_float_and_keeps_integers() -> None:
    clean = CUSTOMER_RISK.validate({**CUSTOMER_RISK_VALUES, "credit_score": 700})
    assert clean["credit_score"] == 700.0
    assert type(clean["credit_score"]) is float
    assert type(clean["account_age_months"]) is int


def test_unknown_feature_lists_the_allowed_names() -> None:
    with pytest.raises(FeatureValidationError) as refused:
        SPEND_BEHAVIOUR.validate({"avg_txn_amount": 10.0})
    assert refused.value.fields == {
        "avg_txn_amount": "unknown feature; allowed: avg_txn_amount_30d, std_txn_amount_30d, top_mcc, "
        "unique_merchants_7d, weekend_spend_ratio"
    }


@pytest.mark.parametrize(
    ("feature", "value", "reason"),
    [
        ("credit_score", "700", "must be a number"),
        ("credit_score", True, "must be a number"),
        ("credit_score", math.nan, "must be finite"),
        ("account_age_months", 4.5, "must be an integer"),
        ("dispute_count_90d", -1, "must be at least 0"),
        ("international_ratio", 1.5, "must be at most 1"),
    ],
)
def test_wrong_types_and_ranges_are_refused(feature: str, value: object, reason: str) -> None:
    with pytest.raises(FeatureValidationError) as refused:
        CUSTOMER_RISK.validate({feature: value})
    assert refused.value.fields == {feature: reason}


def test_unknown_group_names_the_writable_groups() -> None:
    with pytest.raises(FeatureValidationError) as refused:
        get_group("transaction_context")
    assert refused.value.message == (
        "unknown feature group 'transaction_context'; "
        "writable groups: customer_risk, merchant_risk, spend_behaviour, spend_windows"
    )
