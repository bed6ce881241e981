"""The local Cloud Tasks server, driven by the official client over gRPC.

A small Flask target records every dispatch and answers per a script, so each test asserts
what a handler would see: headers, body, timing of retries, and what the API reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from flask import Flask, Response, request
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
from google.protobuf import field_mask_pb2

from devstack.serving import ThreadedServer, free_port
from devstack.tasks_server import CloudTasksServer, RetryPolicy

pytestmark = pytest.mark.stack

LOCATION = "projects/demo-test/locations/us-central1"
SA = "tasks-invoker@demo-test.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    at: float


class Target:
    """A WSGI app that records requests and answers each path from a script of statuses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self._script: dict[str, list[int]] = {}
        self._delay: dict[str, float] = {}
        self._active = 0
        self.max_active = 0
        self.url = ""
        self.app = Flask("tasks-target")
        self.app.add_url_rule(
            "/<path:path>",
            view_func=self._handle,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        )

    def script(self, path: str, statuses: list[int], delay: float = 0.0) -> None:
        with self._lock:
            self._script[path] = list(statuses)
            self._delay[path] = delay

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._script.clear()
            self._delay.clear()
            self.max_active = 0

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def _handle(self, path: str) -> Response:
        with self._lock:
            self.received.append(
                Received(
                    path, request.method, dict(request.headers), request.get_data(), time.time()
                )
            )
            statuses = self._script.get(path, [])
            status = statuses.pop(0) if statuses else 200
            delay = self._delay.get(path, 0.0)
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if delay:
                time.sleep(delay)
            return Response("ok" if status < 300 else "nope", status=status)
        finally:
            with self._lock:
                self._active -= 1


