"""The send flags (mode, kill switch, auto-approve policy, quotas, undo window, nurture steps)
and the append-only audit log.

Flags live in one document, `flags/sending`; the deployment's settings give the defaults until
an operator changes something. A change is one transaction: read, validate, write the new
flags with a revision number, and append one audit record per changed field (who, when, old,
new, why). Readers that must act on the current value (the send task) read the document inside
their own transaction.

The audit log (`audit`) is only ever created into: records have deterministic ids where the
event has a natural key (so a retried step records once), and the application never updates
or deletes them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.domain.sending import BadFlags, Quotas, SendFlags, SendMode, change_flags
from shared.errors import BadRequest

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.config import Settings

FLAGS = "flags"
FLAGS_DOC = "sending"
AUDIT = "audit"


def default_flags(settings: Settings) -> SendFlags:
    return SendFlags(
        mode=SendMode(settings.send_mode_default),
        quotas=Quotas(
            mailbox_day=settings.send_quota_mailbox_day,
            mailbox_week=settings.send_quota_mailbox_week,
            team_day=settings.send_quota_team_day,
        ),
        undo_seconds=settings.send_undo_seconds,
        nurture_days=settings.nurture_working_days,
    )


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def ref(self, key: str | None = None) -> Any:
        return self.store.db.collection(AUDIT).document(key or uuid.uuid4().hex)

    def record(self, kind: str, *, key: str | None = None, **fields: Any) -> None:
        """Append one record outside a transaction; a repeat of the same key is a no-op."""
        from google.api_core.exceptions import AlreadyExists

        with contextlib.suppress(AlreadyExists):
            self.ref(key).create(_entry(kind, fields))

    def append(self, transaction: Any, kind: str, *, key: str | None = None, **fields: Any) -> None:
        """Append inside `transaction` (the caller's reads decided it is new)."""
        transaction.create(self.ref(key), _entry(kind, fields))

    def entries(self, *, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query: Any = self.store.db.collection(AUDIT)
        if kind:
            query = query.where(filter=FieldFilter("kind", "==", kind))
        query = query.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
        return [snap.to_dict() or {} for snap in query.stream()]


def _entry(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "at": datetime.now(UTC), **fields}


class FlagStore:
    def __init__(self, store: Store, defaults: SendFlags, audit: AuditLog) -> None:
        self.store = store
        self.defaults = defaults
        self.audit = audit

    @property
    def ref(self) -> Any:
        return self.store.db.collection(FLAGS).document(FLAGS_DOC)

    def read(self, transaction: Any = None) -> SendFlags:
        snap = self.ref.get(transaction=transaction)
        return SendFlags.from_doc(snap.to_dict() if snap.exists else None, self.defaults)

    def current(self) -> dict[str, Any]:
        snap = self.ref.get()
        data = snap.to_dict() or {} if snap.exists else {}
        flags = SendFlags.from_doc(data or None, self.defaults)
        return {
            **flags.to_doc(),
            "revision": int(data.get("revision") or 0),
            "updated_at": data.get("updated_at"),
            "updated_by": data.get("updated_by"),
        }

    def change(self, patch: Mapping[str, Any], *, who: str, reason: str) -> dict[str, Any]:
        """Apply `patch`, audited field by field. A change needs a reason; no-op changes write
        nothing."""
        reason = (reason or "").strip()
        if not reason:
            raise BadRequest("say why: a flag change needs a reason")
        if len(reason) > 500:
            raise BadRequest("reason: at most 500 characters")

        def apply(transaction: Any) -> list[Any]:
            snap = self.ref.get(transaction=transaction)
            data = snap.to_dict() or {} if snap.exists else {}
            current = SendFlags.from_doc(data or None, self.defaults)
            try:
                updated, changes = change_flags(current, patch)
            except BadFlags as exc:
                raise BadRequest(str(exc)) from None
            if not changes:
                return []
            revision = int(data.get("revision") or 0) + 1
            now = datetime.now(UTC)
            transaction.set(
                self.ref,
                {**updated.to_doc(), "revision": revision, "updated_at": now, "updated_by": who},
            )
            for change in changes:
                self.audit.append(
                    transaction,
                    "flag_change",
                    key=f"flag-{revision}-{change.field}",
                    who=who,
                    field=change.field,
                    old=change.old,
                    new=change.new,
                    reason=reason,
                    revision=revision,
                )
            return changes

        changes = self.store.run_transaction(apply)
        return {
            "changed": [{"field": c.field, "old": c.old, "new": c.new} for c in changes],
            "flags": self.current(),
        }
