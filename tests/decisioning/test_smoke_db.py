import pytest

from decisioning.models import ApiClient


@pytest.mark.django_db
def test_database_is_postgres_and_writable():
    from django.db import connection

    ApiClient.objects.create(name="x", token_hash="a" * 64, token_prefix="fde_")
    assert connection.vendor == "postgresql"
    assert ApiClient.objects.count() == 1
