"""The `draft` task: context in, a gated reply out, placed in Gmail as a draft in the thread.

One run per workflow version (`draft-<workflow>-<version>`). The run claims the workflow in
a transaction (state `drafting`, version unchanged), gathers the context (HubSpot, the thread
as recorded by the Gmail intake, the owner's voice, the team's assets, free calendar slots),
writes the draft (the LLM when a key is stored, else the offline drafter), runs the gate, and
then applies the effects, each keyed so a retry finds the earlier one:

- Gmail: the draft carries our own Message-ID for this workflow version; an existing draft of
  the workflow is updated only if its body is still the one we wrote (a draft the rep edited
  is never overwritten); a draft lost between create and record is found by its Message-ID.
- HubSpot: a "Review draft" task for the owner and a note, keyed by the task name.
- The workflow: `awaiting_approval`, `needs_input` or `blocked`, with the draft, its context
  ids, the gate's checks and the token use, written only if its version is still ours.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.assets import Situation
from shared.domain.drafting import (
    BadAnswer,
    ContextItem,
    DraftAnswer,
    OfflineInputs,
    build_prompt,
    offline_draft,
)
from shared.domain.gate import DraftFacts, GatePolicy, Verdict, decide
from shared.domain.gmail_history import thread_doc_id
from shared.domain.outbound import compose, make_message_id, reply_subject
from shared.domain.sending import content_hash
from shared.domain.workflow import WorkflowState
from shared.errors import (
    AuthorizationRefused,
    CredentialRefused,
    NotFound,
    PermanentExternalError,
)
from shared.services.suppressions import is_suppressed

if TYPE_CHECKING:
    from shared.adapters.store import Store

log = logging.getLogger(__name__)

WORKFLOWS = "workflows"
MESSAGES = "gmail_messages"
THREADS = "threads"
AUDIT = "audit"
DRAFTABLE = {WorkflowState.QUEUED.value, WorkflowState.DRAFTING.value}


def _now() -> datetime:
    return datetime.now(UTC)


def _proposed_times(proposed: tuple[str, ...], offered: list[OfferedSlot]) -> tuple[str, ...]:
    """The times the draft says it proposes, for the gate's slot check: a slot item's id
    (`slot.2`, what the model answers) or its text (what the offline drafter writes) is that
    offered slot's start; anything else is passed as written, so a time the calendar did not
    offer (or an id that names no slot) is caught there."""
    by_text = {slot.text: slot for slot in offered}
    times = []
    for value in proposed:
        index = value.removeprefix("slot.")
        if value.startswith("slot.") and index.isdigit() and 0 < int(index) <= len(offered):
            times.append(offered[int(index) - 1].start.isoformat())
        elif value in by_text:
            times.append(by_text[value].start.isoformat())
        else:
            times.append(value)
    return tuple(times)


def body_hash(body: str) -> str:
    return hashlib.sha256(body.strip().replace("\r\n", "\n").encode()).hexdigest()


@dataclass(frozen=True)
class OfferedSlot:
    text: str  # as written to the prospect, in their time zone
    start: datetime
    end: datetime
    time_zone: str

    def as_json(self) -> dict[str, str]:
        return {
            "text": self.text,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "time_zone": self.time_zone,
        }


@dataclass
class Sources:
    """Where the context comes from; each returns plain data (or raises NotFound)."""

    hubspot: Callable[[], Any]  # -> HubSpotContext
    gmail_for: Callable[[str], Any]  # mailbox -> GmailMailbox
    voice_guide: Callable[[str], str | None]  # rep -> style guide
    voice_passages: Callable[[str, str], list[dict[str, Any]]]  # rep, situation -> passages
    assets: Callable[[Situation], list[Any]]  # situation -> AssetHit list
    free_slots: Callable[[str, str | None], list[OfferedSlot]]  # rep, prospect tz
    writer: Callable[[], Any | None]  # -> DraftWriter or None (offline)
    quota: Callable[[str], dict[str, Any] | None] = lambda mailbox: None  # would a send fit?
    # a follow-up that must wait (an auto-reply said "back on..."): (workflow, version, step, at)
    reschedule: Callable[[str, int, int, datetime], None] = lambda *args: None
    drafted: Callable[[str], None] = lambda workflow_id: None  # e.g. the auto-approve policy
    asset: Callable[[str], dict[str, Any] | None] = lambda asset_id: None  # an approved asset
    refused: Callable[[str], None] = lambda connection: None  # a credential was refused


class DraftService:
    def __init__(
        self,
        store: Store,
        sources: Sources,
        policy: GatePolicy | Callable[[], GatePolicy],
        *,
        budget_tokens: int = 3_000,
    ) -> None:
        self.store = store
        self.sources = sources
        self.policy = policy
        self.budget_tokens = budget_tokens
        # What one run gathers as it goes; an instance serves concurrent requests (threads).
        self._local = threading.local()

    def _ref(self, workflow_id: str) -> Any:
        return self.store.db.collection(WORKFLOWS).document(workflow_id)

    # --- the task -----------------------------------------------------------------------
    def run(self, workflow_id: str, version: int) -> str:
        claimed = self._claim(workflow_id, version)
        if claimed is None:
            return "skipped"
        state = self._run_claimed(workflow_id, version, claimed)
        if state == WorkflowState.AWAITING_APPROVAL.value:
            self.sources.drafted(workflow_id)
        return state

    def run_nurture(self, workflow_id: str, version: int, step: int) -> str:
        """Follow-up `step`, scheduled when version `version` was sent: drafted only if
        nothing happened since (a reply, an unsubscribe, a bounce, a booked meeting, a deal
        moving or an operator's action all make a new version or stop the sequence)."""
        ref = self._ref(workflow_id)
        now = _now()

        def start(transaction: Any) -> tuple[str, Any]:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {} if snap.exists else {}
            nurture = data.get("nurture") or {}
            pending = nurture.get("pending") or {}
            current = int(data.get("version") or 0)
            if int(nurture.get("step") or 0) == step and nurture.get("step_version") == current:
                return "run", current  # a retry of a step already started
            reason = None
            if current != version:
                reason = "the workflow moved on (a reply or another change)"
            elif data.get("state") != WorkflowState.WAITING_REPLY.value:
                reason = f"the workflow is {data.get('state')}"
            elif nurture.get("stopped"):
                reason = f"the sequence stopped: {nurture['stopped']}"
            elif int(pending.get("step") or 0) != step:
                reason = "this follow-up is no longer pending"
            if reason is not None:
                if int(pending.get("step") or 0) == step:
                    transaction.update(
                        ref,
                        {
                            "nurture.pending": None,
                            "nurture.cancelled": {"step": step, "at": now, "reason": reason},
                        },
                    )
                return "cancelled", reason
            resume = nurture.get("resume_after")
            if isinstance(resume, datetime) and resume > now:
                transaction.update(ref, {"nurture.pending.at": resume})
                return "later", resume
            transaction.update(
                ref,
                {
                    "state": WorkflowState.QUEUED.value,
                    "version": current + 1,
                    "nurture.step": step,
                    "nurture.step_version": current + 1,
                    "nurture.pending": None,
                    "updated_at": now,
                },
            )
            transaction.set(
                ref.collection("events").document(f"follow-up-{step}"),
                {"type": "follow_up_due", "recorded_at": now, "step": step},
            )
            return "run", current + 1

        outcome, value = self.store.run_transaction(start)
        if outcome == "later":
            self.sources.reschedule(workflow_id, version, step, value)
            return "deferred"
        if outcome == "cancelled":
            log.info(
                "follow-up cancelled",
                extra={"fields": {"workflow_id": workflow_id, "step": step, "reason": value}},
            )
            return "cancelled"
        return self.run(workflow_id, int(value))

    def _run_claimed(self, workflow_id: str, version: int, claimed: dict[str, Any]) -> str:
        try:
            return self._draft(workflow_id, version, claimed)
        except NotFound as exc:  # the contact or the mailbox is gone: the rep decides
            return self._finish(
                workflow_id,
                version,
                WorkflowState.NEEDS_INPUT,
                {"reason": exc.public_message, "created_at": _now()},
            )
        except CredentialRefused as exc:
            # HubSpot's token or OpenAI's key was refused: the draft waits for a new one.
            mark_connection(self.store, exc)
            self.sources.refused(exc.connection)
            return self._finish(
                workflow_id,
                version,
                WorkflowState.PAUSED,
                {"reason": exc.public_message, "created_at": _now()},
                paused={
                    "kind": "draft",
                    "connection": exc.connection,
                    "reason": exc.public_message,
                },
            )
        except AuthorizationRefused as exc:
            # The mailbox's grant is gone: the draft waits for the reconnect, which resumes it.
            mailbox = claimed.get("mailbox") or getattr(self._local, "mailbox", None)
            return self._finish(
                workflow_id,
                version,
                WorkflowState.PAUSED,
                {"reason": exc.public_message, "created_at": _now()},
                paused={"kind": "draft", "mailbox": mailbox, "reason": exc.public_message},
            )
        except PermanentExternalError as exc:
            # Retrying cannot help (a refused request): a person must look.
            return self._finish(
                workflow_id,
                version,
                WorkflowState.FAILED,
                {"reason": exc.public_message, "detail": exc.detail, "created_at": _now()},
            )

    def _draft(self, workflow_id: str, version: int, workflow: dict[str, Any]) -> str:
        self._local.offered = []
        hubspot = self.sources.hubspot()
        context = (
            hubspot.for_contact(int(workflow["contact_id"])) if workflow.get("contact_id") else None
        )
        to = (context.email if context else None) or workflow.get("contact_email")
        mailbox = workflow.get("mailbox") or (
            context.owner.email if context and context.owner else None
        )
        self._local.mailbox = mailbox
        if not to or not mailbox:
            return self._finish(
                workflow_id,
                version,
                WorkflowState.NEEDS_INPUT,
                {"reason": "no recipient or no owner mailbox for this lead"},
            )
        suppressed = context.unsubscribed if context else False
        if is_suppressed(self.store.db, to):
            suppressed = True
        thread = self._thread(mailbox, workflow.get("thread_id"))
        nurture = workflow.get("nurture") or {}
        campaign = workflow.get("campaign") or {}
        story = campaign.get("story") or {}
        follow_up = int(nurture.get("step") or 0) if nurture.get("step_version") == version else 0
        sent_before = list(workflow.get("sends") or [])
        if follow_up:
            ask = None  # nobody asked anything: we follow up on what we sent
            thread = [m for m in thread if m["route"] == "prospect_reply"] + [
                {
                    "message_id": s.get("message_id"),
                    "references": [],
                    "from_email": mailbox,
                    "subject": s.get("subject") or "",
                    "new_text": s.get("body") or "",
                    "route": "rep_sent",
                    "at": s.get("sent_at"),
                }
                for s in sent_before
            ]
            thread.sort(key=lambda m: m["at"] or _now())
        elif thread:
            ask = thread[-1]["new_text"]
        elif campaign:
            ask = None  # nobody asked: we write first, about the campaign's story
        else:
            ask = self._first_touch_ask(workflow)
        if follow_up and context is not None and "deal_stages" in nurture:
            stages = {str(d.id): d.stage for d in context.deals}
            if stages != nurture["deal_stages"]:
                from shared.services.outcomes import OutcomeLog

                OutcomeLog(self.store).record(
                    "deal_moves",
                    f"deal-{workflow_id}",
                    workflow_id,
                    workflow=workflow,
                    step=follow_up,
                )
                return self._stop_sequence(workflow_id, version, "the deal moved in HubSpot")
        industry = context.company.industry if context and context.company else None
        pitch = str(story.get("title") or "") if campaign and not thread else ""
        situation = Situation(
            ask or (f"{pitch}: {story.get('brief', '')}" if pitch else "first reply to a new lead"),
            industry=industry,
        )
        items = self._items(workflow, context, thread, ask, mailbox, situation)
        task = self._task(thread)
        if pitch:
            # The team's own brief, quoted as data like every other context item.
            items.insert(
                0, ContextItem("campaign.story", "campaign", f"{pitch}: {story.get('brief', '')}")
            )
            task = (
                "Write a first, personal note to this prospect about the story in the "
                "campaign item: why it matters to them and their company in particular (use "
                "the contact and company items), one clear, low-pressure next step. Short; "
                "not a newsletter and not a mail merge. No opt-out line: it is added for you."
            )
        if follow_up:
            task = (
                f"Write follow-up number {follow_up}: the prospect has not answered what we "
                "sent (the thread items). Short, friendly, one new useful thing, one clear "
                "next step; no guilt and no repeating the first note."
            )
        instruction = workflow.get("instruction") or {}
        if instruction.get("version") == version and instruction.get("text"):
            task += f" The rep's instruction for this rewrite: {instruction['text']}"
        prompt = build_prompt(items, task=task, budget_tokens=self.budget_tokens)
        writer = self.sources.writer()
        usage: dict[str, Any] | None = None
        if writer is None:
            answer = self._offline(context, mailbox, ask, thread, items, follow_up, pitch)
        else:
            try:
                answer, spent = writer.write(prompt)
                usage = spent.as_json()
            except BadAnswer as exc:
                return self._finish(
                    workflow_id, version, WorkflowState.NEEDS_INPUT, {"reason": exc.reason}
                )
        facts = DraftFacts(
            to=to,
            cc=(),
            bcc=(),
            subject=answer.subject,
            body=answer.body,
            confidence=answer.confidence,
            questions=answer.questions,
            contact_email=to,
            thread_participants=tuple(
                sorted({str(m.get("from_email")) for m in thread if m.get("from_email")})
            ),
            contact_industry=industry,
            company_stage=context.lifecycle_stage if context else None,
            employees=context.company.employees if context and context.company else None,
            suppressed=suppressed,
            retrieved_links=frozenset(
                i.text.rsplit("(", 1)[-1].rstrip(")") for i in items if i.kind == "asset"
            ),
            inbound_text=ask or "",
            proposed_slots=_proposed_times(answer.slots, self._local.offered),
            offered_slots=tuple(
                f"{s.start.isoformat()}/{s.end.isoformat()}" for s in self._local.offered
            ),
        )
        policy = self.policy() if callable(self.policy) else self.policy
        result = decide(facts, policy, prompt.system + prompt.user)
        gate = result.as_json()
        if campaign.get("compliance"):
            # Outbound rules, added by code after the gate: the team's opt-out line and, where
            # the law asks, its postal address (never left to the LLM).
            from dataclasses import replace

            from shared.domain.campaigns import Compliance, with_footer

            compliance = Compliance.model_validate(campaign["compliance"])
            answer = replace(answer, body=with_footer(answer.body, compliance))
        quota = self.sources.quota(mailbox)
        if quota is not None:
            # Reported, not enforced: a draft counts against nothing; the send step defers.
            gate["quota"] = quota
        record: dict[str, Any] = {
            "subject": answer.subject,
            "body": answer.body,
            # as drafted, kept beside later edits: what the rep changed is our voice measure
            "generated_body": answer.body,
            "drafter": answer.drafter,
            "confidence": answer.confidence,
            "questions": list(answer.questions),
            "claims": answer.as_json()["claims"],
            "context_ids": [item.id for item in prompt.items],
            # What the operator sees beside the draft: each item as the prompt quoted it
            # (thread and engagement texts already scrubbed of third parties' details).
            "context": [
                {"id": item.id, "kind": item.kind, "text": item.text[:400]} for item in prompt.items
            ],
            "context_dropped": list(prompt.dropped),
            "prompt_tokens_estimate": prompt.estimated_tokens,
            "usage": usage,
            "gate": gate,
            "to": to,
            "mailbox": mailbox,
            "content_hash": content_hash(to, answer.subject, answer.body),
            "lifecycle_stage": context.lifecycle_stage if context else None,
            "follow_up": follow_up,
            "created_at": _now(),
        }
        record["offered_slots"] = [slot.as_json() for slot in self._local.offered]
        meeting = self._accepted(workflow, thread, ask)
        if meeting is not None:
            record["meeting"] = {
                "start": meeting["start"],
                "end": meeting["end"],
                "time_zone": meeting["time_zone"],
                "summary": f"{reply_subject(answer.subject)[4:] or 'Call'}",
                "attendees": sorted({to, mailbox}),
                "conference": True,
                "agenda": (ask or "")[:1000],
                "key": f"meeting-{workflow_id}-{version}",
            }
        if result.verdict is Verdict.BLOCKED:
            return self._finish(workflow_id, version, WorkflowState.BLOCKED, record)
        record.update(self._place_in_gmail(workflow, version, mailbox, to, answer, thread))
        if context is not None:
            reasons = [r for check in result.checks for r in check.reasons][:10]
            record["hubspot"] = hubspot.log_draft(
                key=f"draft-{workflow_id}-{version}",
                contact_id=context.contact_id,
                owner_id=context.owner.id if context.owner else None,
                subject=answer.subject,
                body=answer.body,
                reasons=reasons,
                due=_now() + timedelta(hours=4),
            )
        state = (
            WorkflowState.AWAITING_APPROVAL
            if result.verdict is Verdict.READY
            else WorkflowState.NEEDS_INPUT
        )
        return self._finish(workflow_id, version, state, record)

    # --- steps --------------------------------------------------------------------------
    def _claim(self, workflow_id: str, version: int) -> dict[str, Any] | None:
        ref = self._ref(workflow_id)

        def claim(transaction: Any) -> dict[str, Any] | None:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {} if snap.exists else {}
            if not data or int(data.get("version") or 0) != version:
                return None  # gone, or a newer version has its own task
            if data.get("state") not in DRAFTABLE:
                return None  # drafted already, rep answered, closed...
            transaction.update(ref, {"state": WorkflowState.DRAFTING.value, "updated_at": _now()})
            return data

        return self.store.run_transaction(claim)

    def _finish(
        self,
        workflow_id: str,
        version: int,
        state: WorkflowState,
        draft: dict[str, Any],
        paused: dict[str, Any] | None = None,
    ) -> str:
        ref = self._ref(workflow_id)
        seen: dict[str, Any] = {}

        def finish(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {} if snap.exists else {}
            seen.update(data)
            if int(data.get("version") or 0) != version:
                return False  # newer input arrived meanwhile: its own task redrafts
            now = _now()
            update: dict[str, Any] = {"state": state.value, "draft": draft, "updated_at": now}
            # The lead counts once, at its workflow's first draft (when its rep is known).
            seen["new_lead"] = not data.get("lead_counted")
            if seen["new_lead"]:
                update["lead_counted"] = True
            if draft.get("draft_id"):
                update["draft_id"] = draft["draft_id"]
            if paused is not None:
                update["paused"] = {**paused, "at": now}
            transaction.update(ref, update)
            # The audit log keeps what was drafted for whom and why, whatever happens next.
            gate = draft.get("gate") or {}
            transaction.set(
                self.store.db.collection(AUDIT).document(f"drafted-{workflow_id}-{version}"),
                {
                    "kind": "drafted",
                    "at": now,
                    "workflow_id": workflow_id,
                    "version": version,
                    "state": state.value,
                    "to": draft.get("to"),
                    "subject": draft.get("subject"),
                    "content_hash": draft.get("content_hash"),
                    "drafter": draft.get("drafter"),
                    "verdict": gate.get("verdict"),
                    "risk": gate.get("risk"),
                    "reason": draft.get("reason"),
                    "context_ids": draft.get("context_ids"),
                },
            )
            if draft.get("thread_id") and draft.get("mailbox"):
                # The draft's thread belongs to this workflow: what the rep sends there, or
                # the prospect answers there, finds it.
                transaction.set(
                    self.store.db.collection(THREADS).document(
                        thread_doc_id(str(draft["mailbox"]), str(draft["thread_id"]))
                    ),
                    {
                        "mailbox": draft["mailbox"],
                        "thread_id": draft["thread_id"],
                        "workflow_id": workflow_id,
                        "updated_at": now,
                    },
                    merge=True,
                )
            return True

        written = self.store.run_transaction(finish)
        log.info(
            "draft done",
            extra={"fields": {"workflow_id": workflow_id, "state": state.value, "kept": written}},
        )
        if written:
            self._count(workflow_id, version, state, {**seen, "draft": draft})
        return state.value if written else "stale"

    def _count(
        self, workflow_id: str, version: int, state: WorkflowState, workflow: dict[str, Any]
    ) -> None:
        """The outcome counters: a lead at its first draft (where its rep is known), and each
        draft made for a person to review."""
        from shared.services.outcomes import OutcomeLog

        outcomes = OutcomeLog(self.store)
        made = state in (WorkflowState.AWAITING_APPROVAL, WorkflowState.NEEDS_INPUT)
        lead = bool(workflow.get("new_lead"))
        if made:
            outcomes.record(
                "drafted",
                f"drafted-{workflow_id}-{version}",
                workflow_id,
                workflow=workflow,
                duration="lead_to_draft" if lead else None,
                also=("leads",) if lead else (),
            )
        elif lead:
            outcomes.record("leads", f"lead-{workflow_id}", workflow_id, workflow=workflow)

    def _stop_sequence(self, workflow_id: str, version: int, reason: str) -> str:
        """A follow-up that should not go: the sequence ends, the workflow waits for the
        prospect again, and no draft is written."""
        ref = self._ref(workflow_id)

        def stop(transaction: Any) -> bool:
            snap = ref.get(transaction=transaction)
            if int((snap.to_dict() or {}).get("version") or 0) != version:
                return False
            now = _now()
            transaction.update(
                ref,
                {
                    "state": WorkflowState.WAITING_REPLY.value,
                    "nurture.stopped": reason,
                    "nurture.pending": None,
                    "updated_at": now,
                },
            )
            transaction.set(
                ref.collection("events").document(f"sequence-stopped-{version}"),
                {"type": "sequence_stopped", "recorded_at": now, "reason": reason},
            )
            return True

        return "sequence_stopped" if self.store.run_transaction(stop) else "stale"

    def _thread(self, mailbox: str, thread_id: str | None) -> list[dict[str, Any]]:
        if not thread_id:
            return []
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self.store.db.collection(MESSAGES)
            .where(filter=FieldFilter("mailbox", "==", mailbox))
            .where(filter=FieldFilter("thread_id", "==", thread_id))
        )
        messages = []
        for snap in query.stream():
            data = snap.to_dict() or {}
            messages.append(
                {
                    "message_id": data.get("message_id"),
                    "references": data.get("references") or [],
                    "from_email": (data.get("from") or {}).get("email"),
                    "subject": data.get("subject") or "",
                    "new_text": data.get("new_text") or "",
                    "route": data.get("route"),
                    "at": data.get("internal_date") or data.get("recorded_at"),
                }
            )
        messages.sort(key=lambda m: m["at"] or _now())
        return [m for m in messages if m["route"] in ("prospect_reply", "rep_sent")]

    def _first_touch_ask(self, workflow: dict[str, Any]) -> str | None:
        signal = workflow.get("first_signal") or {}
        return f"New lead from {signal.get('kind', 'HubSpot')}" if signal else None

    @staticmethod
    def _task(thread: list[dict[str, Any]]) -> str:
        if thread:
            return "Reply to the prospect's latest message in this thread."
        return "Write the first reply to this new lead: short, helpful, one clear next step."

    def _items(
        self,
        workflow: dict[str, Any],
        context: Any,
        thread: list[dict[str, Any]],
        ask: str | None,
        mailbox: str,
        situation: Situation,
    ) -> list[ContextItem]:
        from shared.domain.pii import scrub

        def clean(text: str) -> str:
            """Third parties' phone numbers, addresses and cards never reach the LLM."""
            return scrub(text).text

        items: list[ContextItem] = []
        if ask:
            items.append(ContextItem("ask", "ask", clean(ask[:2000])))
        if context is not None:
            items.append(ContextItem("hubspot.contact", "hubspot", _contact_text(context)))
            for index, engagement in enumerate(context.engagements[:5]):
                items.append(
                    ContextItem(
                        f"engagement.{index + 1}",
                        "engagement",
                        clean(engagement.summary),
                        order=-index,
                    )
                )
        for index, message in enumerate(thread[:-1] if ask and thread else thread):
            who = "rep" if message["route"] == "rep_sent" else "prospect"
            items.append(
                ContextItem(
                    f"thread.{index + 1}",
                    "thread",
                    f"{who}: {clean(message['new_text'][:1500])}",
                    index,
                )
            )
        guide = self.sources.voice_guide(mailbox)
        if guide:
            items.append(ContextItem("voice.guide", "voice", guide))
        for index, passage in enumerate(self.sources.voice_passages(mailbox, situation.text)[:3]):
            items.append(
                ContextItem(f"voice.passage.{index + 1}", "voice", str(passage.get("text"))[:900])
            )
        chosen = list(((workflow.get("campaign") or {}).get("story") or {}).get("asset_ids") or [])
        hits = sorted(self.sources.assets(situation)[:3], key=lambda h: h.asset_id not in chosen)
        for index, hit in enumerate(hits):
            items.append(
                ContextItem(
                    f"asset.{index + 1}",
                    "asset",
                    f"{hit.citation}: {hit.text[:700]} ({hit.link})",
                )
            )
        found = {hit.asset_id for hit in hits}
        for index, asset_id in enumerate(a for a in chosen if a not in found):
            # The campaign names this material: offered even when retrieval ranked it lower.
            asset = self.sources.asset(asset_id)
            if asset and asset.get("link"):
                items.append(
                    ContextItem(
                        f"asset.story.{index + 1}",
                        "asset",
                        f"{asset.get('title') or 'Material'}: the campaign's chosen material "
                        f"({asset['link']})",
                    )
                )
        meeting = self._accepted(workflow, thread, ask)
        if meeting is not None:
            items.append(
                ContextItem(
                    "meeting",
                    "slot",
                    f"The prospect accepted this time: {meeting['text']}. Confirm it; the "
                    "calendar invite is prepared and sent on approval.",
                )
            )
            return items
        tz = context.time_zone if context is not None else None
        for index, slot in enumerate(self.sources.free_slots(mailbox, tz)[:3]):
            items.append(ContextItem(f"slot.{index + 1}", "slot", slot.text))
            self._local.offered.append(slot)
        return items

    def _accepted(
        self, workflow: dict[str, Any], thread: list[dict[str, Any]], ask: str | None
    ) -> dict[str, Any] | None:
        """The slot the prospect's newest reply accepts among those the last draft offered."""
        from shared.domain.slots import Slot, match_acceptance

        offered = (workflow.get("draft") or {}).get("offered_slots") or []
        if not thread or not ask or not offered:
            return None
        slots = [
            Slot(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]))
            for o in offered
        ]
        chosen = match_acceptance(ask, slots, offered[0]["time_zone"], _now())
        if chosen is None:
            return None
        found: dict[str, Any] = next(
            o for o in offered if datetime.fromisoformat(o["start"]) == chosen.start
        )
        return found

    def _offline(
        self,
        context: Any,
        mailbox: str,
        ask: str | None,
        thread: list[dict[str, Any]],
        items: list[ContextItem],
        follow_up: int = 0,
        pitch: str = "",
    ) -> DraftAnswer:
        guide = self.sources.voice_guide(mailbox) or ""
        greeting = _between(guide, 'Greeting: usually "', " <first name>")
        sign_off = _between(guide, 'Sign-off: usually "', ',"')
        asset = next((i for i in items if i.kind == "asset"), None)
        title, link = None, None
        if asset is not None:
            title = asset.text.split(":", 1)[0]
            link = asset.text.rsplit("(", 1)[-1].rstrip(")")
        owner = context.owner if context is not None else None
        subject = (
            reply_subject(thread[-1]["subject"]) if thread else (pitch[:120] or "Your request")
        )
        return offline_draft(
            OfflineInputs(
                first_name=context.first_name if context is not None else None,
                greeting=greeting,
                sign_off=sign_off,
                rep_first_name=owner.first_name if owner is not None else None,
                ask=ask if thread else None,
                subject=subject,
                asset_title=title,
                asset_link=link,
                slot_texts=tuple(i.text for i in items if i.id.startswith("slot.")),
                confirmed=next((i.text for i in items if i.id == "meeting"), None),
                follow_up=follow_up,
                pitch=pitch or None,
                company=context.company.name if context is not None and context.company else None,
            )
        )

    def _place_in_gmail(
        self,
        workflow: dict[str, Any],
        version: int,
        mailbox: str,
        to: str,
        answer: DraftAnswer,
        thread: list[dict[str, Any]],
    ) -> dict[str, Any]:
        gmail = self.sources.gmail_for(mailbox)
        domain = mailbox.rpartition("@")[2]
        message_id = make_message_id(str(workflow["id"]), version, domain)
        last = thread[-1] if thread else None
        raw = compose(
            sender=mailbox,
            to=to,
            subject=answer.subject,
            body=answer.body,
            message_id=message_id,
            in_reply_to=last["message_id"] if last else None,
            references=tuple(last["references"]) if last else (),
        )
        thread_id = workflow.get("thread_id")
        previous = workflow.get("draft") or {}
        draft_id = workflow.get("draft_id")
        instruction = workflow.get("instruction") or {}
        rewrite_asked = instruction.get("version") == version
        if draft_id:
            try:
                current = gmail.get_draft(draft_id)
                stored = _draft_body(current)
                edited = previous.get("edited_by_person") or (
                    previous.get("body_hash") and body_hash(stored) != previous["body_hash"]
                )
                if edited and not rewrite_asked:
                    return {
                        "draft_id": draft_id,
                        "kept_rep_edit": True,
                        "message_id": previous.get("message_id"),
                        "body_hash": previous.get("body_hash"),
                        # the person's text stands: its hash is known only for page edits
                        "subject": previous.get("subject"),
                        "body": previous.get("body"),
                        "edited_by_person": bool(previous.get("edited_by_person")),
                        "content_hash": (
                            previous.get("content_hash")
                            if previous.get("edited_by_person")
                            else None
                        ),
                    }
                updated = gmail.update_draft(draft_id, raw, thread_id)
                return {
                    "draft_id": draft_id,
                    "message_id": message_id,
                    "body_hash": body_hash(answer.body),
                    "thread_id": (updated.get("message") or {}).get("threadId") or thread_id,
                }
            except NotFound:
                pass  # deleted or sent by the rep meanwhile: a new one
        found = gmail.find_by_rfc822_id(message_id)
        if found is None:
            created = gmail.create_draft(raw, thread_id)
            draft_id = str(created.get("id"))
            thread_id = (created.get("message") or {}).get("threadId") or thread_id
        else:
            draft_id = _draft_id_of(gmail, found)
        return {
            "draft_id": draft_id,
            "message_id": message_id,
            "body_hash": body_hash(answer.body),
            "thread_id": thread_id,
        }


