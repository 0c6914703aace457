"""Compliance pages, mounted under ``audit/`` by fde_site.urls."""

from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="events"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("export.jsonl", views.export_jsonl, name="export-jsonl"),
    path("transactions/<str:request_id>/", views.transaction_trail_view, name="transaction-trail"),
]
