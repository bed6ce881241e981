"""Builds the Gmail intake services of a function instance from its settings, lazily.

HubSpot and the LLM are reached only when a message needs them (an unknown sender, a
prospect's reply), so a push that brings a newsletter never imports either client.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.domain.intent import IntentResult
from shared.errors import ConfigError, PermanentExternalError
from shared.services.gmail_sync import GmailSync
from shared.services.mail_intake import (
    ContactInfo,
    ContactLookup,
    DraftTarget,
    IntentReader,
    MailIntake,
)
from shared.services.mailboxes import MailboxAccess, Mailboxes
from shared.services.voice import TaskTarget

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)


RETRY_UNAVAILABLE_SECONDS = 300.0
CONTACT_CACHE_SECONDS = 300.0
UNKNOWN_SENDER_CACHE_SECONDS = 60.0  # short: a contact created a minute ago must be found
CONTACT_CACHE_SIZE = 2000


class _LazyContacts:
    """HubSpot contact lookup, built on first use.

    Without a HubSpot token, or with one HubSpot refuses, senders are treated as unknown (the
    message is still recorded) and the token is looked for again a few minutes later; a
    refused HubSpot token must never mark the Gmail mailbox as broken. Answers are kept a
    few minutes per instance: HubSpot allows only a few searches a second, and a burst of
    mail usually comes from a few senders.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lookup: ContactLookup | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ContactInfo | None]] = {}

    def _current(self) -> ContactLookup | None:
        with self._lock:
            if self._lookup is None and time.monotonic() >= self._retry_at:
                from shared.adapters.hubspot import HubSpotContacts

                try:
                    self._lookup = HubSpotContacts.from_settings(
                        self.runtime.settings, self.runtime.secrets
                    )
                except ConfigError as exc:
                    self._retry_at = time.monotonic() + RETRY_UNAVAILABLE_SECONDS
                    log.warning("no HubSpot contact lookups: %s", exc.public_message)
            return self._lookup

    def find_by_email(self, email: str) -> ContactInfo | None:
        key = email.strip().lower()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        lookup = self._current()
        if lookup is None:
            return None
        try:
            contact = lookup.find_by_email(email)
        except PermanentExternalError as exc:
            log.error("HubSpot refused a contact lookup: %s", exc.public_message)
            with self._lock:
                self._lookup = None
                self._retry_at = time.monotonic() + RETRY_UNAVAILABLE_SECONDS
            self.runtime.secrets.forget(self.runtime.settings.hubspot_access_token_id)
            return None
        ttl = CONTACT_CACHE_SECONDS if contact is not None else UNKNOWN_SENDER_CACHE_SECONDS
        with self._lock:
            if len(self._cache) >= CONTACT_CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = (now + ttl, contact)
        return contact


class _LazyIntent:
    """The LLM classifier when an OpenAI key is stored, else the rules; chosen again every
    few minutes, so a key stored later is picked up without a restart."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._reader: IntentReader | None = None
        self._chosen_at = 0.0
        self._lock = threading.Lock()

    def classify(self, new_text: str, subject: str) -> IntentResult:
        with self._lock:
            stale = time.monotonic() - self._chosen_at >= RETRY_UNAVAILABLE_SECONDS
            if self._reader is None or stale:
                from shared.adapters.llm import intent_classifier

                self._reader = _metered(
                    intent_classifier(self.runtime.settings, self.runtime.secrets), self.runtime
                )
                self._chosen_at = time.monotonic()
            reader = self._reader
        return reader.classify(new_text, subject)


class GmailServices:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @cached_property
    def access(self) -> MailboxAccess:
        return MailboxAccess(self.runtime.settings, self.runtime.secrets)

    @cached_property
    def intake(self) -> MailIntake:
        settings = self.runtime.settings
        return MailIntake(
            self.runtime.store,
            self.runtime.tasks,
            DraftTarget(settings.queue_draft, settings.function_url_draft),
            contacts=_LazyContacts(self.runtime),
            intent=_LazyIntent(self.runtime),
            internal_domains=settings.internal_domains,
            auto_reply_defer=timedelta(days=settings.auto_reply_defer_days),
            voice=TaskTarget(
                settings.queue_voice,
                settings.function_url_voice.rstrip("/") + "/tasks/extract",
                settings.function_url_voice,
            ),
            send=TaskTarget(
                settings.queue_send, settings.function_url_send, settings.function_url_send
            ),
        )

    @cached_property
    def sync(self) -> GmailSync:
        settings = self.runtime.settings
        return GmailSync(
            self.runtime.store,
            self.intake,
            self.access.fresh_gmail,
            lease_seconds=settings.gmail_sync_lease_seconds,
            resync_max_messages=settings.gmail_resync_max_messages,
            resync_max_days=settings.gmail_resync_max_days,
        )

    @cached_property
    def mailboxes(self) -> Mailboxes:
        settings = self.runtime.settings
        return Mailboxes(
            self.runtime.store,
            self.access,
            self.sync,
            topic=settings.gmail_topic,
            renew_after=timedelta(hours=settings.gmail_watch_renew_after_hours),
            poll_after=timedelta(hours=settings.gmail_poll_after_hours),
            on_connected=self.resume_paused,
        )

    def resume_paused(self, mailbox: str) -> dict[str, int]:
        from shared.services.resume import Resumer

        return Resumer.for_runtime(self.runtime).resume(mailbox)


def _metered(reader: Any, runtime: Runtime) -> Any:
    """The intent reader with its LLM calls counted in the day's spend (rules cost nothing)."""
    from shared.adapters.openai_account import OpenAIModel
    from shared.services.llm_spend import usage_hook

    if isinstance(reader, OpenAIModel):
        settings = runtime.settings
        reader.priced(settings.llm_usd_per_1k_prompt, settings.llm_usd_per_1k_completion)
        reader.on_usage = usage_hook(runtime, "intent")
    return reader
