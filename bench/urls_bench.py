"""The real URLs plus ``/bench/bare``: a DRF endpoint that validates the same body and returns a constant."""

from typing import Any

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from decisioning.api.permissions import IsSystemClient
from decisioning.api.serializers import TransactionRequestSerializer


class BareView(APIView):
    permission_classes = [IsSystemClient]

    def post(self, request: Request, *args: Any) -> Response:
        serializer = TransactionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"decision": "approve", "action": "approved"})


urlpatterns = [
    path("bench/bare", BareView.as_view()),
    path("", include("fde_site.urls")),
]
