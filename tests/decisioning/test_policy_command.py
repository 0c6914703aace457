"""``manage.py policy``: thresholds change without retraining, audited; bad changes change nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from decisioning.models import PolicyVersion
from decisioning.policy import active_policy

pytestmark = pytest.mark.django_db


def test_set_activates_a_new_version_and_audits_it():
    call_command("policy", "set", "tight-1", "decline_threshold=0.8", "review_threshold=0.5", stdout=io.StringIO())
    policy = active_policy()
    assert (policy.version, policy.decline_threshold, policy.review_threshold) == ("tight-1", 0.8, 0.5)
    assert policy.challenge_threshold == 0.40  # unchanged fields carried over
    event = AuditEvent.objects.get(event_type="policy.changed")
    assert event.payload["to"]["decline_threshold"] == 0.8
    out = io.StringIO()
    call_command("policy", "show", stdout=out)
    assert json.loads(out.getvalue())["version"] == "tight-1"


@pytest.mark.parametrize(
    "change",
    ["decline_threshold=0.3", "decline_threshold=high", "shoe_size=9", "decline_threshold"],
)
def test_bad_changes_are_refused_and_change_nothing(change):
    with pytest.raises(CommandError):
        call_command("policy", "set", "bad-1", change, stdout=io.StringIO())
    assert PolicyVersion.objects.count() == 0
    assert active_policy().version == "default-1"
    assert not AuditEvent.objects.filter(event_type="policy.changed").exists()


def test_versions_are_never_reused():
    call_command("policy", "set", "v-1", "decline_threshold=0.9", stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("policy", "set", "v-1", "decline_threshold=0.95", stdout=io.StringIO())
