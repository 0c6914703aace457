"""Outbox models (asynchronous layers): calls to other systems, delivered after commit."""

__all__: list[str] = []
