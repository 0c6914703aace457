"""The asynchronous transaction API: accept now (202), decide on Celery, poll or get a signed callback.

Same validation, error handling and idempotency as ``POST /api/v1/transactions``; the views only
validate and call ``decisioning.execution.pipeline``.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from decisioning.contracts import ExecutionResult
from decisioning.execution.errors import IdempotencyConflict
from decisioning.execution.pipeline import async_status, async_submit
from decisioning.models import DecisionRecord

from .exceptions import ApiError
from .permissions import CanReadDecisions, IsSystemClient
from .serializers import DecisionResponseSerializer, TransactionRequestSerializer
from .views import ERRORS, _client, _readable_records, conflict_error, decision_response, validated_transaction


class AsyncStatusSerializer(serializers.Serializer[Any]):
    """The status document of an asynchronous request."""

    request_id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["pending", "decided", "failed"],
        help_text="pending: accepted, not decided yet; decided: `result` is set; failed: `error` says why.",
    )
    status_url = serializers.CharField(help_text="GET this URL to poll.")
    result = DecisionResponseSerializer(allow_null=True, help_text="The decision once decided, else null.")
    error = serializers.CharField(allow_null=True, help_text="Why the pipeline refused the request (status failed).")


def status_document(
    record: DecisionRecord, request: Request, replayed: ExecutionResult | None = None
) -> dict[str, Any]:
    """The API's view of an asynchronous request (``replayed``: the stored result of a retry)."""
    state, result, error = async_status(record)
    result = replayed or result
    return {
        "request_id": record.request_id,
        "status": state,
        "status_url": request.build_absolute_uri(reverse("api-transaction-async-status", args=[record.request_id])),
        "result": None if result is None else decision_response(result, request),
        "error": error or None,
    }


class AsyncTransactionCreateView(APIView):
    permission_classes = [IsSystemClient]

    @extend_schema(
        operation_id="submit_transaction_async",
        summary="Accept one card transaction and decide it asynchronously",
        description=(
            "Validates like `POST /api/v1/transactions`, records the request as pending and returns "
            "**202** with `status_url` (also in `Location`); the Feature, Decision and Execution layers "
            "then run on Celery. Poll `status_url`, or set the client's `callback_url` to receive the "
            "result as a POST signed with `X-FDE-Signature: sha256=<HMAC-SHA256 of the body with the "
            "client's callback secret>` and an `Idempotency-Key` header (delivered at least once). "
            "Retrying with the same request_id and body returns 202 while pending and 200 with the "
            "stored decision once decided; the same request_id with another body is refused (409)."
        ),
        request=TransactionRequestSerializer,
        responses={202: AsyncStatusSerializer, 200: AsyncStatusSerializer, **ERRORS},
        tags=["transactions"],
    )
    def post(self, request: Request) -> Response:
        txn, body_hash = validated_transaction(request)
        try:
            submission = async_submit(client=_client(request), txn=txn, request_hash=body_hash)
        except IdempotencyConflict as exc:
            raise conflict_error(exc) from exc
        submission.record.refresh_from_db()  # eager mode may have decided it already
        body = status_document(submission.record, request, submission.result)
        code = status.HTTP_202_ACCEPTED if body["status"] == "pending" else status.HTTP_200_OK
        return Response(body, status=code, headers={"Location": body["status_url"]})


class AsyncTransactionStatusView(APIView):
    permission_classes = [CanReadDecisions]

    @extend_schema(
        operation_id="get_transaction_async_status",
        summary="Status of an asynchronous request: pending, decided (with the result) or failed",
        responses={200: AsyncStatusSerializer, 404: OpenApiResponse(description="Unknown request_id"), **ERRORS},
        tags=["transactions"],
    )
    def get(self, request: Request, request_id: str) -> Response:
        record = _readable_records(request).filter(request_id=request_id).first()
        if record is None:
            raise ApiError(status_code=404, code="not_found", message=f"No request with request_id {request_id!r}.")
        return Response(status_document(record, request))
