"""Analyst pages, mounted under ``review/`` by fde_site.urls."""

from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("take-next", views.take_next, name="take-next"),
    path("bulk", views.bulk, name="bulk"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/claim", views.claim, name="claim"),
    path("cases/<int:case_id>/release", views.release, name="release"),
    path("cases/<int:case_id>/resolve", views.resolve, name="resolve"),
    path("cases/<int:case_id>/notes", views.add_note, name="note"),
]
