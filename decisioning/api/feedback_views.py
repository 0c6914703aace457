"""``POST /api/v1/feedback``: outcome events from systems (chargeback feeds …) and signed-in analysts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from decisioning.feedback import feedback_record
from decisioning.models import ApiClient, DecisionRecord, FeedbackEvent
from fde_site.roles import CASE_WORKERS, has_role

from .authentication import ClientPrincipal, request_client
from .exceptions import ApiError
from .serializers import ErrorSerializer

ANALYST_SOURCE = "analyst"  # the review UI's source, so UI and API outcomes share one key space
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"


class IsSystemClientOrAnalyst(permissions.BasePermission):
    """A system API client, or a signed-in user who works cases."""

    message = "Only system API clients and signed-in analysts may record outcomes."

    def has_permission(self, request: Request, view: Any) -> bool:
        client = request_client(request)
        if client is not None:
            return client.role == ApiClient.Role.SYSTEM
        return has_role(request.user, *CASE_WORKERS)


class FeedbackSerializer(serializers.Serializer[Any]):
    event_id = serializers.RegexField(_ID, help_text="Your id of this outcome event; a resend is a no-op.")
    outcome = serializers.ChoiceField(choices=FeedbackEvent.Outcome.values)
    request_id = serializers.RegexField(_ID, required=False, help_text="The decided request (or transaction_id).")
    transaction_id = serializers.RegexField(_ID, required=False)
    occurred_at = serializers.DateTimeField(required=False, help_text="When the outcome happened (ISO 8601).")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("request_id")) == bool(attrs.get("transaction_id")):
            raise serializers.ValidationError({"request_id": "give exactly one of request_id or transaction_id"})
        return attrs


def _source_and_actor(request: Request) -> tuple[str, str]:
    client = request_client(request)
    if client is not None:
        return client.name, f"client:{client.name}"
    user = request.user
    name = user.username if isinstance(user, ClientPrincipal) else user.get_username()
    return ANALYST_SOURCE, f"user:{name}"


def _decision(data: dict[str, Any], client: ApiClient | None) -> DecisionRecord:
    """The one decided transaction the outcome is about; 404 when unknown, 400 when ambiguous."""
    if data.get("request_id"):
        records = DecisionRecord.objects.filter(request_id=data["request_id"])
    else:
        records = DecisionRecord.objects.filter(transaction_id=data["transaction_id"])
    records = records.filter(status=DecisionRecord.Status.DECIDED)
    if client is not None and records.filter(client=client).exists():
        records = records.filter(client=client)  # the caller's own transaction wins a shared id
    found = list(records[:2])
    if not found:
        key = "request_id" if data.get("request_id") else "transaction_id"
        raise ApiError(status_code=404, code="unknown_transaction", message="No decided transaction with that id.",
                       fields={key: "unknown"})  # fmt: skip
    if len(found) > 1:
        raise ApiError(status_code=400, code="ambiguous_transaction",
                       message="Several clients' transactions have that id; send it with that client's token.",
                       fields={"request_id": "ambiguous"})  # fmt: skip
    return found[0]


def feedback_response(event: FeedbackEvent, *, created: bool) -> dict[str, Any]:
    return {
        "source": event.source,
        "event_id": event.event_id,
        "outcome": event.outcome,
        "is_fraud": event.is_fraud,
        "request_id": event.request_id,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "duplicate": not created,
    }


class FeedbackCreateView(APIView):
    permission_classes = [IsSystemClientOrAnalyst]

    @extend_schema(
        operation_id="record_feedback",
        summary="Record an outcome (fraud confirmed, chargeback, legitimate, challenge passed/failed)",
        description=(
            "Idempotent per (source, event_id): the source is the API client's name (or `analyst`). "
            "The transaction must be a decided one. The outcome updates the customer's and merchant's "
            "online features at once and becomes a training label. A resend returns 200 and changes nothing."
        ),
        request=FeedbackSerializer,
        responses={201: OpenApiResponse(description="Recorded"), 200: OpenApiResponse(description="Duplicate"),
                   400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
        tags=["feedback"],
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        source, actor = _source_and_actor(request)
        decision = _decision(data, request_client(request))
        event, created = feedback_record(
            decision=decision, outcome=data["outcome"], source=source, event_id=data["event_id"], actor=actor,
            occurred_at=data.get("occurred_at"), note=data.get("note", ""),
        )  # fmt: skip
        if not created and (event.request_id != decision.request_id or event.outcome != data["outcome"]):
            raise ApiError(status_code=409, code="idempotency_conflict",
                           message="This event_id was already used for another outcome or transaction.",
                           fields={"event_id": "already used differently"})  # fmt: skip
        body = feedback_response(event, created=created)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
