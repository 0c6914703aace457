"""Sign-in attempts through the audited login view are in the trail, without the password."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent, AuditEventType

pytestmark = pytest.mark.django_db


def test_successful_and_failed_sign_ins_are_audited(client, make_user):
    make_user("dana")
    failed = client.post(reverse("login"), {"username": "dana", "password": "wrong-password-x"})
    succeeded = client.post(reverse("login"), {"username": "dana", "password": "pw-for-tests-only"})
    assert (failed.status_code, succeeded.status_code) == (200, 302)
    events = list(AuditEvent.objects.values_list("event_type", "actor", "outcome"))
    assert events == [
        (AuditEventType.SIGN_IN_FAILED, "user:dana", "failed"),
        (AuditEventType.SIGN_IN_SUCCEEDED, "user:dana", "succeeded"),
    ]
    stored = " ".join(str(row) for row in AuditEvent.objects.values_list("payload", "origin"))
    assert "wrong-password-x" not in stored
    assert "pw-for-tests-only" not in stored
