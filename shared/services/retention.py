"""Retention, run by `maintenance`: bodies go after their period, records stay.

Firestore's TTL policies (Terraform) delete whole records: webhook dedupe records after 30
days, Gmail message records after 180, OAuth flows after minutes, quota counters 35 days after
their window. This removes the *text* inside records that stay longer:

- a stored Gmail message's text after `RETENTION_MESSAGE_TEXT_DAYS` (its ids, route and intent
  stay for once-only processing and outcomes until the TTL);
- a voice sample's full extracted text after `RETENTION_SAMPLE_TEXT_DAYS` (its chunks, the
  voice the drafts use, stay until the rep deletes the sample);
- a workflow's draft, context and sent bodies once it has been idle
  `RETENTION_WORKFLOW_BODY_DAYS` (states, times, hashes, verdicts and intents stay countable).

Each kind keeps a cursor (`retention/{kind}`: the newest time it has passed), so an hourly run
reads only what aged since the last one, at most `BATCH` records a kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.privacy import body_free_workflow

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.config import Settings

log = logging.getLogger(__name__)

CURSORS = "retention"
BATCH = 2_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Kind:
    name: str
    collection: str
    time_field: str
    days: int


class Retention:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.kinds = (
            _Kind(
                "message_text",
                "gmail_messages",
                "recorded_at",
                settings.retention_message_text_days,
            ),
            _Kind(
                "sample_text", "training_samples", "created_at", settings.retention_sample_text_days
            ),
            _Kind(
                "workflow_bodies", "workflows", "updated_at", settings.retention_workflow_body_days
            ),
        )

    def run(self, now: datetime | None = None) -> dict[str, int]:
        now = now or datetime.now(UTC)
        return {kind.name: self._run(kind, now) for kind in self.kinds}

    def _run(self, kind: _Kind, now: datetime) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        db = self.store.db
        cursor_ref = db.collection(CURSORS).document(kind.name)
        cursor = (cursor_ref.get().to_dict() or {}).get("through") or EPOCH
        cutoff = now - timedelta(days=kind.days)
        if cursor >= cutoff:
            return 0
        query = (
            db.collection(kind.collection)
            .where(filter=FieldFilter(kind.time_field, ">", cursor))
            .where(filter=FieldFilter(kind.time_field, "<=", cutoff))
            .order_by(kind.time_field)
            .limit(BATCH)
        )
        changed, through = 0, cursor
        batch, pending = db.batch(), 0
        snaps = list(query.stream())
        for snap in snaps:
            data = snap.to_dict() or {}
            update = self._update(kind, data)
            through = max(through, data.get(kind.time_field) or through)
            if update:
                batch.update(snap.reference, update)
                pending += 1
                changed += 1
            if pending >= 400:
                batch.commit()
                batch, pending = db.batch(), 0
        if pending:
            batch.commit()
        # A full page may end mid-timestamp: the next run starts just before it (a record
        # already without its body is read again and left alone).
        cursor_ref.set(
            {
                "through": through - timedelta(microseconds=1) if len(snaps) == BATCH else cutoff,
                "ran_at": now,
                "changed": changed,
            }
        )
        if changed:
            log.info("retention", extra={"fields": {"kind": kind.name, "changed": changed}})
        return changed

    @staticmethod
    def _update(kind: _Kind, data: dict[str, Any]) -> dict[str, Any]:
        if kind.name == "message_text":
            return {"new_text": None, "text_removed": True} if data.get("new_text") else {}
        if kind.name == "sample_text":
            return {"content": None, "content_removed": True} if data.get("content") else {}
        update = body_free_workflow(data)
        return update if len(update) > 1 else {}
