"""Campaigns: one personal draft per contact of a HubSpot segment, fanned out at a safe pace.

Life of a campaign (`campaigns/{id}`, members in `campaigns/{id}/members/{member}`):

1. `create` stores the validated spec (state `draft`); `preview` resolves the segment without
   writing anything: who is in and why, who is left out and why.
2. `launch` moves it to `running` and queues the `resolve` task, which reads the segment once
   and writes one member per contact, create-only: `queued` for the eligible, `skipped` with
   the reason for the others. Its retry writes nothing twice.
3. Each `tick` task dispatches the next members the limits allow now (per minute, per day, the
   working window): in one transaction per batch, member `queued` → `dispatched` and its
   workflow (a deterministic id: `cmp-<campaign>-<hash>`) created; then the `draft` tasks are
   queued by name. A crash between the two is repaired by the next tick (a named task is never
   queued twice). Ticks form one chain: each carries the sequence number the campaign expects,
   so a stale or duplicated tick does nothing.
4. `pause` stops the chain at its next tick; `resume` starts a new chain; `cancel` stops it and
   closes what was not drafted yet.

Drafts then go through the same draft step, gate and approval as any other workflow; the
campaign's opt-out line and postal address are appended by code after the gate.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from shared.domain import campaigns as domain
from shared.domain.campaigns import Campaign, CampaignState, Candidate, MemberStatus
from shared.domain.gate import GatePolicy
from shared.domain.workflow import WorkflowState, is_open
from shared.errors import BadRequest, ConflictError, NotFound
from shared.services.suppressions import suppressed_among

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue
    from shared.runtime import Runtime

log = logging.getLogger(__name__)

CAMPAIGNS = "campaigns"
MEMBERS = "members"
CLAIMS = "campaign_contacts"  # email → the running campaign holding that contact
WORKFLOWS = "workflows"
AUDIT = "audit"
PREVIEW_SAMPLE = 25
SUBSCRIPTION_CHECK_LIMIT = 1_500  # addresses whose subscription one resolve may check
BATCH_MEMBERS = 200  # two writes each (member, claim): within Firestore's 500 writes a commit

# A campaign member's part of the progress, then the workflow states a dispatched member's
# workflow can be in, by the progress bucket they count in.
_WORKFLOW_BUCKETS = {
    WorkflowState.QUEUED.value: "drafting",
    WorkflowState.DRAFTING.value: "drafting",
    WorkflowState.AWAITING_APPROVAL.value: "drafted",
    WorkflowState.NEEDS_INPUT.value: "held",
    WorkflowState.BLOCKED.value: "held",
    WorkflowState.PAUSED.value: "held",
    WorkflowState.APPROVED.value: "approved",
    WorkflowState.SUPPRESSED.value: "approved",
    WorkflowState.SENDING.value: "approved",
    WorkflowState.SENT.value: "sent",
    WorkflowState.WAITING_REPLY.value: "sent",
    WorkflowState.REP_ANSWERED.value: "replied",
    WorkflowState.REJECTED.value: "rejected",
    WorkflowState.CLOSED.value: "closed",
    WorkflowState.FAILED.value: "failed",
}


_STATES_BY_BUCKET: dict[str, list[str]] = {}
for _state, _bucket in _WORKFLOW_BUCKETS.items():
    _STATES_BY_BUCKET.setdefault(_bucket, []).append(_state)


def _count(query: Any) -> int:
    return int(query.count().get()[0][0].value)


class SegmentReader(Protocol):
    """What a campaign needs from HubSpot (shared/adapters/hubspot_segments.py)."""

    def candidates(self, segment: Any, extra_properties: Iterable[str]) -> list[dict[str, Any]]:
        """Contacts of the segment with their properties, company and owner email."""
        ...

    def subscription(self, email: str, subscription_type_id: str) -> str: ...


@dataclass(frozen=True)
class CampaignTarget:
    """Where campaign steps run: the `draft` function (resolve, tick and the drafts), through
    the campaign queue."""

    queue: str
    url: str


def _now() -> datetime:
    return datetime.now(UTC)


class CampaignService:
    def __init__(
        self,
        store: Store,
        tasks: TaskQueue,
        segments: Callable[[], SegmentReader],
        target: CampaignTarget,
        *,
        internal_domains: tuple[str, ...] = (),
        policy: GatePolicy | Callable[[], GatePolicy] | None = None,
        overrides: Callable[[], Mapping[str, Any]] = dict,
        window_seconds: float = 60.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.segments = segments
        self.target = target
        self.internal_domains = tuple(d.lower() for d in internal_domains)
        self.policy = policy or GatePolicy(internal_domains=frozenset(self.internal_domains))
        self.overrides = overrides
        self.window = timedelta(seconds=window_seconds)
        self.clock = clock

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> CampaignService:
        from shared.domain.sending import overridden
        from shared.services.campaign_segments import HubSpotSegmentReader
        from shared.services.draft_wiring import current_gate_policy
        from shared.services.send_flags import read_overrides

        settings = runtime.settings
        return cls(
            runtime.store,
            runtime.tasks,
            lambda: HubSpotSegmentReader.from_settings(settings, runtime.secrets),
            CampaignTarget(settings.queue_campaign, settings.function_url_draft),
            internal_domains=settings.internal_domains,
            policy=current_gate_policy(runtime),
            overrides=lambda: overridden(read_overrides(runtime.store)),
            window_seconds=settings.campaign_window_seconds,
        )

    # --- the campaign record --------------------------------------------------------------
    def _ref(self, campaign_id: str) -> Any:
        return self.store.db.collection(CAMPAIGNS).document(campaign_id)

    def _read(self, campaign_id: str, transaction: Any = None) -> dict[str, Any]:
        snap = self._ref(campaign_id).get(transaction=transaction)
        if not snap.exists:
            raise NotFound(f"no campaign {campaign_id}")
        return snap.to_dict() or {}

    @staticmethod
    def parse(spec: dict[str, Any]) -> Campaign:
        try:
            return Campaign.model_validate(spec)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise BadRequest(f"invalid campaign: {problems}") from None

    def create(self, spec: dict[str, Any], *, by: str) -> dict[str, Any]:
        from google.api_core import exceptions

        campaign = self.parse({**spec, "state": CampaignState.DRAFT.value})
        now = self.clock()
        record = {
            **campaign.model_dump(mode="json"),
            "created_by": by,
            "created_at": now,
            "updated_at": now,
            "tick_seq": 0,
            "dispatched": {},
        }
        try:
            self._ref(campaign.id).create(record)
        except exceptions.AlreadyExists:
            raise ConflictError(f"a campaign {campaign.id} exists already") from None
        self._audit("campaign-created", campaign.id, by, now)
        return record

    def get(self, campaign_id: str) -> dict[str, Any]:
        data = self._read(campaign_id)
        data["progress"] = self.progress(campaign_id)
        return data

    def all(self) -> list[dict[str, Any]]:
        found = [snap.to_dict() or {} for snap in self.store.db.collection(CAMPAIGNS).stream()]
        return sorted(found, key=lambda c: str(c.get("created_at") or ""), reverse=True)

    # --- who is in ------------------------------------------------------------------------
    def preview(self, spec: dict[str, Any]) -> dict[str, Any]:
        campaign = self.parse({**spec, "state": CampaignState.DRAFT.value})
        selection = self._select(campaign)
        reasons = Counter(e.code for e in selection.excluded)
        return {
            "count": len(selection.included),
            "excluded_count": len(selection.excluded),
            "excluded_by_reason": dict(sorted(reasons.items())),
            "included": [_person(c) for c in selection.included[:PREVIEW_SAMPLE]],
            "excluded": [
                {**_person(e.candidate), "reason": e.code, "why_not": e.text}
                for e in selection.excluded[:PREVIEW_SAMPLE]
            ],
        }

    def _select(self, campaign: Campaign) -> domain.Selection:
        reader = self.segments()
        rows = reader.candidates(campaign.segment, ())
        emails = [str(r.get("email") or "").strip().lower() for r in rows]
        known = [e for e in emails if e]
        suppressed = self._suppressed(known)
        claims = self._claims(known, campaign.id)
        open_contacts = self._open_contacts([str(r["id"]) for r in rows])
        type_id = campaign.compliance.subscription_type_id
        if type_id and len(rows) > SUBSCRIPTION_CHECK_LIMIT:
            # One HubSpot request per address (its v3 API has no batch), about 10 a second on a
            # private app: more would outlast the resolve task and retry forever.
            raise BadRequest(
                f"the segment has {len(rows)} contacts; with a subscription type a campaign "
                f"can check at most {SUBSCRIPTION_CHECK_LIMIT}: narrow it or split it"
            )
        candidates = []
        for row, email in zip(rows, emails, strict=True):
            subscription = "unknown"
            if type_id and email:
                subscription = reader.subscription(email, type_id)
            company = row.get("company") or {}
            properties = dict(row.get("properties") or {})
            candidates.append(
                Candidate(
                    contact_id=str(row["id"]),
                    email=email or None,
                    first_name=properties.get("firstname"),
                    last_name=properties.get("lastname"),
                    company_id=str(company["id"]) if company.get("id") else None,
                    company_name=(company.get("properties") or {}).get("name"),
                    country=properties.get("country")
                    or (company.get("properties") or {}).get("country"),
                    owner_email=row.get("owner_email"),
                    open_workflow=str(row["id"]) in open_contacts,
                    other_campaign=claims.get(email),
                    suppressed=email in suppressed,
                    opted_out=str(properties.get("hs_email_optout") or "").lower() == "true",
                    subscription=subscription,  # type: ignore[arg-type]
                    internal=bool(email) and email.rsplit("@", 1)[-1] in self.internal_domains,
                    properties=properties,
                    company_properties=dict(company.get("properties") or {}),
                    reasons_in=tuple(row.get("reasons_in") or ()),
                    guardrail=self._guardrail(email, company.get("properties") or {}),
                )
            )
        return domain.select(candidates, campaign)

    def _guardrail(self, email: str, company: dict[str, Any]) -> str | None:
        """The draft gate's guardrails, asked before anyone is drafted: whom we never write to."""
        from shared.domain.gate import DraftFacts, guardrails

        employees = str(company.get("numberofemployees") or "")
        facts = DraftFacts(
            to=email,
            cc=(),
            bcc=(),
            subject="",
            body="",
            confidence=1.0,
            questions=(),
            contact_email=email,
            thread_participants=(),
            contact_industry=company.get("industry"),
            company_stage=company.get("lifecyclestage"),
            employees=int(employees) if employees.isdigit() else None,
            suppressed=False,
            retrieved_links=frozenset(),
            inbound_text="",
        )
        check = guardrails(facts, self.policy() if callable(self.policy) else self.policy)
        blocks = [r for r in check.reasons if not check.passed]
        return "; ".join(blocks) if not check.passed and check.severity == "block" else None

    def _suppressed(self, emails: list[str]) -> set[str]:
        return suppressed_among(self.store.db, emails)

    def _claims(self, emails: list[str], campaign_id: str) -> dict[str, str]:
        """Contacts held by another campaign that is still running or paused."""
        refs = [self.store.db.collection(CLAIMS).document(e) for e in set(emails)]
        held: dict[str, str] = {}
        campaign_states: dict[str, str] = {}
        for snap in self.store.db.get_all(refs):
            if not snap.exists:
                continue
            other = str((snap.to_dict() or {}).get("campaign_id") or "")
            if not other or other == campaign_id:
                continue
            if other not in campaign_states:
                other_snap = self._ref(other).get()
                campaign_states[other] = str((other_snap.to_dict() or {}).get("state") or "")
            if campaign_states[other] in (CampaignState.RUNNING.value, CampaignState.PAUSED.value):
                held[snap.id] = other
        return held

    def _open_contacts(self, contact_ids: list[str]) -> set[str]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        found: set[str] = set()
        ids = sorted({int(c) for c in contact_ids if c.isdigit()})
        for start in range(0, len(ids), 30):
            query = self.store.db.collection(WORKFLOWS).where(
                filter=FieldFilter("contact_id", "in", ids[start : start + 30])
            )
            for snap in query.select(["contact_id", "state", "campaign_id"]).stream():
                data = snap.to_dict() or {}
                if is_open(data.get("state")):
                    found.add(str(data.get("contact_id")))
        return found

    # --- launching and resolving ----------------------------------------------------------
    def launch(self, campaign_id: str, *, by: str) -> dict[str, Any]:
        now = self.clock()

        def start(transaction: Any) -> dict[str, Any]:
            data = self._read(campaign_id, transaction)
            if data.get("state") != CampaignState.DRAFT.value:
                raise ConflictError(f"a {data.get('state')} campaign cannot be launched")
            update = {"state": CampaignState.RUNNING.value, "launched_at": now, "updated_at": now}
            transaction.update(self._ref(campaign_id), update)
            return {**data, **update}

        data = self.store.run_transaction(start)
        self._audit("campaign-launched", campaign_id, by, now)
        self._queue_resolve(campaign_id)
        return data

    def _queue_resolve(self, campaign_id: str) -> None:
        """A resolve task named by attempt: a resume after a failed read must run it again
        (Cloud Tasks refuses a name it saw in the last hour)."""
        from google.cloud import firestore

        ref = self._ref(campaign_id)
        ref.update({"resolve_seq": firestore.Increment(1)})
        seq = int((ref.get().to_dict() or {}).get("resolve_seq") or 1)
        self._enqueue(
            f"campaign-{campaign_id}-resolve-{seq}", {"campaign": campaign_id, "step": "resolve"}
        )

    def resolve(self, campaign_id: str) -> str:
        data = self._read(campaign_id)
        if data.get("state") not in (CampaignState.RUNNING.value, CampaignState.PAUSED.value):
            return "not running"
        campaign = self.parse(_spec(data))
        if not data.get("resolved"):
            try:
                selection = self._select(campaign)
            except (NotFound, BadRequest) as exc:
                # The segment cannot be read as defined (a deleted list, too many matches):
                # retrying changes nothing, so the campaign waits for a person.
                return self._hold(campaign_id, exc.public_message)
            self._write_members(campaign, selection)
            reasons = Counter(e.code for e in selection.excluded)
            self._ref(campaign_id).update(
                {
                    "resolved": {
                        "at": self.clock(),
                        "included": len(selection.included),
                        "excluded": len(selection.excluded),
                        "excluded_by_reason": dict(reasons),
                    },
                    "updated_at": self.clock(),
                }
            )
        self._start_chain(campaign_id, expected=int(data.get("tick_seq") or 0))
        return "resolved"

    def _hold(self, campaign_id: str, reason: str) -> str:
        now = self.clock()

        def hold(transaction: Any) -> None:
            data = self._read(campaign_id, transaction)
            if data.get("state") == CampaignState.RUNNING.value:
                transaction.update(
                    self._ref(campaign_id),
                    {
                        "state": CampaignState.PAUSED.value,
                        "error": {"reason": reason, "at": now},
                        "updated_at": now,
                    },
                )

        self.store.run_transaction(hold)
        log.warning(
            "campaign held: its segment cannot be read",
            extra={"fields": {"campaign_id": campaign_id, "reason": reason}},
        )
        return f"paused: {reason}"

    def _write_members(self, campaign: Campaign, selection: domain.Selection) -> None:
        """One member per person, create-only: a retried resolve keeps every earlier member."""
        members = self._ref(campaign.id).collection(MEMBERS)
        now = self.clock()
        rows: list[tuple[Any, dict[str, Any]]] = []
        for index, candidate in enumerate(selection.included):
            email = str(candidate.email)
            rows.append(
                (
                    members.document(domain.member_id(campaign.id, email)),
                    {
                        **_person(candidate),
                        "n": index,
                        "status": MemberStatus.QUEUED.value,
                        "mailbox": _mailbox(campaign, candidate),
                        "workflow_id": domain.workflow_id_for(campaign.id, email),
                        "consent_basis": campaign.compliance.consent_basis,
                        "created_at": now,
                    },
                )
            )
        for index, exclusion in enumerate(selection.excluded):
            candidate = exclusion.candidate
            key = candidate.email or f"contact-{candidate.contact_id}"
            rows.append(
                (
                    members.document(domain.member_id(campaign.id, key)),
                    {
                        **_person(candidate),
                        "n": len(selection.included) + index,
                        "status": MemberStatus.SKIPPED.value,
                        "reason": exclusion.code,
                        "why_not": exclusion.text,
                        "created_at": now,
                    },
                )
            )
        existing = {
            snap.id for snap in self.store.db.get_all([ref for ref, _ in rows]) if snap.exists
        }
        fresh = [(ref, data) for ref, data in rows if ref.id not in existing]
        for start in range(0, len(fresh), BATCH_MEMBERS):
            batch = self.store.db.batch()
            for ref, member in fresh[start : start + BATCH_MEMBERS]:
                batch.create(ref, member)
                if member["status"] == MemberStatus.QUEUED.value:
                    batch.set(
                        self.store.db.collection(CLAIMS).document(member["email"]),
                        {"campaign_id": campaign.id, "at": now},
                    )
            batch.commit()

    # --- the dispatch chain ---------------------------------------------------------------
    def _start_chain(self, campaign_id: str, *, expected: int, at: datetime | None = None) -> None:
        """Move the chain to its next link (only from `expected`) and queue that tick."""

        def advance(transaction: Any) -> int | None:
            data = self._read(campaign_id, transaction)
            if int(data.get("tick_seq") or 0) != expected:
                return None
            if data.get("state") != CampaignState.RUNNING.value:
                return None
            transaction.update(self._ref(campaign_id), {"tick_seq": expected + 1})
            return expected + 1

        seq = self.store.run_transaction(advance)
        if seq is not None:
            self._enqueue(
                f"campaign-{campaign_id}-tick-{seq}",
                {"campaign": campaign_id, "step": "tick", "seq": seq},
                at=at,
            )

    def tick(self, campaign_id: str, seq: int) -> str:
        data = self._read(campaign_id)
        if int(data.get("tick_seq") or 0) != seq:
            return "stale"
        if data.get("state") != CampaignState.RUNNING.value:
            return str(data.get("state"))
        campaign = self.parse(_spec(data))
        now = self.clock()
        self._repair(campaign_id)
        budget, next_at = self._budget(campaign, data, now)
        dispatched = self._dispatch(campaign, budget, now) if budget else []
        self._enqueue_drafts(campaign_id, dispatched)
        if not self._has_queued(campaign_id):
            self._finish_dispatch(campaign_id)
            return f"dispatched {len(dispatched)}; nobody left to dispatch"
        self._start_chain(campaign_id, expected=seq, at=next_at)
        return f"dispatched {len(dispatched)}"

    def _budget(
        self, campaign: Campaign, data: dict[str, Any], now: datetime
    ) -> tuple[int, datetime]:
        """How many may go in this window, and, when none may, when the schedule reopens.
        An admin's override of this campaign's per-day or per-minute limit counts while it is
        in force."""
        in_force = self.overrides()
        raised = {
            name: in_force[f"campaign.{campaign.id}.{name}"]
            for name in ("per_day", "per_minute")
            if f"campaign.{campaign.id}.{name}" in in_force
        }
        if raised:
            campaign = campaign.model_copy(
                update={"limits": campaign.limits.model_copy(update=raised)}
            )
        today = _local_day(now, campaign.schedule.time_zone)
        already = int((data.get("dispatched") or {}).get(today) or 0)
        first = domain.dispatch_times(
            1, start=now, limits=campaign.limits, schedule=campaign.schedule, already_today=already
        )
        if not first or first[0] > now + timedelta(seconds=1):
            return 0, first[0] if first else now + self.window
        return min(campaign.limits.per_minute, campaign.limits.per_day - already), now + self.window

    def _dispatch(self, campaign: Campaign, budget: int, now: datetime) -> list[dict[str, Any]]:
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        members = self._ref(campaign.id).collection(MEMBERS)
        query = (
            members.where(filter=FieldFilter("status", "==", MemberStatus.QUEUED.value))
            .order_by("n")
            .limit(budget)
        )
        picked = [snap.reference for snap in query.stream()]
        if not picked:
            return []
        today = _local_day(now, campaign.schedule.time_zone)

        def claim(transaction: Any) -> list[dict[str, Any]]:
            snaps = list(self.store.db.get_all(picked, transaction=transaction))
            state = self._read(campaign.id, transaction).get("state")
            if state != CampaignState.RUNNING.value:
                return []
            workflows = {
                s.id: self.store.db.collection(WORKFLOWS).document(
                    str((s.to_dict() or {})["workflow_id"])
                )
                for s in snaps
            }
            existing = {
                w.id
                for w in self.store.db.get_all(list(workflows.values()), transaction=transaction)
                if w.exists
            }
            claimed = []
            for snap in snaps:
                member = snap.to_dict() or {}
                if member.get("status") != MemberStatus.QUEUED.value:
                    continue
                workflow_ref = workflows[snap.id]
                if workflow_ref.id not in existing:
                    transaction.create(workflow_ref, self._workflow(campaign, member, now))
                transaction.update(
                    snap.reference,
                    {
                        "status": MemberStatus.DRAFTING.value,
                        "dispatched_at": now,
                        "enqueued": False,
                    },
                )
                claimed.append({**member, "member_id": snap.id})
            if claimed:
                transaction.update(
                    self._ref(campaign.id),
                    {f"dispatched.`{today}`": firestore.Increment(len(claimed)), "updated_at": now},
                )
            return claimed

        return self.store.run_transaction(claim)

    def _workflow(
        self, campaign: Campaign, member: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        return {
            "id": member["workflow_id"],
            "state": WorkflowState.QUEUED.value,
            "source": "campaign",
            "contact_id": int(member["contact_id"])
            if str(member["contact_id"]).isdigit()
            else None,
            "contact_email": member["email"],
            "mailbox": member.get("mailbox"),
            "campaign_id": campaign.id,
            "campaign": {
                "id": campaign.id,
                "name": campaign.name,
                "story": campaign.story.model_dump(mode="json"),
                "compliance": campaign.compliance.model_dump(mode="json"),
            },
            "created_at": now,
            "updated_at": now,
            "version": 1,
            "signals": 1,
            "first_signal": {"kind": "campaign", "campaign_id": campaign.id},
        }

    def _enqueue_drafts(self, campaign_id: str, members: list[dict[str, Any]]) -> None:
        from shared.adapters.tasks import task_id

        members_ref = self._ref(campaign_id).collection(MEMBERS)
        for member in members:
            workflow_id = member["workflow_id"]
            self.tasks.enqueue(
                self.target.queue,
                task_id("draft", workflow_id, 1),
                self.target.url,
                {"workflow_id": workflow_id, "version": 1},
                audience=self.target.url,
            )
        # One commit for the batch: a crash before it leaves them to the next tick's repair,
        # which queues them again by name (a no-op for those already queued).
        for start in range(0, len(members), BATCH_MEMBERS):
            batch = self.store.db.batch()
            for member in members[start : start + BATCH_MEMBERS]:
                batch.update(members_ref.document(member["member_id"]), {"enqueued": True})
            batch.commit()

    def _repair(self, campaign_id: str) -> None:
        """Members dispatched by a run that died before it queued their drafts."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._ref(campaign_id)
            .collection(MEMBERS)
            .where(filter=FieldFilter("status", "==", MemberStatus.DRAFTING.value))
            .where(filter=FieldFilter("enqueued", "==", False))
        )
        stranded = [{**(s.to_dict() or {}), "member_id": s.id} for s in query.stream()]
        if stranded:
            log.warning(
                "campaign: re-queueing drafts a crashed tick left",
                extra={"fields": {"campaign_id": campaign_id, "count": len(stranded)}},
            )
            self._enqueue_drafts(campaign_id, stranded)

    def _has_queued(self, campaign_id: str) -> bool:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._ref(campaign_id)
            .collection(MEMBERS)
            .where(filter=FieldFilter("status", "==", MemberStatus.QUEUED.value))
            .limit(1)
        )
        return any(True for _ in query.stream())

    def _finish_dispatch(self, campaign_id: str) -> None:
        def finish(transaction: Any) -> None:
            data = self._read(campaign_id, transaction)
            if data.get("state") == CampaignState.RUNNING.value:
                transaction.update(
                    self._ref(campaign_id),
                    {"state": CampaignState.DONE.value, "done_at": self.clock()},
                )

        self.store.run_transaction(finish)

    # --- pause, resume, cancel ------------------------------------------------------------
    def pause(self, campaign_id: str, *, by: str) -> dict[str, Any]:
        return self._move(campaign_id, CampaignState.RUNNING, CampaignState.PAUSED, by)

    def resume(self, campaign_id: str, *, by: str) -> dict[str, Any]:
        data = self._move(campaign_id, CampaignState.PAUSED, CampaignState.RUNNING, by)
        if data.get("resolved"):
            self._start_chain(campaign_id, expected=int(data.get("tick_seq") or 0))
        else:
            self._ref(campaign_id).update({"error": None})
            self._queue_resolve(campaign_id)
        return data

    def cancel(self, campaign_id: str, *, by: str) -> dict[str, Any]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        now = self.clock()

        def stop(transaction: Any) -> dict[str, Any]:
            data = self._read(campaign_id, transaction)
            if data.get("state") in (CampaignState.CANCELLED.value, CampaignState.DONE.value):
                raise ConflictError(f"the campaign is {data.get('state')} already")
            transaction.update(
                self._ref(campaign_id),
                {"state": CampaignState.CANCELLED.value, "cancelled_at": now, "updated_at": now},
            )
            return data

        data = self.store.run_transaction(stop)
        members = self._ref(campaign_id).collection(MEMBERS)
        queued = members.where(filter=FieldFilter("status", "==", MemberStatus.QUEUED.value))
        refs = [snap.reference for snap in queued.stream()]
        for start in range(0, len(refs), BATCH_MEMBERS):
            batch = self.store.db.batch()
            for ref in refs[start : start + BATCH_MEMBERS]:
                batch.update(ref, {"status": MemberStatus.CANCELLED.value, "cancelled_at": now})
            batch.commit()
        closed = self._close_undrafted(campaign_id, now)
        self._audit("campaign-cancelled", campaign_id, by, now)
        return {**data, "state": CampaignState.CANCELLED.value, "closed_workflows": closed}

    def _close_undrafted(self, campaign_id: str, now: datetime) -> int:
        """Dispatched but not drafted yet: closed, so their draft task finds nothing to do."""
        from google.api_core import exceptions
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.store.db.collection(WORKFLOWS).where(
            filter=FieldFilter("campaign_id", "==", campaign_id)
        )
        closed = 0
        for snap in query.stream():
            if (snap.to_dict() or {}).get("state") != WorkflowState.QUEUED.value:
                continue
            try:
                snap.reference.update(
                    {
                        "state": WorkflowState.CLOSED.value,
                        "closed": {"reason": "campaign cancelled", "at": now},
                        "updated_at": now,
                    },
                    option=self.store.db.write_option(last_update_time=snap.update_time),
                )
                closed += 1
            except exceptions.FailedPrecondition:  # a draft started meanwhile: the operator decides
                log.info("campaign cancel: a workflow moved on meanwhile")
        return closed

    def _move(
        self, campaign_id: str, source: CampaignState, target: CampaignState, by: str
    ) -> dict[str, Any]:
        now = self.clock()

        def move(transaction: Any) -> dict[str, Any]:
            data = self._read(campaign_id, transaction)
            if data.get("state") != source.value:
                raise ConflictError(f"a {data.get('state')} campaign cannot be {target.value}")
            transaction.update(self._ref(campaign_id), {"state": target.value, "updated_at": now})
            return {**data, "state": target.value}

        data = self.store.run_transaction(move)
        self._audit(f"campaign-{target.value}", campaign_id, by, now)
        return data

    # --- progress -------------------------------------------------------------------------
    def progress(self, campaign_id: str) -> dict[str, Any]:
        """Counts, not documents: the page polls this every few seconds, so it costs one
        aggregation per member status and per stage (a read per 1,000 entries each), not a
        read per member and per workflow."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        members_ref = self._ref(campaign_id).collection(MEMBERS)
        members = {
            status.value: _count(
                members_ref.where(filter=FieldFilter("status", "==", status.value))
            )
            for status in MemberStatus
        }
        of_campaign = self.store.db.collection(WORKFLOWS).where(
            filter=FieldFilter("campaign_id", "==", campaign_id)
        )
        workflows = {
            bucket: _count(of_campaign.where(filter=FieldFilter("state", "in", states)))
            for bucket, states in _STATES_BY_BUCKET.items()
        }
        return {
            "members": {k: v for k, v in members.items() if v},
            "queued": members[MemberStatus.QUEUED.value],
            "skipped": members[MemberStatus.SKIPPED.value],
            "cancelled": members[MemberStatus.CANCELLED.value],
            "dispatched": members[MemberStatus.DRAFTING.value],
            "workflows": {k: v for k, v in workflows.items() if v},
        }

    # --- plumbing -------------------------------------------------------------------------
    def _enqueue(self, name: str, payload: dict[str, Any], at: datetime | None = None) -> None:
        self.tasks.enqueue(
            self.target.queue,
            name,
            self.target.url,
            payload,
            schedule_at=at,
            audience=self.target.url,
        )

    def _audit(self, kind: str, campaign_id: str, by: str, at: datetime) -> None:
        self.store.db.collection(AUDIT).add(
            {"kind": kind, "campaign_id": campaign_id, "by": by, "at": at}
        )


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    fields = Campaign.model_fields
    return {key: value for key, value in data.items() if key in fields}


def _person(candidate: Candidate) -> dict[str, Any]:
    return {
        "contact_id": candidate.contact_id,
        "email": candidate.email,
        "name": " ".join(p for p in (candidate.first_name, candidate.last_name) if p) or None,
        "company": candidate.company_name,
        "company_id": candidate.company_id,
        "owner_email": candidate.owner_email,
        "why_in": list(candidate.reasons_in),
    }


def _mailbox(campaign: Campaign, candidate: Candidate) -> str | None:
    if campaign.owner_rule.kind == "rep":
        return campaign.owner_rule.rep_email
    return candidate.owner_email


def _local_day(moment: datetime, time_zone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(time_zone)).date().isoformat()
