"""The model registry pages, mounted under ``models/`` by fde_site.urls."""

from django.urls import path

from . import model_views

app_name = "models"

urlpatterns = [
    path("", model_views.registry, name="registry"),
    path("rollback", model_views.rollback, name="rollback"),
    path("<str:version>/activate", model_views.activate, name="activate"),
    path("<str:version>/stage", model_views.stage, name="stage"),
    path("unstage/<str:stage_name>", model_views.unstage, name="unstage"),
]
