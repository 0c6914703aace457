"""URLs of the asynchronous transaction API (included by decisioning.api.urls)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
