"""A Gmail push is answered by queueing the mailbox's sync, not by syncing.

Pub/Sub wants a quick answer, and the sync (token refresh, `history.list`, `messages.get`,
HubSpot lookups, Firestore writes) is slow work: it runs as a Cloud Task at `gmail_push`'s
`/sync`, with Cloud Tasks' retries and backoff, under the mailbox lease `GmailSync` takes.
The task is named after the mailbox and the push's historyId, so a redelivered push queues
nothing new. Only the Cloud Tasks client is needed here: the push path imports neither the
Gmail, HubSpot nor Firestore clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.gmail_history import PushNotice, sync_task_id
from shared.errors import TransientError

if TYPE_CHECKING:
    from shared.adapters.tasks import Enqueued, TaskQueue

SYNC_PATH = "/sync"


@dataclass(frozen=True)
class SyncTarget:
    queue: str
    function_url: str  # gmail_push's own URL: the task's OIDC audience


class SyncRequests:
    def __init__(self, tasks: TaskQueue, target: SyncTarget) -> None:
        self.tasks = tasks
        self.target = target

    def request(self, notice: PushNotice) -> Enqueued:
        """Queue the mailbox's sync once per push; TransientError (503, so Pub/Sub delivers
        the push again) when Cloud Tasks cannot take it."""
        from google.api_core import exceptions

        url = self.target.function_url.rstrip("/")
        try:
            return self.tasks.enqueue(
                self.target.queue,
                sync_task_id(notice.email, notice.history_id),
                url + SYNC_PATH,
                {"mailbox": notice.email, "history_id": notice.history_id},
                audience=url,
            )
        except exceptions.GoogleAPICallError as exc:
            raise TransientError(
                "could not queue the mailbox sync", detail=type(exc).__name__
            ) from exc
