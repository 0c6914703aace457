"""Errors raised by the Execution layer."""

from __future__ import annotations


class IdempotencyConflict(Exception):
    """The request id was used before with a different request body."""

    def __init__(self, request_id: str, audit_trail_id: str) -> None:
        super().__init__(f"request_id {request_id!r} was already used with a different body")
        self.request_id = request_id
        self.audit_trail_id = audit_trail_id


class ExecutionFailed(Exception):
    """Dispatch failed; nothing was written except the audit event of the failure."""

    def __init__(self, request_id: str, audit_trail_id: str, cause: str) -> None:
        super().__init__(f"execution of {request_id!r} failed: {cause}")
        self.request_id = request_id
        self.audit_trail_id = audit_trail_id
        self.cause = cause
