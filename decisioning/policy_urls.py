"""The policy page, mounted under ``policy/`` by fde_site.urls."""

from django.urls import path

from . import policy_views

app_name = "policy"

urlpatterns = [
    path("", policy_views.page, name="page"),
    path("activate", policy_views.activate, name="activate"),
]
