"""Admin of the decisioning app: the outbox, with its dead letters and a retry action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from decisioning.execution.outbox import outbox_retry_dead
from decisioning.models import AsyncRequest, OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Filter on status ``dead`` for the dead-letter list; select rows and run "Retry delivery"."""

    list_display = ["id", "kind", "status", "attempts", "max_attempts", "last_status_code", "url", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["idempotency_key", "decision__request_id", "url"]
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["retry_delivery"]
    ordering = ["-created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows are written by the Execution layer only

    def has_delete_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        return False

    @admin.action(description="Retry delivery (dead letters: a fresh set of attempts)")
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox_retry_dead(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} dead letter(s) queued for delivery again.", messages.SUCCESS)


@admin.register(AsyncRequest)
class AsyncRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "record", "enqueued_at", "enqueue_count", "error", "created_at"]
    search_fields = ["record__request_id"]
    readonly_fields = [field.name for field in AsyncRequest._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
