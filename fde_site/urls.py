"""Top-level URLs: the systems API under /api/v1, the web UI, the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from audit.auth import AuditedLoginView

from . import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", AuditedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("decisioning.api.urls")),
    path("audit/", include("audit.urls")),
    path("review/", include("review.urls")),
    path("models/", include("decisioning.model_urls")),
    path("policy/", include("decisioning.policy_urls")),
    path("admin/", admin.site.urls),
]
