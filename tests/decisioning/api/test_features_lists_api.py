"""PUT /features, the blocklist endpoints, read permissions, and 503 when the database is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.models import AuditEvent
from decisioning.features.store import GroupKey
from decisioning.models import ListEntry

from .conftest import LOW_RISK, ORDINARY_TXN, post_json

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[3]


def put_json(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


class TestFeatureWrites:
    def test_written_features_are_served_to_the_next_decision(self, system_api, feature_store, active_model):
        for group, values in LOW_RISK.items():
            response = put_json(system_api, f"/api/v1/features/{group}/cust-pushed", {"values": values})
            assert response.status_code == 200, response.content
            assert response.json()["values"] == values
        body = post_json(system_api, "/api/v1/transactions", {**ORDINARY_TXN, "customer_id": "cust-pushed"}).json()
        assert body["decision"] == "approve"
        record = feature_store.read_groups([GroupKey("customer_risk", "cust-pushed")])
        assert next(iter(record.values())).live.values["credit_score"] == 780

    def test_unknown_group_is_400_and_writes_nothing(self, system_api, feature_store):
        response = put_json(system_api, "/api/v1/features/shoe_size/cust-1", {"values": {"size": 9}})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
        assert "group" in json.dumps(response.json()["error"])

    def test_unknown_feature_is_named_and_nothing_written(self, system_api, feature_store):
        values = {**LOW_RISK["customer_risk"], "favourite_colour": "blue"}
        response = put_json(system_api, "/api/v1/features/customer_risk/cust-2", {"values": values})
        assert response.status_code == 400
        assert "favourite_colour" in response.json()["error"]["fields"]
        read = feature_store.read_groups([GroupKey("customer_risk", "cust-2")])
        assert next(iter(read.values())).live is None

    def test_wrong_type_is_named(self, system_api):
        values = {**LOW_RISK["customer_risk"], "credit_score": "excellent"}
        response = put_json(system_api, "/api/v1/features/customer_risk/cust-3", {"values": values})
        assert response.status_code == 400
        assert "credit_score" in response.json()["error"]["fields"]

    def test_values_must_be_an_object(self, system_api):
        response = put_json(system_api, "/api/v1/features/customer_risk/cust-3", {"values": [1, 2]})
        assert response.status_code == 400
        assert "values" in response.json()["error"]["fields"]

    def test_reader_may_not_write(self, reader_api):
        response = put_json(reader_api, "/api/v1/features/customer_risk/cust-3", {"values": {}})
        assert response.status_code == 403


class TestBlocklist:
    def test_add_declines_next_decision_and_remove_lifts_it(self, system_api, low_risk_customer):
        response = post_json(
            system_api, "/api/v1/lists/blocklist/entries", {"value": "cust-low", "reason": "fraud ring"}
        )
        assert response.status_code == 201
        blocked = post_json(system_api, "/api/v1/transactions", ORDINARY_TXN).json()
        assert (blocked["decision"], blocked["reason_codes"], blocked["fraud_score"]) == (
            "decline", ["BLOCKED_ENTITY"], 1.0,
        )  # fmt: skip
        assert post_json(system_api, "/api/v1/lists/blocklist/entries", {"value": "cust-low"}).status_code == 200
        assert system_api.delete("/api/v1/lists/blocklist/entries/cust-low").status_code == 204
        lifted = post_json(system_api, "/api/v1/transactions", {**ORDINARY_TXN, "request_id": "req-after"}).json()
        assert lifted["decision"] == "approve"
        changes = AuditEvent.objects.filter(event_type="list.changed").values_list("outcome", flat=True)
        assert list(changes) == ["added", "removed"]

    def test_remove_absent_value_is_404(self, system_api):
        response = system_api.delete("/api/v1/lists/blocklist/entries/nobody")
        assert response.status_code == 404

    def test_bad_list_name_and_value_are_400(self, system_api):
        assert post_json(system_api, "/api/v1/lists/Block List/entries", {"value": "x"}).status_code in (400, 404)
        response = post_json(system_api, "/api/v1/lists/blocklist/entries", {"value": ""})
        assert response.status_code == 400
        assert "value" in response.json()["error"]["fields"]
        assert ListEntry.objects.count() == 0


class TestReaders:
    def test_analyst_session_may_read_but_not_decide(self, client, system_api, low_risk_customer, django_user_model):
        from django.contrib.auth.models import Group

        post_json(system_api, "/api/v1/transactions", ORDINARY_TXN)
        analyst = django_user_model.objects.create_user("ana", password="pw-ana-123456")
        analyst.groups.add(Group.objects.get(name="analyst"))
        client.force_login(analyst)
        assert client.get("/api/v1/transactions/req-ordinary-1").status_code == 200
        explained = client.get("/api/v1/explain/req-ordinary-1")
        assert explained.status_code == 200
        assert explained.json()["decision"]["decided_by"] == "model"
        refused = client.post("/api/v1/transactions", data=json.dumps(ORDINARY_TXN), content_type="application/json")
        assert refused.status_code == 403

    def test_user_without_role_may_not_read(self, client, django_user_model):
        nobody = django_user_model.objects.create_user("nobody", password="pw-nobody-123456")
        client.force_login(nobody)
        assert client.get("/api/v1/transactions/anything").status_code == 403


def test_database_down_gives_503_with_retry_after():
    """A real process whose DATABASE_URL points at a closed port answers 503, not 500."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().post('/api/v1/transactions', data=json.dumps({'a': 1}), content_type='application/json',"
        " HTTP_AUTHORIZATION='Bearer fde_x');"
        "print(r.status_code, r.get('Retry-After'), r.json()['error']['code'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fde_site.settings.test",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/fde",
    }
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["503", "5", "database_unavailable"]
