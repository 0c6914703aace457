"""The payment-gateway interface and the built-in adapter that records calls in the database.

A real deployment adds an HTTP adapter that writes outbox rows delivered after commit
(see the asynchronous layers); the Execution layer only sees this interface.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from decisioning.models import DecisionRecord, GatewayCall


class PaymentGateway(Protocol):
    """What the Execution layer asks of the payment rail. Called inside the decision's transaction."""

    def authorise(self, record: DecisionRecord) -> str: ...

    def decline(self, record: DecisionRecord, reason_codes: tuple[str, ...]) -> str: ...

    def challenge(self, record: DecisionRecord) -> str: ...


class DatabaseGateway:
    """Built-in adapter: records each call as a GatewayCall row and returns its reference."""

    def authorise(self, record: DecisionRecord) -> str:
        return self._record(record, GatewayCall.Kind.AUTHORISE, "auth", ())

    def decline(self, record: DecisionRecord, reason_codes: tuple[str, ...]) -> str:
        return self._record(record, GatewayCall.Kind.DECLINE, "dcl", reason_codes)

    def challenge(self, record: DecisionRecord) -> str:
        return self._record(record, GatewayCall.Kind.CHALLENGE, "chl", ())

    @staticmethod
    def _record(record: DecisionRecord, kind: str, prefix: str, reason_codes: tuple[str, ...]) -> str:
        reference = f"{prefix}_{uuid.uuid4().hex[:20]}"
        GatewayCall.objects.create(reference_id=reference, kind=kind, decision=record, reason_codes=list(reason_codes))
        return reference
