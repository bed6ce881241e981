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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.sending import (
    MAX_OVERRIDE_HOURS,
    BadFlags,
    Override,
    Quotas,
    SendFlags,
    SendMode,
    active_overrides,
    change_flags,
    override_value,
    with_quota_overrides,
)
from shared.errors import BadRequest, NotFound

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


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("say why: a change needs a reason")
    if len(reason) > 500:
        raise BadRequest("reason: at most 500 characters")
    return reason


def _entry(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "at": datetime.now(UTC), **fields}


def read_overrides(
    store: Store, transaction: Any = None, now: datetime | None = None
) -> list[Override]:
    """The overrides in force (they live in the flags document)."""
    snap = store.db.collection(FLAGS).document(FLAGS_DOC).get(transaction=transaction)
    stored = (snap.to_dict() or {}).get("overrides") if snap.exists else None
    return active_overrides(stored, now or datetime.now(UTC))


class RecentFlags:
    """The flags document as read at most `max_age` seconds ago, for what only reports or
    guards softly: the draft's quota report and the gate's guardrail overrides (a change
    applies within seconds). What must act on the current value (the send's claim, an
    approval, auto-approve) reads the document itself."""

    def __init__(self, store: Store, max_age: float = 5.0) -> None:
        import threading

        self.store = store
        self.max_age = max_age
        self._at = -max_age
        self._doc: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def doc(self) -> dict[str, Any] | None:
        import time

        with self._lock:
            if time.monotonic() - self._at >= self.max_age:
                snap = self.store.db.collection(FLAGS).document(FLAGS_DOC).get()
                self._doc = (snap.to_dict() or {}) if snap.exists else None
                self._at = time.monotonic()
            return self._doc

    def overrides(self) -> list[Override]:
        return active_overrides((self.doc() or {}).get("overrides"), datetime.now(UTC))

    def flags(self, defaults: SendFlags) -> SendFlags:
        doc = self.doc()
        return with_quota_overrides(SendFlags.from_doc(doc, defaults), self.overrides())


class FlagStore:
    def __init__(self, store: Store, defaults: SendFlags, audit: AuditLog) -> None:
        self.store = store
        self.defaults = defaults
        self.audit = audit

    @property
    def ref(self) -> Any:
        return self.store.db.collection(FLAGS).document(FLAGS_DOC)

    def read(self, transaction: Any = None) -> SendFlags:
        """The flags in force: the stored ones with the quota overrides that have not lapsed."""
        snap = self.ref.get(transaction=transaction)
        data = snap.to_dict() if snap.exists else None
        flags = SendFlags.from_doc(data, self.defaults)
        overrides = active_overrides((data or {}).get("overrides"), datetime.now(UTC))
        return with_quota_overrides(flags, overrides)

    def current(self) -> dict[str, Any]:
        snap = self.ref.get()
        data = snap.to_dict() or {} if snap.exists else {}
        flags = SendFlags.from_doc(data or None, self.defaults)
        overrides = active_overrides(data.get("overrides"), datetime.now(UTC))
        return {
            **flags.to_doc(),
            "overrides": [o.model_dump(mode="json") for o in overrides],
            "quotas_in_force": with_quota_overrides(flags, overrides).quotas.model_dump(),
            "revision": int(data.get("revision") or 0),
            "updated_at": data.get("updated_at"),
            "updated_by": data.get("updated_by"),
        }

    def overrides(self, transaction: Any = None, now: datetime | None = None) -> list[Override]:
        return read_overrides(self.store, transaction, now)

    def set_override(
        self, target: str, value: Any, *, hours: Any, reason: str, who: str
    ) -> dict[str, Any]:
        """A temporary value for one quota or guardrail (OVERRIDE_TARGETS, or
        `campaign.<id>.per_day` / `campaign.<id>.per_minute`) that lapses by itself after
        `hours` (1 to 720). Needs a reason; audited. A later override of the same target
        replaces the earlier one."""
        reason = _reason(reason)
        try:
            checked = override_value(str(target), value)
            duration = int(hours)
        except BadFlags as exc:
            raise BadRequest(str(exc)) from None
        except (TypeError, ValueError):
            raise BadRequest(f"hours: a whole number from 1 to {MAX_OVERRIDE_HOURS}") from None
        if not 1 <= duration <= MAX_OVERRIDE_HOURS:
            raise BadRequest(f"hours: a whole number from 1 to {MAX_OVERRIDE_HOURS}")
        now = datetime.now(UTC)
        override = Override(
            id=uuid.uuid4().hex[:12],
            target=str(target),
            value=checked,
            reason=reason,
            by=who,
            at=now,
            expires_at=now + timedelta(hours=duration),
        )

        def apply(transaction: Any) -> None:
            kept = [o for o in self.overrides(transaction, now) if o.target != override.target]
            stored = [o.model_dump(mode="python") for o in (*kept, override)]
            transaction.set(self.ref, {"overrides": stored}, merge=True)
            self.audit.append(
                transaction,
                "override_set",
                key=f"override-{override.id}",
                who=who,
                field=override.target,
                new=checked,
                reason=reason,
                expires_at=override.expires_at,
            )

        self.store.run_transaction(apply)
        return {"override": override.model_dump(mode="json"), "flags": self.current()}

    def revoke_override(self, override_id: str, *, reason: str, who: str) -> dict[str, Any]:
        """End an override early (audited). NotFound for an id that is not in force."""
        reason = _reason(reason)
        now = datetime.now(UTC)

        def apply(transaction: Any) -> Override:
            active = self.overrides(transaction, now)
            gone = next((o for o in active if o.id == override_id), None)
            if gone is None:
                raise NotFound("no such override in force")
            stored = [o.model_dump(mode="python") for o in active if o.id != override_id]
            transaction.set(self.ref, {"overrides": stored}, merge=True)
            self.audit.append(
                transaction,
                "override_revoked",
                key=f"override-{override_id}-revoked",
                who=who,
                field=gone.target,
                old=gone.value,
                reason=reason,
            )
            return gone

        revoked = self.store.run_transaction(apply)
        return {"revoked": revoked.model_dump(mode="json"), "flags": self.current()}

    def change(self, patch: Mapping[str, Any], *, who: str, reason: str) -> dict[str, Any]:
        """Apply `patch`, audited field by field. A change needs a reason; no-op changes write
        nothing."""
        reason = _reason(reason)

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
                {
                    **updated.to_doc(),
                    "overrides": data.get("overrides") or [],
                    "revision": revision,
                    "updated_at": now,
                    "updated_by": who,
                },
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