def mark_connection(store: Any, exc: CredentialRefused) -> None:
    """`connections/{hubspot|openai}` needs attention: the page shows it and what waits."""
    store.db.collection("connections").document(exc.connection).set(
        {
            "status": "needs_attention",
            "attention": {"reason": exc.public_message, "detail": exc.detail, "at": _now()},
        },
        merge=True,
    )


def _contact_text(context: Any) -> str:
    parts = [
        " ".join(x for x in (context.first_name, context.last_name) if x) or "(no name)",
        context.job_title or "",
    ]
    if context.company is not None:
        company = context.company
        parts.append(
            f"company {company.name or '?'}, industry {company.industry or '?'}, "
            f"{company.employees or '?'} employees"
        )
    if context.deals:
        parts.append("open deals: " + "; ".join(f"{d.name} ({d.stage})" for d in context.deals))
    return ", ".join(p for p in parts if p)


def _between(text: str, start: str, end: str) -> str | None:
    at = text.find(start)
    if at < 0:
        return None
    rest = text[at + len(start) :]
    stop = rest.find(end)
    return rest[:stop].strip() or None if stop >= 0 else None


def _draft_body(draft: dict[str, Any]) -> str:
    import base64
    from email import message_from_bytes, policy

    raw = (draft.get("message") or {}).get("raw") or ""
    parsed = message_from_bytes(base64.urlsafe_b64decode(raw + "=="), policy=policy.default)
    part = parsed.get_body(("plain",)) if hasattr(parsed, "get_body") else None
    return str(part.get_content()) if part is not None else ""


def _draft_id_of(gmail: Any, message_id: str) -> str:
    """The draft whose message is `message_id` (drafts.list is small for one mailbox)."""
    for draft in gmail.list_drafts():
        if (draft.get("message") or {}).get("id") == message_id:
            return str(draft.get("id"))
    raise NotFound("the draft's message exists but no draft holds it")
