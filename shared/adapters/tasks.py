"""Cloud Tasks: how one step hands work to the next.

Task names are derived from what the task does (`draft-<workflow>-<version>`), so enqueueing
the same step twice is refused by Cloud Tasks instead of running twice. Every task carries an
OIDC token for the target function's URL, which the target verifies.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.cloud import tasks_v2

    from shared.config import Settings

_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_ID = 500


def task_id(kind: str, *parts: object) -> str:
    """A deterministic, valid Cloud Tasks id for a step: `kind-part1-part2...`.

    Characters Cloud Tasks refuses are replaced; when that (or length) loses information a
    short hash of the exact parts keeps distinct inputs distinct.
    """
    raw = "-".join([kind, *(str(part) for part in parts)])
    clean = _ALLOWED.sub("_", raw).strip("_") or "task"
    if clean != raw or len(clean) > _MAX_ID:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        clean = f"{clean[: _MAX_ID - 17]}-{digest}"
    return clean


@dataclass(frozen=True)
class Enqueued:
    name: str
    created: bool  # False when a task of that name already existed (a duplicate enqueue)


@dataclass(frozen=True)
class Backlog:
    queue: str
    waiting: int
    overdue: int
    oldest_due: datetime | None
    complete: bool  # False when the count stopped at the limit


class TaskQueue:
    """Enqueue HTTP tasks with JSON bodies, deterministic names and OIDC tokens."""

    def __init__(
        self,
        project: str,
        location: str,
        invoker_email: str,
        endpoint: str | None = None,
    ) -> None:
        self.project = project
        self.location = location
        self.invoker_email = invoker_email
        self.endpoint = endpoint
        self._client: tasks_v2.CloudTasksClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskQueue:
        return cls(
            settings.gcp_project,
            settings.queue_location,
            settings.tasks_invoker_email,
            settings.tasks_endpoint,
        )

    @property
    def client(self) -> tasks_v2.CloudTasksClient:
        if self._client is None:
            from google.cloud import tasks_v2

            if self.endpoint:
                import grpc
                from google.cloud.tasks_v2.services.cloud_tasks.transports import (
                    CloudTasksGrpcTransport,
                )

                channel = grpc.insecure_channel(self.endpoint)
                self._client = tasks_v2.CloudTasksClient(
                    transport=CloudTasksGrpcTransport(channel=channel)
                )
            else:
                self._client = tasks_v2.CloudTasksClient()
        return self._client

    def queue_path(self, queue: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/queues/{queue}"

    def enqueue(
        self,
        queue: str,
        name: str,
        url: str,
        payload: dict[str, Any],
        *,
        schedule_at: datetime | None = None,
        audience: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Enqueued:
        """Create the task unless one of that name exists; either way the step is queued once."""
        from google.api_core import exceptions, retry
        from google.cloud import tasks_v2
        from google.protobuf import timestamp_pb2

        full_name = f"{self.queue_path(queue)}/tasks/{name}"
        if payload.get("workflow_id"):
            from shared.logs import trace_header

            headers = {**trace_header(str(payload["workflow_id"])), **(headers or {})}
        task = tasks_v2.Task(
            name=full_name,
            http_request=tasks_v2.HttpRequest(
                http_method=tasks_v2.HttpMethod.POST,
                url=url,
                headers={"Content-Type": "application/json", **(headers or {})},
                body=json.dumps(payload, separators=(",", ":"), sort_keys=True).encode(),
                oidc_token=tasks_v2.OidcToken(
                    service_account_email=self.invoker_email,
                    audience=audience or url,
                ),
            ),
        )
        if schedule_at is not None:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(schedule_at)
            task.schedule_time = stamp
        # A named create is idempotent, so transient failures may be retried safely; a retry
        # that finds the task already there (our own earlier attempt) counts as success.
        transient = retry.Retry(
            predicate=retry.if_exception_type(
                exceptions.ServiceUnavailable, exceptions.DeadlineExceeded
            ),
            initial=0.2,
            maximum=5.0,
            timeout=30.0,
        )
        try:
            self.client.create_task(parent=self.queue_path(queue), task=task, retry=transient)
        except exceptions.Conflict:
            return Enqueued(full_name, created=False)
        return Enqueued(full_name, created=True)

    def delete(self, queue: str, name: str) -> bool:
        """Delete a queued task (e.g. a cancelled follow-up); False if it was not there."""
        from google.api_core import exceptions

        try:
            self.client.delete_task(name=f"{self.queue_path(queue)}/tasks/{name}")
        except exceptions.NotFound:
            return False
        return True

    def backlog(self, queue: str, *, late_after: float = 600.0, limit: int = 5_000) -> Backlog:
        """How many tasks wait in `queue`, how many are overdue (due more than `late_after`
        seconds ago: the queue is not keeping up), and the oldest due time. Reads at most
        `limit` tasks (a small team's queues hold far fewer)."""
        from datetime import UTC, timedelta

        from google.cloud import tasks_v2

        now = datetime.now(UTC)
        waiting = overdue = 0
        oldest: datetime | None = None
        request = tasks_v2.ListTasksRequest(parent=self.queue_path(queue), page_size=1000)
        for task in self.client.list_tasks(request=request):
            waiting += 1
            due = task.schedule_time
            if due is not None:
                due = due.replace(tzinfo=UTC) if due.tzinfo is None else due
                oldest = due if oldest is None or due < oldest else oldest
                if due < now - timedelta(seconds=late_after):
                    overdue += 1
            if waiting >= limit:
                break
        return Backlog(queue, waiting, overdue, oldest, complete=waiting < limit)
