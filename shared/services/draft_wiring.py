"""Builds the `draft` task's sources from a function instance's settings, lazily: each source
degrades to "nothing" (logged) when its outside service cannot help, so one missing piece of
context never stops a draft; only HubSpot and Gmail themselves are required."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.domain.assets import Situation
from shared.domain.gate import GatePolicy
from shared.errors import AppError
from shared.services.drafting import DraftService, OfferedSlot, Sources
from shared.services.voice_wiring import VoiceWiring

if TYPE_CHECKING:
    from shared.runtime import Runtime
    from shared.services.campaigns import CampaignService
    from shared.services.send_wiring import SendWiring

log = logging.getLogger(__name__)


def gate_policy(settings: Any, overrides: Mapping[str, Any] | None = None) -> GatePolicy:
    """The gate's policy from settings, with the guardrail overrides in force (target →
    value, see `shared.domain.sending.OVERRIDE_TARGETS`): one for drafts and for choosing
    campaign contacts."""
    values = {
        "blocked_industries": settings.guardrail_blocked_industries,
        "allowed_industries": settings.guardrail_allowed_industries,
        "blocked_stages": settings.guardrail_blocked_stages,
        "min_employees": settings.guardrail_min_employees,
        "max_employees": settings.guardrail_max_employees,
    }
    for target, value in (overrides or {}).items():
        if target.startswith("guardrails."):
            values[target.removeprefix("guardrails.")] = value
    return GatePolicy(
        internal_domains=frozenset(settings.internal_domains),
        link_allow_list=frozenset(settings.asset_link_allow_list),
        blocked_industries=frozenset(values["blocked_industries"]),
        allowed_industries=frozenset(values["allowed_industries"]),
        blocked_stages=frozenset(values["blocked_stages"]),
        employee_range=(values["min_employees"], values["max_employees"]),
    )


def current_gate_policy(runtime: Runtime) -> Callable[[], GatePolicy]:
    """The policy as of now: the settings, and the overrides stored with the send flags."""
    from shared.domain.sending import overridden
    from shared.services.send_flags import RecentFlags

    recent = RecentFlags(runtime.store, runtime.settings.flags_cache_seconds)

    def now() -> GatePolicy:
        return gate_policy(runtime.settings, overridden(recent.overrides()))

    return now


class DraftWiring:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.voice = VoiceWiring(runtime)
        self._calendars: dict[str, Any] = {}
        self._hubspot: tuple[str, Any] | None = None

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    @property
    def hubspot(self) -> Any:
        """The HubSpot client for the token stored now: rebuilt when the token is replaced
        (the Secret Manager read itself is cached per instance)."""
        import hashlib

        from shared.adapters.hubspot_context import HubSpotContext

        token = self.runtime.secrets.read(self.settings.hubspot_access_token_id)
        fingerprint = hashlib.sha256(token.encode()).hexdigest()
        if self._hubspot is None or self._hubspot[0] != fingerprint:
            self._hubspot = (
                fingerprint,
                HubSpotContext.from_settings(self.settings, self.runtime.secrets),
            )
        return self._hubspot[1]

    def refused(self, connection: str) -> None:
        """A credential was refused: the next use reads Secret Manager again, so a replaced
        token or key is picked up at once instead of after the cache's lifetime."""
        secret_id = {
            "hubspot": self.settings.hubspot_access_token_id,
            "openai": self.settings.openai_api_key_id,
        }.get(connection)
        if secret_id:
            self.runtime.secrets.forget(secret_id)

    def gmail_for(self, mailbox: str) -> Any:
        from shared.services.mailboxes import mailbox_gmail

        return mailbox_gmail(self.runtime.store, self.voice.access, mailbox)

    def voice_guide(self, rep: str) -> str | None:
        profile = self.voice.service.profile(rep) or {}
        guide = profile.get("guide")
        return str(guide) if guide else None

    def voice_passages(self, rep: str, situation: str) -> list[dict[str, Any]]:
        try:
            return self.voice.service.closest_passages(rep, situation, k=3)
        except AppError as exc:
            log.warning("no voice passages: %s", exc.public_message)
            return []

    def assets(self, situation: Situation) -> list[Any]:
        try:
            return list(self.voice.assets.search(self.settings.team_id, situation, limit=3))
        except AppError as exc:
            log.warning("no assets: %s", exc.public_message)
            return []

    def approved_asset(self, asset_id: str) -> dict[str, Any] | None:
        try:
            asset = self.voice.assets.get(asset_id)
        except (AppError, ValueError):
            return None
        return asset if (asset.get("tags") or {}).get("approved") else None

    def free_slots(self, rep: str, prospect_tz: str | None) -> list[OfferedSlot]:
        from datetime import UTC, datetime

        from shared.domain.slots import WorkingHours, describe, free_slots, known_time_zone

        try:
            calendar = self.calendar_for(rep)
            rep_tz = known_time_zone(calendar.timezone()) or "UTC"
            now = datetime.now(UTC)
            busy = calendar.busy(rep, now, now + timedelta(days=10))
        except AppError as exc:
            log.warning("no calendar slots: %s", exc.public_message)
            return []
        prospect = known_time_zone(prospect_tz)
        tz = prospect or rep_tz
        slots = free_slots(
            busy, now=now, hours=WorkingHours(time_zone=rep_tz), prospect_tz=prospect
        )
        return [OfferedSlot(describe(slot, tz), slot.start, slot.end, tz) for slot in slots]

    def calendar_for(self, rep: str) -> Any:
        """One calendar client per rep and instance, so its access token is reused."""
        from shared.adapters.calendar import CalendarClient
        from shared.services.mailboxes import FreshClient

        if rep not in self._calendars:
            mailbox = self.runtime.store.db.collection("mailboxes").document(rep).get()
            data = mailbox.to_dict() or {} if mailbox.exists else {}
            access = self.voice.access

            def make() -> Any:
                return CalendarClient(
                    access.credentials_for(rep, data.get("token_secret")),
                    endpoint=self.settings.calendar_api_endpoint,
                    attempts=self.settings.http_max_attempts,
                    backoff_max=self.settings.http_backoff_max_seconds,
                )

            self._calendars[rep] = FreshClient(make, lambda: access.forget(rep, data))
        return self._calendars[rep]

    def writer(self) -> Any | None:
        from shared.adapters.llm_draft import DraftWriter
        from shared.errors import NotFound as Missing

        try:
            key = self.runtime.secrets.read(self.settings.openai_api_key_id).strip()
        except Missing:
            return None
        if not key:
            return None
        from shared.services.llm_spend import usage_hook

        writer = DraftWriter(
            key, base_url=self.settings.openai_base_url, model=self.settings.openai_draft_model
        ).priced(self.settings.llm_usd_per_1k_prompt, self.settings.llm_usd_per_1k_completion)
        writer.on_usage = usage_hook(self.runtime, "draft")
        return writer

    @cached_property
    def campaigns(self) -> CampaignService:
        from shared.services.campaigns import CampaignService

        return CampaignService.for_runtime(self.runtime)

    @cached_property
    def sending(self) -> SendWiring:
        from shared.services.send_wiring import SendWiring

        return SendWiring(self.runtime, drafts=self)

    @cached_property
    def service(self) -> DraftService:
        settings = self.settings
        policy = current_gate_policy(self.runtime)
        return DraftService(
            self.runtime.store,
            Sources(
                hubspot=lambda: self.hubspot,
                gmail_for=self.gmail_for,
                voice_guide=self.voice_guide,
                voice_passages=self.voice_passages,
                assets=self.assets,
                free_slots=self.free_slots,
                writer=self.writer,
                quota=self.sending.quota,
                reschedule=self.sending.reschedule_follow_up,
                drafted=self.sending.auto_approve,
                asset=self.approved_asset,
                refused=self.refused,
            ),
            policy,
            budget_tokens=settings.draft_prompt_budget_tokens,
        )
