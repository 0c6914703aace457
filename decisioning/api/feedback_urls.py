"""URLs of the feedback API (included by decisioning.api.urls)."""

from django.urls import path

from . import feedback_views

urlpatterns = [
    path("feedback", feedback_views.FeedbackCreateView.as_view(), name="api-feedback"),
]
