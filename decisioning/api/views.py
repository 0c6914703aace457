"""The systems API (v1). Views validate input and call services; they hold no business rules."""

from __future__ import annotations

import re
from typing import Any

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from decisioning.contracts import (
    AuthMethod,
    Channel,
    ContractError,
    ExecutionResult,
    TransactionIn,
)
from decisioning.execution.errors import ExecutionFailed, IdempotencyConflict
from decisioning.execution.idempotency import request_hash
from decisioning.execution.layer import RecordPending
from decisioning.explain import explanation_for
from decisioning.features.services import write_group
from decisioning.features.store import StoreUnavailable
from decisioning.lists import LIST_NAME_PATTERN, list_entry_add, list_entry_remove
from decisioning.models import ApiClient, DecisionRecord
from decisioning.service import default_service

from .authentication import ClientPrincipal, request_client
from .exceptions import ApiError
from .permissions import CanReadDecisions, IsSystemClient
from .serializers import (
    IDENTIFIER,
    DecisionResponseSerializer,
    ErrorSerializer,
    FeatureWriteSerializer,
    ListEntrySerializer,
    TransactionRequestSerializer,
)

ERRORS = {code: OpenApiResponse(ErrorSerializer, description=text) for code, text in {
    400: "Invalid body: each bad field is named in error.fields.",
    401: "Missing or invalid token.",
    403: "Not allowed for this client or role.",
    409: "request_id reused with a different body.",
    413: "Body over the size limit.",
    415: "Content type is not application/json.",
    429: "Throttled; see Retry-After.",
    503: "Database unreachable or execution failed; see Retry-After.",
}.items()}  # fmt: skip


def decision_response(result: ExecutionResult, request: Request) -> dict[str, Any]:
    """The API's view of an ExecutionResult."""
    return {
        "request_id": result.request_id,
        "decision": result.decision.value,
        "action": result.action.value,
        "reference_id": result.reference_id,
        "fraud_score": result.fraud_score,
        "reason_codes": list(result.reason_codes),
        "audit_trail_id": result.audit_trail_id,
        "model_version": result.model_version,
        "policy_applied": result.policy_applied,
        "is_model_driven": result.is_model_driven,
        "degraded": result.degraded,
        "idempotent_replay": result.is_idempotent,
        "case_id": result.case_id,
        "decided_at": result.decided_at.isoformat() if result.decided_at else None,
        "explanation_url": request.build_absolute_uri(reverse("api-explain", args=[result.request_id])),
    }


def _client(request: Request) -> ApiClient:
    client = request_client(request)
    if client is None:  # permission classes make this unreachable; keep the type honest
        raise ApiError(status_code=403, code="permission_denied", message="An API token is required.")
    return client


def transaction_from_request(data: dict[str, Any], provided: set[str]) -> tuple[TransactionIn, str]:
    """The contract and the idempotency hash of a validated body.

    The hash covers every field with its default applied, except a timestamp the caller did
    not send (it defaults to now, which would differ on every retry).
    """
    hashed = {key: value for key, value in data.items() if key != "timestamp" or "timestamp" in provided}
    timestamp = data.get("timestamp") or timezone.now()
    txn = TransactionIn(
        request_id=data["request_id"],
        transaction_id=data["transaction_id"],
        customer_id=data["customer_id"],
        amount=data["amount"],
        timestamp=timestamp,
        currency=data["currency"],
        merchant_id=data.get("merchant_id", ""),
        merchant_name=data.get("merchant_name", ""),
        mcc=data.get("mcc", ""),
        country=data["country"],
        card_country=data["card_country"],
        channel=Channel(data["channel"]),
        device_known=data["device_known"],
        ip_matches_billing=data["ip_matches_billing"],
        auth_method=AuthMethod(data["auth_method"]),
    )
    return txn, request_hash(hashed)


def validated_transaction(request: Request) -> tuple[TransactionIn, str]:
    """The transaction contract and idempotency hash of a POSTed body, or a 400."""
    serializer = TransactionRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    provided = set(request.data) if isinstance(request.data, dict) else set()
    try:
        return transaction_from_request(dict(serializer.validated_data), provided)
    except ContractError as exc:
        raise ApiError(status_code=400, code="invalid_request", message=exc.message, fields=exc.fields) from exc


def conflict_error(exc: IdempotencyConflict) -> ApiError:
    """The 409 for a request id reused with another body."""
    return ApiError(
        status_code=409, code="idempotency_conflict",
        message=f"request_id {exc.request_id!r} was already used with a different body.",
        fields={"request_id": "already used with a different body", "audit_trail_id": exc.audit_trail_id},
    )  # fmt: skip


class TransactionCreateView(APIView):
    permission_classes = [IsSystemClient]

    @extend_schema(
        operation_id="decide_transaction",
        summary="Decide one card transaction synchronously",
        description=(
            "Runs the Feature, Decision and Execution layers and returns the action taken. "
            "Safe to retry with the same request_id and body: the stored result comes back with "
            "`idempotent_replay: true`. The same request_id with another body is refused (409)."
        ),
        request=TransactionRequestSerializer,
        responses={200: DecisionResponseSerializer, **ERRORS},
        tags=["transactions"],
    )
    def post(self, request: Request) -> Response:
        txn, body_hash = validated_transaction(request)
        try:
            result = default_service().process(txn, client=_client(request), request_hash=body_hash)
        except IdempotencyConflict as exc:
            raise conflict_error(exc) from exc
        except RecordPending as exc:
            raise ApiError(
                status_code=409, code="request_pending", message="This request is still being decided.",
                fields={"request_id": exc.record.request_id},
            ) from exc  # fmt: skip
        except ExecutionFailed as exc:
            error = ApiError(
                status_code=503, code="execution_failed",
                message="The decision could not be executed; nothing was applied. Retry later.",
                fields={"audit_trail_id": exc.audit_trail_id},
            )  # fmt: skip
            raise error from exc
        return Response(decision_response(result, request), status=status.HTTP_200_OK)


