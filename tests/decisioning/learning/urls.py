"""The site's URLs plus the model registry pages (until the lead mounts them in fde_site.urls)."""

from django.urls import include, path

from fde_site.urls import urlpatterns as site_urlpatterns

urlpatterns = [*site_urlpatterns, path("models/", include("decisioning.model_urls"))]
