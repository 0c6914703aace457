"""Read-only admin views of the audit tables (nothing here can add, change or delete)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditCheckpoint, AuditEvent, AuditVerification


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Lists and shows rows; every write permission is off."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "occurred_at", "event_type", "actor", "request_id", "customer_id", "outcome")
    list_filter = ("event_type",)
    search_fields = ("=request_id", "=customer_id", "=actor")
    show_full_result_count = False  # no COUNT(*) over a million rows


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("first_sequence", "purge_sequence", "purged_before", "purged_count", "created_at")


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ("verified_at", "is_valid", "head_sequence", "events_checked", "first_bad_sequence")
