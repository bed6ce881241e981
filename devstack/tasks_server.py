"""A local Cloud Tasks v2 gRPC server, built on google-cloud-tasks' own message types.

The official `CloudTasksClient` talks to it unmodified over an insecure channel. It keeps what
the application relies on in production and the PyPI emulator lacks: named-task dedup with
tombstones, HTTP dispatch with the real `X-CloudTasks-*` headers and an OIDC bearer token,
retries with the documented backoff, `schedule_time`, pause/resume and per-queue concurrency.

Deliberate differences from the real service: only HTTP tasks (no App Engine tasks); targets
must be on 127.0.0.1; `max_dispatches_per_second` is stored, not enforced; a deleted queue's
name can be reused at once; proto3 cannot tell an explicit 0 from "unset", so 0 in a
RetryConfig field means "use the default".
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import logging
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import grpc
import requests
from google.cloud import tasks_v2
from google.protobuf import empty_pb2
from google.rpc import code_pb2, status_pb2

from devstack.grpc_service import RpcFailure, paginate, unary

log = logging.getLogger("devstack.tasks")

SERVICE = "google.cloud.tasks.v2.CloudTasks"
LOCALHOST = "127.0.0.1"
DEFAULT_DISPATCH_DEADLINE = 600.0
MAX_DISPATCH_DEADLINE = 1800.0
DEFAULT_MAX_DISPATCHES_PER_SECOND = 500.0
DEFAULT_MAX_BURST_SIZE = 100
DEFAULT_MAX_CONCURRENT_DISPATCHES = 1000

TokenSigner = Callable[[str, str], str]
"""Mints an OIDC ID token: `(audience, service_account_email) -> token`."""

Outcome = Literal["succeeded", "retrying", "failed", "deleted"]

_QUEUE_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]{1,100}$")
_LOCATION_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+$")
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
_BODY_METHODS = {tasks_v2.HttpMethod.POST, tasks_v2.HttpMethod.PUT, tasks_v2.HttpMethod.PATCH}
_DROPPED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass(frozen=True)
class RetryPolicy:
    """A queue's (or task's) RetryConfig with Cloud Tasks' defaults filled in; times in s."""

    max_attempts: int = 100
    max_retry_duration: float = 0.0
    min_backoff: float = 0.1
    max_backoff: float = 3600.0
    max_doublings: int = 16

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (1 = the first retry).

        As Cloud Tasks documents: start at min_backoff, double max_doublings times, then grow
        linearly by min_backoff * 2**max_doublings, never beyond max_backoff.
        """
        steps = max(retry - 1, 0)
        doublings = min(steps, self.max_doublings)
        delay = self.min_backoff * 2**doublings
        if steps > self.max_doublings:
            delay += (steps - self.max_doublings) * self.min_backoff * 2**self.max_doublings
        return min(delay, self.max_backoff)

    def exhausted(self, attempts: int, first_attempt_at: float, now: float) -> bool:
        """True when no retry is left.

        Cloud Tasks stops only when both limits are met: max_attempts (-1 = unlimited) and
        max_retry_duration (0 = unlimited); with both unlimited it never gives up.
        """
        attempts_limited = self.max_attempts != -1
        duration_limited = self.max_retry_duration > 0
        if not (attempts_limited or duration_limited):
            return False
        attempts_done = not attempts_limited or attempts >= self.max_attempts
        duration_done = not duration_limited or now - first_attempt_at >= self.max_retry_duration
        return attempts_done and duration_done

    def to_proto(self) -> tasks_v2.RetryConfig:
        return tasks_v2.RetryConfig(
            max_attempts=self.max_attempts,
            max_retry_duration=timedelta(seconds=self.max_retry_duration),
            min_backoff=timedelta(seconds=self.min_backoff),
            max_backoff=timedelta(seconds=self.max_backoff),
            max_doublings=self.max_doublings,
        )


_RETRY_FIELDS = (
    "max_attempts",
    "max_retry_duration",
    "min_backoff",
    "max_backoff",
    "max_doublings",
)
_RATE_FIELDS = ("max_dispatches_per_second", "max_burst_size", "max_concurrent_dispatches")


def merge_retry(
    base: RetryPolicy, config: tasks_v2.RetryConfig, fields: tuple[str, ...]
) -> RetryPolicy:
    """`base` with the given fields taken from `config`; a zero/unset field means the default."""
    default = RetryPolicy()
    changes: dict[str, Any] = {}
    for name in fields:
        if name not in _RETRY_FIELDS:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"unknown field retry_config.{name}")
        value: Any = getattr(config, name)
        if isinstance(value, timedelta):
            value = value.total_seconds()
        changes[name] = value if value else getattr(default, name)
    policy = replace(base, **changes)
    if policy.max_attempts < -1:
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "max_attempts must be >= -1")
    if policy.min_backoff < 0 or policy.min_backoff > policy.max_backoff:
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "need 0 <= min_backoff <= max_backoff")
    if policy.max_doublings < 0 or policy.max_retry_duration < 0:
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "negative retry setting")
    return policy


def _set_fields(config: Any) -> tuple[str, ...]:
    """The fields of a RetryConfig/RateLimits that carry a value (proto3: non-zero)."""
    names = _RETRY_FIELDS if isinstance(config, tasks_v2.RetryConfig) else _RATE_FIELDS
    return tuple(name for name in names if name in config and getattr(config, name))


@dataclass(frozen=True)
class DispatchRecord:
    """One finished attempt. `outcome` is final for `succeeded`, `failed` and `deleted`."""

    task: str
    queue: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    dispatched_at: float
    time: float
    outcome: Outcome
    headers: dict[str, str]

    @property
    def final(self) -> bool:
        return self.outcome != "retrying"


@dataclass
class _Queue:
    name: str
    retry: RetryPolicy
    rate_limits: tasks_v2.RateLimits
    paused: bool = False
    purge_time: float | None = None
    in_flight: int = 0
    parked: set[str] = field(default_factory=set)

    @property
    def max_concurrent(self) -> int:
        return int(self.rate_limits.max_concurrent_dispatches) or DEFAULT_MAX_CONCURRENT_DISPATCHES


@dataclass
class _Task:
    name: str
    queue: str
    http_request: tasks_v2.HttpRequest
    retry_config: tasks_v2.RetryConfig | None
    create_time: float
    schedule_time: float
    dispatch_deadline: float
    dispatch_count: int = 0
    response_count: int = 0
    execution_count: int = 0
    first_attempt: tasks_v2.Attempt | None = None
    last_attempt: tasks_v2.Attempt | None = None
    first_dispatch_at: float | None = None
    previous_response: int | None = None
    retry_reason: str | None = None
    generation: int = 0
    in_flight: bool = False


@dataclass
class _Attempt:
    """What a worker needs to perform one dispatch, captured under the lock."""

    task: str
    queue: _Queue
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    deadline: float
    number: int
    epoch: int
    oidc: tuple[str, str] | None
    dispatched_at: float
    proto: tasks_v2.Attempt


def _ts(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _rpc_code_for_http(status: int) -> int:
    if 200 <= status < 300:
        return code_pb2.OK
    return {
        400: code_pb2.INVALID_ARGUMENT,
        401: code_pb2.UNAUTHENTICATED,
        403: code_pb2.PERMISSION_DENIED,
        404: code_pb2.NOT_FOUND,
        409: code_pb2.ABORTED,
        429: code_pb2.RESOURCE_EXHAUSTED,
        499: code_pb2.CANCELLED,
        501: code_pb2.UNIMPLEMENTED,
        503: code_pb2.UNAVAILABLE,
        504: code_pb2.DEADLINE_EXCEEDED,
    }.get(status, code_pb2.INTERNAL if status >= 500 else code_pb2.FAILED_PRECONDITION)


def check_local_url(url: str) -> None:
    """Refuse any task URL that is not http(s) on 127.0.0.1: nothing leaves this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"URL must be http(s): {url!r}")
    if parts.hostname != LOCALHOST:
        raise RpcFailure(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"devstack Cloud Tasks dispatches only to {LOCALHOST}, not {parts.hostname!r}",
        )


