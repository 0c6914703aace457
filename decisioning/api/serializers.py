"""Request and response shapes of the systems API (validation only; services do the work)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from decisioning.contracts import MAX_AMOUNT, AuthMethod, Channel, DecisionAction, ExecutionAction


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an explicit offset; a naive time is refused rather than guessed."""

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is None:
                self.fail("invalid", format="ISO 8601, e.g. 2026-12-04T14:05:00Z")
            if parsed.tzinfo is None:
                raise serializers.ValidationError("Must include a time zone (e.g. 2026-12-04T14:05:00Z).")
            return parsed
        if not isinstance(value, datetime):
            self.fail("invalid", format="ISO 8601, e.g. 2026-12-04T14:05:00Z")
        return super().to_internal_value(value)


IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"


class StrictRegexField(serializers.RegexField):
    """A string field that refuses numbers and booleans instead of coercing them to text."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.")
        return super().to_internal_value(data)


def _identifier(help_text: str, *, required: bool = True) -> serializers.RegexField:
    return StrictRegexField(
        IDENTIFIER, required=required, help_text=help_text, allow_blank=not required,
        error_messages={"invalid": "Must be 1-128 characters: letters, digits, _ . : -"},
    )  # fmt: skip


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Card-present purchase",
            value={
                "request_id": "pos-2026-12-04-000123",
                "transaction_id": "txn_8f2a91",
                "customer_id": "cust_00042",
                "amount": "42.50",
                "currency": "USD",
                "merchant_id": "m_0107",
                "mcc": "5411",
                "country": "US",
                "channel": "pos",
                "device_known": True,
                "ip_matches_billing": True,
                "auth_method": "chip",
                "timestamp": "2026-12-04T14:05:00Z",
            },
            request_only=True,
        )
    ]
)
class TransactionRequestSerializer(serializers.Serializer[Any]):
    request_id = _identifier("Your idempotency key: unique per API client; a retry reuses it.")
    transaction_id = _identifier("The payment system's transaction id.")
    customer_id = _identifier("The cardholder / account id.")
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_AMOUNT,
        help_text="Amount in `currency`: a decimal > 0 with at most two places (string or number).",
    )  # fmt: skip
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, default="USD", help_text="ISO 4217 code.",
        error_messages={"invalid": "Must be an ISO 4217 code such as USD."},
    )  # fmt: skip
    merchant_id = _identifier("The merchant (acceptor) id.", required=False)
    merchant_name = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Display name.")
    mcc = serializers.RegexField(
        r"^[0-9]{4}$", required=False, allow_blank=True, help_text="ISO 18245 merchant category code.",
        error_messages={"invalid": "Must be four digits."},
    )  # fmt: skip
    country = serializers.RegexField(
        r"^[A-Z]{2}$", required=False, default="US", help_text="ISO 3166 alpha-2 country of the merchant.",
        error_messages={"invalid": "Must be an ISO 3166 alpha-2 code such as US."},
    )  # fmt: skip
    card_country = serializers.RegexField(
        r"^[A-Z]{2}$", required=False, default="US", help_text="ISO 3166 alpha-2 country of the card issuer.",
        error_messages={"invalid": "Must be an ISO 3166 alpha-2 code such as US."},
    )  # fmt: skip
    channel = serializers.ChoiceField(
        choices=[c.value for c in Channel], required=False, default="pos", help_text="pos, web, mobile or api."
    )
    device_known = serializers.BooleanField(required=False, default=True, help_text="Device fingerprint known.")
    ip_matches_billing = serializers.BooleanField(required=False, default=True, help_text="IP in billing country.")
    auth_method = serializers.ChoiceField(
        choices=[a.value for a in AuthMethod],
        required=False,
        default="chip",
        help_text="How the cardholder authenticated.",
    )
    timestamp = AwareDateTimeField(required=False, help_text="ISO 8601 event time with a time zone; defaults to now.")


class DecisionResponseSerializer(serializers.Serializer[Any]):
    request_id = serializers.CharField()
    decision = serializers.ChoiceField(choices=[a.value for a in DecisionAction], help_text="The final decision.")
    action = serializers.ChoiceField(choices=[a.value for a in ExecutionAction], help_text="What was done.")
    reference_id = serializers.CharField(allow_null=True, help_text="Authorisation, decline, case or challenge id.")
    fraud_score = serializers.FloatField(help_text="0..1")
    reason_codes = serializers.ListField(child=serializers.CharField(), help_text="At most four.")
    audit_trail_id = serializers.CharField(help_text="The audit event recording this execution.")
    model_version = serializers.CharField(allow_null=True)
    policy_applied = serializers.CharField(help_text="Hard rule or threshold band that decided.")
    is_model_driven = serializers.BooleanField()
    degraded = serializers.BooleanField(help_text="A fallback was used; never an approval by default.")
    idempotent_replay = serializers.BooleanField(help_text="True when this is the stored result of a retry.")
    case_id = serializers.IntegerField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    explanation_url = serializers.CharField()


class FeatureWriteSerializer(serializers.Serializer[Any]):
    values = serializers.DictField(help_text="Feature name → value; names must belong to the group.")
    computed_at = AwareDateTimeField(required=False, help_text="When the values were computed; default now.")


class ListEntrySerializer(serializers.Serializer[Any]):
    value = _identifier("The list member, e.g. a customer id for the blocklist.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class ErrorSerializer(serializers.Serializer[Any]):
    """``{"error": {"code": …, "message": …, "fields": {…}}}``"""

    error = serializers.DictField()
