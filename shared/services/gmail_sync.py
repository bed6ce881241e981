"""Keeping one mailbox in sync: from its stored history cursor, every new message once.

A sync holds a short lease on the mailbox document (taken with an update-time precondition,
not a transaction, so racing pushes never wait on a lock). A push that finds the lease held
sets `sync_pending` and returns at once; the holder sees the flag when it finishes and runs
once more, so no notification is lost and concurrent pushes do not spend Gmail quota twice.
A sync that crashes simply lets its lease expire.

History is read page by page; after each page's messages are recorded, the cursor moves in a
transaction to what that page proves (never backwards). A cursor Gmail no longer knows (404)
is replaced by a bounded `messages.list` over the span since the last good sync, then the
cursor restarts from the mailbox's current historyId read before that listing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.store import Store
from shared.domain.gmail_history import (
    Candidate,
    candidates,
    forward,
    page_cursor,
    resync_window,
)
from shared.errors import (
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from shared.services.mail_intake import FetchedMessage, MailIntake, Outcome

if TYPE_CHECKING:
    from shared.adapters.gmail import GmailMailbox

log = logging.getLogger(__name__)

MAILBOXES = "mailboxes"
MAX_LEASE_ATTEMPTS = 10
MAX_ROUNDS = 10  # pending re-runs one sync call may absorb before leaving the rest to the next
RESYNC_MARGIN = timedelta(hours=1)


class MailboxStatus:
    CONNECTED = "connected"
    NEEDS_ATTENTION = "needs_attention"
    DISCONNECTED = "disconnected"


@dataclass
class SyncResult:
    mailbox: str
    status: str  # synced, deferred, unknown_mailbox, disconnected, needs_attention
    outcomes: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    cursor_from: int | None = None
    cursor_to: int | None = None
    resynced: bool = False
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "status": self.status,
            "outcomes": self.outcomes,
            "routes": self.routes,
            "pages": self.pages,
            "cursor_from": self.cursor_from,
            "cursor_to": self.cursor_to,
            "resynced": self.resynced,
        }


GmailFor = Callable[[str, dict[str, Any]], "GmailMailbox"]


def _now() -> datetime:
    return datetime.now(UTC)


class GmailSync:
    def __init__(
        self,
        store: Store,
        intake: MailIntake,
        gmail_for: GmailFor,
        *,
        lease_seconds: int = 120,
        resync_max_messages: int = 500,
        resync_max_days: int = 30,
    ) -> None:
        self.store = store
        self.intake = intake
        self.gmail_for = gmail_for
        self.lease = timedelta(seconds=lease_seconds)
        self.resync_max_messages = resync_max_messages
        self.resync_max_days = resync_max_days

    def _ref(self, email: str) -> Any:
        return self.store.db.collection(MAILBOXES).document(email)

    # --- the whole sync -----------------------------------------------------------------
    def sync(self, email: str, *, trigger: str = "push") -> SyncResult:
        ref = self._ref(email)
        holder = uuid.uuid4().hex
        taken = self._acquire(ref, holder, trigger)
        if isinstance(taken, str):
            return SyncResult(email, taken)
        result = SyncResult(email, "synced")
        counts: Counter[str] = Counter()
        routes: Counter[str] = Counter()
        data = taken
        try:
            for _ in range(MAX_ROUNDS):
                self._sync_once(ref, holder, email, data, result, counts, routes)
                again = self._release_or_continue(ref, holder)
                if not again:
                    break
                data = ref.get().to_dict() or {}
            else:
                self._release(ref, holder)
        except PermanentExternalError as exc:
            result.status = self._needs_attention(ref, holder, exc)
            result.detail = exc.public_message
        except BaseException:
            self._release(ref, holder)
            raise
        result.outcomes, result.routes = dict(counts), dict(routes)
        log.info("mailbox synced", extra={"fields": {**result.as_json(), "trigger": trigger}})
        return result

    def _sync_once(
        self,
        ref: Any,
        holder: str,
        email: str,
        data: dict[str, Any],
        result: SyncResult,
        counts: Counter[str],
        routes: Counter[str],
    ) -> None:
        gmail = self.gmail_for(email, data)
        stored = data.get("history_id")
        if result.cursor_from is None:
            result.cursor_from = int(stored) if stored else None
        if not stored:
            # Never synced: start from now. Earlier mail predates the connection.
            head = int(str(gmail.profile()["historyId"]))
            result.cursor_to = self._advance(ref, holder, head)
            return
        try:
            for page in gmail.history_pages(str(stored)):
                result.pages += 1
                self._process(gmail, email, candidates(page), counts, routes, ref)
                moved = self._advance(ref, holder, page_cursor(page))
                result.cursor_to = moved
        except NotFound:
            result.resynced = True
            self._resync(ref, holder, gmail, email, data, result, counts, routes)

    # --- messages -----------------------------------------------------------------------
    def _process(
        self,
        gmail: GmailMailbox,
        email: str,
        found: list[Candidate],
        counts: Counter[str],
        routes: Counter[str],
        mailbox_ref: Any,
    ) -> None:
        if not found:
            return
        last_beat = time.monotonic()
        refs = [self.intake.message_ref(email, c.gmail_id) for c in found]
        known = {snap.id: snap for snap in self.store.db.get_all(refs) if snap.exists}
        for candidate, ref in zip(found, refs, strict=True):
            snap = known.get(ref.id)
            if snap is not None:
                counts[self.intake.repair(snap).outcome.value] += 1
                continue
            try:
                meta, raw = gmail.get_raw(candidate.gmail_id)
            except NotFound:
                counts["gone"] += 1  # deleted before we read it
                continue
            labels = frozenset(str(x).upper() for x in meta.get("labelIds", []) or [])
            message = FetchedMessage(
                mailbox=email,
                gmail_id=candidate.gmail_id,
                thread_id=str(meta.get("threadId") or candidate.thread_id),
                labels=labels or candidate.labels,
                internal_date_ms=int(meta["internalDate"]) if meta.get("internalDate") else None,
                raw=raw,
            )
            recorded = self.intake.record(message)
            if time.monotonic() - last_beat > self.lease.total_seconds() / 3:
                # A page of slow messages (LLM calls) must not outlive the lease.
                mailbox_ref.update({"sync_lease.until": _now() + self.lease})
                last_beat = time.monotonic()
            counts[recorded.outcome.value] += 1
            if recorded.route and recorded.outcome is Outcome.RECORDED:
                routes[recorded.route] += 1

    def _resync(
        self,
        ref: Any,
        holder: str,
        gmail: GmailMailbox,
        email: str,
        data: dict[str, Any],
        result: SyncResult,
        counts: Counter[str],
        routes: Counter[str],
    ) -> None:
        head = int(str(gmail.profile()["historyId"]))
        now = _now()
        window = resync_window(
            data.get("cursor_at"),
            now,
            max_days=self.resync_max_days,
            margin=RESYNC_MARGIN,
        )
        listed = gmail.list_message_ids(window.query, max_results=self.resync_max_messages)
        truncated = len(listed) >= self.resync_max_messages
        found = [
            Candidate(str(item["id"]), str(item.get("threadId") or item["id"]), frozenset())
            for item in reversed(listed)  # oldest first
        ]
        self._process(gmail, email, found, counts, routes, ref)
        result.cursor_to = self._advance(ref, holder, head)
        ref.update(
            {
                "last_resync": {
                    "at": now,
                    "since": window.since,
                    "messages": len(listed),
                    "truncated": truncated,
                    "clipped": window.clipped,
                }
            }
        )
        level = logging.WARNING if truncated or window.clipped else logging.INFO
        log.log(
            level,
            "history cursor expired; mailbox resynced",
            extra={
                "fields": {
                    "mailbox": email,
                    "messages": len(listed),
                    "truncated": truncated,
                    "clipped": window.clipped,
                }
            },
        )

    # --- the mailbox document: lease and cursor -----------------------------------------
    def _acquire(self, ref: Any, holder: str, trigger: str) -> dict[str, Any] | str:
        """The mailbox's data with our lease taken, or why not ("deferred", ...)."""
        from google.api_core.exceptions import FailedPrecondition
        from google.api_core.exceptions import NotFound as DocMissing

        for _ in range(MAX_LEASE_ATTEMPTS):
            snap = ref.get()
            if not snap.exists:
                return "unknown_mailbox"
            data: dict[str, Any] = snap.to_dict() or {}
            if data.get("status") == MailboxStatus.DISCONNECTED:
                return MailboxStatus.DISCONNECTED
            now = _now()
            seen = {"last_push_at" if trigger == "push" else f"last_{trigger}_at": now}
            lease = data.get("sync_lease") or {}
            held = bool(lease.get("until") and lease["until"] > now and lease.get("holder"))
            if held:
                update = {**seen, "sync_pending": True}
            else:
                update = {
                    **seen,
                    "sync_pending": False,
                    "sync_lease": {"holder": holder, "until": now + self.lease},
                }
            try:
                ref.update(
                    update, option=self.store.db.write_option(last_update_time=snap.update_time)
                )
            except (FailedPrecondition, DocMissing):
                continue
            return "deferred" if held else data
        raise TransientError("mailbox busy: could not take its sync lease")

    def _advance(self, ref: Any, holder: str, candidate: int | None) -> int | None:
        """Move the cursor forward (never back) and extend our lease, in one transaction."""

        def move(transaction: Any) -> int | None:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            new = forward(data.get("history_id"), candidate)
            update: dict[str, Any] = {"cursor_at": _now(), "last_sync_at": _now()}
            if new is not None:
                update["history_id"] = str(new)
            lease = data.get("sync_lease") or {}
            if lease.get("holder") == holder:
                update["sync_lease.until"] = _now() + self.lease
            if data.get("status") == MailboxStatus.NEEDS_ATTENTION:
                update["status"], update["attention"] = MailboxStatus.CONNECTED, None
            transaction.update(ref, update)
            return new

        return self.store.run_transaction(move)

    def _release_or_continue(self, ref: Any, holder: str) -> bool:
        """Release our lease, unless a push came in meanwhile: then keep it and go again."""
        from google.api_core.exceptions import FailedPrecondition
        from google.cloud import firestore

        for _ in range(MAX_LEASE_ATTEMPTS):
            snap = ref.get()
            data = snap.to_dict() or {}
            if (data.get("sync_lease") or {}).get("holder") != holder:
                return False  # our lease expired and another sync took over
            option = self.store.db.write_option(last_update_time=snap.update_time)
            try:
                if data.get("sync_pending"):
                    ref.update(
                        {"sync_pending": False, "sync_lease.until": _now() + self.lease},
                        option=option,
                    )
                    return True
                ref.update({"sync_lease": firestore.DELETE_FIELD}, option=option)
                return False
            except FailedPrecondition:
                continue
        return False

    def _release(self, ref: Any, holder: str) -> None:
        """Give the lease back after a failure, keeping any pending flag for the next sync."""
        from google.cloud import firestore

        def drop(transaction: Any) -> None:
            snap = ref.get(transaction=transaction)
            if ((snap.to_dict() or {}).get("sync_lease") or {}).get("holder") == holder:
                transaction.update(ref, {"sync_lease": firestore.DELETE_FIELD})

        try:
            self.store.run_transaction(drop)
        except Exception:  # the lease expires by itself; never hide the original error
            log.warning("could not release a mailbox lease", exc_info=True)

    def _needs_attention(self, ref: Any, holder: str, exc: PermanentExternalError) -> str:
        """A refused grant disconnects the mailbox (only reconnecting helps); another refusal
        (a missing permission) needs a person's attention. Returns the new status."""
        from google.cloud import firestore

        update = (
            disconnected_update(exc)
            if isinstance(exc, AuthorizationRefused)
            else {
                "status": MailboxStatus.NEEDS_ATTENTION,
                "attention": {"reason": exc.public_message, "detail": exc.detail, "at": _now()},
            }
        )
        ref.update({**update, "sync_lease": firestore.DELETE_FIELD})
        log.error(
            "mailbox " + str(update["status"]).replace("_", " "),
            extra={"fields": {"reason": exc.public_message, "detail": exc.detail}},
        )
        return str(update["status"])


def disconnected_update(exc: PermanentExternalError) -> dict[str, Any]:
    """The mailbox record's fields once its grant is refused (revoked, expired, password
    changed, testing-mode expiry): disconnected with the reason, the watch no longer ours."""
    return {
        "status": MailboxStatus.DISCONNECTED,
        "attention": {"reason": exc.public_message, "detail": exc.detail, "at": _now()},
        "disconnected": {"reason": exc.public_message, "at": _now()},
        "watch.status": "stopped",
    }
