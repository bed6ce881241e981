"""Our TaskQueue adapter against the devstack Cloud Tasks server, dispatching to a function."""

import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import LOCATION, TASKS_INVOKER
from shared.adapters.store import Store
from shared.adapters.tasks import TaskQueue, task_id

pytestmark = pytest.mark.stack


def _queue(local) -> TaskQueue:
    return TaskQueue(local.project, LOCATION, TASKS_INVOKER, local.tasks.address)


def _target(echo_function, key: str, **query: str) -> str:
    return f"{echo_function.url}/?" + urllib.parse.urlencode(
        {"key": key, "callers": TASKS_INVOKER, "aud": echo_function.url, **query}
    )


def _echo(local, key: str):
    return Store(local.project, emulator_host=local.firestore.host).db.document(f"echo/{key}")


def test_named_task_runs_once_and_a_duplicate_is_refused(local, echo_function):
    queue = _queue(local)
    name = task_id("draft", "wf-dup", 1)
    url = _target(echo_function, "dup")
    first = queue.enqueue("draft", name, url, {"workflow": "wf-dup"}, audience=echo_function.url)
    second = queue.enqueue("draft", name, url, {"workflow": "wf-dup"}, audience=echo_function.url)
    assert first.created is True
    assert second.created is False
    assert local.tasks.wait_idle(10)
    snapshot = _echo(local, "dup").get()
    assert snapshot.get("count") == 1
    assert snapshot.get("caller") == TASKS_INVOKER
    assert snapshot.get("headers")["X-Cloudtasks-Taskname"] == name
    assert snapshot.get("body") == '{"workflow":"wf-dup"}'
    # Still refused after it ran: Cloud Tasks keeps the name for about an hour.
    assert queue.enqueue("draft", name, url, {}, audience=echo_function.url).created is False


def test_task_failing_twice_is_retried_with_backoff(local, echo_function):
    queue = _queue(local)
    url = _target(echo_function, "flaky", fail="2")
    queue.enqueue("draft", task_id("draft", "wf-flaky", 1), url, {}, audience=echo_function.url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (
        _echo(local, "flaky").get().exists and _echo(local, "flaky").get().get("count") >= 3
    ):
        time.sleep(0.1)
    assert local.tasks.wait_idle(10)
    assert _echo(local, "flaky").get().get("count") == 3
    assert _echo(local, "flaky").get().get("headers")["X-Cloudtasks-Taskretrycount"] == "2"


def test_scheduled_task_waits_for_its_time(local, echo_function):
    queue = _queue(local)
    when = datetime.now(UTC) + timedelta(seconds=1.5)
    queue.enqueue(
        "send",
        task_id("send", "later"),
        _target(echo_function, "later"),
        {},
        schedule_at=when,
        audience=echo_function.url,
    )
    time.sleep(0.5)
    assert not _echo(local, "later").get().exists
    assert local.tasks.wait_idle(10)
    assert _echo(local, "later").get().get("count") == 1


def test_a_queued_task_can_be_deleted(local, echo_function):
    queue = _queue(local)
    name = task_id("send", "cancel-me")
    queue.enqueue(
        "send",
        name,
        _target(echo_function, "cancelled"),
        {},
        schedule_at=datetime.now(UTC) + timedelta(seconds=30),
        audience=echo_function.url,
    )
    assert queue.delete("send", name) is True
    assert queue.delete("send", name) is False
    assert local.tasks.wait_idle(5)
    assert not _echo(local, "cancelled").get().exists
