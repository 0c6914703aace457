"""Faults with a real worker and broker: SIGKILL mid-task, broker outage, failing receiver, duplicates."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from decisioning.execution.pipeline import pipeline_message, run_decision_step, run_features_step
from decisioning.models import AsyncRequest, DecisionRecord, OutboxMessage
from decisioning.tasks import deliver_outbox_task, execute_task

from ..api.conftest import write_low_risk
from .conftest import wait_for
from .helpers import ONCE, effects, is_decided, pending_record, post, system_client, txn_body

pytestmark = [pytest.mark.slow]

VISIBILITY = 4  # seconds; short so Redis redelivers the killed worker's message quickly


@pytest.mark.parametrize("point", ["before", "after"])
def test_worker_killed_mid_execution_is_redelivered_and_executes_exactly_once(
    point, workers, active_model, feature_store
):
    # Given a worker that holds the execution task (before / after the Execution layer commits)
    write_low_risk(feature_store)
    _, api = system_client("acquirer-kill")
    env = {
        "FDE_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "FDE_CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "FDE_CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    doomed = workers.start(env={**env, "FDE_TEST_TASK_DELAY_SECONDS": "60", "FDE_TEST_TASK_DELAY_POINT": point})
    assert post(api, "/api/v1/transactions/async", txn_body("kill-1")).status_code == 202
    wait_for(lambda: "FDE_TEST_TASK_DELAY" in doomed.log(), timeout=60, what="task held by the test hook")
    assert is_decided("kill-1") is (point == "after")

    # When the worker and its pool children are SIGKILLed mid-task and a fresh worker starts
    doomed.kill()
    rescuer = workers.start(env=env)

    # Then the message is redelivered (after the visibility timeout) and the effect happens once
    wait_for(lambda: is_decided("kill-1"), timeout=60, what="decided after redelivery")
    if point == "after":
        wait_for(lambda: "duplicate message ignored" in rescuer.log(), timeout=60, what="redelivered duplicate")
    time.sleep(VISIBILITY + 1)  # any further redelivery would land in this window
    assert effects("kill-1") == {**ONCE, "callbacks": 0}


def test_broker_outage_accepted_requests_are_decided_after_it_returns(
    workers, private_redis, active_model, feature_store
):
    # Given a worker (with beat running the drainer every second) on a private broker
    write_low_risk(feature_store)
    _, api = system_client("acquirer-outage")
    from .conftest import producer

    env = {"FDE_OUTBOX_DRAIN_SECONDS": "1"}
    with producer(private_redis.url):
        workers.start(broker_url=private_redis.url, beat=True, env=env)
        for n in range(3):
            assert post(api, "/api/v1/transactions/async", txn_body(f"up-{n}")).status_code == 202
        wait_for(lambda: all(is_decided(f"up-{n}") for n in range(3)), timeout=60, what="decided before outage")

        # When the broker goes down while more transactions are accepted
        private_redis.stop()
        started = time.monotonic()
        for n in range(5):
            response = post(api, "/api/v1/transactions/async", txn_body(f"down-{n}"))
            assert response.status_code == 202, response.content
        assert time.monotonic() - started < 20  # the API never hangs on a dead broker
        assert (
            AsyncRequest.objects.filter(record__request_id__startswith="down-", enqueued_at__isnull=True).count() == 5
        )
        assert DecisionRecord.objects.filter(request_id__startswith="down-", status="pending").count() == 5

        # And comes back (empty: whatever was in flight in it is gone)
        private_redis.start()

        # Then the drainer enqueues them and every one is decided exactly once; none lost, none doubled
        wait_for(lambda: all(is_decided(f"down-{n}") for n in range(5)), timeout=90, what="decided after outage")
    time.sleep(2)
    for request_id in [*(f"up-{n}" for n in range(3)), *(f"down-{n}" for n in range(5))]:
        assert effects(request_id) == {**ONCE, "callbacks": 0}, request_id


def test_failing_receiver_is_retried_with_backoff_then_dead_lettered_and_admin_retry_delivers(
    workers, receiver, active_model, feature_store
):
    # Given a callback receiver that answers 500, three attempts, a short backoff
    write_low_risk(feature_store)
    receiver.status_code = 500
    _, api = system_client("acquirer-500", callback_url=receiver.url)
    workers.start(env={"FDE_OUTBOX_MAX_ATTEMPTS": "3", "FDE_OUTBOX_BACKOFF_SECONDS": "0.5"})

    # When a transaction is decided
    assert post(api, "/api/v1/transactions/async", txn_body("cb-500")).status_code == 202

    # Then the callback is tried three times with growing gaps, then dead-lettered
    message = wait_for(lambda: OutboxMessage.objects.filter(status="dead").first(), timeout=60, what="dead letter")
    assert (message.attempts, message.last_status_code, message.last_error) == (3, 500, "HTTP 500")
    assert len(receiver.requests) == 3
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    first_gap = receiver.requests[1].at - receiver.requests[0].at
    second_gap = receiver.requests[2].at - receiver.requests[1].at
    assert 0.4 <= first_gap < second_gap  # 0.5 s then 1 s

    # And an admin sees it in the dead-letter list and retries it once the receiver is fixed
    receiver.status_code = 200
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123")
    browser = Client()
    browser.force_login(admin)
    listing = browser.get("/admin/decisioning/outboxmessage/?status__exact=dead")
    assert listing.status_code == 200
    assert "cb-500" in listing.content.decode() or message.idempotency_key in listing.content.decode()
    response = browser.post(
        "/admin/decisioning/outboxmessage/", {"action": "retry_delivery", "_selected_action": [message.pk]}
    )
    assert response.status_code == 302
    wait_for(lambda: OutboxMessage.objects.get(pk=message.pk).status == "delivered", timeout=30, what="redelivered")
    assert len(receiver.requests) == 4
    assert receiver.requests[3].body == receiver.requests[0].body


def test_duplicate_delivery_of_the_same_task_has_one_effect(workers, receiver, active_model, feature_store):
    # Given a pending async record and its execution message (features and decision already computed)
    write_low_risk(feature_store)
    client, _ = system_client("acquirer-dup", callback_url=receiver.url)
    record = pending_record(client, "dup-1")
    message = run_decision_step(run_features_step(pipeline_message(record)))
    worker = workers.start(concurrency=2)

    # When the same execution message is delivered three times, two of them concurrently
    for _ in range(3):
        execute_task.apply_async(args=[message])

    # Then the transaction is executed once, and its callback row delivered once
    wait_for(lambda: worker.log().count("duplicate message ignored") + worker.log().count("decision.replayed") >= 1
             and is_decided("dup-1"), timeout=60, what="executions")  # fmt: skip
    callback = wait_for(lambda: OutboxMessage.objects.filter(status="delivered").first(), timeout=30, what="callback")
    deliver_outbox_task.apply_async(args=[callback.pk])  # a duplicated delivery task
    deliver_outbox_task.apply_async(args=[callback.pk])
    time.sleep(3)
    assert effects("dup-1") == {**ONCE, "callbacks": 1}
    assert len(receiver.requests) == 1
