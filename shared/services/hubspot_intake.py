"""HubSpot intake: each event recorded once; a lead opens one workflow and one draft task.

Per event, one Firestore transaction reads the dedupe record and the CRM object, then writes
the dedupe record (create), the object's newer properties and — when the event starts a
workflow and the contact has no open one — the workflow. A redelivered or concurrent copy of
the event finds the dedupe record and does nothing more. The draft task is enqueued after the
commit under a name derived from the workflow and version, so a crash between commit and
enqueue is repaired by HubSpot's own retry (the duplicate re-enqueues, and Cloud Tasks refuses
a second copy).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.adapters.store import Store
from shared.adapters.tasks import TaskQueue, task_id
from shared.domain.hubspot_events import Signal, Trigger
from shared.domain.workflow import Source, WorkflowState, is_open

log = logging.getLogger(__name__)

EVENTS = "hubspot_events"
OBJECTS = "crm_objects"
WORKFLOWS = "workflows"
DEDUPE_TTL = timedelta(days=30)

_SOURCE_FOR_TRIGGER = {
    Trigger.FORM: Source.FORM,
    Trigger.CONTACT_CREATED: Source.CONTACT,
    Trigger.LIFECYCLE: Source.LIFECYCLE,
}


class Outcome(StrEnum):
    OPENED = "opened"
    ATTACHED = "attached"  # the contact already had an open workflow
    RECORDED = "recorded"  # an event that starts nothing
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class DraftTarget:
    queue: str
    url: str


@dataclass
class IntakeResult:
    outcomes: dict[str, int] = field(default_factory=dict)
    opened: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


def object_doc_id(portal_id: int, object_type: str, object_id: int) -> str:
    return f"{portal_id}-{object_type}-{object_id}"


def workflow_id_for(signal: Signal) -> str:
    """Deterministic: the same opening signal always names the same workflow."""
    return f"wf-{signal.key[:24]}"


def _now() -> datetime:
    return datetime.now(UTC)


class HubSpotIntake:
    def __init__(self, store: Store, tasks: TaskQueue, draft: DraftTarget, workers: int = 8):
        self.store = store
        self.tasks = tasks
        self.draft = draft
        self.workers = workers

    def ingest(self, signals: Iterable[Signal]) -> IntakeResult:
        signals = list(signals)
        result = IntakeResult()
        if not signals:
            return result
        with ThreadPoolExecutor(max_workers=min(self.workers, len(signals))) as pool:
            recorded = list(pool.map(self._record, signals))
        to_enqueue = {wf for outcome, wf in recorded if outcome is Outcome.OPENED and wf}
        to_enqueue |= {wf for outcome, wf in recorded if outcome is Outcome.DUPLICATE and wf}
        for outcome, workflow_id in recorded:
            result.count(outcome)
            if outcome is Outcome.OPENED and workflow_id:
                result.opened.append(workflow_id)
        for workflow_id in sorted(to_enqueue):
            self._ensure_draft_task(workflow_id)
        return result

    # --- one event, one transaction -----------------------------------------------------
    def _record(self, signal: Signal) -> tuple[Outcome, str | None]:
        db = self.store.db
        event_ref = db.collection(EVENTS).document(signal.key)
        object_ref = db.collection(OBJECTS).document(
            object_doc_id(signal.portal_id, signal.object_type, signal.object_id)
        )

        def apply(transaction: Any) -> tuple[Outcome, str | None]:
            event = event_ref.get(transaction=transaction)
            if event.exists:
                return Outcome.DUPLICATE, event.get("workflow_id")
            known = object_ref.get(transaction=transaction)
            known_data: dict[str, Any] = (known.to_dict() or {}) if known.exists else {}
            now = _now()
            outcome, workflow_id = Outcome.RECORDED, None
            if signal.trigger is not None and signal.object_type == "contact":
                open_id = known_data.get("open_workflow_id")
                open_doc = (
                    db.collection(WORKFLOWS).document(open_id).get(transaction=transaction)
                    if open_id
                    else None
                )
                if open_doc is not None and open_doc.exists and is_open(open_doc.get("state")):
                    outcome, workflow_id = Outcome.ATTACHED, str(open_id)
                    self._attach(transaction, open_doc.reference, signal, now)
                else:
                    outcome, workflow_id = Outcome.OPENED, workflow_id_for(signal)
                    self._open(transaction, workflow_id, signal, now)
            transaction.create(
                event_ref,
                {
                    "portal_id": signal.portal_id,
                    "kind": signal.kind,
                    "object_type": signal.object_type,
                    "object_id": signal.object_id,
                    "occurred_at": signal.occurred_at,
                    "received_at": now,
                    "outcome": outcome.value,
                    "workflow_id": workflow_id,
                    "expires_at": now + DEDUPE_TTL,
                },
            )
            transaction.set(
                object_ref,
                self._object_update(signal, known_data, now, opened=workflow_id, outcome=outcome),
                merge=True,
            )
            return outcome, workflow_id

        return self.store.run_transaction(apply)

    @staticmethod
    def _object_update(
        signal: Signal,
        known: dict[str, Any],
        now: datetime,
        *,
        opened: str | None,
        outcome: Outcome,
    ) -> dict[str, Any]:
        """Newer property values win; an older event delivered late changes nothing."""
        stored = known.get("properties", {})
        newer = {
            name: {"value": value, "at": signal.occurred_at}
            for name, value in signal.properties.items()
            if int(stored.get(name, {}).get("at", -1)) <= signal.occurred_at
        }
        update: dict[str, Any] = {
            "portal_id": signal.portal_id,
            "object_type": signal.object_type,
            "object_id": signal.object_id,
            "updated_at": now,
        }
        if newer:
            update["properties"] = newer
        if signal.email:
            update["email"] = signal.email
        if outcome is Outcome.OPENED and opened:
            update["open_workflow_id"] = opened
        return update

    def _open(self, transaction: Any, workflow_id: str, signal: Signal, now: datetime) -> None:
        assert signal.trigger is not None
        ref = self.store.db.collection(WORKFLOWS).document(workflow_id)
        transaction.create(
            ref,
            {
                "id": workflow_id,
                "state": WorkflowState.QUEUED.value,
                "source": _SOURCE_FOR_TRIGGER[signal.trigger].value,
                "portal_id": signal.portal_id,
                "contact_id": signal.object_id,
                "contact_email": signal.email,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "draft_task_version": 0,
                "signals": 1,
                "first_signal": {"kind": signal.kind, "occurred_at": signal.occurred_at},
            },
        )
        transaction.create(ref.collection("events").document(signal.key), _timeline(signal, now))

    def _attach(self, transaction: Any, ref: Any, signal: Signal, now: datetime) -> None:
        from google.cloud import firestore

        transaction.update(
            ref,
            {
                "signals": firestore.Increment(1),
                "updated_at": now,
                "last_signal": {"kind": signal.kind, "occurred_at": signal.occurred_at},
            },
        )
        transaction.create(ref.collection("events").document(signal.key), _timeline(signal, now))

    # --- after the commit ---------------------------------------------------------------
    def _ensure_draft_task(self, workflow_id: str) -> None:
        """Enqueue the workflow's draft task unless it is already known to be queued."""
        ref = self.store.db.collection(WORKFLOWS).document(workflow_id)
        snapshot = ref.get()
        if not snapshot.exists:
            return
        version = int(snapshot.get("version"))
        if int((snapshot.to_dict() or {}).get("draft_task_version", 0)) >= version:
            return
        name = task_id("draft", workflow_id, version)
        self.tasks.enqueue(
            self.draft.queue,
            name,
            self.draft.url,
            {"workflow_id": workflow_id, "version": version},
            audience=self.draft.url,
        )
        ref.update({"draft_task_version": version, "draft_task": name})
        log.info(
            "draft task queued",
            extra={"fields": {"workflow_id": workflow_id, "task": name}},
        )


def _timeline(signal: Signal, now: datetime) -> dict[str, Any]:
    return {
        "type": "hubspot_event",
        "kind": signal.kind,
        "occurred_at": signal.occurred_at,
        "recorded_at": now,
        "object_type": signal.object_type,
        "object_id": signal.object_id,
    }