class Signer:
    """A token signer that records what it was asked to mint."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, audience: str, email: str) -> str:
        self.calls.append((audience, email))
        return f"signed.{len(self.calls)}.{email}"


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    app = Target()
    with ThreadedServer(app.app) as server:
        app.url = server.url
        yield app


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def server(signer: Signer) -> Iterator[CloudTasksServer]:
    tasks = CloudTasksServer(token_signer=signer)
    tasks.start()
    yield tasks
    tasks.stop()


def _client(address: str) -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(address)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


@pytest.fixture(scope="module")
def client(server: CloudTasksServer) -> tasks_v2.CloudTasksClient:
    return _client(server.address)


@pytest.fixture(autouse=True)
def _clean(server: CloudTasksServer, target: Target, signer: Signer) -> None:
    server.reset()
    target.reset()
    signer.calls.clear()


def url(target: Target, path: str) -> str:
    return f"{target.url}/{path}"


def make_queue(
    client: tasks_v2.CloudTasksClient, queue_id: str = "q", **retry: Any
) -> tasks_v2.Queue:
    config = {"min_backoff": timedelta(seconds=0.2), "max_backoff": timedelta(seconds=5)}
    config.update(retry)
    queue = tasks_v2.Queue(name=f"{LOCATION}/queues/{queue_id}", retry_config=config)
    return client.create_queue(parent=LOCATION, queue=queue)


def http_task(target_url: str, name: str = "", **extra: Any) -> tasks_v2.Task:
    http = {"url": target_url, "body": b'{"step": 1}'}
    http.update(extra.pop("http", {}))
    return tasks_v2.Task(name=name, http_request=http, **extra)


# ---- dedup ---------------------------------------------------------------------------------


def test_named_task_is_refused_while_queued_after_it_ran_and_after_delete(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    name = f"{queue.name}/tasks/draft-wf1-v1"
    client.create_task(parent=queue.name, task=http_task(url(target, "draft"), name))
    with pytest.raises(exceptions.AlreadyExists) as refused:
        client.create_task(parent=queue.name, task=http_task(url(target, "draft"), name))
    assert isinstance(refused.value, exceptions.Conflict)

    assert server.wait_idle(5)
    assert len(target.to("draft")) == 1
    with pytest.raises(exceptions.Conflict):
        client.create_task(parent=queue.name, task=http_task(url(target, "draft"), name))

    client.pause_queue(name=queue.name)
    other = f"{queue.name}/tasks/send-wf1-v1"
    client.create_task(parent=queue.name, task=http_task(url(target, "send"), other))
    client.delete_task(name=other)
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=http_task(url(target, "send"), other))
    assert target.to("send") == []


def test_concurrent_creates_of_one_name_let_exactly_one_through(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    name = f"{queue.name}/tasks/race-1"
    outcomes: list[str] = []

    def create() -> None:
        try:
            client.create_task(parent=queue.name, task=http_task(url(target, "race"), name))
            outcomes.append("created")
        except exceptions.Conflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["refused"] * 7
    assert server.wait_idle(5)
    assert len(target.to("race")) == 1


def test_tombstones_expire_after_the_configured_time(target: Target) -> None:
    tasks = CloudTasksServer(tombstone_seconds=0.3)
    tasks.start()
    try:
        client = _client(tasks.address)
        queue = make_queue(client)
        name = f"{queue.name}/tasks/once"
        client.create_task(parent=queue.name, task=http_task(url(target, "once"), name))
        assert tasks.wait_idle(5)
        with pytest.raises(exceptions.AlreadyExists):
            client.create_task(parent=queue.name, task=http_task(url(target, "once"), name))
        time.sleep(0.35)
        client.create_task(parent=queue.name, task=http_task(url(target, "once"), name))
        assert tasks.wait_idle(5)
        assert len(target.to("once")) == 2
    finally:
        tasks.stop()


def test_unnamed_tasks_get_distinct_generated_names(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    first = client.create_task(parent=queue.name, task=http_task(url(target, "anon")))
    second = client.create_task(parent=queue.name, task=http_task(url(target, "anon")))
    assert first.name.startswith(f"{queue.name}/tasks/")
    assert first.name != second.name
    assert server.wait_idle(5)
    assert len(target.to("anon")) == 2


# ---- dispatch ------------------------------------------------------------------------------


def test_dispatch_carries_cloud_tasks_headers_body_method_and_oidc_token(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target, signer: Signer
) -> None:
    queue = make_queue(client, "drafts")
    audience = "https://draft.example.run.app"
    created = client.create_task(
        parent=queue.name,
        task=http_task(
            url(target, "draft?x=1"),
            f"{queue.name}/tasks/draft-wf9-v2",
            http={
                "http_method": tasks_v2.HttpMethod.PUT,
                "headers": {"X-Trace": "abc"},
                "body": b"\x00binary\xff",
                "oidc_token": {"service_account_email": SA, "audience": audience},
            },
        ),
    )
    assert server.wait_idle(5)

    [got] = target.to("draft")
    assert got.method == "PUT"
    assert got.body == b"\x00binary\xff"
    headers = got.headers
    assert headers["X-Trace"] == "abc"
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["User-Agent"] == "Google-Cloud-Tasks"
    assert headers["X-Cloudtasks-Queuename"] == "drafts"
    assert headers["X-Cloudtasks-Taskname"] == "draft-wf9-v2"
    assert headers["X-Cloudtasks-Taskretrycount"] == "0"
    assert headers["X-Cloudtasks-Taskexecutioncount"] == "0"
    assert float(headers["X-Cloudtasks-Tasketa"]) == pytest.approx(
        created.schedule_time.timestamp(), abs=1e-5
    )
    assert "X-Cloudtasks-Taskpreviousresponse" not in headers
    assert "X-Cloudtasks-Taskretryreason" not in headers
    assert signer.calls == [(audience, SA)]
    assert headers["Authorization"] == f"Bearer signed.1.{SA}"

    [record] = server.history
    assert (record.task, record.attempt, record.status, record.outcome) == (
        created.name,
        1,
        200,
        "succeeded",
    )


def test_oidc_audience_defaults_to_the_task_url_and_content_type_is_kept(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target, signer: Signer
) -> None:
    queue = make_queue(client)
    task_url = url(target, "intake")
    client.create_task(
        parent=queue.name,
        task=http_task(
            task_url,
            http={
                "headers": {"content-type": "application/json"},
                "oidc_token": {"service_account_email": SA},
            },
        ),
    )
    assert server.wait_idle(5)
    [got] = target.to("intake")
    assert got.method == "POST"
    assert got.headers["Content-Type"] == "application/json"
    assert signer.calls == [(task_url, SA)]
    assert got.headers["Authorization"] == f"Bearer signed.1.{SA}"


def test_without_a_signer_an_oidc_task_is_sent_without_authorization(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    tasks = CloudTasksServer()
    tasks.start()
    try:
        client = _client(tasks.address)
        queue = make_queue(client)
        task = http_task(url(target, "nosig"), http={"oidc_token": {"service_account_email": SA}})
        with caplog.at_level("WARNING", logger="devstack.tasks"):
            client.create_task(parent=queue.name, task=task)
            assert tasks.wait_idle(5)
        [got] = target.to("nosig")
        assert "Authorization" not in got.headers
        assert "no token_signer" in caplog.text
    finally:
        tasks.stop()


def test_failures_are_retried_with_growing_backoff(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client, min_backoff=timedelta(seconds=0.2))
    target.script("flaky", [500, 503, 200])
    client.create_task(
        parent=queue.name, task=http_task(url(target, "flaky"), f"{queue.name}/tasks/flaky-1")
    )
    assert server.wait_idle(10)

    calls = target.to("flaky")
    assert [c.headers["X-Cloudtasks-Taskretrycount"] for c in calls] == ["0", "1", "2"]
    assert [c.headers.get("X-Cloudtasks-Taskpreviousresponse") for c in calls] == [
        None,
        "500",
        "503",
    ]
    assert all(c.headers["X-Cloudtasks-Taskretryreason"] for c in calls[1:])
    # 5xx answers do not count as executions, as Cloud Tasks documents.
    assert [c.headers["X-Cloudtasks-Taskexecutioncount"] for c in calls] == ["0", "0", "0"]
    first_gap, second_gap = calls[1].at - calls[0].at, calls[2].at - calls[1].at
    assert first_gap >= 0.2
    assert second_gap >= 0.4
    assert second_gap > first_gap
    assert float(calls[2].headers["X-Cloudtasks-Tasketa"]) > float(
        calls[1].headers["X-Cloudtasks-Tasketa"]
    )
    assert [r.outcome for r in server.history] == ["retrying", "retrying", "succeeded"]


def test_exhausted_attempts_drop_the_task_and_record_it_as_failed(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client, max_attempts=3, min_backoff=timedelta(seconds=0.05))
    target.script("broken", [500] * 10)
    name = f"{queue.name}/tasks/broken-1"
    client.create_task(parent=queue.name, task=http_task(url(target, "broken"), name))
    assert server.wait_idle(5)

    assert len(target.to("broken")) == 3
    history = server.history
    assert [r.attempt for r in history] == [1, 2, 3]
    assert history[-1].outcome == "failed"
    assert history[-1].status == 500
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=name)
    with pytest.raises(exceptions.AlreadyExists):
        client.create_task(parent=queue.name, task=http_task(url(target, "broken"), name))


def test_unreachable_and_slow_targets_count_as_failed_attempts(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client, max_attempts=2, min_backoff=timedelta(seconds=0.05))
    target.script("slow", [200, 200], delay=0.5)
    client.create_task(
        parent=queue.name,
        task=http_task(f"http://127.0.0.1:{free_port()}/closed", f"{queue.name}/tasks/closed"),
    )
    client.create_task(
        parent=queue.name,
        task=http_task(
            url(target, "slow"),
            f"{queue.name}/tasks/slow",
            dispatch_deadline=timedelta(seconds=0.2),
        ),
    )
    assert server.wait_idle(5)

    by_task: dict[str, list[Any]] = {}
    for record in server.history:
        by_task.setdefault(record.task.rsplit("/", 1)[-1], []).append(record)
    assert [r.outcome for r in by_task["closed"]] == ["retrying", "failed"]
    assert all(r.status is None and "connection" in (r.error or "") for r in by_task["closed"])
    assert [r.outcome for r in by_task["slow"]] == ["retrying", "failed"]
    assert all("deadline" in (r.error or "") for r in by_task["slow"])


def test_a_failed_attempt_is_reported_on_the_task(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client, min_backoff=timedelta(seconds=30), max_backoff=timedelta(seconds=60))
    target.script("down", [503])
    name = f"{queue.name}/tasks/down-1"
    created = client.create_task(parent=queue.name, task=http_task(url(target, "down"), name))
    deadline = time.monotonic() + 5
    while not server.history and time.monotonic() < deadline:
        time.sleep(0.02)

    task = client.get_task(name=name)
    assert task.dispatch_count == 1
    assert task.response_count == 1
    assert task.first_attempt.dispatch_time is not None
    assert task.last_attempt.response_status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert task.last_attempt.response_time >= task.last_attempt.dispatch_time
    assert task.schedule_time.timestamp() >= created.schedule_time.timestamp() + 29
    client.delete_task(name=name)
    assert server.wait_idle(2)


def test_future_schedule_time_is_not_dispatched_early(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    due = datetime.now(UTC) + timedelta(seconds=0.8)
    client.create_task(parent=queue.name, task=http_task(url(target, "later"), schedule_time=due))
    time.sleep(0.4)
    assert target.to("later") == []
    assert server.wait_idle(5)
    [got] = target.to("later")
    assert got.at >= due.timestamp()
    assert float(got.headers["X-Cloudtasks-Tasketa"]) == pytest.approx(due.timestamp(), abs=1e-3)


def test_max_concurrent_dispatches_is_honoured(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = tasks_v2.Queue(
        name=f"{LOCATION}/queues/serial", rate_limits={"max_concurrent_dispatches": 1}
    )
    client.create_queue(parent=LOCATION, queue=queue)
    target.script("one-at-a-time", [200] * 3, delay=0.15)
    for _ in range(3):
        client.create_task(parent=queue.name, task=http_task(url(target, "one-at-a-time")))
    assert server.wait_idle(5)
    assert len(target.to("one-at-a-time")) == 3
    assert target.max_active == 1


# ---- queue and task administration ---------------------------------------------------------


def test_paused_queue_holds_tasks_until_resumed(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    paused = client.pause_queue(name=queue.name)
    assert paused.state == tasks_v2.Queue.State.PAUSED
    client.create_task(parent=queue.name, task=http_task(url(target, "held")))
    assert not server.wait_idle(0.4)
    assert target.to("held") == []
    assert len(list(client.list_tasks(parent=queue.name))) == 1

    resumed = client.resume_queue(name=queue.name)
    assert resumed.state == tasks_v2.Queue.State.RUNNING
    assert server.wait_idle(5)
    assert len(target.to("held")) == 1


def test_get_list_and_delete_tasks(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    names = [f"{queue.name}/tasks/t{i}" for i in range(3)]
    for name in names:
        client.create_task(parent=queue.name, task=http_task(url(target, "admin"), name))

    listed = list(client.list_tasks(parent=queue.name))
    assert sorted(t.name for t in listed) == names
    assert all(t.http_request.body == b"" and t.view == tasks_v2.Task.View.BASIC for t in listed)
    full = list(
        client.list_tasks(
            request={"parent": queue.name, "response_view": tasks_v2.Task.View.FULL, "page_size": 2}
        )
    )
    assert [t.http_request.body for t in full] == [b'{"step": 1}'] * 3

    task = client.get_task(name=names[0])
    assert task.dispatch_count == 0
    assert task.create_time <= task.schedule_time
    assert task.dispatch_deadline == timedelta(minutes=10)
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST

    client.delete_task(name=names[1])
    assert sorted(t.name for t in client.list_tasks(parent=queue.name)) == [names[0], names[2]]
    with pytest.raises(exceptions.NotFound):
        client.delete_task(name=names[1])
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=f"{queue.name}/tasks/nope")

    purged = client.purge_queue(name=queue.name)
    assert purged.purge_time is not None
    assert list(client.list_tasks(parent=queue.name)) == []
    assert server.wait_idle(1)
    assert target.to("admin") == []


def test_run_task_dispatches_now_even_in_a_paused_queue(
    client: tasks_v2.CloudTasksClient, server: CloudTasksServer, target: Target
) -> None:
    queue = make_queue(client)
    client.pause_queue(name=queue.name)
    later = datetime.now(UTC) + timedelta(hours=1)
    created = client.create_task(
        parent=queue.name, task=http_task(url(target, "now"), schedule_time=later)
    )
    ran = client.run_task(name=created.name)
    assert ran.dispatch_count == 1
    assert server.wait_idle(5)
    assert len(target.to("now")) == 1


def test_unknown_queue_duplicate_queue_and_non_local_url(
    client: tasks_v2.CloudTasksClient, target: Target
) -> None:
    missing = f"{LOCATION}/queues/missing"
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=missing)
    with pytest.raises(exceptions.NotFound):
        client.create_task(parent=missing, task=http_task(url(target, "x")))
    with pytest.raises(exceptions.NotFound):
        list(client.list_tasks(parent=missing))
    with pytest.raises(exceptions.NotFound):
        client.pause_queue(name=missing)

    queue = make_queue(client)
    with pytest.raises(exceptions.AlreadyExists):
        make_queue(client)
    with pytest.raises(exceptions.InvalidArgument):
        client.create_task(parent=queue.name, task=http_task("https://example.com/hook"))


def test_queue_settings_update_list_and_delete(client: tasks_v2.CloudTasksClient) -> None:
    queue = make_queue(client, max_attempts=5)
    assert queue.retry_config.max_attempts == 5
    assert queue.retry_config.max_doublings == 16
    assert queue.rate_limits.max_concurrent_dispatches == 1000

    updated = client.update_queue(
        queue=tasks_v2.Queue(
            name=queue.name,
            retry_config={"max_attempts": 7},
            rate_limits={"max_concurrent_dispatches": 2},
        ),
        update_mask=field_mask_pb2.FieldMask(
            paths=["retry_config.max_attempts", "rate_limits.max_concurrent_dispatches"]
        ),
    )
    assert updated.retry_config.max_attempts == 7
    assert updated.retry_config.min_backoff == timedelta(seconds=0.2)
    assert updated.rate_limits.max_concurrent_dispatches == 2
    assert client.get_queue(name=queue.name).retry_config.max_attempts == 7

    make_queue(client, "second")
    assert sorted(q.name for q in client.list_queues(parent=LOCATION)) == [
        queue.name,
        f"{LOCATION}/queues/second",
    ]
    client.delete_queue(name=queue.name)
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=queue.name)


def test_backoff_follows_the_documented_schedule() -> None:
    """The RetryConfig docs' example: 10 s min, 300 s max, 3 doublings."""
    policy = RetryPolicy(min_backoff=10, max_backoff=300, max_doublings=3)
    assert [policy.backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]
    assert RetryPolicy(max_attempts=-1).exhausted(10_000, 0, 1e9) is False
    assert RetryPolicy(max_attempts=3).exhausted(3, 0, 0) is True
    both = RetryPolicy(max_attempts=3, max_retry_duration=60)
    assert both.exhausted(3, 0, 30) is False
    assert both.exhausted(3, 0, 61) is True
