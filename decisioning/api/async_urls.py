"""URLs of the asynchronous transaction API (included by decisioning.api.urls)."""

from django.urls import URLPattern, path

from . import async_views

urlpatterns: list[URLPattern] = [
    path("transactions/async", async_views.AsyncTransactionCreateView.as_view(), name="api-transactions-async"),
    path(
        "transactions/async/<str:request_id>",
        async_views.AsyncTransactionStatusView.as_view(),
        name="api-transaction-async-status",
    ),
]
