"""Builds the voice service of a function instance: the source fetchers, the embedder and
the style-guide writer, each created on first use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.errors import (
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from shared.services.voice import (
    Content,
    Embedder,
    GuideWriter,
    SampleFailed,
    TaskTarget,
    VoiceService,
)

if TYPE_CHECKING:
    from shared.runtime import Runtime

MAX_HUBSPOT_CHARS = 200_000
RECHOOSE_SECONDS = 300.0


class VoiceWiring:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._embedder: Embedder | None = None
        self._chosen_at = 0.0
        self._lock = threading.Lock()

    @property
    def settings(self) -> Any:
        return self.runtime.settings

    # --- the parts ----------------------------------------------------------------------
    def embedder(self) -> Embedder:
        """Chosen again every few minutes, so a key stored (or removed) later is picked up;
        the profile rebuild re-embeds what an earlier model embedded."""
        with self._lock:
            if self._embedder is None or time.monotonic() - self._chosen_at > RECHOOSE_SECONDS:
                from shared.adapters.embeddings import embedder

                self._embedder = embedder(self.settings, self.runtime.secrets)
                self._chosen_at = time.monotonic()
            return self._embedder

    def guide_writer(self) -> GuideWriter | None:
        from shared.adapters.llm_voice import style_guide_writer
        from shared.services.llm_spend import usage_hook

        writer = style_guide_writer(self.settings, self.runtime.secrets)
        if writer is not None:
            writer.priced(
                self.settings.llm_usd_per_1k_prompt, self.settings.llm_usd_per_1k_completion
            )
            writer.on_usage = usage_hook(self.runtime, "voice_guide")
        return writer

    @cached_property
    def access(self) -> Any:
        from shared.services.mailboxes import MailboxAccess

        return MailboxAccess(self.settings, self.runtime.secrets)

    # --- fetchers: a sample record in, content out --------------------------------------
    def fetch_link(self, sample: dict[str, Any]) -> Content:
        from shared.adapters.links import LinkFailed, LinkFetcher, LinkRefused

        fetcher = LinkFetcher(
            max_bytes=self.settings.voice_upload_max_bytes,
            timeout=self.settings.link_fetch_timeout_seconds,
            max_redirects=self.settings.link_fetch_max_redirects,
            allow_hosts=self.settings.link_fetch_allow_hosts,
        )
        try:
            fetched = fetcher.fetch(str(sample["source_url"]))
        except LinkRefused as exc:
            raise SampleFailed(exc.reason) from None
        except LinkFailed as exc:
            if exc.retryable:
                raise TransientError(f"link: {exc.reason}") from None
            raise SampleFailed(exc.reason) from None
        return Content(
            data=fetched.data, filename=fetched.filename, content_type=fetched.content_type
        )

    def fetch_drive(self, sample: dict[str, Any]) -> Content:
        from shared.adapters.drive import Unsupported

        rep = str(sample["rep"])
        try:
            file, data, mime = self.drive_for(rep).content(str(sample["source_id"]))
        except Unsupported as exc:
            raise SampleFailed(exc.reason) from None
        except NotFound:
            raise SampleFailed("the Drive file was not found, or is not shared with you") from None
        except AuthorizationRefused:
            raise SampleFailed("connect your Google account again to read Drive files") from None
        except PermanentExternalError as exc:
            raise SampleFailed(exc.public_message) from None
        return Content(
            data=data,
            filename=file.name,
            content_type=mime,
            title=file.name,
            metadata={"drive_mime_type": file.mime_type},
        )

    def fetch_youtube(self, sample: dict[str, Any]) -> Content:
        from shared.adapters.youtube import TranscriptUnavailable, YouTubeTranscripts

        languages = [x.strip() for x in self.settings.voice_language.split(",") if x.strip()]
        try:
            transcript = YouTubeTranscripts(self.settings.youtube_base_url).fetch(
                str(sample["source_id"]), languages or ["en"]
            )
        except TranscriptUnavailable as exc:
            if exc.retryable:
                raise TransientError(f"youtube: {exc.reason}") from None
            raise SampleFailed(exc.reason) from None
        return Content(
            text=transcript.text,
            metadata={
                "language": transcript.language,
                "generated_transcript": transcript.generated,
                "segments": transcript.segments,
            },
        )

    def fetch_hubspot(self, sample: dict[str, Any]) -> Content:
        from shared.adapters.hubspot_records import HubSpotRecords

        metadata = sample.get("metadata") or {}
        try:
            records = HubSpotRecords.from_settings(self.settings, self.runtime.secrets)
            texts = records.texts_by_rep(
                str(metadata.get("object_type")),
                int(str(sample["source_id"])),
                rep_email=str(sample["rep"]),
            )
        except ValueError:
            raise SampleFailed("only HubSpot contacts and deals can be samples") from None
        except NotFound:
            raise SampleFailed("that HubSpot record was not found") from None
        except PermanentExternalError as exc:
            raise SampleFailed(exc.public_message) from None
        if not texts:
            raise SampleFailed("that record has no emails, notes or calls written by this rep")
        joined = "\n\n".join(t.text.strip() for t in texts if t.text.strip())
        return Content(
            text=joined[:MAX_HUBSPOT_CHARS],
            metadata={"records": len(texts), "kinds": sorted({t.kind for t in texts})},
        )

    def drive_for(self, account: str) -> Any:
        """A Drive reader with `account`'s Google grant (its connected mailbox's token). A
        refused grant is read afresh from Secret Manager once: the account may have been
        reconnected since this instance cached its token."""
        from shared.services.mailboxes import FreshClient

        return FreshClient(lambda: self._drive_client(account), lambda: self._forget_grant(account))

    def _drive_client(self, account: str) -> Any:
        from shared.adapters.drive import DriveFiles

        mailbox = self.runtime.store.db.collection("mailboxes").document(account).get()
        token_secret = (mailbox.to_dict() or {}).get("token_secret") if mailbox.exists else None
        return DriveFiles(
            self.access.credentials_for(account, token_secret),
            endpoint=self.settings.drive_api_endpoint,
            attempts=self.settings.http_max_attempts,
            backoff_max=self.settings.http_backoff_max_seconds,
            max_bytes=self.settings.voice_upload_max_bytes,
        )

    def _forget_grant(self, account: str) -> None:
        mailbox = self.runtime.store.db.collection("mailboxes").document(account).get()
        self.access.forget(account, mailbox.to_dict() or {} if mailbox.exists else {})

    @cached_property
    def assets(self) -> Any:
        from shared.services.assets import AssetLibrary

        base = self.settings.function_url_voice.rstrip("/")
        return AssetLibrary(
            self.runtime.store,
            self.runtime.tasks,
            index_target=TaskTarget(
                self.settings.queue_voice, f"{base}/tasks/assets", self.settings.function_url_voice
            ),
            drive_for=self.drive_for,
            fetch_link=self.fetch_link,
            embedder=self.embedder,
            max_chars=self.settings.voice_max_sample_chars,
            reindex_debounce_seconds=self.settings.voice_profile_debounce_seconds,
        )

    @cached_property
    def service(self) -> VoiceService:
        settings = self.settings
        base = settings.function_url_voice.rstrip("/")
        fetchers: dict[str, Callable[[dict[str, Any]], Content]] = {
            "link": self.fetch_link,
            "drive": self.fetch_drive,
            "youtube": self.fetch_youtube,
            "hubspot": self.fetch_hubspot,
        }
        return VoiceService(
            self.runtime.store,
            self.runtime.tasks,
            extract_target=TaskTarget(
                settings.queue_voice, f"{base}/tasks/extract", settings.function_url_voice
            ),
            profile_target=TaskTarget(
                settings.queue_voice, f"{base}/tasks/profile", settings.function_url_voice
            ),
            fetchers=fetchers,
            embedder=self.embedder,
            guide_writer=self.guide_writer,
            max_chars=settings.voice_max_sample_chars,
            language=settings.voice_language,
            profile_debounce_seconds=settings.voice_profile_debounce_seconds,
        )