class CloudTasksServer:
    """Cloud Tasks v2 over gRPC on 127.0.0.1, dispatching HTTP tasks to local targets."""

    def __init__(
        self,
        token_signer: TokenSigner | None = None,
        tombstone_seconds: float = 3600,
        dispatch_workers: int = 8,
    ) -> None:
        self._token_signer = token_signer
        self._tombstone_seconds = tombstone_seconds
        self._workers = dispatch_workers
        self._cond = threading.Condition()
        self._queues: dict[str, _Queue] = {}
        self._tasks: dict[str, _Task] = {}
        self._tombstones: dict[str, float] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._history: list[DispatchRecord] = []
        self._in_flight = 0
        self._epoch = 0
        self._stopping = False
        self._server: grpc.Server | None = None
        self._pool: futures.ThreadPoolExecutor | None = None
        self._scheduler: threading.Thread | None = None
        self._port = 0
        self._local = threading.local()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        """Serve on 127.0.0.1:`port` (0 = any free port) and start dispatching; returns the port."""
        if self._server is not None:
            raise RuntimeError("already started")
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="tasks-grpc"),
            handlers=[self._generic_handler()],
        )
        self._port = server.add_insecure_port(f"{LOCALHOST}:{port}")
        server.start()
        with self._cond:
            self._stopping = False
            self._requeue_all_locked()
        self._pool = futures.ThreadPoolExecutor(
            max_workers=self._workers, thread_name_prefix="tasks-dispatch"
        )
        self._scheduler = threading.Thread(
            target=self._run_scheduler, name="tasks-scheduler", daemon=True
        )
        self._scheduler.start()
        self._server = server
        log.info("Cloud Tasks stand-in listening on %s", self.address)
        return self._port

    def stop(self) -> None:
        """Stop serving and dispatching; attempts already sent finish in the background."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
            self._scheduler = None
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self._port}"

    @property
    def history(self) -> list[DispatchRecord]:
        """A snapshot of every finished attempt, oldest first."""
        with self._cond:
            return list(self._history)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no task is queued (scheduled, parked or retrying) and none is in flight."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._tasks or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def reset(self) -> None:
        """Forget all queues, tasks, tombstones and history; late results of old attempts are
        discarded."""
        with self._cond:
            self._epoch += 1
            self._queues.clear()
            self._tasks.clear()
            self._tombstones.clear()
            self._heap.clear()
            self._history.clear()
            self._cond.notify_all()
            # A dispatch already under way would write into whatever comes next (a test
            # reusing the same workflow id): let it finish first.
            deadline = time.monotonic() + 30
            while self._in_flight and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())

    # ---- queues ----------------------------------------------------------------------------

    def create_queue(self, request: tasks_v2.CreateQueueRequest) -> tasks_v2.Queue:
        if not _LOCATION_NAME.match(request.parent):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad parent {request.parent!r}")
        name = request.queue.name
        if not _QUEUE_NAME.match(name) or not name.startswith(request.parent + "/queues/"):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad queue name {name!r}")
        with self._cond:
            if name in self._queues:
                raise RpcFailure(grpc.StatusCode.ALREADY_EXISTS, f"Queue {name} already exists")
            queue = self._new_queue(request.queue)
            self._queues[name] = queue
            return self._queue_proto(queue)

    def get_queue(self, request: tasks_v2.GetQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            return self._queue_proto(self._queue_or_404(request.name))

    def list_queues(self, request: tasks_v2.ListQueuesRequest) -> tasks_v2.ListQueuesResponse:
        prefix = request.parent + "/queues/"
        with self._cond:
            queues = [self._queue_proto(q) for n, q in self._queues.items() if n.startswith(prefix)]
        page, token = paginate(queues, request.page_size, request.page_token, 1000)
        return tasks_v2.ListQueuesResponse(queues=page, next_page_token=token)

    def update_queue(self, request: tasks_v2.UpdateQueueRequest) -> tasks_v2.Queue:
        """Updates retry_config / rate_limits; like Cloud Tasks, creates a missing queue."""
        name = request.queue.name
        if not _QUEUE_NAME.match(name):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad queue name {name!r}")
        paths = list(request.update_mask.paths) if "update_mask" in request else []
        with self._cond:
            queue = self._queues.get(name)
            if queue is None:
                queue = self._new_queue(request.queue)
                self._queues[name] = queue
                return self._queue_proto(queue)
            if not paths:
                paths = [p for p in ("retry_config", "rate_limits") if p in request.queue]
            retry, rates = queue.retry, tasks_v2.RateLimits(queue.rate_limits)
            for path in paths:
                head, _, sub = path.partition(".")
                if head == "retry_config":
                    retry = merge_retry(
                        RetryPolicy() if not sub else retry,
                        request.queue.retry_config,
                        (sub,) if sub else _set_fields(request.queue.retry_config),
                    )
                elif head == "rate_limits":
                    new = request.queue.rate_limits
                    for fname in (sub,) if sub else _RATE_FIELDS:
                        if fname not in _RATE_FIELDS:
                            raise RpcFailure(
                                grpc.StatusCode.INVALID_ARGUMENT, f"unknown field {path}"
                            )
                        setattr(rates, fname, getattr(new, fname))
                else:
                    raise RpcFailure(
                        grpc.StatusCode.INVALID_ARGUMENT, f"cannot update queue field {path!r}"
                    )
            queue.retry, queue.rate_limits = retry, self._with_rate_defaults(rates)
            self._unpark_locked(queue)
            return self._queue_proto(queue)

    def delete_queue(self, request: tasks_v2.DeleteQueueRequest) -> empty_pb2.Empty:
        with self._cond:
            queue = self._queue_or_404(request.name)
            self._drop_tasks_locked(queue.name)
            del self._queues[queue.name]
            self._cond.notify_all()
        return empty_pb2.Empty()

    def purge_queue(self, request: tasks_v2.PurgeQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            queue = self._queue_or_404(request.name)
            self._drop_tasks_locked(queue.name)
            queue.purge_time = time.time()
            self._cond.notify_all()
            return self._queue_proto(queue)

    def pause_queue(self, request: tasks_v2.PauseQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            queue = self._queue_or_404(request.name)
            queue.paused = True
            return self._queue_proto(queue)

    def resume_queue(self, request: tasks_v2.ResumeQueueRequest) -> tasks_v2.Queue:
        with self._cond:
            queue = self._queue_or_404(request.name)
            queue.paused = False
            self._unpark_locked(queue)
            return self._queue_proto(queue)

    # ---- tasks -----------------------------------------------------------------------------

    def create_task(self, request: tasks_v2.CreateTaskRequest) -> tasks_v2.Task:
        task = request.task
        if "app_engine_http_request" in task:
            raise RpcFailure(grpc.StatusCode.UNIMPLEMENTED, "only HTTP tasks are supported")
        if "http_request" not in task or not task.http_request.url:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "task.http_request.url is required")
        http = tasks_v2.HttpRequest(task.http_request)
        check_local_url(http.url)
        if http.http_method == tasks_v2.HttpMethod.HTTP_METHOD_UNSPECIFIED:
            http.http_method = tasks_v2.HttpMethod.POST
        if http.body and http.http_method not in _BODY_METHODS:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT, "a body is allowed only with POST, PUT, PATCH"
            )
        deadline = DEFAULT_DISPATCH_DEADLINE
        if "dispatch_deadline" in task and task.dispatch_deadline.total_seconds() > 0:
            deadline = task.dispatch_deadline.total_seconds()
            if deadline > MAX_DISPATCH_DEADLINE:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "dispatch_deadline > 30 min")
        now = time.time()
        schedule = task.schedule_time.timestamp() if "schedule_time" in task else now
        with self._cond:
            queue = self._queue_or_404(request.parent)
            name = self._task_name_locked(queue.name, task.name, now)
            if "retry_config" in task:
                merge_retry(queue.retry, task.retry_config, _set_fields(task.retry_config))
            state = _Task(
                name=name,
                queue=queue.name,
                http_request=http,
                retry_config=(
                    tasks_v2.RetryConfig(task.retry_config) if "retry_config" in task else None
                ),
                create_time=now,
                schedule_time=schedule,
                dispatch_deadline=deadline,
            )
            self._tasks[name] = state
            self._push_locked(state)
            log.debug("task %s created, due in %.3fs", name, schedule - now)
            return self._task_proto(state, request.response_view)

    def get_task(self, request: tasks_v2.GetTaskRequest) -> tasks_v2.Task:
        with self._cond:
            return self._task_proto(self._task_or_404(request.name), request.response_view)

    def list_tasks(self, request: tasks_v2.ListTasksRequest) -> tasks_v2.ListTasksResponse:
        with self._cond:
            queue = self._queue_or_404(request.parent)
            tasks = [
                self._task_proto(t, request.response_view)
                for t in self._tasks.values()
                if t.queue == queue.name
            ]
        page, token = paginate(tasks, request.page_size, request.page_token, 1000)
        return tasks_v2.ListTasksResponse(tasks=page, next_page_token=token)

    def delete_task(self, request: tasks_v2.DeleteTaskRequest) -> empty_pb2.Empty:
        with self._cond:
            task = self._task_or_404(request.name)
            self._remove_task_locked(task)
            self._cond.notify_all()
        return empty_pb2.Empty()

    def run_task(self, request: tasks_v2.RunTaskRequest) -> tasks_v2.Task:
        """Dispatch now, even if the queue is paused or at its concurrency limit."""
        with self._cond:
            task = self._task_or_404(request.name)
            if not task.in_flight:
                task.schedule_time = time.time()
                self._start_attempt_locked(task, self._queues[task.queue])
            return self._task_proto(task, request.response_view)

    # ---- state helpers (call with the lock held) -------------------------------------------

    def _queue_or_404(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Queue {name} does not exist")
        return queue

    def _task_or_404(self, name: str) -> _Task:
        queue_name, sep, _ = name.rpartition("/tasks/")
        if not sep:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad task name {name!r}")
        self._queue_or_404(queue_name)
        task = self._tasks.get(name)
        if task is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Task {name} does not exist")
        return task

    def _task_name_locked(self, queue_name: str, requested: str, now: float) -> str:
        if not requested:
            while True:
                name = f"{queue_name}/tasks/{secrets.randbits(63)}"
                if name not in self._tasks:
                    return name
        queue_part, sep, task_id = requested.rpartition("/tasks/")
        if not sep or queue_part != queue_name or not _TASK_ID.match(task_id):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad task name {requested!r}")
        self._sweep_tombstones_locked(now)
        if requested in self._tasks or self._tombstones.get(requested, 0) > now:
            raise RpcFailure(
                grpc.StatusCode.ALREADY_EXISTS,
                "The task cannot be created because a task with this name existed too recently.",
            )
        return requested

    def _sweep_tombstones_locked(self, now: float) -> None:
        expired = [name for name, until in self._tombstones.items() if until <= now]
        for name in expired:
            del self._tombstones[name]

    def _remove_task_locked(self, task: _Task) -> None:
        self._tasks.pop(task.name, None)
        self._tombstones[task.name] = time.time() + self._tombstone_seconds
        queue = self._queues.get(task.queue)
        if queue is not None:
            queue.parked.discard(task.name)

    def _drop_tasks_locked(self, queue_name: str) -> None:
        for task in [t for t in self._tasks.values() if t.queue == queue_name]:
            self._remove_task_locked(task)

    def _push_locked(self, task: _Task) -> None:
        task.generation += 1
        heapq.heappush(
            self._heap, (task.schedule_time, next(self._seq), task.name, task.generation)
        )
        self._cond.notify_all()

    def _unpark_locked(self, queue: _Queue) -> None:
        if queue.paused:
            return
        for name in queue.parked:
            task = self._tasks.get(name)
            if task is not None and not task.in_flight:
                self._push_locked(task)
        queue.parked.clear()

    def _requeue_all_locked(self) -> None:
        """After a restart: forget attempts of the previous run and queue every task again."""
        self._epoch += 1
        self._in_flight = 0
        self._heap.clear()
        for queue in self._queues.values():
            queue.in_flight = 0
            queue.parked.clear()
        for task in self._tasks.values():
            task.in_flight = False
            self._push_locked(task)

    def _new_queue(self, proto: tasks_v2.Queue) -> _Queue:
        retry = RetryPolicy()
        if "retry_config" in proto:
            retry = merge_retry(retry, proto.retry_config, _set_fields(proto.retry_config))
        rates = tasks_v2.RateLimits(proto.rate_limits) if "rate_limits" in proto else None
        return _Queue(
            name=proto.name,
            retry=retry,
            rate_limits=self._with_rate_defaults(rates or tasks_v2.RateLimits()),
            paused=proto.state == tasks_v2.Queue.State.PAUSED,
        )

    @staticmethod
    def _with_rate_defaults(rates: tasks_v2.RateLimits) -> tasks_v2.RateLimits:
        if rates.max_concurrent_dispatches < 0 or rates.max_dispatches_per_second < 0:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "negative rate limit")
        return tasks_v2.RateLimits(
            max_dispatches_per_second=(
                rates.max_dispatches_per_second or DEFAULT_MAX_DISPATCHES_PER_SECOND
            ),
            max_burst_size=rates.max_burst_size or DEFAULT_MAX_BURST_SIZE,
            max_concurrent_dispatches=(
                rates.max_concurrent_dispatches or DEFAULT_MAX_CONCURRENT_DISPATCHES
            ),
        )

    def _queue_proto(self, queue: _Queue) -> tasks_v2.Queue:
        proto = tasks_v2.Queue(
            name=queue.name,
            retry_config=queue.retry.to_proto(),
            rate_limits=tasks_v2.RateLimits(queue.rate_limits),
            state=tasks_v2.Queue.State.PAUSED if queue.paused else tasks_v2.Queue.State.RUNNING,
        )
        if queue.purge_time is not None:
            proto.purge_time = _ts(queue.purge_time)
        return proto

    @staticmethod
    def _task_proto(task: _Task, view: tasks_v2.Task.View | int) -> tasks_v2.Task:
        """The task as the API returns it; BASIC (the default view) omits the body."""
        full = view == tasks_v2.Task.View.FULL
        http = tasks_v2.HttpRequest(task.http_request)
        if not full:
            http.body = b""
        proto = tasks_v2.Task(
            name=task.name,
            http_request=http,
            schedule_time=_ts(task.schedule_time),
            create_time=_ts(task.create_time),
            dispatch_deadline=timedelta(seconds=task.dispatch_deadline),
            dispatch_count=task.dispatch_count,
            response_count=task.response_count,
            view=tasks_v2.Task.View.FULL if full else tasks_v2.Task.View.BASIC,
        )
        if task.first_attempt is not None:
            proto.first_attempt = tasks_v2.Attempt(task.first_attempt)
        if task.last_attempt is not None:
            proto.last_attempt = tasks_v2.Attempt(task.last_attempt)
        if task.retry_config is not None:
            proto.retry_config = tasks_v2.RetryConfig(task.retry_config)
        return proto

    def _policy_locked(self, task: _Task, queue: _Queue) -> RetryPolicy:
        if task.retry_config is None:
            return queue.retry
        return merge_retry(queue.retry, task.retry_config, _set_fields(task.retry_config))

    # ---- dispatch --------------------------------------------------------------------------

    def _run_scheduler(self) -> None:
        with self._cond:
            while not self._stopping:
                timeout = self._dispatch_due_locked()
                self._cond.wait(timeout)

    def _dispatch_due_locked(self) -> float | None:
        """Start every due task a worker and its queue can take; seconds until the next is due
        (None: wait for a change)."""
        while self._heap:
            due, _, name, generation = self._heap[0]
            task = self._tasks.get(name)
            if task is None or task.generation != generation or task.in_flight:
                heapq.heappop(self._heap)
                continue
            now = time.time()
            if due > now:
                return due - now
            if self._in_flight >= self._workers:
                return None
            heapq.heappop(self._heap)
            queue = self._queues[task.queue]
            if queue.paused or queue.in_flight >= queue.max_concurrent:
                queue.parked.add(name)
                continue
            self._start_attempt_locked(task, queue)
        return None

    def _start_attempt_locked(self, task: _Task, queue: _Queue) -> None:
        now = time.time()
        task.generation += 1
        task.in_flight = True
        task.dispatch_count += 1
        if task.first_dispatch_at is None:
            task.first_dispatch_at = now
            task.first_attempt = tasks_v2.Attempt(dispatch_time=_ts(now))
        queue.in_flight += 1
        self._in_flight += 1
        http = task.http_request
        oidc = None
        if "oidc_token" in http:
            audience = http.oidc_token.audience or http.url
            oidc = (audience, http.oidc_token.service_account_email)
        attempt = _Attempt(
            task=task.name,
            queue=queue,
            url=http.url,
            method=tasks_v2.HttpMethod(http.http_method).name,
            headers=self._headers_locked(task),
            body=bytes(http.body),
            deadline=task.dispatch_deadline,
            number=task.dispatch_count,
            epoch=self._epoch,
            oidc=oidc,
            dispatched_at=now,
            proto=tasks_v2.Attempt(schedule_time=_ts(task.schedule_time), dispatch_time=_ts(now)),
        )
        assert self._pool is not None
        self._pool.submit(self._execute, attempt)

    def _headers_locked(self, task: _Task) -> dict[str, str]:
        headers = {
            k: v for k, v in task.http_request.headers.items() if k.lower() not in _DROPPED_HEADERS
        }
        lower = {k.lower(): k for k in headers}
        if task.http_request.body and "content-type" not in lower:
            headers["Content-Type"] = "application/octet-stream"
        if "user-agent" in lower:
            key = lower["user-agent"]
            headers[key] = f"{headers[key]} Google-Cloud-Tasks"
        else:
            headers["User-Agent"] = "Google-Cloud-Tasks"
        headers["X-CloudTasks-QueueName"] = _short(task.queue)
        headers["X-CloudTasks-TaskName"] = _short(task.name)
        headers["X-CloudTasks-TaskRetryCount"] = str(task.dispatch_count - 1)
        headers["X-CloudTasks-TaskExecutionCount"] = str(task.execution_count)
        headers["X-CloudTasks-TaskETA"] = f"{task.schedule_time:.6f}"
        if task.dispatch_count > 1:
            headers["X-CloudTasks-TaskPreviousResponse"] = str(task.previous_response or 0)
            headers["X-CloudTasks-TaskRetryReason"] = task.retry_reason or "unknown"
        return headers

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never route through a proxy from the environment
            self._local.session = session
        return session

    def _execute(self, attempt: _Attempt) -> None:
        status: int | None = None
        error: str | None = None
        headers = dict(attempt.headers)
        try:
            check_local_url(attempt.url)
            if attempt.oidc is not None:
                if self._token_signer is None:
                    log.warning(
                        "task %s asks for an OIDC token but no token_signer is configured;"
                        " dispatching without Authorization",
                        attempt.task,
                    )
                else:
                    headers["Authorization"] = "Bearer " + self._token_signer(*attempt.oidc)
            response = self._session().request(
                attempt.method,
                attempt.url,
                headers=headers,
                data=attempt.body or None,
                timeout=attempt.deadline,
                allow_redirects=False,
            )
            response.close()
            status = response.status_code
        except RpcFailure as exc:
            error = exc.message
        except requests.Timeout:
            error = f"no response within the dispatch deadline ({attempt.deadline:g}s)"
        except requests.RequestException as exc:
            error = f"connection failed: {type(exc).__name__}"
        except Exception as exc:
            log.exception("dispatching %s failed unexpectedly", attempt.task)
            error = f"dispatch failed: {exc!r}"
        with self._cond:
            self._finish_locked(attempt, headers, status, error)

    def _finish_locked(
        self, attempt: _Attempt, headers: dict[str, str], status: int | None, error: str | None
    ) -> None:
        self._in_flight -= 1
        self._cond.notify_all()
        if attempt.epoch != self._epoch:
            return
        now = time.time()
        queue = attempt.queue
        queue.in_flight -= 1
        if self._queues.get(queue.name) is queue:
            self._unpark_locked(queue)
        ok = status is not None and 200 <= status < 300
        proto = attempt.proto
        if status is not None:
            proto.response_time = _ts(now)
            proto.response_status = status_pb2.Status(
                code=_rpc_code_for_http(status), message=f"HTTP status code {status}"
            )
        else:
            timeout = error is not None and error.startswith("no response")
            proto.response_status = status_pb2.Status(
                code=code_pb2.DEADLINE_EXCEEDED if timeout else code_pb2.UNAVAILABLE,
                message=error or "",
            )
        task = self._tasks.get(attempt.task)
        outcome: Outcome
        if task is None:
            outcome = "succeeded" if ok else "deleted"
        else:
            task.in_flight = False
            task.last_attempt = proto
            if status is not None:
                task.response_count += 1
                if status < 500:
                    task.execution_count += 1
            policy = self._policy_locked(task, queue)
            assert task.first_dispatch_at is not None
            if ok:
                outcome = "succeeded"
                self._remove_task_locked(task)
            elif policy.exhausted(task.dispatch_count, task.first_dispatch_at, now):
                outcome = "failed"
                self._remove_task_locked(task)
                log.warning(
                    "task %s dropped after %d attempts (last: %s)",
                    task.name,
                    task.dispatch_count,
                    status if status is not None else error,
                )
            else:
                outcome = "retrying"
                task.previous_response = status
                task.retry_reason = (
                    f"HTTP status code {status}" if status is not None else error or "unknown"
                )
                task.schedule_time = now + policy.backoff(task.dispatch_count)
                self._push_locked(task)
        log.debug("task %s attempt %d: %s (%s)", attempt.task, attempt.number, status, outcome)
        self._history.append(
            DispatchRecord(
                task=attempt.task,
                queue=queue.name,
                url=attempt.url,
                attempt=attempt.number,
                status=status,
                error=error,
                dispatched_at=attempt.dispatched_at,
                time=now,
                outcome=outcome,
                headers=headers,
            )
        )

    # ---- gRPC wiring -----------------------------------------------------------------------

    def _generic_handler(self) -> grpc.GenericRpcHandler:
        t = tasks_v2
        empty = empty_pb2.Empty.SerializeToString
        methods: dict[str, grpc.RpcMethodHandler] = {
            "CreateQueue": unary(self.create_queue, t.CreateQueueRequest, t.Queue.serialize),
            "GetQueue": unary(self.get_queue, t.GetQueueRequest, t.Queue.serialize),
            "ListQueues": unary(
                self.list_queues, t.ListQueuesRequest, t.ListQueuesResponse.serialize
            ),
            "UpdateQueue": unary(self.update_queue, t.UpdateQueueRequest, t.Queue.serialize),
            "DeleteQueue": unary(self.delete_queue, t.DeleteQueueRequest, empty),
            "PurgeQueue": unary(self.purge_queue, t.PurgeQueueRequest, t.Queue.serialize),
            "PauseQueue": unary(self.pause_queue, t.PauseQueueRequest, t.Queue.serialize),
            "ResumeQueue": unary(self.resume_queue, t.ResumeQueueRequest, t.Queue.serialize),
            "CreateTask": unary(self.create_task, t.CreateTaskRequest, t.Task.serialize),
            "GetTask": unary(self.get_task, t.GetTaskRequest, t.Task.serialize),
            "ListTasks": unary(self.list_tasks, t.ListTasksRequest, t.ListTasksResponse.serialize),
            "DeleteTask": unary(self.delete_task, t.DeleteTaskRequest, empty),
            "RunTask": unary(self.run_task, t.RunTaskRequest, t.Task.serialize),
        }
        return grpc.method_handlers_generic_handler(SERVICE, methods)


def serve_forever(server: CloudTasksServer, port: int) -> None:
    """Run `server` until SIGINT or SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start(port)
    stop.wait()
    server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Cloud Tasks v2 gRPC server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tombstone-seconds", type=float, default=3600)
    parser.add_argument("--dispatch-workers", type=int, default=8)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    serve_forever(
        CloudTasksServer(
            tombstone_seconds=args.tombstone_seconds, dispatch_workers=args.dispatch_workers
        ),
        args.port,
    )


if __name__ == "__main__":
    main()
