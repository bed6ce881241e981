"""Outcome counters, written as events happen (`outcomes/{ISO week}`), read by the Outcomes page,
its CSV export and the weekly digest without recomputing anything.

Each step that makes an outcome happen calls `OutcomeLog.record` after its own state change
committed, with a key naming the event (`sent-<workflow>-<seq>`, `reply-<mailbox>:<gmail id>`).
One atomic batch creates `outcome_events/{key}` and adds the increments, so a retried step
counts once. A crash between the step's commit and this batch loses that one count (the audit
log keeps the event itself); recording never fails the step that calls it.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.outcomes import (
    OutcomeEvent,
    increments,
    iso_week,
    merged,
    rows,
    similarity,
)

if TYPE_CHECKING:
    from shared.adapters.store import Store

log = logging.getLogger(__name__)

OUTCOMES = "outcomes"
EVENTS = "outcome_events"
EVENT_RETENTION = timedelta(days=400)
CSV_HEADER = ("week", "metric", "dimension", "key", "value")


def _now() -> datetime:
    return datetime.now(UTC)


def _atomic(update: Mapping[str, Any]) -> dict[str, Any]:
    from google.cloud import firestore

    out: dict[str, Any] = {}
    for key, value in update.items():
        if isinstance(value, Mapping):
            out[key] = _atomic(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = firestore.Increment(value)
        else:
            out[key] = value
    return out


def rep_of(workflow: Mapping[str, Any]) -> str:
    from shared.services.sending import mailbox_of

    return (mailbox_of(dict(workflow)) or "").lower() or "unknown"


def source_of(workflow: Mapping[str, Any]) -> str:
    if workflow.get("campaign_id"):
        return "campaign"
    return str(workflow.get("source") or "unknown")


class OutcomeLog:
    def __init__(self, store: Store, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.clock = clock

    def record(
        self,
        metric: str,
        key: str,
        workflow_id: str | None,
        *,
        workflow: Mapping[str, Any] | None = None,
        step: int | None = None,
        duration: str | None = None,
        sent_body: str | None = None,
        also: tuple[str, ...] = (),
    ) -> bool:
        """Count one event once (with `also`: more metrics the same event makes happen, in
        the same write). `duration` names the speed-to-lead measure this event ends
        (lead_to_draft, lead_to_sent: from the workflow's creation); `sent_body` makes it a
        send, compared with the body as drafted. True when counted now."""
        try:
            return self._record(metric, key, workflow_id, workflow, step, duration, sent_body, also)
        except Exception as exc:  # an outcome counter must never fail the step itself
            log.warning("outcome not counted: %s (%s)", metric, type(exc).__name__)
            return False

    def _record(
        self,
        metric: str,
        key: str,
        workflow_id: str | None,
        workflow: Mapping[str, Any] | None,
        step: int | None,
        duration: str | None,
        sent_body: str | None,
        also: tuple[str, ...],
    ) -> bool:
        from dataclasses import replace

        from google.api_core.exceptions import AlreadyExists

        db = self.store.db
        if workflow is None and workflow_id:
            snap = db.collection("workflows").document(workflow_id).get()
            workflow = snap.to_dict() or {} if snap.exists else {}
        workflow = workflow or {}
        at = self.clock()
        draft = workflow.get("draft") or {}
        seconds: dict[str, float] = {}
        created = workflow.get("created_at")
        if duration and isinstance(created, datetime):
            seconds[duration] = max(0.0, (at - created).total_seconds())
        rep = rep_of(workflow)
        fidelity = voice = None
        if sent_body is not None:
            drafted = str(draft.get("generated_body") or draft.get("body") or "")
            fidelity = similarity(drafted, sent_body)
            voice = self._voice_source(rep)
        event = OutcomeEvent(
            metric=metric,
            at=at,
            rep=rep,
            source=source_of(workflow),
            step=int(step if step is not None else draft.get("follow_up") or 0),
            seconds=seconds,
            similarity=fidelity,
            voice_source=voice,
        )
        batch = db.batch()
        batch.create(
            db.collection(EVENTS).document(key),
            {
                "metric": metric,
                "workflow_id": workflow_id,
                "week": event.week,
                "at": at,
                "expires_at": at + EVENT_RETENTION,
            },
        )
        update = merged(
            increments(event), *(increments(replace(event, metric=m, seconds={})) for m in also)
        )
        batch.set(db.collection(OUTCOMES).document(event.week), _atomic(update), merge=True)
        try:
            batch.commit()
        except AlreadyExists:
            return False
        return True

    def _voice_source(self, rep: str) -> str:
        """The kind of sample most of the rep's voice profile was built from."""
        snap = self.store.db.collection("voice_profiles").document(rep).get()
        sources = (snap.to_dict() or {}).get("sources") or {} if snap.exists else {}
        if not sources:
            return "none"
        return str(max(sorted(sources), key=lambda s: sources[s]))

    # --- reading ------------------------------------------------------------------------
    def weeks(self, count: int = 8, now: datetime | None = None) -> list[dict[str, Any]]:
        """The last `count` ISO weeks' counters, oldest first (an empty one for a quiet week)."""
        now = now or self.clock()
        names = [iso_week(now - timedelta(weeks=count - 1 - i)) for i in range(count)]
        refs = [self.store.db.collection(OUTCOMES).document(name) for name in names]
        found = {snap.id: snap.to_dict() or {} for snap in self.store.db.get_all(refs)}
        return [{"week": name, **found.get(name, {})} for name in names]

    def csv(self, count: int = 12) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        for week in self.weeks(count):
            for row in rows(week):
                writer.writerow(row)
        return out.getvalue()
