"""Workflows stuck between steps, found by `maintenance` every hour.

A workflow waits in `queued` or `drafting` only while its draft task is queued or running; in
`sending` only while its send task runs. When a task failed all its attempts, or a queue was
purged, nothing would ever move it again. The sweep finds those idle for `STUCK_AFTER`:

- `queued` / `drafting`: a new draft task is queued under a name of its own (the old name
  stays taken for days); the draft step is safe to run again (it checks the version and
  state first);
- `sending`: never retried blindly (the send path decides what a half-done send means, with
  its Message-ID search): the send claim's lease lapses and the next approval re-runs it.

Each is logged as `event=workflow_stuck` (an alert in terraform/monitoring.tf), with the
workflow's id and trace, and counted on the health report.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.tasks import task_id
from shared.logs import workflow_scope

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue

log = logging.getLogger(__name__)

WORKFLOWS = "workflows"
STUCK_AFTER = timedelta(hours=1)
RETRIED = ("queued", "drafting")
WATCHED = (*RETRIED, "sending")
LIMIT = 200


def stuck_workflows(store: Store, now: datetime | None = None) -> list[tuple[str, dict[str, Any]]]:
    from google.cloud.firestore_v1.base_query import FieldFilter

    cutoff = (now or datetime.now(UTC)) - STUCK_AFTER
    query = (
        store.db.collection(WORKFLOWS)
        .where(filter=FieldFilter("state", "in", list(WATCHED)))
        .where(filter=FieldFilter("updated_at", "<", cutoff))
        .limit(LIMIT)
    )
    return [(snap.id, snap.to_dict() or {}) for snap in query.stream()]


def sweep(store: Store, tasks: TaskQueue, queue: str, url: str) -> dict[str, int]:
    """Re-queue the draft step of stuck drafting workflows; report every stuck one."""
    now = datetime.now(UTC)
    retried = reported = 0
    for workflow_id, data in stuck_workflows(store, now):
        state = str(data.get("state"))
        version = int(data.get("version") or 1)
        with workflow_scope(workflow_id):
            log.warning(
                "workflow stuck in %s",
                state,
                extra={"fields": {"event": "workflow_stuck", "state": state}},
            )
            reported += 1
            if state in RETRIED:
                name = task_id("draft", workflow_id, version, "retry", now.strftime("%Y%m%d%H"))
                tasks.enqueue(
                    queue,
                    name,
                    url,
                    {"workflow_id": workflow_id, "version": version},
                    audience=url,
                )
                retried += 1
    return {"stuck": reported, "retried": retried}
