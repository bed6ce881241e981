"""The operator API's answers: plain JSON built from the flags, the audit log, the workflows
and the approvals. Email content is returned as data (the page escapes it). Which routes a
role may call is decided before any of this runs (`shared.domain.access`); what depends on
the data (a rep approves their own mailbox's drafts only) is checked here. The entry point
strips secret names from a non-admin's answers."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.domain.access import Role, may_act_for
from shared.domain.workflow import WorkflowState
from shared.errors import AppError, BadRequest, Forbidden, NotFound
from shared.logs import workflow_scope

if TYPE_CHECKING:
    from shared.services.send_wiring import SendWiring

_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_HASH = re.compile(r"[0-9a-f]{64}")
CAMPAIGN_SAMPLE = 3  # drafts a person reads before approving a campaign's drafts in bulk
QUEUE_SHOWN = 200
QUEUE_STATES = ("awaiting_approval", "needs_input", "approved", "suppressed")


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _hash(body: dict[str, Any]) -> str:
    value = str(body.get("content_hash") or "")
    if not _HASH.fullmatch(value):
        raise BadRequest("content_hash: the 64-character hash of the draft you reviewed")
    return value


class OperatorApi:
    def __init__(self, wiring: SendWiring) -> None:
        self.wiring = wiring

    @cached_property
    def resumer(self) -> Any:
        from shared.services.resume import Resumer

        return Resumer.for_runtime(self.wiring.runtime)

    @cached_property
    def google(self) -> Any:
        from shared.services.google_connect import GoogleConnect
        from shared.services.mail_wiring import GmailServices

        runtime = self.wiring.runtime
        mailboxes = GmailServices(runtime).mailboxes
        return GoogleConnect.from_settings(
            runtime.settings,
            runtime.store,
            runtime.secrets,
            lambda email, secret_id: mailboxes.connect(email, secret_id),
            lambda email, reason: mailboxes.stop(email, reason),
        )

    @cached_property
    def campaigns(self) -> Any:
        from shared.services.campaigns import CampaignService

        return CampaignService.for_runtime(self.wiring.runtime)

    def approve_campaign(
        self, campaign_id: str, sampled: Any, *, who: str, role: Role
    ) -> dict[str, Any]:
        """Approve every draft of a campaign waiting for approval, once a person has read a
        sample of them: each approval binds to that draft's content as it is now. A
        non-admin approves the drafts in their own mailbox only; the others are reported as
        skipped, with the reason."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        if not isinstance(sampled, list) or not all(isinstance(s, str) for s in sampled):
            raise BadRequest('body must be {"sampled": ["<workflow id>", ...]}')
        waiting, skipped = [], []
        for snap in (
            self._db.collection("workflows")
            .where(filter=FieldFilter("campaign_id", "==", campaign_id))
            .select(["state", "mailbox", "draft.mailbox"])
            .stream()
        ):
            data = snap.to_dict() or {}
            if data.get("state") != WorkflowState.AWAITING_APPROVAL.value:
                continue
            mailbox = _mailbox_of(data)
            if may_act_for(role, who, mailbox):
                waiting.append(snap.id)
            else:
                skipped.append({"workflow_id": snap.id, "reason": _not_yours(mailbox)})
        needed = min(CAMPAIGN_SAMPLE, len(waiting))
        read = set(sampled) & set(waiting)
        if len(read) < needed:
            raise BadRequest(
                f"read at least {needed} of this campaign's drafts first (sampled {len(read)})"
            )
        approvals = self.wiring.approvals
        approved = []
        for workflow_id in waiting:
            try:
                with workflow_scope(workflow_id):
                    _, current, _ = approvals.current_draft(approvals.read(workflow_id))
                    approvals.approve(workflow_id, by=who, reviewed_hash=current)
                approved.append(workflow_id)
            except AppError as exc:
                skipped.append({"workflow_id": workflow_id, "reason": exc.public_message})
        return {"approved": len(approved), "skipped": skipped}

    def campaign_outcomes(self) -> dict[str, Any]:
        """Per campaign and per story: drafted, sent, replies, positive replies (interested or
        asking for a meeting), meetings booked, and deals that moved while a follow-up waited
        (the sequence stopped for it)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        meetings = {
            str((snap.to_dict() or {}).get("workflow_id"))
            for snap in self._db.collection("audit")
            .where(filter=FieldFilter("kind", "==", "meeting_booked"))
            .select(["workflow_id"])
            .stream()
        }
        rows = []
        for campaign in self.campaigns.all():
            row = {
                "campaign_id": campaign.get("id"),
                "name": campaign.get("name"),
                "story": (campaign.get("story") or {}).get("title"),
                "state": campaign.get("state"),
                **dict.fromkeys(OUTCOME_COLUMNS, 0),
            }
            query = (
                self._db.collection("workflows")
                .where(filter=FieldFilter("campaign_id", "==", campaign.get("id")))
                .select(["state", "sends", "last_inbound", "nurture", "draft", "closed_reason"])
            )
            for snap in query.stream():
                for column in _outcome_columns(snap.id, snap.to_dict() or {}, meetings):
                    row[column] += 1
            rows.append(row)
        stories: dict[str, dict[str, Any]] = {}
        for row in rows:
            story = stories.setdefault(
                str(row["story"]),
                {"story": row["story"], "campaigns": 0, **dict.fromkeys(OUTCOME_COLUMNS, 0)},
            )
            story["campaigns"] += 1
            for column in OUTCOME_COLUMNS:
                story[column] += row[column]
        return {
            "campaigns": rows,
            "stories": sorted(stories.values(), key=lambda s: str(s["story"])),
        }

    def health(self) -> dict[str, Any]:
        """The health report (shared/services/health.py)."""
        from shared.services.health import HealthReport

        return HealthReport(self.wiring.runtime, self.connections).build()

    @cached_property
    def suppressions(self) -> Any:
        from shared.services.suppressions import ManualSuppressions

        return ManualSuppressions(self._db, self.wiring.audit)

    @cached_property
    def privacy(self) -> Any:
        from shared.services.privacy import PrivacyService

        return PrivacyService.for_runtime(self.wiring.runtime)

    def set_override(self, body: dict[str, Any], *, who: str) -> dict[str, Any]:
        """A temporary quota or guardrail value: {"target", "value", "hours", "reason"}."""
        return plain(  # type: ignore[no-any-return]
            self.wiring.flags.set_override(
                str(body.get("target") or ""),
                body.get("value"),
                hours=body.get("hours"),
                reason=str(body.get("reason") or ""),
                who=who,
            )
        )

    def revoke_override(self, override_id: str, body: dict[str, Any], *, who: str) -> Any:
        return plain(
            self.wiring.flags.revoke_override(
                override_id, reason=str(body.get("reason") or ""), who=who
            )
        )

    @cached_property
    def connections(self) -> Any:
        from shared.services.connections import Connections

        settings = self.wiring.settings
        return Connections(
            self.wiring.runtime.store,
            self.wiring.runtime.secrets,
            self.wiring.audit,
            secret_ids={
                "openai": settings.openai_api_key_id,
                "hubspot_token": settings.hubspot_access_token_id,
                "hubspot_webhook": settings.hubspot_client_secret_id,
            },
            resume_connection=self.resumer.resume_connection,
        )

    @property
    def _db(self) -> Any:
        return self.wiring.runtime.store.db

    def flags(self) -> dict[str, Any]:
        return {"flags": plain(self.wiring.flags.current())}

    def change_flags(self, changes: dict[str, Any], *, who: str, reason: str) -> dict[str, Any]:
        return plain(self.wiring.flags.change(changes, who=who, reason=reason))  # type: ignore[no-any-return]

    def audit(self, kind: str | None, limit: str | None) -> dict[str, Any]:
        try:
            count = max(1, min(int(limit or 100), 500))
        except ValueError:
            raise BadRequest("limit: a number from 1 to 500") from None
        if kind is not None and not _ID.fullmatch(kind):
            raise BadRequest("kind: letters, digits, _ and -")
        return {"entries": plain(self.wiring.audit.entries(kind=kind, limit=count))}

    def queue(self) -> dict[str, Any]:
        """The newest `QUEUE_SHOWN` drafts waiting for a person (and how many wait in all),
        reading only the fields the queue shows."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._db.collection("workflows").where(
            filter=FieldFilter("state", "in", list(QUEUE_STATES))
        )
        waiting = int(query.count().get()[0][0].value)
        newest = (
            query.order_by("updated_at", direction=firestore.Query.DESCENDING)
            .limit(QUEUE_SHOWN)
            .select(
                [
                    "state",
                    "draft.to",
                    "draft.subject",
                    "draft.gate.verdict",
                    "draft.gate.risk",
                    "approval",
                    "send",
                    "updated_at",
                ]
            )
        )
        items = []
        for snap in newest.stream():
            data = snap.to_dict() or {}
            draft = data.get("draft") or {}
            items.append(
                {
                    "id": snap.id,
                    "state": data.get("state"),
                    "to": draft.get("to"),
                    "subject": draft.get("subject"),
                    "verdict": (draft.get("gate") or {}).get("verdict"),
                    "risk": (draft.get("gate") or {}).get("risk"),
                    "approval": plain(data.get("approval")),
                    "send": plain(data.get("send")),
                    "updated_at": plain(data.get("updated_at")),
                }
            )
        return {"items": items, "waiting": waiting}

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        if not _ID.fullmatch(workflow_id):
            raise NotFound("no such workflow")
        snap = self._db.collection("workflows").document(workflow_id).get()
        if not snap.exists:
            raise NotFound("no such workflow")
        data = snap.to_dict() or {}
        current: dict[str, Any] | None = None
        if data.get("draft_id"):
            try:
                content, digest, _ = self.wiring.approvals.current_draft(data)
                current = {
                    "to": content.to,
                    "subject": content.subject,
                    "body": content.body,
                    "content_hash": digest,
                }
            except Exception as exc:
                current = {"error": getattr(exc, "public_message", "the draft cannot be read")}
        return {"workflow": plain(data), "gmail_draft": current}

    def act(
        self, workflow_id: str, action: str, body: dict[str, Any], *, who: str, role: Role
    ) -> Any:
        if not _ID.fullmatch(workflow_id):
            raise NotFound("no such workflow")
        with workflow_scope(workflow_id):
            return self._act(workflow_id, action, body, who=who, role=role)

    def _act(
        self, workflow_id: str, action: str, body: dict[str, Any], *, who: str, role: Role
    ) -> Any:
        if role is not Role.ADMIN:
            # A rep acts on the drafts of their own mailbox only; checked before anything.
            snap = self._db.collection("workflows").document(workflow_id).get()
            if not snap.exists:
                raise NotFound("no such workflow")
            mailbox = _mailbox_of(snap.to_dict() or {})
            if not may_act_for(role, who, mailbox):
                raise Forbidden(_not_yours(mailbox))
        approvals = self.wiring.approvals
        if action == "approve":
            return {"approval": approvals.approve(workflow_id, by=who, reviewed_hash=_hash(body))}
        if action == "cancel":
            return approvals.cancel(workflow_id, by=who)
        if action == "reject":
            return approvals.reject(workflow_id, by=who, reason=str(body.get("reason") or ""))
        if action == "edit":
            edited = approvals.edit(
                workflow_id,
                by=who,
                reviewed_hash=_hash(body),
                subject=str(body.get("subject") or ""),
                body=str(body.get("body") or ""),
            )
            if body.get("approve") is True:
                edited["approval"] = approvals.approve(
                    workflow_id, by=who, reviewed_hash=edited["content_hash"]
                )
            return edited
        if action == "regenerate":
            return approvals.regenerate(
                workflow_id, by=who, instruction=str(body.get("instruction") or "")
            )
        raise NotFound("no such action")

    def dashboard(self) -> dict[str, Any]:
        """Today's numbers, counted from the workflows and the audit log (a small team's
        pipeline: a few thousand workflows at most; the outcomes issue keeps counters)."""
        from collections import Counter
        from datetime import UTC, datetime, time

        midnight = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
        states: Counter[str] = Counter()
        new_today = 0
        for snap in self._db.collection("workflows").limit(5000).stream():
            data = snap.to_dict() or {}
            states[str(data.get("state"))] += 1
            created = data.get("created_at")
            if isinstance(created, datetime) and created >= midnight:
                new_today += 1
        from google.cloud.firestore_v1.base_query import FieldFilter

        sent_today = sum(
            1
            for _ in self._db.collection("audit")
            .where(filter=FieldFilter("kind", "==", "sent"))
            .where(filter=FieldFilter("at", ">=", midnight))
            .stream()
        )
        replies_today = sum(
            1
            for _ in self._db.collection_group("events")
            .where(filter=FieldFilter("type", "==", "prospect_reply"))
            .where(filter=FieldFilter("recorded_at", ">=", midnight))
            .stream()
        )
        meetings_today = sum(
            1
            for _ in self._db.collection("audit")
            .where(filter=FieldFilter("kind", "==", "meeting_booked"))
            .where(filter=FieldFilter("at", ">=", midnight))
            .stream()
        )
        attention = [
            f"{snap.id}: {(snap.to_dict() or {}).get('status')} "
            f"({((snap.to_dict() or {}).get('attention') or {}).get('reason') or 'reconnect'})"
            for snap in self._db.collection("mailboxes").stream()
            if (snap.to_dict() or {}).get("status") != "connected"
        ]
        attention += [f"{count} workflow(s) failed" for s, count in states.items() if s == "failed"]
        attention += [
            f"{count} paused (a connection)" for s, count in states.items() if s == "paused"
        ]
        return {
            "waiting": states["awaiting_approval"] + states["needs_input"],
            "sent_today": sent_today,
            "new_today": new_today,
            "replies_today": replies_today,
            "meetings_today": meetings_today,
            "suppressed": states["suppressed"],
            "by_state": sorted(states.items()),
            "attention": attention,
        }

    def workflows(
        self,
        state: str | None,
        source: str | None,
        owner: str | None,
        since: str | None = None,
    ) -> list[Any]:
        """The newest workflows, filtered by state, source, owner mailbox and creation date."""
        from datetime import UTC, date, datetime

        try:
            after = (
                datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
                if since
                else None
            )
        except ValueError:
            raise BadRequest("since: a date like 2026-11-21") from None
        from google.cloud.firestore_v1.base_query import FieldFilter

        query: Any = self._db.collection("workflows")
        for field, value in (("state", state), ("source", source)):
            if value:
                if not _ID.fullmatch(value):
                    raise BadRequest(f"{field}: letters, digits, _ and -")
                query = query.where(filter=FieldFilter(field, "==", value))
        rows = []
        for snap in query.limit(500).stream():
            data = snap.to_dict() or {}
            draft = data.get("draft") or {}
            mailbox = data.get("mailbox") or draft.get("mailbox")
            if owner and mailbox != owner:
                continue
            created = data.get("created_at")
            if after is not None and not (isinstance(created, datetime) and created >= after):
                continue
            rows.append(
                {
                    "id": snap.id,
                    "state": data.get("state"),
                    "source": data.get("source"),
                    "contact": data.get("contact_email") or draft.get("to"),
                    "owner": mailbox,
                    "version": data.get("version"),
                    "updated_at": plain(data.get("updated_at")),
                }
            )
        rows.sort(key=lambda r: str(r["updated_at"] or ""), reverse=True)
        return rows[:200]

    def timeline(self, workflow_id: str) -> dict[str, Any]:
        """A workflow and everything that happened to it: its events and its audit records."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        shown = self.workflow(workflow_id)
        ref = self._db.collection("workflows").document(workflow_id)
        events = [
            {"source": "event", **plain(snap.to_dict() or {})}
            for snap in ref.collection("events").stream()
        ]
        audit = [
            {
                "source": "audit",
                "type": (snap.to_dict() or {}).get("kind"),
                **plain(snap.to_dict() or {}),
            }
            for snap in self._db.collection("audit")
            .where(filter=FieldFilter("workflow_id", "==", workflow_id))
            .stream()
        ]
        entries = events + audit
        entries.sort(key=lambda e: str(e.get("recorded_at") or e.get("at") or ""))
        return {**shown, "timeline": entries}

    def outcomes(self, weeks: int = 8) -> dict[str, Any]:
        """The weekly outcome counters (kept as events happen, shared/services/outcomes.py)
        as the Outcomes page shows them."""
        from shared.domain.outcomes import report
        from shared.services.outcomes import OutcomeLog

        return report(OutcomeLog(self.wiring.runtime.store).weeks(weeks))

    def outcomes_csv(self, weeks: int = 12) -> str:
        from shared.services.outcomes import OutcomeLog

        return OutcomeLog(self.wiring.runtime.store).csv(weeks)


OUTCOME_COLUMNS = (
    "drafted",
    "sent",
    "replies",
    "positive",
    "unsubscribed",
    "meetings",
    "deal_moves",
)
POSITIVE_INTENTS = {"interested", "meeting_request"}
DEAL_MOVED = "the deal moved in HubSpot"


def _mailbox_of(workflow: dict[str, Any]) -> str | None:
    """The rep's mailbox a workflow's drafts are written in and sent from."""
    from shared.services.sending import mailbox_of

    return mailbox_of(workflow).lower() or None


def _not_yours(mailbox: str | None) -> str:
    if not mailbox:
        return "this draft has no mailbox yet: only an admin may act on it"
    return f"this draft is in {mailbox}'s mailbox: only that rep or an admin may act on it"


def _outcome_columns(workflow_id: str, data: dict[str, Any], meetings: set[str]) -> list[str]:
    columns = []
    if data.get("draft"):
        columns.append("drafted")
    if data.get("sends"):
        columns.append("sent")
    inbound = data.get("last_inbound") or {}
    unsubscribed = data.get("closed_reason") == "unsubscribed"
    if inbound or unsubscribed:
        columns.append("replies")
    if inbound.get("intent") in POSITIVE_INTENTS and not unsubscribed:
        columns.append("positive")
    if unsubscribed:
        columns.append("unsubscribed")
    if workflow_id in meetings:
        columns.append("meetings")
    if (data.get("nurture") or {}).get("stopped") == DEAL_MOVED:
        columns.append("deal_moves")
    return columns
