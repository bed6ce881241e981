"""Builds the Gmail intake services of a function instance from its settings, lazily.

HubSpot and the LLM are reached only when a message needs them (an unknown sender, a
prospect's reply), so a push that brings a newsletter never imports either client.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from shared.domain.intent import IntentResult
from shared.errors import ConfigError
from shared.services.gmail_sync import GmailSync
from shared.services.mail_intake import (
    ContactInfo,
    ContactLookup,
    DraftTarget,
    IntentReader,
    MailIntake,
)
from shared.services.mailboxes import MailboxAccess, Mailboxes

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)


class _LazyContacts:
    """HubSpot contact lookup built on first use; without a HubSpot token, no lookups."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._lookup: ContactLookup | None = None
        self._unavailable = False
        self._lock = threading.Lock()

    def find_by_email(self, email: str) -> ContactInfo | None:
        with self._lock:
            if self._lookup is None and not self._unavailable:
                from shared.adapters.hubspot import HubSpotContacts

                try:
                    self._lookup = HubSpotContacts.from_settings(
                        self.runtime.settings, self.runtime.secrets
                    )
                except ConfigError as exc:
                    self._unavailable = True
                    log.warning("no HubSpot contact lookups: %s", exc.public_message)
            lookup = self._lookup
        return lookup.find_by_email(email) if lookup is not None else None


class _LazyIntent:
    """The LLM classifier when an OpenAI key is stored, else the rules; chosen on first use."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._reader: IntentReader | None = None
        self._lock = threading.Lock()

    def classify(self, new_text: str, subject: str) -> IntentResult:
        with self._lock:
            if self._reader is None:
                from shared.adapters.llm import intent_classifier

                self._reader = intent_classifier(self.runtime.settings, self.runtime.secrets)
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
        )

    @cached_property
    def sync(self) -> GmailSync:
        settings = self.runtime.settings
        return GmailSync(
            self.runtime.store,
            self.intake,
            self.access.gmail_for,
            forget=self.access.forget,
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
        )
