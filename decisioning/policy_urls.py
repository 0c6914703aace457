"""The policy page, mounted under ``policy/`` by fde_site.urls."""

from django.urls import path

from . import policy_views

app_name = "policy"

urlpatterns = [
    path("", policy_views.page, name="page"),
    path("activate", policy_views.activate, name="activate"),
    path("propose", policy_views.propose, name="propose"),
    path("proposals/<int:proposal_id>/approve", policy_views.approve, name="approve"),
    path("proposals/<int:proposal_id>/reject", policy_views.reject, name="reject"),
    path("proposals/<int:proposal_id>/withdraw", policy_views.withdraw, name="withdraw"),
]
