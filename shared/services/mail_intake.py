"""One Gmail message, recorded once, and what it changes: the route's effects on workflows.

`MailIntake.record` parses and routes a fetched message, asks HubSpot whether an unknown
sender is a contact and the intent classifier what a prospect's reply wants (both outside any
transaction), then applies everything in one Firestore transaction that starts by creating
nothing if the message's dedupe record already exists. Tasks are enqueued after the commit,
under names derived from the workflow and version; the message record keeps `effects_done`
false until they are, so a sync that sees the message again finishes the job instead of
skipping it.

Effects by route (the route itself is decided in `shared.domain.routing`):

- prospect reply: the thread's open workflow, else the sender's open workflow, advances (a new
  version, back to `queued`; any pending draft and any scheduled follow-up belong to the old
  version and are stale), or a new workflow opens; a `draft` task is queued either way.
- rep sent: the thread's workflow records that the rep answered (new version, so any pending
  draft is stale); the text becomes a pending voice sample. Mail the send step sent (our own
  Message-ID) changes nothing; our draft sent by the rep from Gmail is a send: a new version
  (so no queued send of it can go too) and a task for the send step to record it.
- auto-reply: the next follow-up waits (`nurture.resume_after`); no draft.
- bounce: the address is suppressed and its workflow blocked.
- unsubscribe: the address is suppressed and every open workflow of the contact closed.
- newsletters, internal mail, unknown senders: recorded only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from shared.adapters.llm import RulesIntentClassifier
from shared.adapters.store import Store
from shared.adapters.tasks import TaskQueue, task_id
from shared.domain.gmail_history import message_doc_id, readable, thread_doc_id
from shared.domain.intent import Intent, IntentResult, classify_intent_rules
from shared.domain.mail import ParsedMessage, parse_message
from shared.domain.outbound import is_our_message_id
from shared.domain.routing import Route, RoutingContext, RoutingDecision, route
from shared.domain.workflow import Source, WorkflowState, is_open
from shared.logs import workflow_scope
from shared.services.suppressions import is_forgotten, suppression_ref
from shared.services.voice import SAMPLES, TaskTarget, sample_id_for

log = logging.getLogger(__name__)

MESSAGES = "gmail_messages"
THREADS = "threads"
WORKFLOWS = "workflows"
MAX_STORED_TEXT = 20_000
# A message record is the dedupe key for Gmail's at-least-once history (a 404 resync reaches
# back 30 days at most) and the thread's memory for drafting; Firestore's TTL policy on
# `expires_at` removes it after this.
MESSAGE_RETENTION = timedelta(days=180)
UNSUBSCRIBE_INTENT_CONFIDENCE = 0.6


class ContactInfo(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def owner_id(self) -> str | None: ...


class ContactLookup(Protocol):
    def find_by_email(self, email: str) -> ContactInfo | None: ...


class IntentReader(Protocol):
    def classify(self, new_text: str, subject: str) -> IntentResult: ...


class Outcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    REPAIRED = "repaired"  # seen before with its task not yet queued; queued now
    SKIPPED = "skipped"  # not an inbound or sent message (a draft, spam, trash)


@dataclass(frozen=True)
class DraftTarget:
    queue: str
    url: str


@dataclass(frozen=True)
class FetchedMessage:
    mailbox: str
    gmail_id: str
    thread_id: str
    labels: frozenset[str]
    internal_date_ms: int | None
    raw: bytes


@dataclass
class Recorded:
    outcome: Outcome
    route: str | None = None
    workflow_id: str | None = None
    draft_task: str | None = None


@dataclass
class _Plan:
    """What one transaction decided; enough to run the post-commit effects."""

    decision: RoutingDecision
    intent: IntentResult | None
    workflow_id: str | None = None
    version: int | None = None
    opened: bool = False
    draft_task: str | None = None
    voice_task: str | None = None
    voice_sample_id: str | None = None
    send_task: str | None = None  # the rep sent our draft from Gmail: the send step records it
    send_payload: dict[str, Any] | None = None
    changes: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _cancel_follow_up(workflow: Any, reason: str, now: datetime) -> dict[str, Any]:
    """Field updates that cancel the workflow's pending follow-up, if it has one (its task
    still fires, finds a newer version and does nothing)."""
    pending = (_field(workflow, "nurture") or {}).get("pending")
    if not pending:
        return {}
    return {
        "nurture.pending": None,
        "nurture.cancelled": {"step": pending.get("step"), "at": now, "reason": reason},
    }


def _field(snapshot: Any, name: str) -> Any:
    """A top-level field of a document snapshot, None when absent (`.get` raises KeyError)."""
    return (snapshot.to_dict() or {}).get(name) if snapshot.exists else None


def _short_hash(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def workflow_id_for_message(mailbox: str, gmail_id: str) -> str:
    return f"wf-{_short_hash('gmail', mailbox, gmail_id)}"


class MailIntake:
    def __init__(
        self,
        store: Store,
        tasks: TaskQueue,
        draft: DraftTarget,
        *,
        contacts: ContactLookup | None = None,
        intent: IntentReader | None = None,
        internal_domains: Iterable[str] = (),
        auto_reply_defer: timedelta = timedelta(days=5),
        voice: TaskTarget | None = None,
        send: TaskTarget | None = None,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.draft = draft
        self.contacts = contacts
        self.intent: IntentReader = intent or RulesIntentClassifier()
        self.internal_domains = frozenset(d.lower().lstrip("@") for d in internal_domains)
        self.auto_reply_defer = auto_reply_defer
        self.voice = voice
        self.send = send

    # --- public -------------------------------------------------------------------------
    def message_ref(self, mailbox: str, gmail_id: str) -> Any:
        return self.store.db.collection(MESSAGES).document(message_doc_id(mailbox, gmail_id))

    def repair(self, snapshot: Any) -> Recorded:
        """A message recorded earlier: queue its tasks if the earlier run died before that."""
        data = snapshot.to_dict() or {}
        effects = data.get("effects") or {}
        task = effects.get("draft_task")
        route, workflow = data.get("route"), data.get("workflow_id")
        if effects.get("done", True):
            return Recorded(Outcome.DUPLICATE, route, workflow, task)
        self._run_effects(
            task,
            workflow,
            int(effects["version"]) if effects.get("version") else None,
            effects.get("voice_task"),
            effects.get("voice_sample_id"),
            effects.get("send_task"),
            effects.get("send_payload"),
        )
        snapshot.reference.update({"effects.done": True})
        return Recorded(Outcome.REPAIRED, route, workflow, task)

    def _run_effects(
        self,
        draft_task: str | None,
        workflow_id: str | None,
        version: int | None,
        voice_task: str | None,
        voice_sample_id: str | None,
        send_task: str | None = None,
        send_payload: dict[str, Any] | None = None,
    ) -> None:
        if draft_task and workflow_id and version:
            self._enqueue_draft(draft_task, workflow_id, version)
        if send_task and send_payload and self.send is not None:
            self.tasks.enqueue(
                self.send.queue,
                send_task,
                self.send.url,
                send_payload,
                audience=self.send.audience,
            )
        if voice_task and voice_sample_id and self.voice is not None:
            self.tasks.enqueue(
                self.voice.queue,
                voice_task,
                self.voice.url,
                {"sample_id": voice_sample_id, "generation": 1},
                audience=self.voice.audience,
            )

    def record(self, message: FetchedMessage) -> Recorded:
        if not readable(message.labels):
            return Recorded(Outcome.SKIPPED)
        parsed = parse_message(message.raw)
        thread_ref = self.store.db.collection(THREADS).document(
            thread_doc_id(message.mailbox, message.thread_id)
        )
        thread = thread_ref.get()
        thread_workflow = _field(thread, "workflow_id") if thread.exists else None
        decision = route(parsed, self._context(message, thread_workflow, False))
        if self._about_forgotten(parsed, decision):
            return self._record_forgotten(message)
        contact = self._lookup_contact(decision)
        if contact is not None:
            decision = route(parsed, self._context(message, thread_workflow, True))
        intent = self._intent(parsed, decision)
        decision = self._escalate(decision, intent)

        def apply(transaction: Any) -> tuple[_Plan | None, Any]:
            return self._apply(transaction, message, parsed, thread_ref, decision, intent, contact)

        plan, existing = self.store.run_transaction(apply)
        if plan is None:
            return self.repair(existing)
        self._count(message, plan)
        if plan.draft_task or plan.voice_task or plan.send_task:
            self._run_effects(
                plan.draft_task,
                plan.workflow_id,
                plan.version,
                plan.voice_task,
                plan.voice_sample_id,
                plan.send_task,
                plan.send_payload,
            )
            self.message_ref(message.mailbox, message.gmail_id).update({"effects.done": True})
        with workflow_scope(plan.workflow_id):
            log.info(
                "message routed",
                extra={
                    "fields": {
                        "mailbox": message.mailbox,
                        "gmail_id": message.gmail_id,
                        "route": plan.decision.route.value,
                        "changes": plan.changes,
                    }
                },
            )
        return Recorded(
            Outcome.RECORDED, plan.decision.route.value, plan.workflow_id, plan.draft_task
        )

    def _count(self, message: FetchedMessage, plan: _Plan) -> None:
        """Outcome counters: a reply to what we sent (and whether it is positive), an
        unsubscribe, a bounce. Keyed by the message, so a re-read message counts once."""
        from shared.domain.outcomes import POSITIVE_INTENTS
        from shared.services.outcomes import OutcomeLog

        route, key = plan.decision.route, f"{message.mailbox}:{message.gmail_id}"
        if route not in (Route.PROSPECT_REPLY, Route.UNSUBSCRIBE, Route.BOUNCE):
            return
        workflow: dict[str, Any] = {"mailbox": message.mailbox}
        if plan.workflow_id:
            snap = self.store.db.collection(WORKFLOWS).document(plan.workflow_id).get()
            workflow = {**workflow, **(snap.to_dict() or {})}
        outcomes = OutcomeLog(self.store)
        if route is Route.PROSPECT_REPLY:
            if not workflow.get("sends"):
                return  # a first message, not a reply to us: it counts as a lead when drafted
            outcomes.record("replies", f"reply-{key}", plan.workflow_id, workflow=workflow)
            if plan.intent is not None and plan.intent.intent.value in POSITIVE_INTENTS:
                outcomes.record("positive", f"positive-{key}", plan.workflow_id, workflow=workflow)
        elif route is Route.UNSUBSCRIBE:
            outcomes.record("unsubscribed", f"unsub-{key}", plan.workflow_id, workflow=workflow)
        else:
            outcomes.record("bounced", f"bounce-{key}", plan.workflow_id, workflow=workflow)

    def _about_forgotten(self, parsed: ParsedMessage, decision: RoutingDecision) -> bool:
        """Mail from, or to, a person erased on request: we keep nothing of it."""
        people = {decision.sender, decision.bounced_address}
        if decision.route is Route.REP_SENT:
            people |= {a.email for a in (*parsed.to, *parsed.cc)}
        keys = [suppression_ref(self.store.db, p) for p in people if p]
        return any(is_forgotten(snap) for snap in self.store.db.get_all(keys)) if keys else False

    def _record_forgotten(self, message: FetchedMessage) -> Recorded:
        """Once-only processing still needs the message's id; nothing else is written."""
        from google.api_core.exceptions import AlreadyExists

        now = _now()
        try:
            self.message_ref(message.mailbox, message.gmail_id).create(
                {
                    "mailbox": message.mailbox,
                    "gmail_id": message.gmail_id,
                    "recorded_at": now,
                    "expires_at": now + MESSAGE_RETENTION,
                    "route": "forgotten",
                    "effects": {"done": True},
                }
            )
        except AlreadyExists:
            return Recorded(Outcome.DUPLICATE)
        log.info(
            "message about a forgotten person: not kept",
            extra={"fields": {"mailbox": message.mailbox, "gmail_id": message.gmail_id}},
        )
        return Recorded(Outcome.RECORDED, "forgotten")

    # --- deciding (outside the transaction) ---------------------------------------------
    def _context(
        self, message: FetchedMessage, workflow_id: str | None, is_contact: bool
    ) -> RoutingContext:
        domain = message.mailbox.rpartition("@")[2]
        return RoutingContext(
            mailbox_email=message.mailbox,
            internal_domains=self.internal_domains | {domain},
            workflow_id=workflow_id,
            sender_is_contact=is_contact,
            labels=message.labels,
        )

    def _lookup_contact(self, decision: RoutingDecision) -> ContactInfo | None:
        if self.contacts is None or decision.sender is None:
            return None
        if decision.route not in (Route.UNKNOWN_SENDER, Route.PROSPECT_REPLY, Route.UNSUBSCRIBE):
            return None
        return self.contacts.find_by_email(decision.sender)

    def _intent(self, parsed: ParsedMessage, decision: RoutingDecision) -> IntentResult | None:
        if decision.route is not Route.PROSPECT_REPLY:
            return None
        # Only the new text: the quoted history holds our own words.
        return self.intent.classify(parsed.new_text, parsed.subject)

    @staticmethod
    def _escalate(decision: RoutingDecision, intent: IntentResult | None) -> RoutingDecision:
        """The classifier heard a request to stop that the wording rules missed: honour it."""
        if (
            intent is not None
            and intent.intent is Intent.UNSUBSCRIBE
            and intent.confidence >= UNSUBSCRIBE_INTENT_CONFIDENCE
        ):
            return replace(
                decision,
                route=Route.UNSUBSCRIBE,
                reasons=(*decision.reasons, f"intent ({intent.source}): unsubscribe"),
            )
        return decision

    # --- applying (inside the transaction) ----------------------------------------------
    def _apply(
        self,
        transaction: Any,
        message: FetchedMessage,
        parsed: ParsedMessage,
        thread_ref: Any,
        decision: RoutingDecision,
        intent: IntentResult | None,
        contact: ContactInfo | None,
    ) -> tuple[_Plan | None, Any]:
        msg_ref = self.message_ref(message.mailbox, message.gmail_id)
        existing = msg_ref.get(transaction=transaction)
        if existing.exists:
            return None, existing
        thread = thread_ref.get(transaction=transaction)
        thread_workflow = _field(thread, "workflow_id") if thread.exists else None
        if thread_workflow != decision.workflow_id:
            # The thread was claimed meanwhile: decide again with what is true now.
            decision = self._escalate(
                route(parsed, self._context(message, thread_workflow, contact is not None)),
                intent,
            )
            if decision.route is Route.PROSPECT_REPLY and intent is None:
                intent = classify_intent_rules(parsed.new_text, parsed.subject)
        workflows = self._read_workflows(transaction, thread_workflow, decision, contact)
        plan = _Plan(decision, intent)
        now = _now()
        writes: list[tuple[str, Any, dict[str, Any]]] = []
        handler = {
            Route.PROSPECT_REPLY: self._prospect_reply,
            Route.REP_SENT: self._rep_sent,
            Route.AUTO_REPLY: self._auto_reply,
            Route.BOUNCE: self._bounce,
            Route.UNSUBSCRIBE: self._unsubscribe,
        }.get(decision.route)
        if handler is not None:
            handler(plan, writes, message, parsed, workflows, contact, now)
        record = self._message_record(message, parsed, plan, contact, now)
        transaction.create(msg_ref, record)
        for kind, ref, data in writes:
            if kind == "create":
                transaction.create(ref, data)
            elif kind == "set":
                transaction.set(ref, data, merge=True)
            else:
                transaction.update(ref, data)
        if plan.workflow_id and decision.route is Route.PROSPECT_REPLY:
            transaction.set(
                thread_ref,
                {
                    "mailbox": message.mailbox,
                    "thread_id": message.thread_id,
                    "workflow_id": plan.workflow_id,
                    "updated_at": now,
                },
                merge=True,
            )
        return plan, None

    def _read_workflows(
        self,
        transaction: Any,
        thread_workflow: str | None,
        decision: RoutingDecision,
        contact: ContactInfo | None,
    ) -> list[Any]:
        """The thread's workflow first, then the person's open workflows (newest first)."""
        db = self.store.db
        found: dict[str, Any] = {}
        if thread_workflow:
            snap = db.collection(WORKFLOWS).document(thread_workflow).get(transaction=transaction)
            if snap.exists:
                found[snap.id] = snap
        person = decision.bounced_address or decision.sender
        if decision.route in (Route.REP_SENT, Route.INTERNAL) or person is None:
            return list(found.values())
        from google.cloud.firestore_v1.base_query import FieldFilter

        workflows = db.collection(WORKFLOWS)
        queries = [workflows.where(filter=FieldFilter("contact_email", "==", person)).limit(20)]
        if contact is not None:
            queries.append(
                workflows.where(filter=FieldFilter("contact_id", "==", contact.id)).limit(20)
            )
        others: list[Any] = []
        for query in queries:
            for snap in transaction.get(query):
                if snap.id not in found and is_open(_field(snap, "state")):
                    found[snap.id] = snap
                    others.append(snap)
        others.sort(key=lambda s: _field(s, "created_at") or datetime.min.replace(tzinfo=UTC))
        first = [found[thread_workflow]] if thread_workflow in found else []
        return first + list(reversed(others))

    @staticmethod
    def _open_first(workflows: list[Any]) -> Any | None:
        return next((w for w in workflows if is_open(_field(w, "state"))), None)

    def _event(
        self, writes: list[Any], workflow_ref: Any, message: FetchedMessage, data: dict[str, Any]
    ) -> None:
        ref = workflow_ref.collection("events").document(f"gmail-{message.gmail_id}")
        writes.append(("set", ref, {"gmail_id": message.gmail_id, **data}))

    def _prospect_reply(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        parsed: ParsedMessage,
        workflows: list[Any],
        contact: ContactInfo | None,
        now: datetime,
    ) -> None:
        intent = plan.intent
        inbound = {
            "gmail_id": message.gmail_id,
            "thread_id": message.thread_id,
            "at": now,
            "subject": parsed.subject[:300],
            "intent": intent.intent.value if intent else None,
            "intent_confidence": intent.confidence if intent else None,
        }
        current = self._open_first(workflows)
        if current is not None:
            version = int(_field(current, "version") or 1) + 1
            state = _field(current, "state")
            update: dict[str, Any] = {
                "version": version,
                "updated_at": now,
                "last_inbound": inbound,
                "signals": int(_field(current, "signals") or 0) + 1,
                "mailbox": message.mailbox,
                "thread_id": message.thread_id,
            }
            if state != WorkflowState.SENDING.value:
                # A send already under way finishes; the new draft follows it.
                update["state"] = WorkflowState.QUEUED.value
            if intent is not None and intent.intent is Intent.NOT_INTERESTED:
                update["nurture.stopped"] = "not interested"
            update.update(_cancel_follow_up(current, "the prospect replied", now))
            writes.append(("update", current.reference, update))
            plan.workflow_id, plan.version = current.id, version
            plan.changes.append(f"workflow advanced to version {version}")
            workflow_ref = current.reference
        else:
            workflow_id = workflow_id_for_message(message.mailbox, message.gmail_id)
            workflow_ref = self.store.db.collection(WORKFLOWS).document(workflow_id)
            sender = plan.decision.sender
            writes.append(
                (
                    "create",
                    workflow_ref,
                    {
                        "id": workflow_id,
                        "state": WorkflowState.QUEUED.value,
                        "source": Source.REPLY.value,
                        "contact_id": contact.id if contact else None,
                        "contact_email": sender,
                        "owner_id": contact.owner_id if contact else None,
                        "mailbox": message.mailbox,
                        "thread_id": message.thread_id,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                        "signals": 1,
                        "first_signal": {"kind": "gmail.reply", "gmail_id": message.gmail_id},
                        "last_inbound": inbound,
                    },
                )
            )
            plan.workflow_id, plan.version, plan.opened = workflow_id, 1, True
            plan.changes.append("workflow opened")
        plan.draft_task = task_id("draft", plan.workflow_id, plan.version)
        self._event(
            writes,
            workflow_ref,
            message,
            {
                "type": "prospect_reply",
                "recorded_at": now,
                "intent": inbound["intent"],
                "subject": inbound["subject"],
            },
        )

    def _rep_sent(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        parsed: ParsedMessage,
        workflows: list[Any],
        contact: ContactInfo | None,
        now: datetime,
    ) -> None:
        if is_our_message_id(parsed.message_id):
            self._our_draft_sent(plan, writes, message, parsed, workflows, now)
            return
        current = self._open_first(workflows)
        if current is not None:
            version = int(_field(current, "version") or 1) + 1
            writes.append(
                (
                    "update",
                    current.reference,
                    {
                        "state": WorkflowState.REP_ANSWERED.value,
                        "version": version,
                        "updated_at": now,
                        "rep_answered": {"at": now, "gmail_id": message.gmail_id},
                        "stale_draft_id": _field(current, "draft_id"),
                    },
                )
            )
            self._event(
                writes, current.reference, message, {"type": "rep_answered", "recorded_at": now}
            )
            plan.workflow_id, plan.version = current.id, version
            plan.changes.append("rep answered; pending draft stale")
        if plan.decision.voice_sample and (parsed.new_text or "").strip() and self.voice:
            sample_id = sample_id_for(message.mailbox, "gmail", message.gmail_id)
            writes.append(
                (
                    "set",
                    self.store.db.collection(SAMPLES).document(sample_id),
                    {
                        "id": sample_id,
                        "rep": message.mailbox,
                        "source_type": "gmail",
                        "source_id": message.gmail_id,
                        "source_url": None,
                        "title": parsed.subject[:300] or "(no subject)",
                        "status": "pending",
                        "generation": 1,
                        "voice_profile_id": message.mailbox,
                        "embedding_state": "none",
                        "raw_text": parsed.new_text[:MAX_STORED_TEXT],
                        "metadata": {"thread_id": message.thread_id},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            )
            plan.voice_task = task_id("voice-extract", sample_id, 1)
            plan.voice_sample_id = sample_id
            plan.changes.append("voice sample recorded")

    def _our_draft_sent(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        parsed: ParsedMessage,
        workflows: list[Any],
        now: datetime,
    ) -> None:
        """Mail carrying our Message-ID: the send step's own send changes nothing here; our
        draft sent by the rep from Gmail (DRAFT_ONLY mode, or before approving) is a send,
        recorded by the send step (HubSpot log, follow-ups) under a new version so no queued
        send of the same draft can go as well."""
        current = self._open_first(workflows)
        draft = (_field(current, "draft") or {}) if current is not None else {}
        if current is None or draft.get("message_id") != parsed.message_id or self.send is None:
            plan.changes.append("our own send")
            return
        version = int(_field(current, "version") or 1) + 1
        writes.append(
            (
                "update",
                current.reference,
                {
                    "version": version,
                    "updated_at": now,
                    "sent_from_gmail": {"gmail_id": message.gmail_id, "at": now},
                },
            )
        )
        self._event(
            writes, current.reference, message, {"type": "sent_in_gmail", "recorded_at": now}
        )
        plan.workflow_id, plan.version = current.id, version
        plan.send_task = task_id("sent-in-gmail", current.id, message.gmail_id)
        plan.send_payload = {
            "workflow_id": current.id,
            "version": version,
            "gmail_id": message.gmail_id,
            "thread_id": message.thread_id,
        }
        plan.changes.append("the rep sent our draft from Gmail")

    def _auto_reply(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        parsed: ParsedMessage,
        workflows: list[Any],
        contact: ContactInfo | None,
        now: datetime,
    ) -> None:
        current = self._open_first(workflows)
        if current is None:
            return
        resume = now + self.auto_reply_defer
        writes.append(
            (
                "update",
                current.reference,
                {
                    "updated_at": now,
                    "nurture.resume_after": resume,
                    "last_auto_reply": {"at": now, "gmail_id": message.gmail_id},
                },
            )
        )
        self._event(
            writes,
            current.reference,
            message,
            {"type": "auto_reply", "recorded_at": now, "resume_after": resume},
        )
        plan.workflow_id = current.id
        plan.changes.append("follow-up deferred")

    def _bounce(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        parsed: ParsedMessage,
        workflows: list[Any],
        contact: ContactInfo | None,
        now: datetime,
    ) -> None:
        address = plan.decision.bounced_address
        if not address:
            plan.changes.append("temporary delivery problem: nothing to change")
            return
        dsn = parsed.dsn
        self._suppress(
            writes,
            address,
            "bounce",
            {
                "status": dsn.status if dsn else None,
                "diagnostic": (dsn.diagnostic or "")[:500] if dsn else None,
            },
            message,
            now,
        )
        plan.changes.append(f"address {address} marked bad")
        mine = [w for w in workflows if (_field(w, "contact_email") or "").lower() == address]
        self._stop(
            plan,
            writes,
            message,
            mine,
            now,
            {
                "state": WorkflowState.BLOCKED.value,
                "blocked_reason": "the contact's address bounced",
            },
            event="bounce",
            change="blocked",
        )

    def _unsubscribe(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        parsed: ParsedMessage,
        workflows: list[Any],
        contact: ContactInfo | None,
        now: datetime,
    ) -> None:
        address = plan.decision.sender
        if not address:
            return
        self._suppress(
            writes,
            address,
            "unsubscribe",
            {"contact_id": contact.id if contact else None},
            message,
            now,
        )
        plan.changes.append(f"{address} unsubscribed")
        self._stop(
            plan,
            writes,
            message,
            workflows,
            now,
            {
                "state": WorkflowState.CLOSED.value,
                "closed_reason": "unsubscribed",
                "nurture.stopped": "unsubscribed",
            },
            event="unsubscribe",
            change="closed",
        )

    def _suppress(
        self,
        writes: list[Any],
        address: str,
        kind: str,
        details: dict[str, Any],
        message: FetchedMessage,
        now: datetime,
    ) -> None:
        """The address is never written to again; `suppressions/{hash}` says why and when
        (and names nobody)."""
        writes.append(
            (
                "set",
                suppression_ref(self.store.db, address),
                {
                    "active": True,
                    "updated_at": now,
                    kind: {
                        "at": now,
                        "gmail_id": message.gmail_id,
                        "mailbox": message.mailbox,
                        **details,
                    },
                },
            )
        )

    def _stop(
        self,
        plan: _Plan,
        writes: list[Any],
        message: FetchedMessage,
        workflows: list[Any],
        now: datetime,
        fields: dict[str, Any],
        *,
        event: str,
        change: str,
    ) -> None:
        """Every open workflow given moves on (a new version, so pending drafts and follow-ups
        are stale) with `fields`, and its timeline records why."""
        for workflow in workflows:
            if not is_open(_field(workflow, "state")):
                continue
            writes.append(
                (
                    "update",
                    workflow.reference,
                    {
                        **fields,
                        **_cancel_follow_up(workflow, event, now),
                        "version": int(_field(workflow, "version") or 1) + 1,
                        "updated_at": now,
                    },
                )
            )
            self._event(writes, workflow.reference, message, {"type": event, "recorded_at": now})
            plan.workflow_id = plan.workflow_id or workflow.id
            plan.changes.append(f"workflow {workflow.id} {change}")

    # --- the message record -------------------------------------------------------------
    @staticmethod
    def _message_record(
        message: FetchedMessage,
        parsed: ParsedMessage,
        plan: _Plan,
        contact: ContactInfo | None,
        now: datetime,
    ) -> dict[str, Any]:
        def who(address: Any) -> dict[str, str] | None:
            return None if address is None else {"name": address.name, "email": address.email}

        decision, intent = plan.decision, plan.intent
        return {
            "mailbox": message.mailbox,
            "gmail_id": message.gmail_id,
            "thread_id": message.thread_id,
            "labels": sorted(message.labels),
            "internal_date": (
                datetime.fromtimestamp(message.internal_date_ms / 1000, UTC)
                if message.internal_date_ms
                else None
            ),
            "recorded_at": now,
            "expires_at": now + MESSAGE_RETENTION,
            "message_id": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "subject": parsed.subject[:500],
            "from": who(parsed.from_),
            "to": [who(a) for a in parsed.to[:50]],
            "cc": [who(a) for a in parsed.cc[:50]],
            "date": parsed.date,
            "new_text": parsed.new_text[:MAX_STORED_TEXT],
            "text_chars": len(parsed.text),
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in parsed.attachments[:50]
            ],
            "problems": list(parsed.problems),
            "route": decision.route.value,
            "reasons": list(decision.reasons),
            "signals": list(decision.signals),
            "intent": None
            if intent is None
            else {
                "intent": intent.intent.value,
                "confidence": intent.confidence,
                "reasons": list(intent.reasons),
                "source": intent.source,
            },
            "contact_id": contact.id if contact else None,
            "workflow_id": plan.workflow_id,
            "changes": plan.changes,
            "effects": {
                "draft_task": plan.draft_task,
                "version": plan.version,
                "voice_task": plan.voice_task,
                "voice_sample_id": plan.voice_sample_id,
                "send_task": plan.send_task,
                "send_payload": plan.send_payload,
                "done": plan.draft_task is None
                and plan.voice_task is None
                and plan.send_task is None,
            },
        }

    def _enqueue_draft(self, name: str, workflow_id: str, version: int) -> None:
        self.tasks.enqueue(
            self.draft.queue,
            name,
            self.draft.url,
            {"workflow_id": workflow_id, "version": version},
            audience=self.draft.url,
        )
