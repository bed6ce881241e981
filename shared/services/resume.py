"""Work paused by a refused Google grant resumes when the mailbox is reconnected.

A draft that could not reach Gmail waits as `paused` (kind `draft`); a send whose grant was
refused waits as `paused` (kind `send`) with its approval. On reconnect each is picked up in a
transaction: a draft gets a new version and its `draft` task, a send a new approval sequence
(same content hash, so the send step's last check still compares against what was approved)
and its `send` task after the undo window. Nothing paused is lost or done twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.tasks import task_id
from shared.domain.workflow import WorkflowState
from shared.services.sending import send_task_name

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue
    from shared.runtime import Runtime

log = logging.getLogger(__name__)

WORKFLOWS = "workflows"


@dataclass(frozen=True)
class ResumeTargets:
    draft_queue: str
    draft_url: str
    send_queue: str
    send_url: str
    undo_seconds: int = 60


class Resumer:
    def __init__(self, store: Store, tasks: TaskQueue, targets: ResumeTargets) -> None:
        self.store = store
        self.tasks = tasks
        self.targets = targets

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> Resumer:
        settings = runtime.settings
        return cls(
            runtime.store,
            runtime.tasks,
            ResumeTargets(
                draft_queue=settings.queue_draft,
                draft_url=settings.function_url_draft,
                send_queue=settings.queue_send,
                send_url=settings.function_url_send,
                undo_seconds=settings.send_undo_seconds,
            ),
        )

    def resume(self, mailbox: str) -> dict[str, int]:
        """What a mailbox's refused grant paused, now that it is reconnected."""
        return self._resume_where("paused.mailbox", mailbox)

    def resume_connection(self, connection: str) -> dict[str, int]:
        """What a refused HubSpot token or OpenAI key paused, now that it is replaced."""
        return self._resume_where("paused.connection", connection)

    def _resume_where(self, field: str, value: str) -> dict[str, int]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.store.db.collection(WORKFLOWS)
            .where(filter=FieldFilter(field, "==", value))
            .limit(500)
        )
        counts = {"draft": 0, "send": 0}
        for snap in query.stream():
            kind = self._resume_one(snap.reference)
            if kind is not None:
                counts[kind] += 1
        log.info("paused work resumed", extra={"fields": {field: value, **counts}})
        return counts

    def _resume_one(self, ref: Any) -> str | None:
        from google.cloud import firestore

        now = datetime.now(UTC)

        def take(transaction: Any) -> tuple[str, dict[str, Any]] | None:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            paused = data.get("paused") or {}
            if data.get("state") != WorkflowState.PAUSED.value or not paused:
                return None
            update: dict[str, Any] = {
                "paused": firestore.DELETE_FIELD,
                "resumed": {"at": now, "kind": paused.get("kind")},
                "updated_at": now,
            }
            approval = data.get("approval") or {}
            if paused.get("kind") == "send" and approval.get("hash"):
                seq = int(approval.get("seq") or 0) + 1
                version = int(data.get("version") or 0)
                name = send_task_name(ref.id, version, str(approval["hash"]), seq)
                send_after = now + timedelta(seconds=self.targets.undo_seconds)
                update.update(
                    {
                        "state": WorkflowState.APPROVED.value,
                        "approval.seq": seq,
                        "approval.status": "scheduled",
                        "approval.send_after": send_after,
                        "approval.task": name,
                        "approval.why": "resumed after the mailbox was reconnected",
                    }
                )
                transaction.update(ref, update)
                return "send", {
                    "name": name,
                    "at": send_after,
                    "payload": {
                        "workflow_id": ref.id,
                        "version": version,
                        "hash": approval["hash"],
                        "seq": seq,
                    },
                }
            version = int(data.get("version") or 0) + 1
            update.update({"state": WorkflowState.QUEUED.value, "version": version})
            transaction.update(ref, update)
            return "draft", {
                "name": task_id("draft", ref.id, version),
                "payload": {"workflow_id": ref.id, "version": version},
            }

        taken = self.store.run_transaction(take)
        if taken is None:
            return None
        kind, task = taken
        if kind == "send":
            self.tasks.enqueue(
                self.targets.send_queue,
                task["name"],
                self.targets.send_url,
                task["payload"],
                schedule_at=task["at"],
            )
        else:
            self.tasks.enqueue(
                self.targets.draft_queue, task["name"], self.targets.draft_url, task["payload"]
            )
        return kind
