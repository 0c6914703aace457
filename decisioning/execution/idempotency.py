"""Idempotency keys: ``(client, request_id)`` plus a hash of the request body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from decisioning.contracts import TransactionIn


def request_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a request body (keys sorted, no whitespace)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def transaction_hash(txn: TransactionIn) -> str:
    """The hash of a transaction contract (used when no raw body is available)."""
    data = txn.to_dict()
    data.pop("schema_version", None)
    return request_hash(data)
