"""The `send` task: an approved draft goes out exactly once, or not at all and says why.

One task per approval (`send-<workflow>-<version>-<hash>-<approval>`), scheduled after the undo
window. The run:

1. Claims the send in a Firestore transaction that also reads the flags and the quota counters:
   a newer workflow version voids the approval; the kill switch or DRAFT_ONLY suppresses the
   send (kept, visible, re-approvable); a full quota window defers it to the moment the window
   rolls over (a new task, nothing dropped); otherwise the counters are incremented (the
   reservation) and the workflow moves to `sending` with a lease. A claim that finds a live
   lease answers "busy" (503), so a concurrent duplicate waits and then finds the send done.
2. Re-checks, against Gmail and HubSpot, what Firestore cannot know: the Gmail draft still
   holds exactly the approved content, no newer message is in the thread, the address is not
   suppressed or unsubscribed. Any hold voids the send and releases the reservation.
3. Sends with our own `Message-ID` (one per approval). Any attempt after the first searches the
   mailbox for `rfc822msgid:` first and records what it finds instead of sending again, so a
   timeout after Gmail accepted the message never sends twice.
4. Records the send (state `waiting_reply`, the Gmail ids, the audit record, the next nurture
   step) and then runs the after-send effects, each idempotent and the set marked done only
   when all succeeded: the Gmail draft removed, the email logged in HubSpot with the lead
   status and the review task completed, the prepared meeting created (slot re-checked) and
   logged, the next follow-up scheduled with a Cloud Task `schedule_time`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.tasks import task_id
from shared.domain.outbound import compose, is_our_message_id, make_message_id, read_draft
from shared.domain.sending import (
    SendCheck,
    SendFlags,
    SendMode,
    content_hash,
    full_windows,
    holds,
    next_nurture_at,
    quota_windows,
    reopens_at,
)
from shared.domain.workflow import WorkflowState
from shared.errors import (
    AuthorizationRefused,
    CredentialRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from shared.services.outcomes import OutcomeLog
from shared.services.suppressions import is_suppressed

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue
    from shared.services.send_flags import AuditLog, FlagStore

log = logging.getLogger(__name__)

WORKFLOWS = "workflows"
COUNTERS = "send_counters"
KILL_SWITCH_REASON = "the kill switch is on"
COUNTER_RETENTION = timedelta(days=35)  # a closed window's counter stays readable a month


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SendTarget:
    """Where send and follow-up tasks go."""

    send_queue: str
    send_url: str
    draft_queue: str
    draft_url: str


@dataclass
class SendSources:
    gmail_for: Callable[[str], Any]  # mailbox -> GmailMailbox
    hubspot: Callable[[], Any]  # -> HubSpotContext
    calendar_for: Callable[[str], Any]  # mailbox -> CalendarClient
    refused: Callable[[str], None] = lambda connection: None  # re-read that credential next
    # (email, HubSpot subscription type id) -> "subscribed" | "not_subscribed" | "unknown"
    subscription: Callable[[str, str], str] | None = None


@dataclass
class _Claim:
    outcome: str  # claimed, sent, busy, void, suppressed, deferred, skipped
    workflow: dict[str, Any] = field(default_factory=dict)
    retry: bool = False  # an earlier attempt may have sent: search before sending
    deferred_until: datetime | None = None
    reason: str | None = None


def mailbox_of(workflow: dict[str, Any]) -> str:
    """The sending mailbox: the thread's, or the owner's the draft step resolved."""
    return str(workflow.get("mailbox") or (workflow.get("draft") or {}).get("mailbox") or "")


def send_task_name(workflow_id: str, version: int, approved_hash: str, seq: int) -> str:
    return task_id("send", workflow_id, version, approved_hash[:12], seq)


def send_message_id(workflow_id: str, version: int, mailbox: str, seq: int) -> str:
    """Our Message-ID for the send of one approval (never the draft's: drafts are messages
    too, and the search before a retry must find only what was sent)."""
    return make_message_id(workflow_id, version, mailbox.rpartition("@")[2], salt=f"send:{seq}")


class SendService:
    def __init__(
        self,
        store: Store,
        tasks: TaskQueue,
        flags: FlagStore,
        audit: AuditLog,
        sources: SendSources,
        target: SendTarget,
        *,
        team: str,
        time_zone: str,
        lease_seconds: int = 120,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.flags = flags
        self.audit = audit
        self.sources = sources
        self.target = target
        self.team = team
        self.time_zone = time_zone
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock

    def _ref(self, workflow_id: str) -> Any:
        return self.store.db.collection(WORKFLOWS).document(workflow_id)

    # --- the task -----------------------------------------------------------------------
    def run(self, workflow_id: str, version: int, approved_hash: str, seq: int) -> dict[str, Any]:
        claim = self._claim(workflow_id, version, approved_hash, seq)
        if claim.outcome == "busy":
            raise TransientError("another attempt holds this send; retry later")
        if claim.outcome == "deferred" and claim.deferred_until is not None:
            self._enqueue_send(workflow_id, version, approved_hash, seq, claim.deferred_until)
            log.warning(
                "send deferred: a quota window is full",
                extra={"fields": {"event": "send_deferred_quota", "workflow_id": workflow_id}},
            )
            return {"status": "deferred", "until": claim.deferred_until.isoformat()}
        if claim.outcome == "suppressed" and claim.reason == KILL_SWITCH_REASON:
            log.warning(
                "send held by the kill switch",
                extra={
                    "fields": {"event": "send_suppressed_kill_switch", "workflow_id": workflow_id}
                },
            )
        if claim.outcome == "sent":
            self._after_send(workflow_id, claim.workflow)
            return {"status": "sent", "already": True}
        if claim.outcome != "claimed":
            return {"status": claim.outcome, "reason": claim.reason}
        try:
            return self._send(workflow_id, version, approved_hash, seq, claim)
        except CredentialRefused as exc:
            # HubSpot cannot be asked whether the contact unsubscribed: nothing goes out
            # unchecked; the send waits for a working token.
            from shared.services.drafting import mark_connection

            mark_connection(self.store, exc)
            self.sources.refused(exc.connection)
            return self._release(
                workflow_id, seq, [exc.public_message], paused=True, connection=exc.connection
            )
        except AuthorizationRefused as exc:
            # The mailbox's grant is gone: nothing was sent; the send waits, visible, until the
            # mailbox is reconnected and a person approves again.
            return self._release(
                workflow_id, seq, [exc.public_message + ": reconnect the mailbox"], paused=True
            )

    def _claim(self, workflow_id: str, version: int, approved_hash: str, seq: int) -> _Claim:
        ref = self._ref(workflow_id)
        now = self.clock()

        def claim(transaction: Any) -> _Claim:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {} if snap.exists else {}
            flags = self.flags.read(transaction)
            approval = data.get("approval") or {}
            send = data.get("send") or {}
            if (
                not data
                or int(approval.get("seq") or 0) != seq
                or approval.get("hash") != (approved_hash)
            ):
                return _Claim("skipped", reason="this approval was replaced or cancelled")
            same_send = int(send.get("seq") or 0) == seq
            if same_send and send.get("status") == "sent":
                return _Claim("sent", data)
            if approval.get("status") not in ("scheduled", "deferred", "sending"):
                return _Claim("skipped", reason=f"approval is {approval.get('status')}")
            state = data.get("state")
            retry = same_send and int(send.get("attempts") or 0) > 0
            if state == WorkflowState.SENDING.value and same_send:
                lease = send.get("lease_until")
                if lease is not None and lease > now:
                    return _Claim("busy")
            if int(data.get("version") or 0) != version:
                self._void(transaction, ref, data, seq, "newer input arrived after the approval")
                return _Claim("void", reason="newer input arrived after the approval")
            if state not in (WorkflowState.APPROVED.value, WorkflowState.SENDING.value):
                return _Claim("skipped", reason=f"workflow is {state}")
            stop = _suppressing(flags)
            if stop is not None:
                self._suppress(transaction, ref, data, seq, stop)
                return _Claim("suppressed", reason=stop)
            reserved = list(send.get("reserved") or []) if same_send else []
            counters: dict[str, int] = {}
            if not reserved:
                windows = quota_windows(
                    mailbox=mailbox_of(data),
                    team=self.team,
                    now=now,
                    time_zone=self.time_zone,
                    quotas=flags.quotas,
                )
                refs = {w.counter_id: self._counter(w.counter_id) for w in windows}
                expiry = {w.counter_id: w.ends_at + COUNTER_RETENTION for w in windows}
                for key, counter in refs.items():
                    counter_snap = counter.get(transaction=transaction)
                    counters[key] = int((counter_snap.to_dict() or {}).get("count") or 0)
                full = full_windows(windows, counters)
                if full:
                    until = reopens_at(full)
                    transaction.update(
                        ref,
                        {
                            "approval.status": "deferred",
                            "send": {
                                "seq": seq,
                                "status": "deferred",
                                "deferred_until": until,
                                "reason": "quota full: " + ", ".join(w.scope for w in full),
                                "at": now,
                            },
                            "updated_at": now,
                        },
                    )
                    return _Claim("deferred", deferred_until=until)
                for key, counter in refs.items():
                    transaction.set(
                        counter,
                        {
                            "count": counters[key] + 1,
                            "updated_at": now,
                            "scope": key,
                            "expires_at": expiry[key],  # Firestore's TTL policy removes it
                        },
                        merge=True,
                    )
                reserved = list(refs)
            transaction.update(
                ref,
                {
                    "state": WorkflowState.SENDING.value,
                    "approval.status": "sending",
                    "send": {
                        "seq": seq,
                        "status": "sending",
                        "lease_until": now + self.lease,
                        "attempts": int(send.get("attempts") or 0) + 1 if same_send else 1,
                        "reserved": reserved,
                        "message_id": send_message_id(workflow_id, version, mailbox_of(data), seq),
                        "at": now,
                    },
                    "updated_at": now,
                },
            )
            return _Claim("claimed", data, retry=retry)

        return self.store.run_transaction(claim)

    def _counter(self, counter_id: str) -> Any:
        return self.store.db.collection(COUNTERS).document(counter_id)

    def _void(
        self, transaction: Any, ref: Any, data: dict[str, Any], seq: int, reason: str
    ) -> None:
        """The approval no longer holds; the workflow keeps the state its newer input gave it."""
        self._close(transaction, ref, data, seq, reason, "cancelled", None)

    def _suppress(
        self, transaction: Any, ref: Any, data: dict[str, Any], seq: int, reason: str
    ) -> None:
        """Held by the kill switch or the mode: kept, visible, approvable again."""
        self._close(transaction, ref, data, seq, reason, "suppressed", WorkflowState.SUPPRESSED)

    def _close(
        self,
        transaction: Any,
        ref: Any,
        data: dict[str, Any],
        seq: int,
        reason: str,
        status: str,
        state: WorkflowState | None,
    ) -> None:
        now = self.clock()
        update: dict[str, Any] = {
            "approval.status": "void" if status == "cancelled" else status,
            "send": {"seq": seq, "status": status, "reason": reason, "at": now},
            "updated_at": now,
        }
        if status == "cancelled":
            update["approval.void_reason"] = reason
        if state is not None:
            update["state"] = state.value
        transaction.update(ref, update)
        self.audit.append(
            transaction,
            f"send_{status}",
            key=f"{status}-{data.get('id')}-{seq}",
            workflow_id=data.get("id"),
            to=(data.get("draft") or {}).get("to"),
            reason=reason,
        )

    # --- sending ------------------------------------------------------------------------
    def _send(
        self, workflow_id: str, version: int, approved_hash: str, seq: int, claim: _Claim
    ) -> dict[str, Any]:
        workflow = claim.workflow
        mailbox = mailbox_of(workflow)
        message_id = send_message_id(workflow_id, version, mailbox, seq)
        gmail = self.sources.gmail_for(mailbox)
        if claim.retry:
            found = gmail.find_by_rfc822_id(message_id)
            if found is not None:
                meta, _ = gmail.get_raw(found)
                return self._record_sent(workflow_id, seq, found, meta.get("threadId"), found=True)
        draft_id = str(workflow.get("draft_id") or "")
        try:
            current = gmail.get_draft(draft_id) if draft_id else None
        except NotFound:
            current = None
        content = None
        thread_id = workflow.get("thread_id")
        if current is not None:
            import base64

            message = current.get("message") or {}
            content = read_draft(base64.urlsafe_b64decode(str(message.get("raw") or "") + "=="))
            thread_id = thread_id or message.get("threadId")
        current_hash = (
            content_hash(content.to, content.subject, content.body)
            if content is not None and content.to and not content.extra_recipients
            else None
        )
        check = SendCheck(
            kill_switch=False,  # read in the claim, a moment ago
            mode=SendMode.SEND_ALLOWED,
            approved_hash=approved_hash,
            current_hash=current_hash,
            version_current=True,
            suppressed=self._suppressed(str((workflow.get("draft") or {}).get("to") or "")),
            unsubscribed=self._unsubscribed(workflow),
            newer_in_thread=self._newer_in_thread(gmail, thread_id, workflow),
        )
        found_holds = holds(check)
        if found_holds or content is None:
            reasons = [h.reason for h in found_holds] or ["the Gmail draft no longer exists"]
            blocked = any(h.code in ("suppressed", "unsubscribed") for h in found_holds)
            return self._release(workflow_id, seq, reasons, blocked=blocked)
        raw = compose(
            sender=mailbox,
            to=content.to,
            subject=content.subject,
            body=content.body,
            message_id=message_id,
            in_reply_to=content.in_reply_to,
            references=content.references,
        )
        try:
            sent = gmail.send_raw(raw, thread_id)
        except TransientError:
            # Gmail may have taken it: the next attempt searches before it sends.
            self._end_lease(workflow_id, seq)
            raise
        except PermanentExternalError as exc:
            return self._release(workflow_id, seq, [exc.public_message], blocked=False, failed=True)
        return self._record_sent(
            workflow_id, seq, str(sent.get("id")), sent.get("threadId"), found=False
        )

    def _suppressed(self, address: str) -> bool:
        if not address:
            return False
        return is_suppressed(self.store.db, address)

    def _unsubscribed(self, workflow: dict[str, Any]) -> bool:
        if self._left_subscription(workflow):
            return True
        contact_id = workflow.get("contact_id")
        if not contact_id:
            return False
        try:
            return bool(self.sources.hubspot().for_contact(int(contact_id)).unsubscribed)
        except NotFound:
            return False

    def _left_subscription(self, workflow: dict[str, Any]) -> bool:
        """A campaign email needs its HubSpot subscription type still on (and, when the
        campaign's basis is consent, a recorded yes) at the moment it goes."""
        compliance = (workflow.get("campaign") or {}).get("compliance") or {}
        type_id = compliance.get("subscription_type_id")
        email = str(workflow.get("contact_email") or "")
        if not type_id or not email or self.sources.subscription is None:
            return False
        status = self.sources.subscription(email, str(type_id))
        if compliance.get("consent_basis") == "consent":
            return status != "subscribed"
        return status == "not_subscribed"

    @staticmethod
    def _newer_in_thread(gmail: Any, thread_id: str | None, workflow: dict[str, Any]) -> bool:
        """Since the draft was written: a message in its thread (not a draft, not ours), or
        any mail to or from the contact elsewhere (the rep wrote by hand, or they did)."""
        created = (workflow.get("draft") or {}).get("created_at")
        since = int(created.timestamp() * 1000) if isinstance(created, datetime) else 0
        seen: set[str] = set()
        if thread_id:
            for message in gmail.thread_headers(str(thread_id)):
                seen.add(str(message["id"]))
                if "DRAFT" in message["label_ids"] or is_our_message_id(message["message_id"]):
                    continue
                if message["internal_date"] > since:
                    return True
        contact = str((workflow.get("draft") or {}).get("to") or "")
        if not contact or not since:
            return False
        query = f"{{from:{contact} to:{contact}}} -in:drafts after:{since // 1000}"
        for hit in gmail.list_message_ids(query, max_results=5):
            if hit["id"] in seen:
                continue
            _, raw = gmail.get_raw(hit["id"])
            from email import message_from_bytes, policy

            header = str(message_from_bytes(raw, policy=policy.default).get("Message-ID") or "")
            if not is_our_message_id(header.strip()):
                return True
        return False

    def _end_lease(self, workflow_id: str, seq: int) -> None:
        ref = self._ref(workflow_id)

        def end(transaction: Any) -> None:
            snap = ref.get(transaction=transaction)
            send = (snap.to_dict() or {}).get("send") or {}
            if int(send.get("seq") or 0) == seq and send.get("status") == "sending":
                transaction.update(ref, {"send.lease_until": self.clock(), "send.ambiguous": True})

        self.store.run_transaction(end)

    def _release(
        self,
        workflow_id: str,
        seq: int,
        reasons: list[str],
        *,
        blocked: bool = False,
        failed: bool = False,
        paused: bool = False,
        connection: str | None = None,
    ) -> dict[str, Any]:
        """Not sent: the reservation is returned and the approval is void."""
        ref = self._ref(workflow_id)
        now = self.clock()
        if failed:
            state = WorkflowState.FAILED
        elif paused:
            state = WorkflowState.PAUSED
        elif blocked:
            state = WorkflowState.BLOCKED
        else:
            state = WorkflowState.AWAITING_APPROVAL

        def release(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            send = data.get("send") or {}
            if int(send.get("seq") or 0) != seq or send.get("status") != "sending":
                return False
            counters = [self._counter(key) for key in send.get("reserved") or []]
            counts = [c.get(transaction=transaction) for c in counters]
            for counter, counter_snap in zip(counters, counts, strict=True):
                count = int((counter_snap.to_dict() or {}).get("count") or 0)
                transaction.set(counter, {"count": max(0, count - 1)}, merge=True)
            if paused:
                transaction.update(
                    ref,
                    {
                        "paused": {
                            "kind": "send",
                            **(
                                {"connection": connection}
                                if connection
                                else {"mailbox": mailbox_of(data)}
                            ),
                            "reason": "; ".join(reasons),
                            "at": now,
                        }
                    },
                )
            transaction.update(
                ref,
                {
                    "state": state.value,
                    "approval.status": "paused" if paused else "void",
                    "approval.void_reason": "; ".join(reasons),
                    "send": {
                        "seq": seq,
                        "status": "failed" if failed else "held",
                        "reason": "; ".join(reasons),
                        "at": now,
                    },
                    "updated_at": now,
                },
            )
            self.audit.append(
                transaction,
                "send_failed" if failed else "send_held",
                key=f"held-{workflow_id}-{seq}",
                workflow_id=workflow_id,
                to=(data.get("draft") or {}).get("to"),
                reasons=reasons,
            )
            return True

        self.store.run_transaction(release)
        log.info("send held", extra={"fields": {"workflow_id": workflow_id, "reasons": reasons}})
        return {"status": "failed" if failed else "held", "reasons": reasons}

    def record_from_gmail(
        self, workflow_id: str, version: int, gmail_id: str, thread_id: str | None
    ) -> dict[str, Any]:
        """Our draft, sent by the rep from Gmail (the intake saw it in Sent): recorded like a
        send of ours, with the same after-send effects and follow-ups."""
        snap = self._ref(workflow_id).get()
        data = snap.to_dict() or {} if snap.exists else {}
        send = data.get("send") or {}
        if send.get("gmail_id") == gmail_id and send.get("status") == "sent":
            self._after_send(workflow_id, data)
            return {"status": "sent", "already": True}
        if int(data.get("version") or 0) != version:
            return {"status": "skipped", "reason": "the workflow moved on"}
        seq = int((data.get("approval") or {}).get("seq") or 0)
        return self._record_sent(
            workflow_id, seq, gmail_id, thread_id, found=True, version=version, by="rep in Gmail"
        )

    def _record_sent(
        self,
        workflow_id: str,
        seq: int,
        gmail_id: str,
        thread_id: str | None,
        *,
        found: bool,
        version: int | None = None,
        by: str = "send step",
    ) -> dict[str, Any]:
        ref = self._ref(workflow_id)
        now = self.clock()

        def record(transaction: Any) -> dict[str, Any]:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            send = dict(data.get("send") or {})
            already = int(send.get("seq") or 0) == seq and send.get("status") == "sent"
            if already and (version is None or send.get("gmail_id") == gmail_id):
                return data
            draft = data.get("draft") or {}
            approval = data.get("approval") or {}
            nurture = dict(data.get("nurture") or {})
            step = int(nurture.get("step") or 0)
            first_touch = nurture.get("first_touch_at") or now
            sent_version = version if version is not None else int(approval.get("version") or 0)
            moved_on = int(data.get("version") or 0) != sent_version
            flags = self.flags.read(transaction)
            message_id = send.get("message_id") if version is None else draft.get("message_id")
            update: dict[str, Any] = {
                "state": (
                    WorkflowState.QUEUED.value if moved_on else WorkflowState.WAITING_REPLY.value
                ),
                "approval.status": "sent" if approval else None,
                "send": {
                    **send,
                    "seq": seq,
                    "message_id": message_id,
                    "status": "sent",
                    "gmail_id": gmail_id,
                    "thread_id": thread_id,
                    "sent_at": now,
                    "found_on_retry": found,
                    "by": by,
                    "effects_done": False,
                },
                "thread_id": data.get("thread_id") or thread_id,
                "updated_at": now,
            }
            from google.cloud import firestore

            update["sends"] = firestore.ArrayUnion(
                [
                    {
                        "seq": seq,
                        "version": sent_version,
                        "step": step,
                        "subject": str(draft.get("subject") or "")[:300],
                        "body": str(draft.get("body") or "")[:1500],
                        "gmail_id": gmail_id,
                        "message_id": message_id,
                        "sent_at": now,
                    }
                ]
            )
            nurture["first_touch_at"] = first_touch
            nurture["days"] = list(flags.nurture_days)
            due = (
                None
                if moved_on or nurture.get("stopped")
                else next_nurture_at(first_touch, flags.nurture_days, step + 1, self.time_zone)
            )
            current_version = int(data.get("version") or 0)
            nurture["pending"] = (
                {
                    "step": step + 1,
                    "at": due,
                    "version": current_version,
                    "task": task_id("nurture", workflow_id, current_version, step + 1),
                }
                if due is not None
                else None
            )
            update["nurture"] = nurture
            transaction.update(ref, update)
            self.audit.append(
                transaction,
                "sent",
                key=f"sent-{workflow_id}-{gmail_id}",
                workflow_id=workflow_id,
                mailbox=mailbox_of(data),
                to=draft.get("to"),
                subject=draft.get("subject"),
                body_hash=approval.get("hash"),
                approved_by=approval.get("by"),
                sent_by=by,
                gmail_id=gmail_id,
                message_id=message_id,
                found_on_retry=found,
                nurture_step=step,
            )
            transaction.set(
                ref.collection("events").document(f"sent-{gmail_id}"),
                {"type": "sent", "recorded_at": now, "gmail_id": gmail_id, "step": step},
            )
            return {**data, **{k: v for k, v in update.items() if k != "sends"}}

        written = self.store.run_transaction(record)
        log.info(
            "sent",
            extra={"fields": {"workflow_id": workflow_id, "gmail_id": gmail_id, "found": found}},
        )
        fresh = self._ref(workflow_id).get().to_dict() or written
        last: dict[str, Any] = next(
            (s for s in reversed(fresh.get("sends") or []) if s.get("gmail_id") == gmail_id), {}
        )
        step = int(last.get("step") or 0)
        OutcomeLog(self.store).record(
            "sent",
            f"sent-{workflow_id}-{gmail_id}",
            workflow_id,
            workflow=fresh,
            step=step,
            duration=None if step else "lead_to_sent",
            sent_body=str(last.get("body") or (fresh.get("draft") or {}).get("body") or ""),
        )
        effects = self._after_send(workflow_id, fresh)
        return {"status": "sent", "gmail_id": gmail_id, "found_on_retry": found, **effects}

    # --- after the send -----------------------------------------------------------------
    def _after_send(self, workflow_id: str, workflow: dict[str, Any]) -> dict[str, Any]:
        """Each effect is keyed, so a retry redoes only what is missing."""
        send = workflow.get("send") or {}
        if send.get("effects_done"):
            return {"effects": send.get("effects") or {}}
        draft = workflow.get("draft") or {}
        mailbox = mailbox_of(workflow)
        seq = int(send.get("seq") or 0)
        effects: dict[str, Any] = {}
        if workflow.get("draft_id"):
            with contextlib.suppress(NotFound):
                self.sources.gmail_for(mailbox).delete_draft(str(workflow["draft_id"]))
            effects["gmail_draft_removed"] = True
        effects.update(self._hubspot(workflow_id, workflow, seq))
        meeting = draft.get("meeting")
        if meeting:
            try:
                effects["meeting"] = self._meeting(workflow_id, workflow, meeting)
            except PermanentExternalError as exc:  # e.g. the grant lacks calendar.events
                effects["meeting"] = {"booked": False, "reason": exc.public_message}
                self._ref(workflow_id).update(
                    {"meeting": {"booked": False, "error": exc.public_message}}
                )
        pending = (workflow.get("nurture") or {}).get("pending")
        if pending and pending.get("at") and not effects.get("meeting", {}).get("booked"):
            self.tasks.enqueue(
                self.target.draft_queue,
                str(pending["task"]),
                self.target.draft_url,
                {
                    "workflow_id": workflow_id,
                    "version": int(pending["version"]),
                    "nurture_step": int(pending["step"]),
                },
                schedule_at=pending["at"],
            )
            effects["follow_up_scheduled"] = pending["at"].isoformat()
        if int(workflow.get("version") or 0) != int(
            (workflow.get("approval") or {}).get("version") or 0
        ):
            # A reply came in while this was sending: its draft task found the workflow busy.
            version = int(workflow.get("version") or 0)
            self.tasks.enqueue(
                self.target.draft_queue,
                task_id("draft", workflow_id, version, "after-send"),
                self.target.draft_url,
                {"workflow_id": workflow_id, "version": version},
            )
            effects["redraft_queued"] = version
        self._mark_done(workflow_id, seq, effects)
        return {"effects": effects}

    def _hubspot(self, workflow_id: str, workflow: dict[str, Any], seq: int) -> dict[str, Any]:
        contact_id = workflow.get("contact_id")
        if not contact_id:
            return {}
        draft = workflow.get("draft") or {}
        send = workflow.get("send") or {}
        hubspot = self.sources.hubspot()
        effects: dict[str, Any] = {}
        try:
            context = hubspot.for_contact(int(contact_id))
            # A deal that moves before a follow-up is due ends the sequence (the draft step
            # compares); this is the baseline.
            self._ref(workflow_id).update(
                {"nurture.deal_stages": {str(d.id): d.stage for d in context.deals}}
            )
            effects["hubspot_email"] = hubspot.log_sent_email(
                key=f"sent-{workflow_id}-{send.get('gmail_id')}",
                contact_id=int(contact_id),
                company_id=context.company.id if context.company else None,
                deal_ids=[d.id for d in context.deals],
                owner_id=context.owner.id if context.owner else None,
                sender=mailbox_of(workflow),
                to=str(draft.get("to") or ""),
                subject=str(draft.get("subject") or ""),
                body=str(draft.get("body") or ""),
                sent_at=send.get("sent_at") or self.clock(),
            )
            status = "CONNECTED" if workflow.get("last_inbound") else "ATTEMPTED_TO_CONTACT"
            hubspot.set_lead_status(int(contact_id), status)
            effects["hubspot_lead_status"] = status
            task = (draft.get("hubspot") or {}).get("task_id")
            if task:
                hubspot.complete_task(str(task))
                effects["hubspot_task_completed"] = str(task)
        except (NotFound, PermanentExternalError) as exc:
            # The email is out; a refused log is recorded for a person, not retried forever.
            effects["hubspot_error"] = exc.public_message
            if isinstance(exc, CredentialRefused):
                from shared.services.drafting import mark_connection

                mark_connection(self.store, exc)
                self.sources.refused(exc.connection)
        return effects

    def _meeting(
        self, workflow_id: str, workflow: dict[str, Any], meeting: dict[str, Any]
    ) -> dict[str, Any]:
        mailbox = mailbox_of(workflow)
        start = datetime.fromisoformat(str(meeting["start"]))
        end = datetime.fromisoformat(str(meeting["end"]))
        calendar = self.sources.calendar_for(mailbox)
        key = str(meeting["key"])
        if calendar.find_event(key) is None:  # a retry finds its own event busy: skip
            busy = calendar.busy(mailbox, start, end)
            if any(b_start < end and start < b_end for b_start, b_end in busy):
                self._ref(workflow_id).update(
                    {"meeting": {"booked": False, "conflict": True, "key": key}}
                )
                return {"booked": False, "reason": "the slot is no longer free"}
        event = calendar.create_event(
            key=key,
            summary=str(meeting.get("summary") or "Call"),
            start=start,
            end=end,
            time_zone=str(meeting.get("time_zone") or "UTC"),
            attendees=list(meeting.get("attendees") or []),
            description=str(meeting.get("agenda") or ""),
            conference=bool(meeting.get("conference")),
        )
        event_id = str(event.get("id"))
        result: dict[str, Any] = {"booked": True, "event_id": event_id, "key": key}
        contact_id = workflow.get("contact_id")
        if contact_id:
            try:
                hubspot = self.sources.hubspot()
                result["hubspot_meeting"] = hubspot.log_meeting(
                    key=key,
                    contact_id=int(contact_id),
                    owner_id=workflow.get("owner_id"),
                    title=str(meeting.get("summary") or "Call"),
                    start=start,
                    end=end,
                    body=str(meeting.get("agenda") or ""),
                    location=event.get("hangoutLink"),
                )
            except (NotFound, PermanentExternalError) as exc:
                result["hubspot_error"] = exc.public_message
        self._ref(workflow_id).update(
            {
                "meeting": {**result, "start": start, "end": end, "booked_at": self.clock()},
                "nurture.stopped": "meeting booked",
                "nurture.pending": None,
            }
        )
        self.audit.record(
            "meeting_booked", key=f"meeting-{key}", workflow_id=workflow_id, event_id=event_id
        )
        OutcomeLog(self.store).record("meetings", f"meeting-{key}", workflow_id, workflow=workflow)
        return result

    def _mark_done(self, workflow_id: str, seq: int, effects: dict[str, Any]) -> None:
        ref = self._ref(workflow_id)

        def done(transaction: Any) -> None:
            snap = ref.get(transaction=transaction)
            send = (snap.to_dict() or {}).get("send") or {}
            if int(send.get("seq") or 0) == seq:
                transaction.update(
                    ref, {"send.effects_done": True, "send.effects": _plain(effects)}
                )

        self.store.run_transaction(done)

    def _enqueue_send(
        self, workflow_id: str, version: int, approved_hash: str, seq: int, at: datetime
    ) -> None:
        name = task_id(
            "send", workflow_id, version, approved_hash[:12], seq, at.strftime("%Y%m%d%H%M")
        )
        self.tasks.enqueue(
            self.target.send_queue,
            name,
            self.target.send_url,
            {"workflow_id": workflow_id, "version": version, "hash": approved_hash, "seq": seq},
            schedule_at=at,
        )
        self._ref(workflow_id).update({"approval.task": name})


def _suppressing(flags: SendFlags) -> str | None:
    if flags.kill_switch:
        return KILL_SWITCH_REASON
    if flags.mode is not SendMode.SEND_ALLOWED:
        return f"send mode is {flags.mode.value}"
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
