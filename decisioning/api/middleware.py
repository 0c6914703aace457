"""Guards that run before DRF: body size (413), JSON 404s and 503 when the database is down."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .exceptions import DB_RETRY_AFTER_SECONDS, error_body

API_PREFIX = "/api/"


class ApiGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        too_large = self._too_large(request)
        if too_large is not None:
            return too_large
        response = self.get_response(request)
        if response.status_code == 404 and not response.get("Content-Type", "").startswith("application/json"):
            return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
        return response

    @staticmethod
    def _too_large(request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("invalid_request", "Invalid Content-Length header."), status=400)
        if length > settings.FDE_MAX_BODY_BYTES:
            message = f"The body is {length} bytes; the limit is {settings.FDE_MAX_BODY_BYTES}."
            return JsonResponse(error_body("payload_too_large", message), status=413)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX) or not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        body = error_body("database_unavailable", "The database is unreachable; retry later.")
        response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
        response["Retry-After"] = str(DB_RETRY_AFTER_SECONDS)
        return response
