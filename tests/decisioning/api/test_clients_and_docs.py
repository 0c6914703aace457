"""create_api_client, the OpenAPI schema and docs page, and the landing page."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from decisioning.models import ApiClient

from .conftest import ORDINARY_TXN, post_json

pytestmark = pytest.mark.django_db


def test_create_api_client_prints_token_once_and_stores_only_its_hash(client):
    out = io.StringIO()
    call_command("create_api_client", "acquirer-9", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    stored = ApiClient.objects.get(name="acquirer-9")
    assert token.startswith("fde_")
    assert stored.token_hash == ApiClient.hash_token(token)
    assert token not in json.dumps(list(ApiClient.objects.values()), default=str)
    assert token not in json.dumps(list(AuditEvent.objects.values_list("payload", flat=True)))
    response = post_json_with_token(client, token)
    assert response.status_code != 401
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_api_client", "acquirer-9", stdout=io.StringIO())


def test_disabled_client_is_refused_and_can_be_enabled(client):
    out = io.StringIO()
    call_command("create_api_client", "acquirer-10", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    call_command("create_api_client", "acquirer-10", "--disable", stdout=io.StringIO())
    assert post_json_with_token(client, token).status_code == 401
    call_command("create_api_client", "acquirer-10", "--enable", stdout=io.StringIO())
    assert post_json_with_token(client, token).status_code == 200


def post_json_with_token(client, token):
    return client.post(
        "/api/v1/transactions", data=json.dumps(ORDINARY_TXN), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip


def test_openapi_schema_describes_every_endpoint_with_fields(client):
    response = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/transactions", "/api/v1/transactions/{request_id}", "/api/v1/explain/{request_id}",
                 "/api/v1/features/{group}/{entity_id}", "/api/v1/lists/{name}/entries",
                 "/api/v1/lists/{name}/entries/{value}"):  # fmt: skip
        assert path in schema["paths"], path
    request = schema["components"]["schemas"]["TransactionRequest"]
    assert {"request_id", "amount", "customer_id"} <= set(request["required"])
    assert all(field.get("description") for field in request["properties"].values())
    post = schema["paths"]["/api/v1/transactions"]["post"]
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert {"400", "401", "409", "413", "415", "429", "503"} <= set(post["responses"])


def test_docs_page_uses_local_assets(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_landing_page_shows_what_the_system_holds(client, system_api, low_risk_customer, django_user_model):
    post_json(system_api, "/api/v1/transactions", ORDINARY_TXN)
    user = django_user_model.objects.create_user("ana", password="pw-ana-123456")
    user.groups.add(Group.objects.get(name="analyst"))
    assert client.get("/").status_code == 302  # anonymous → login
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "req-ordinary-1" in page
    assert ">1</div>" in page  # one decision
    assert "approved" in page
    assert "/api/v1/docs" in page