class TransactionDetailView(APIView):
    permission_classes = [CanReadDecisions]

    @extend_schema(
        operation_id="get_transaction_decision",
        summary="The stored decision of one request",
        responses={200: DecisionResponseSerializer, 404: ERRORS[403], **ERRORS},
        tags=["transactions"],
    )
    def get(self, request: Request, request_id: str) -> Response:
        record = (
            _readable_records(request).filter(request_id=_known_request_id(request_id), execution__isnull=False).first()
        )
        if record is None or record.execution is None:
            raise ApiError(status_code=404, code="not_found", message=f"No decision for request_id {request_id!r}.")
        return Response(decision_response(ExecutionResult.from_dict(record.execution), request))


def _known_request_id(request_id: str) -> str:
    """A path request id that could exist; anything else is simply not found."""
    if not re.match(IDENTIFIER, request_id):
        raise ApiError(status_code=404, code="not_found", message="No decision for that request_id.")
    return request_id


def _readable_records(request: Request) -> Any:
    """API clients see their own decisions; signed-in readers see all."""
    records = DecisionRecord.objects.order_by("-created_at")
    client = request_client(request)
    return records.filter(client=client) if client is not None else records


class ExplainView(APIView):
    permission_classes = [CanReadDecisions]

    @extend_schema(
        operation_id="explain_decision",
        summary="Why a transaction was decided as it was",
        description="Features used, SHAP contributions frozen at decision time, rule or model, and the audit trail.",
        responses={200: OpenApiResponse(description="Explanation document"), **ERRORS},
        tags=["transactions"],
    )
    def get(self, request: Request, request_id: str) -> Response:
        record = (
            _readable_records(request).filter(request_id=_known_request_id(request_id), decision__isnull=False).first()
        )
        if record is None:
            raise ApiError(status_code=404, code="not_found", message=f"No decision for request_id {request_id!r}.")
        return Response(explanation_for(record))


class FeatureWriteView(APIView):
    permission_classes = [IsSystemClient]

    @extend_schema(
        operation_id="write_features",
        summary="Write online features for one entity (push path of the feature store)",
        request=FeatureWriteSerializer,
        responses={200: OpenApiResponse(description="Stored values"), **ERRORS},
        tags=["features"],
    )
    def put(self, request: Request, group: str, entity_id: str) -> Response:
        serializer = FeatureWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            stored = write_group(group, entity_id, data["values"], data.get("computed_at"))
        except StoreUnavailable as exc:
            error = ApiError(
                status_code=503, code="feature_store_unavailable",
                message="The online feature store is unreachable; nothing was written. Retry later.",
            )  # fmt: skip
            raise error from exc
        body = {"group": group, "entity_id": entity_id, "values": stored.values}
        return Response({**body, "computed_at": stored.computed_at.isoformat()})


def _check_list_name(name: str) -> None:
    if not LIST_NAME_PATTERN.match(name):
        raise ApiError(
            status_code=400, code="invalid_request", message="Invalid list name.",
            fields={"name": "lowercase letters, digits and _; starts with a letter"},
        )  # fmt: skip


def _actor(request: Request) -> str:
    user = request.user
    return user.username if isinstance(user, ClientPrincipal) else f"user:{user.get_username()}"


class ListEntriesView(APIView):
    permission_classes = [IsSystemClient]

    @extend_schema(
        operation_id="add_list_entry",
        summary="Add a value to a named list (e.g. a customer to the blocklist)",
        description="Takes effect on the next decision; audited. Adding an existing value returns 200.",
        request=ListEntrySerializer,
        responses={201: ListEntrySerializer, 200: ListEntrySerializer, **ERRORS},
        tags=["lists"],
    )
    def post(self, request: Request, name: str) -> Response:
        _check_list_name(name)
        serializer = ListEntrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry, created = list_entry_add(
            list_name=name, value=serializer.validated_data["value"], reason=serializer.validated_data["reason"],
            actor=_actor(request),
        )  # fmt: skip
        body = {"list": name, "value": entry.value, "reason": entry.reason, "created_at": entry.created_at}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ListEntryDetailView(APIView):
    permission_classes = [IsSystemClient]

    @extend_schema(
        operation_id="remove_list_entry",
        summary="Remove a value from a named list",
        responses={204: None, **ERRORS},
        tags=["lists"],
    )
    def delete(self, request: Request, name: str, value: str) -> Response:
        _check_list_name(name)
        if not list_entry_remove(list_name=name, value=value, actor=_actor(request)):
            raise ApiError(status_code=404, code="not_found", message=f"{value!r} is not on list {name!r}.")
        return Response(status=status.HTTP_204_NO_CONTENT)
