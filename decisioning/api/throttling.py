"""Per-client throttling (429 with Retry-After)."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .authentication import request_client

logger = logging.getLogger("fde.api")


class ClientRateThrottle(SimpleRateThrottle):
    """One bucket per API client (or per signed-in user, or per IP when anonymous)."""

    scope = "client"

    def get_cache_key(self, request: Request, view: Any) -> str:
        client = request_client(request)
        if client is not None:
            ident = f"client-{client.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        """Throttle with the shared cache; if the cache is down, let the request through (logged)."""
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("throttle cache unavailable; request not throttled", exc_info=True)
            return True
