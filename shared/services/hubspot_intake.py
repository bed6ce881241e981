"""HubSpot intake: each event recorded once; a lead opens one workflow and one draft task.

Each event is applied with one atomic batch write, guarded optimistically instead of by a
transaction: the dedupe record is written with `create()` (a second copy of the event fails
with AlreadyExists), and the CRM object it changes is written with a `last_update_time`
precondition (or `create()` when new), so two deliveries racing on one contact cannot both
open a workflow: the loser re-reads and attaches its signal to the winner's workflow. That is
two Firestore round trips per event (one batched read for the whole webhook, one commit per
event) instead of a transaction's four, and no lock waits.

The draft task is enqueued after the commit under a name derived from the workflow and
version; a crash between commit and enqueue is repaired by HubSpot's retry of the delivery
(the duplicate re-enqueues while the workflow is still queued, and Cloud Tasks refuses a
second copy of a task that exists).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections import defaultdict
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
from shared.logs import workflow_scope
from shared.services.suppressions import contact_suppression_ref, is_forgotten, suppression_ref

log = logging.getLogger(__name__)

EVENTS = "hubspot_events"
OBJECTS = "crm_objects"
WORKFLOWS = "workflows"
DEDUPE_TTL = timedelta(days=30)
MAX_ATTEMPTS = 8

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
    FORGOTTEN = "forgotten"  # a person erased on request: nothing of theirs is written


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


class ContendedError(RuntimeError):
    """An event kept losing races for its object; HubSpot's retry will bring it back."""


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
        known, from_mail = self._prefetch(signals)
        by_object: dict[str, list[Signal]] = defaultdict(list)
        for signal in signals:
            by_object[self._object_ref(signal).path].append(signal)
        groups = list(by_object.values())
        if len(groups) == 1:
            recorded = self._process_group(groups[0], known, from_mail)
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(groups))) as pool:
                recorded = [
                    item
                    for items in pool.map(
                        lambda g: self._process_group(g, known, from_mail), groups
                    )
                    for item in items
                ]
        for outcome, workflow_id in recorded:
            result.count(outcome)
            if outcome is Outcome.OPENED and workflow_id:
                result.opened.append(workflow_id)
        return result

    def _process_group(
        self, signals: list[Signal], known: dict[str, Any], from_mail: dict[int, Any]
    ) -> list[tuple[Outcome, str | None]]:
        """Record one object's events, then queue what they opened (in this worker, so the
        enqueues of a 100-event batch run in parallel too)."""
        recorded = self._record_group(signals, known, from_mail)
        for outcome, workflow_id in recorded:
            if outcome is Outcome.OPENED and workflow_id:
                self._enqueue_draft(workflow_id, 1)
        for workflow_id in sorted({wf for o, wf in recorded if o is Outcome.DUPLICATE and wf}):
            self._repair_draft_task(workflow_id)
        return recorded

    # --- reading ------------------------------------------------------------------------
    def _event_ref(self, signal: Signal) -> Any:
        return self.store.db.collection(EVENTS).document(signal.key)

    def _object_ref(self, signal: Signal) -> Any:
        doc_id = object_doc_id(signal.portal_id, signal.object_type, signal.object_id)
        return self.store.db.collection(OBJECTS).document(doc_id)

    def _suppression_refs(self, signal: Signal) -> list[Any]:
        refs = []
        if signal.object_type == "contact":
            refs.append(contact_suppression_ref(self.store.db, signal.object_id))
        if signal.email:
            refs.append(suppression_ref(self.store.db, signal.email))
        return refs

    def _prefetch(self, signals: list[Signal]) -> tuple[dict[str, Any], dict[int, Any]]:
        """Every dedupe record, object and suppression of the webhook in one round trip; for
        a single lead (a form submission), the workflow its Gmail reply may have opened is
        looked up at the same time, as the commit will ask for it (`from_mail`)."""
        refs = {
            ref.path: ref
            for s in signals
            for ref in (self._event_ref(s), self._object_ref(s), *self._suppression_refs(s))
        }
        leads = {
            s.object_id for s in signals if s.trigger is not None and s.object_type == "contact"
        }
        if len(leads) != 1:
            snaps = self.store.db.get_all(list(refs.values()))
            return {snap.reference.path: snap for snap in snaps}, {}
        (contact_id,) = leads
        with ThreadPoolExecutor(max_workers=1) as pool:
            looked_up = pool.submit(self._open_workflow_from_mail, contact_id)
            snaps = self.store.db.get_all(list(refs.values()))
            known = {snap.reference.path: snap for snap in snaps}
            return known, {contact_id: looked_up.result()}

    # --- writing: one atomic batch per event ---------------------------------------------
    def _record_group(
        self, signals: list[Signal], known: dict[str, Any], from_mail: dict[int, Any]
    ) -> list[tuple[Outcome, str | None]]:
        """Events of one object, oldest first; after the first, re-read what we just wrote
        (and look up a Gmail-opened workflow afresh)."""
        results = []
        for index, signal in enumerate(sorted(signals, key=lambda s: s.occurred_at)):
            if index:
                refs = [self._event_ref(signal), self._object_ref(signal)]
                known = {**known, **{s.reference.path: s for s in self.store.db.get_all(refs)}}
                from_mail = {}
            results.append(self._record(signal, known, from_mail))
        return results

    def _record(
        self, signal: Signal, known: dict[str, Any], from_mail: dict[int, Any]
    ) -> tuple[Outcome, str | None]:
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition

        event_ref, object_ref = self._event_ref(signal), self._object_ref(signal)
        for attempt in range(MAX_ATTEMPTS):
            event, obj = known[event_ref.path], known[object_ref.path]
            if event.exists:
                return Outcome.DUPLICATE, event.get("workflow_id")
            if any(is_forgotten(known.get(r.path)) for r in self._suppression_refs(signal)):
                return self._record_forgotten(signal, event_ref), None
            try:
                return self._commit(signal, event_ref, obj, from_mail)
            except (AlreadyExists, FailedPrecondition):
                # Lost a race (same event or same object written meanwhile): read again.
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311
                snaps = self.store.db.get_all([event_ref, object_ref])
                known = {**known, **{snap.reference.path: snap for snap in snaps}}
                from_mail = {}
        raise ContendedError(f"event {signal.key} contended {MAX_ATTEMPTS} times")

    def _commit(
        self, signal: Signal, event_ref: Any, obj: Any, from_mail: dict[int, Any]
    ) -> tuple[Outcome, str | None]:
        db = self.store.db
        batch = db.batch()
        now = _now()
        data: dict[str, Any] = (obj.to_dict() or {}) if obj.exists else {}
        outcome, workflow_id = Outcome.RECORDED, None
        if signal.trigger is not None and signal.object_type == "contact":
            open_id = data.get("open_workflow_id")
            open_doc = db.collection(WORKFLOWS).document(open_id).get() if open_id else None
            if open_doc is None or not open_doc.exists or not is_open(open_doc.get("state")):
                if signal.object_id in from_mail:
                    open_doc = from_mail[signal.object_id]
                    open_id = open_doc.id if open_doc is not None else None
                else:
                    open_doc = self._open_workflow_from_mail(signal.object_id)
                    open_id = open_doc.id if open_doc is not None else None
            if open_doc is not None and open_doc.exists and is_open(open_doc.get("state")):
                outcome, workflow_id = Outcome.ATTACHED, str(open_id)
                self._attach(batch, open_doc, signal, now)
            else:
                outcome, workflow_id = Outcome.OPENED, workflow_id_for(signal)
                self._open(batch, workflow_id, signal, now)
        batch.create(
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
        update = self._object_update(signal, data, now)
        if outcome is Outcome.OPENED:
            update["open_workflow_id"] = workflow_id
        if obj.exists:
            batch.update(
                obj.reference, update, option=db.write_option(last_update_time=obj.update_time)
            )
        else:
            batch.create(obj.reference, _unflatten(update))
        batch.commit()
        return outcome, workflow_id

    def _record_forgotten(self, signal: Signal, event_ref: Any) -> Outcome:
        """Only that the event came (for once-only delivery), without its properties."""
        from google.api_core.exceptions import AlreadyExists

        now = _now()
        with contextlib.suppress(AlreadyExists):
            event_ref.create(
                {
                    "kind": signal.kind,
                    "object_type": signal.object_type,
                    "received_at": now,
                    "outcome": Outcome.FORGOTTEN.value,
                    "workflow_id": None,
                    "expires_at": now + DEDUPE_TTL,
                }
            )
        return Outcome.FORGOTTEN

    def _open_workflow_from_mail(self, contact_id: int) -> Any | None:
        """An open workflow a Gmail reply opened for this contact (Gmail intake knows the
        contact id but not the CRM object record), so HubSpot signals join it."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.store.db.collection(WORKFLOWS)
            .where(filter=FieldFilter("contact_id", "==", contact_id))
            .limit(20)
        )
        found = [snap for snap in query.stream() if is_open((snap.to_dict() or {}).get("state"))]
        return found[0] if found else None

    @staticmethod
    def _object_update(signal: Signal, known: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Field paths to write. Newer property values win; a late older event changes none."""
        from google.cloud.firestore_v1.field_path import FieldPath

        stored = known.get("properties", {})
        update: dict[str, Any] = {
            "portal_id": signal.portal_id,
            "object_type": signal.object_type,
            "object_id": signal.object_id,
            "updated_at": now,
        }
        for name, value in signal.properties.items():
            if int(stored.get(name, {}).get("at", -1)) <= signal.occurred_at:
                path = FieldPath("properties", name).to_api_repr()
                update[path] = {"value": value, "at": signal.occurred_at}
        if signal.email:
            update["email"] = signal.email
        return update

    def _open(self, batch: Any, workflow_id: str, signal: Signal, now: datetime) -> None:
        assert signal.trigger is not None
        ref = self.store.db.collection(WORKFLOWS).document(workflow_id)
        batch.create(
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
                "signals": 1,
                "first_signal": {"kind": signal.kind, "occurred_at": signal.occurred_at},
            },
        )
        batch.create(ref.collection("events").document(signal.key), _timeline(signal, now))

    def _attach(self, batch: Any, workflow: Any, signal: Signal, now: datetime) -> None:
        from google.cloud import firestore

        batch.update(
            workflow.reference,
            {
                "signals": firestore.Increment(1),
                "updated_at": now,
                "last_signal": {"kind": signal.kind, "occurred_at": signal.occurred_at},
            },
            option=self.store.db.write_option(last_update_time=workflow.update_time),
        )
        batch.create(
            workflow.reference.collection("events").document(signal.key), _timeline(signal, now)
        )

    # --- after the commit ---------------------------------------------------------------
    def _enqueue_draft(self, workflow_id: str, version: int) -> None:
        name = task_id("draft", workflow_id, version)
        self.tasks.enqueue(
            self.draft.queue,
            name,
            self.draft.url,
            {"workflow_id": workflow_id, "version": version},
            audience=self.draft.url,
        )
        with workflow_scope(workflow_id):
            log.info("draft task queued")

    def _repair_draft_task(self, workflow_id: str) -> None:
        """A redelivered event whose workflow still waits for its first draft: queue it again
        (a no-op when the task exists), in case the first delivery died before enqueueing."""
        snapshot = self.store.db.collection(WORKFLOWS).document(workflow_id).get()
        if snapshot.exists and snapshot.get("state") == WorkflowState.QUEUED.value:
            self._enqueue_draft(workflow_id, int(snapshot.get("version")))


def _unflatten(update: dict[str, Any]) -> dict[str, Any]:
    """Field paths (`properties.name` or quoted) back to nested maps for a create()."""
    from google.cloud.firestore_v1.field_path import FieldPath

    nested: dict[str, Any] = {}
    for path, value in update.items():
        parts = FieldPath.from_api_repr(path).parts
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _timeline(signal: Signal, now: datetime) -> dict[str, Any]:
    return {
        "type": "hubspot_event",
        "kind": signal.kind,
        "occurred_at": signal.occurred_at,
        "recorded_at": now,
        "object_type": signal.object_type,
        "object_id": signal.object_id,
    }
