"""A tests-only URLconf: the audit pages plus the names base.html links to.

fde_site.urls includes apps other sessions are still writing, so the audit tests route through
this module (``@pytest.mark.urls("tests.audit.urls_for_tests")``) until the lead mounts audit.urls.
"""

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from audit.auth import AuditedLoginView


def placeholder(request: HttpRequest) -> HttpResponse:
    return HttpResponse("placeholder")


urlpatterns = [
    path("", placeholder, name="home"),
    path("api/v1/docs", placeholder, name="api-docs"),
    path("accounts/login/", AuditedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", include("audit.urls")),
]
