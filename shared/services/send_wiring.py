"""Builds the send step, the approvals and the flags from a function instance's settings."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.adapters.tasks import task_id
from shared.domain.sending import quota_report, quota_windows
from shared.services.approvals import Approvals
from shared.services.send_flags import AuditLog, FlagStore, RecentFlags, default_flags
from shared.services.sending import COUNTERS, SendService, SendSources, SendTarget

if TYPE_CHECKING:
    from shared.runtime import Runtime
    from shared.services.draft_wiring import DraftWiring


class SendWiring:
    def __init__(self, runtime: Runtime, drafts: DraftWiring | None = None) -> None:
        self.runtime = runtime
        self._drafts = drafts

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    @cached_property
    def drafts(self) -> DraftWiring:
        if self._drafts is None:
            from shared.services.draft_wiring import DraftWiring

            self._drafts = DraftWiring(self.runtime)
        return self._drafts

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.runtime.store)

    @cached_property
    def flags(self) -> FlagStore:
        return FlagStore(self.runtime.store, default_flags(self.settings), self.audit)

    @cached_property
    def target(self) -> SendTarget:
        settings = self.settings
        return SendTarget(
            send_queue=settings.queue_send,
            send_url=settings.function_url_send,
            draft_queue=settings.queue_draft,
            draft_url=settings.function_url_draft,
        )

    def _subscription(self, email: str, type_id: str) -> str:
        from shared.adapters.hubspot_segments import HubSpotSegments

        hubspot = HubSpotSegments.from_settings(self.settings, self.runtime.secrets)
        return hubspot.subscription(email, type_id).status

    @cached_property
    def service(self) -> SendService:
        drafts = self.drafts
        return SendService(
            self.runtime.store,
            self.runtime.tasks,
            self.flags,
            self.audit,
            SendSources(
                gmail_for=drafts.gmail_for,
                hubspot=lambda: drafts.hubspot,
                calendar_for=drafts.calendar_for,
                refused=drafts.refused,
                subscription=self._subscription,
            ),
            self.target,
            team=self.settings.team_id,
            time_zone=self.settings.team_time_zone,
            lease_seconds=self.settings.send_lease_seconds,
        )

    @cached_property
    def approvals(self) -> Approvals:
        return Approvals(
            self.runtime.store,
            self.runtime.tasks,
            self.flags,
            self.audit,
            self.drafts.gmail_for,
            self.target,
        )

    @cached_property
    def recent_flags(self) -> RecentFlags:
        return RecentFlags(self.runtime.store, self.settings.flags_cache_seconds)

    # --- what the draft step asks of sending --------------------------------------------
    def quota(self, mailbox: str) -> dict[str, Any]:
        """Would one more send from `mailbox` fit now? (For the gate's report: the flags as
        read in the last few seconds will do; the send itself checks in its transaction.)"""
        flags = self.recent_flags.flags(self.flags.defaults)
        windows = quota_windows(
            mailbox=mailbox,
            team=self.settings.team_id,
            now=datetime.now(UTC),
            time_zone=self.settings.team_time_zone,
            quotas=flags.quotas,
        )
        db = self.runtime.store.db
        refs = [db.collection(COUNTERS).document(w.counter_id) for w in windows]
        used = {
            snap.id: int((snap.to_dict() or {}).get("count") or 0)
            for snap in db.get_all(refs)
            if snap.exists
        }
        return {**quota_report(windows, used), "mode": flags.mode.value}

    def reschedule_follow_up(self, workflow_id: str, version: int, step: int, at: datetime) -> None:
        self.runtime.tasks.enqueue(
            self.settings.queue_draft,
            task_id("nurture", workflow_id, version, step, at.strftime("%Y%m%d%H%M")),
            self.settings.function_url_draft,
            {"workflow_id": workflow_id, "version": version, "nurture_step": step},
            schedule_at=at,
        )

    def auto_approve(self, workflow_id: str) -> None:
        self.approvals.auto_approve(workflow_id)
