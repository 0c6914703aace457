"""Every API error is JSON ``{"error": {"code", "message", "fields"}}`` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from decisioning.contracts import ContractError

logger = logging.getLogger("fde.api")

DB_RETRY_AFTER_SECONDS = 5

_CODES = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "service_unavailable",
}


class ApiError(exceptions.APIException):
    """An error with an explicit code, status and field messages."""

    def __init__(self, *, status_code: int, code: str, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields or {}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> Any:
    """DRF's nested ErrorDetail structures as plain strings / dicts."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat = [_flatten(item) for item in detail]
        return flat[0] if len(flat) == 1 and isinstance(flat[0], str) else flat
    return str(detail)


def fde_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ApiError):
        response = Response(error_body(exc.error_code, str(exc.detail), exc.fields), status=exc.status_code)
        if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            response["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, ContractError):
        return Response(error_body("invalid_request", exc.message, exc.fields), status=400)
    if isinstance(exc, DataError):  # a value the database cannot hold (NUL bytes, out of range)
        return Response(error_body("invalid_request", "A value in the request cannot be stored."), status=400)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return database_unavailable_response()
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        return Response(error_body("invalid_request", "The request body is invalid.", fields), status=400)
    drf_response = exception_handler(exc, context)
    if drf_response is not None:
        code = _CODES.get(drf_response.status_code, "error")
        detail = getattr(exc, "detail", None) or drf_response.data
        if isinstance(exc, exceptions.ParseError):
            code = "malformed_json"
        if isinstance(exc, Http404):
            detail = "Not found."
        drf_response.data = error_body(code, str(_flatten(detail)))
        return drf_response
    if isinstance(exc, DatabaseError):
        logger.exception("database error in %s", context.get("view"))
        return database_unavailable_response()
    logger.exception("unexpected error in %s", context.get("view"))
    return Response(error_body("internal_error", "An unexpected error occurred."), status=500)


def database_unavailable_response() -> Response:
    response = Response(
        error_body("database_unavailable", "The database is unreachable; retry later."),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
    return response
