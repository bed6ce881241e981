"""What a person (or the auto-approve policy) does with a draft: approve, cancel within the
undo window, reject, edit, regenerate. Each is recorded on the workflow's timeline and in the
audit log.

An approval binds to the content hash of the Gmail draft as it is now (recipient, subject,
body): the caller must name the hash it reviewed, and a draft that changed since is refused
with 409 so nobody approves what they did not read. In SEND_ALLOWED mode the approval schedules
one `send` task after the undo window; in DRAFT_ONLY it is recorded and the rep sends from
Gmail.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.tasks import task_id
from shared.domain.outbound import DraftContent, compose, read_draft
from shared.domain.sending import SendMode, auto_approval, content_hash
from shared.domain.workflow import WorkflowState
from shared.errors import BadRequest, ConflictError, NotFound
from shared.services.outcomes import OutcomeLog
from shared.services.sending import SendTarget, mailbox_of, send_task_name

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue
    from shared.services.send_flags import AuditLog, FlagStore

log = logging.getLogger(__name__)

WORKFLOWS = "workflows"
APPROVABLE = {
    WorkflowState.AWAITING_APPROVAL.value,
    WorkflowState.NEEDS_INPUT.value,
    WorkflowState.SUPPRESSED.value,
    WorkflowState.REJECTED.value,
}
CANCELLABLE = {"scheduled", "deferred"}
MAX_REASON = 500
MAX_BODY = 20_000


def _now() -> datetime:
    return datetime.now(UTC)


class Approvals:
    def __init__(
        self,
        store: Store,
        tasks: TaskQueue,
        flags: FlagStore,
        audit: AuditLog,
        gmail_for: Callable[[str], Any],
        target: SendTarget,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.flags = flags
        self.audit = audit
        self.gmail_for = gmail_for
        self.target = target

    def _ref(self, workflow_id: str) -> Any:
        return self.store.db.collection(WORKFLOWS).document(workflow_id)

    def read(self, workflow_id: str) -> dict[str, Any]:
        snap = self._ref(workflow_id).get()
        if not snap.exists:
            raise NotFound("no such workflow")
        return snap.to_dict() or {}

    def current_draft(self, workflow: dict[str, Any]) -> tuple[DraftContent, str, str | None]:
        """(content, hash, thread id) of the Gmail draft as it is now."""
        draft_id = workflow.get("draft_id")
        mailbox = mailbox_of(workflow)
        if not draft_id:
            raise ConflictError("this workflow has no draft to approve")
        try:
            draft = self.gmail_for(mailbox).get_draft(str(draft_id))
        except NotFound:
            raise ConflictError("the Gmail draft is gone (sent or deleted in Gmail)") from None
        message = draft.get("message") or {}
        content = read_draft(base64.urlsafe_b64decode(str(message.get("raw") or "") + "=="))
        if not content.to or content.extra_recipients:
            raise ConflictError("the Gmail draft must have exactly one recipient and no Cc/Bcc")
        return (
            content,
            content_hash(content.to, content.subject, content.body),
            message.get("threadId"),
        )

    # --- approve ------------------------------------------------------------------------
    def approve(self, workflow_id: str, *, by: str, reviewed_hash: str) -> dict[str, Any]:
        workflow = self.read(workflow_id)
        _, current, _ = self.current_draft(workflow)
        if not reviewed_hash:
            raise BadRequest("name the draft you reviewed: content_hash")
        if reviewed_hash != current:
            raise ConflictError("the draft changed since you read it: review it again")
        return self._approve(workflow_id, int(workflow.get("version") or 0), current, by, None)

    def auto_approve(self, workflow_id: str) -> dict[str, Any] | None:
        """After a draft: the policy approves it when the flags say so (None: a person must)."""
        flags = self.flags.read()
        if not flags.auto_approve.enabled or flags.mode is not SendMode.SEND_ALLOWED:
            return None  # the usual case costs one read
        workflow = self.read(workflow_id)
        if workflow.get("state") != WorkflowState.AWAITING_APPROVAL.value:
            return None
        draft = workflow.get("draft") or {}
        gate = draft.get("gate") or {}
        why = auto_approval(
            flags,
            verdict=str(gate.get("verdict") or ""),
            risk=int(gate["risk"]) if gate.get("risk") is not None else 100,
            source=workflow.get("source"),
            lifecycle_stage=draft.get("lifecycle_stage"),
            nurture_step=int((workflow.get("nurture") or {}).get("step") or 0),
        )
        if why is None:
            return None
        try:
            _, current, _ = self.current_draft(workflow)
        except ConflictError:
            return None
        if draft.get("content_hash") != current:
            return None  # someone edited it in Gmail: a person decides
        return self._approve(
            workflow_id, int(workflow.get("version") or 0), current, "auto-approve policy", why
        )

    def _approve(
        self, workflow_id: str, version: int, approved_hash: str, by: str, why: str | None
    ) -> dict[str, Any]:
        ref = self._ref(workflow_id)
        now = _now()

        def approve(transaction: Any) -> dict[str, Any]:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            flags = self.flags.read(transaction)
            if int(data.get("version") or 0) != version:
                raise ConflictError("newer input arrived: the draft is being rewritten")
            if data.get("state") not in APPROVABLE:
                raise ConflictError(f"a {data.get('state')} workflow cannot be approved")
            seq = int((data.get("approval") or {}).get("seq") or 0) + 1
            sends = flags.mode is SendMode.SEND_ALLOWED
            send_after = now + timedelta(seconds=flags.undo_seconds)
            approval = {
                "seq": seq,
                "hash": approved_hash,
                "version": version,
                "by": by,
                "why": why,
                "at": now,
                "status": "scheduled" if sends else "send_from_gmail",
                "send_after": send_after if sends else None,
                "task": send_task_name(workflow_id, version, approved_hash, seq) if sends else None,
            }
            transaction.update(
                ref,
                {"state": WorkflowState.APPROVED.value, "approval": approval, "updated_at": now},
            )
            transaction.set(
                ref.collection("events").document(f"approved-{seq}"),
                {"type": "approved", "recorded_at": now, "by": by, "hash": approved_hash},
            )
            self.audit.append(
                transaction,
                "approved",
                key=f"approved-{workflow_id}-{seq}",
                workflow_id=workflow_id,
                who=by,
                why=why,
                hash=approved_hash,
                to=(data.get("draft") or {}).get("to"),
                mode=flags.mode.value,
            )
            return approval

        approval = self.store.run_transaction(approve)
        OutcomeLog(self.store).record(
            "approved", f"approved-{workflow_id}-{approval['seq']}", workflow_id
        )
        if approval["task"]:
            self.tasks.enqueue(
                self.target.send_queue,
                approval["task"],
                self.target.send_url,
                {
                    "workflow_id": workflow_id,
                    "version": version,
                    "hash": approved_hash,
                    "seq": approval["seq"],
                },
                schedule_at=approval["send_after"],
            )
        log.info(
            "approved",
            extra={"fields": {"workflow_id": workflow_id, "by": by, "status": approval["status"]}},
        )
        return _public(approval)

    # --- cancel, reject, edit, regenerate -----------------------------------------------
    def cancel(self, workflow_id: str, *, by: str) -> dict[str, Any]:
        """Within the undo window: the send does not happen; the draft waits again."""
        ref = self._ref(workflow_id)
        now = _now()

        def cancel(transaction: Any) -> dict[str, Any]:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            approval = data.get("approval") or {}
            if not snap.exists or approval.get("status") not in CANCELLABLE:
                raise ConflictError("nothing to cancel: the send has started or is not scheduled")
            transaction.update(
                ref,
                {
                    "state": WorkflowState.AWAITING_APPROVAL.value,
                    "approval.status": "cancelled",
                    "approval.cancelled_by": by,
                    "approval.cancelled_at": now,
                    "updated_at": now,
                },
            )
            self._event(transaction, ref, "cancelled", now, by=by)
            self.audit.append(
                transaction,
                "send_cancelled",
                key=f"cancelled-{workflow_id}-{approval.get('seq')}",
                workflow_id=workflow_id,
                who=by,
                reason="cancelled in the undo window",
            )
            return approval

        approval = self.store.run_transaction(cancel)
        if approval.get("task"):
            self.tasks.delete(self.target.send_queue, str(approval["task"]))
        return {"cancelled": True}

    def reject(self, workflow_id: str, *, by: str, reason: str) -> dict[str, Any]:
        reason = _reason(reason)
        ref = self._ref(workflow_id)
        now = _now()

        def reject(transaction: Any) -> dict[str, Any]:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            if not snap.exists:
                raise NotFound("no such workflow")
            if data.get("state") not in APPROVABLE | {WorkflowState.APPROVED.value}:
                raise ConflictError(f"a {data.get('state')} workflow cannot be rejected")
            approval = data.get("approval") or {}
            if data.get("state") == WorkflowState.APPROVED.value and approval.get(
                "status"
            ) not in CANCELLABLE | {"send_from_gmail"}:
                raise ConflictError("the send has started")
            transaction.update(
                ref,
                {
                    "state": WorkflowState.REJECTED.value,
                    "approval.status": "rejected" if approval else None,
                    "rejected": {"by": by, "at": now, "reason": reason},
                    "updated_at": now,
                },
            )
            self._event(transaction, ref, "rejected", now, by=by, reason=reason)
            self.audit.append(
                transaction, "rejected", workflow_id=workflow_id, who=by, reason=reason
            )
            return data

        data = self.store.run_transaction(reject)
        OutcomeLog(self.store).record(
            "rejected", f"rejected-{workflow_id}-{data.get('version')}", workflow_id, workflow=data
        )
        task = (data.get("approval") or {}).get("task")
        if task:
            self.tasks.delete(self.target.send_queue, str(task))
        if data.get("draft_id"):
            with contextlib.suppress(NotFound):
                self.gmail_for(mailbox_of(data)).delete_draft(str(data["draft_id"]))
        return {"rejected": True}

    def edit(
        self, workflow_id: str, *, by: str, reviewed_hash: str, subject: str, body: str
    ) -> dict[str, Any]:
        """The person's text replaces the draft in Gmail (same thread, same headers); the new
        content hash is returned for the approval. A later regeneration keeps it."""
        subject = " ".join((subject or "").split())
        if not subject or len(subject) > 300:
            raise BadRequest("subject: 1 to 300 characters")
        if not (body or "").strip() or len(body) > MAX_BODY:
            raise BadRequest(f"body: 1 to {MAX_BODY} characters")
        workflow = self.read(workflow_id)
        if workflow.get("state") not in APPROVABLE:
            raise ConflictError(f"a {workflow.get('state')} workflow cannot be edited")
        content, current, thread_id = self.current_draft(workflow)
        if reviewed_hash != current:
            raise ConflictError("the draft changed since you read it: review it again")
        mailbox = mailbox_of(workflow)
        raw = compose(
            sender=mailbox,
            to=content.to,
            subject=subject,
            body=body,
            message_id=content.message_id,
            in_reply_to=content.in_reply_to,
            references=tuple(r for r in content.references if r != content.in_reply_to),
        )
        self.gmail_for(mailbox).update_draft(str(workflow["draft_id"]), raw, thread_id)
        new_hash = content_hash(content.to, subject, body)
        from shared.services.drafting import body_hash

        now = _now()
        self._ref(workflow_id).update(
            {
                "draft.subject": subject,
                "draft.body": body,
                "draft.body_hash": body_hash(body),
                "draft.content_hash": new_hash,
                "draft.edited_by_person": True,
                "draft.edits": _array_union(
                    {"by": by, "at": now, "before": current, "after": new_hash}
                ),
                "updated_at": now,
            }
        )
        self._ref(workflow_id).collection("events").add(
            {"type": "edited", "recorded_at": now, "by": by}
        )
        self.audit.record("edited", workflow_id=workflow_id, who=by, before=current, after=new_hash)
        OutcomeLog(self.store).record("edited", f"edited-{workflow_id}-{new_hash}", workflow_id)
        return {"content_hash": new_hash}

    def regenerate(self, workflow_id: str, *, by: str, instruction: str) -> dict[str, Any]:
        """A new version drafted with the person's instruction; the Gmail draft is replaced."""
        instruction = " ".join((instruction or "").split())[:MAX_REASON]
        ref = self._ref(workflow_id)
        now = _now()

        def regenerate(transaction: Any) -> int:
            snap = ref.get(transaction=transaction)
            data = snap.to_dict() or {}
            if not snap.exists:
                raise NotFound("no such workflow")
            if data.get("state") not in APPROVABLE:
                raise ConflictError(f"a {data.get('state')} workflow cannot be regenerated")
            version = int(data.get("version") or 0) + 1
            transaction.update(
                ref,
                {
                    "state": WorkflowState.QUEUED.value,
                    "version": version,
                    "instruction": {"text": instruction, "by": by, "at": now, "version": version},
                    "draft.edited_by_person": False,
                    "updated_at": now,
                },
            )
            self._event(transaction, ref, f"regenerate-{version}", now, by=by, text=instruction)
            self.audit.append(
                transaction,
                "regenerate",
                key=f"regenerate-{workflow_id}-{version}",
                workflow_id=workflow_id,
                who=by,
                instruction=instruction,
            )
            return version

        version = self.store.run_transaction(regenerate)
        self.tasks.enqueue(
            self.target.draft_queue,
            task_id("draft", workflow_id, version),
            self.target.draft_url,
            {"workflow_id": workflow_id, "version": version},
        )
        return {"version": version, "queued": True}

    @staticmethod
    def _event(transaction: Any, ref: Any, kind: str, now: datetime, **fields: Any) -> None:
        transaction.set(
            ref.collection("events").document(f"{kind}-{int(now.timestamp() * 1000)}"),
            {"type": kind.split("-")[0], "recorded_at": now, **fields},
        )


def _reason(reason: str) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise BadRequest("say why: a rejection needs a reason")
    return text[:MAX_REASON]


def _array_union(item: dict[str, Any]) -> Any:
    from google.cloud import firestore

    return firestore.ArrayUnion([item])


def _public(approval: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in approval.items()
    }
