"""URLs of the systems API, version 1."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", include("decisioning.api.async_urls")),  # before transactions/<request_id>
    path("", include("decisioning.api.feedback_urls")),
    path("transactions", views.TransactionCreateView.as_view(), name="api-transactions"),
    path("transactions/<str:request_id>", views.TransactionDetailView.as_view(), name="api-transaction-detail"),
    path("explain/<str:request_id>", views.ExplainView.as_view(), name="api-explain"),
    path("features/<str:group>/<str:entity_id>", views.FeatureWriteView.as_view(), name="api-features"),
    path("lists/<str:name>/entries", views.ListEntriesView.as_view(), name="api-list-entries"),
    path("lists/<str:name>/entries/<str:value>", views.ListEntryDetailView.as_view(), name="api-list-entry"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
