"""Connected mailboxes: their Gmail clients, connecting one, and the daily upkeep.

A mailbox document (`mailboxes/{email}`) holds the history cursor, the sync lease, the watch
and the mailbox's health; its refresh token lives in Secret Manager under `token_secret`.
Maintenance renews each watch (INBOX and SENT only) when it is older than a day, polls any
mailbox whose pushes went quiet (notifications can be dropped), and records watches that
lapsed or failed so the operator page can show them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.gmail_history import token_secret_name
from shared.errors import (
    AuthorizationRefused,
    ConfigError,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from shared.services.gmail_sync import (
    MAILBOXES,
    GmailSync,
    MailboxStatus,
    disconnected_update,
)

if TYPE_CHECKING:
    from shared.adapters.gmail import GmailMailbox
    from shared.adapters.secrets import SecretStore
    from shared.adapters.store import Store
    from shared.config import Settings

log = logging.getLogger(__name__)

WATCH_LABELS = ("INBOX", "SENT")


def _now() -> datetime:
    return datetime.now(UTC)


class MailboxAccess:
    """Builds (and reuses, so access tokens are reused) one Gmail client per mailbox."""

    def __init__(self, settings: Settings, secrets: SecretStore) -> None:
        self.settings = settings
        self.secrets = secrets
        self._clients: dict[tuple[str, str], GmailMailbox] = {}
        self._lock = threading.Lock()

    def _oauth_client(self) -> tuple[str, str]:
        from shared.adapters.google_oauth import read_oauth_client

        client = read_oauth_client(self.secrets, self.settings.google_oauth_client_secret_id)
        return client.client_id, client.client_secret

    def forget(self, email: str, data: dict[str, Any]) -> None:
        """Drop the cached token and client: the mailbox may have been reconnected meanwhile
        (a new refresh token in Secret Manager that this instance has not read yet)."""
        self.secrets.forget(str(data.get("token_secret") or token_secret_name(email)))
        with self._lock:
            self._clients = {k: v for k, v in self._clients.items() if k[0] != email}

    def credentials_for(self, email: str, token_secret: str | None = None) -> Any:
        """The person's Google credentials (the grant stored when they connected), for Drive
        and Calendar as well as Gmail."""
        from shared.adapters.google_auth import user_credentials

        secret_id = token_secret or token_secret_name(email)
        try:
            refresh_token = self.secrets.read(secret_id)
        except NotFound:
            raise AuthorizationRefused(
                "google: no stored authorization for this person; connect their account"
            ) from None
        client_id, client_secret = self._oauth_client()
        return user_credentials(
            refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            token_uri=self.settings.google_oauth_token_uri,
            scopes=(),
        )

    def fresh_gmail(self, email: str, data: dict[str, Any]) -> Any:
        """The mailbox's client, re-reading a refused token once (see FreshClient)."""
        return FreshClient(lambda: self.gmail_for(email, data), lambda: self.forget(email, data))

    def gmail_for(self, email: str, data: dict[str, Any]) -> GmailMailbox:
        from shared.adapters.gmail import GmailMailbox
        from shared.adapters.google_auth import user_credentials

        secret_id = str(data.get("token_secret") or token_secret_name(email))
        try:
            refresh_token = self.secrets.read(secret_id)
        except NotFound:
            raise AuthorizationRefused(
                "gmail: the mailbox has no stored authorization; connect it again"
            ) from None
        key = (email, refresh_token)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client_id, client_secret = self._oauth_client()
                credentials = user_credentials(
                    refresh_token,
                    client_id=client_id,
                    client_secret=client_secret,
                    token_uri=self.settings.google_oauth_token_uri,
                )
                client = GmailMailbox(
                    credentials,
                    endpoint=self.settings.gmail_api_endpoint,
                    timeout=self.settings.http_timeout_seconds,
                    attempts=self.settings.http_max_attempts,
                    backoff_max=self.settings.http_backoff_max_seconds,
                )
                self._clients = {k: v for k, v in self._clients.items() if k[0] != email}
                self._clients[key] = client
            return client


@dataclass
class MaintenanceReport:
    renewed: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    lapsed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    attention: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "renewed": self.renewed,
            "polled": self.polled,
            "lapsed": self.lapsed,
            "failed": self.failed,
            "attention": self.attention,
        }


class Mailboxes:
    def __init__(
        self,
        store: Store,
        access: MailboxAccess,
        sync: GmailSync,
        *,
        topic: str,
        renew_after: timedelta = timedelta(hours=20),
        poll_after: timedelta = timedelta(hours=6),
        on_connected: Callable[[str], Any] | None = None,
    ) -> None:
        self.store = store
        self.access = access
        self.sync = sync
        self.topic = topic
        self.renew_after = renew_after
        self.poll_after = poll_after
        self.on_connected = on_connected  # e.g. resume the drafts and sends it paused

    def _ref(self, email: str) -> Any:
        return self.store.db.collection(MAILBOXES).document(email)

    def connect(self, email: str, token_secret: str | None = None) -> dict[str, Any]:
        """Start watching a mailbox whose refresh token is stored: cursor from now, watch on.

        Reconnecting keeps the existing cursor, so nothing between the two is skipped.
        """
        address = email.strip().lower()
        secret_id = token_secret or token_secret_name(address)
        gmail = self.access.gmail_for(address, {"token_secret": secret_id})
        profile = gmail.profile()
        if str(profile.get("emailAddress", "")).lower() != address:
            raise PermanentExternalError("gmail: the authorization belongs to another mailbox")
        ref = self._ref(address)
        existing = ref.get()
        now = _now()
        data: dict[str, Any] = {
            "email": address,
            "token_secret": secret_id,
            "status": MailboxStatus.CONNECTED,
            "connected_at": now,
            "attention": None,
        }
        if not existing.exists or not existing.get("history_id"):
            data["history_id"] = str(profile["historyId"])
            data["cursor_at"] = now
        if existing.exists and existing.get("status") != MailboxStatus.CONNECTED:
            data["disconnected"] = None
            data["reconnected_at"] = now
        ref.set(data, merge=True)
        if self.topic:
            self._renew(address, gmail, now)
        if self.on_connected is not None:
            self.on_connected(address)
        return (ref.get().to_dict()) or {}

    def stop(self, email: str, reason: str) -> None:
        """Disconnected on purpose (from the page): the watch is stopped while the grant still
        works, and the record says why. The caller revokes the grant and destroys the secret."""
        ref = self._ref(email)
        snap = ref.get()
        if not snap.exists:
            return
        data = snap.to_dict() or {}
        # A refused grant has no watch to stop: Gmail ends it within 7 days by itself.
        with contextlib.suppress(
            AuthorizationRefused, PermanentExternalError, TransientError, NotFound
        ):
            self.access.gmail_for(email, data).stop_watch()
        now = _now()
        ref.update(
            {
                "status": MailboxStatus.DISCONNECTED,
                "disconnected": {"reason": reason, "at": now},
                "watch.status": "stopped",
            }
        )
        self.access.forget(email, data)

    def _renew(self, email: str, gmail: GmailMailbox, now: datetime) -> None:
        """Call `users.watch` again (it is idempotent; Gmail asks for it daily). Sub-fields
        are updated one by one so a recorded lapse stays visible after the renewal."""
        answer = gmail.watch(self.topic, WATCH_LABELS)
        expiration_ms = int(answer.get("expiration") or 0)
        expires = datetime.fromtimestamp(expiration_ms / 1000, UTC) if expiration_ms else None
        self._ref(email).update(
            {
                "watch.topic": self.topic,
                "watch.renewed_at": now,
                "watch.expires_at": expires,
                "watch.history_id": str(answer.get("historyId") or ""),
                "watch.status": "active",
                "watch.error": None,
            }
        )

    def run_maintenance(self) -> MaintenanceReport:
        """Renew due watches, poll quiet mailboxes, record lapsed watches. One mailbox's
        failure never stops the others."""
        report = MaintenanceReport()
        for snap in self.store.db.collection(MAILBOXES).stream():
            data = snap.to_dict() or {}
            email = snap.id
            if data.get("status") in (MailboxStatus.DISCONNECTED, MailboxStatus.NEEDS_ATTENTION):
                report.attention.append(email)  # only reconnecting can fix it
                _event("mailbox_disconnected", email, status=str(data.get("status")))
                continue
            try:
                self._maintain(email, data, report)
            except AuthorizationRefused as exc:
                report.failed[email] = exc.public_message
                self._ref(email).update(disconnected_update(exc))
            except PermanentExternalError as exc:
                report.failed[email] = exc.public_message
                self._ref(email).update(
                    {
                        "status": MailboxStatus.NEEDS_ATTENTION,
                        "attention": {
                            "reason": exc.public_message,
                            "detail": exc.detail,
                            "at": _now(),
                        },
                        "watch.status": "failing",
                        "watch.error": exc.public_message,
                    }
                )
            except (TransientError, ConfigError) as exc:
                report.failed[email] = exc.public_message
                self._ref(email).update({"watch.error": exc.public_message})
        log.info("maintenance done", extra={"fields": report.as_json()})
        return report

    def _maintain(self, email: str, data: dict[str, Any], report: MaintenanceReport) -> None:
        now = _now()
        watch = data.get("watch") or {}
        expires = watch.get("expires_at")
        if expires is not None and expires <= now and watch.get("status") != "lapsed":
            report.lapsed.append(email)
            self._ref(email).update({"watch.status": "lapsed", "watch.lapsed_at": now})
            _event("mailbox_watch_lapsed", email)
        renewed = watch.get("renewed_at")
        if self.topic and (renewed is None or now - renewed >= self.renew_after):
            self._renew(email, self.access.fresh_gmail(email, data), now)
            report.renewed.append(email)
        last_heard = max(
            (t for t in (data.get("last_push_at"), data.get("last_poll_at")) if t is not None),
            default=None,
        )
        if last_heard is None or now - last_heard >= self.poll_after:
            result = self.sync.sync(email, trigger="poll")
            if result.status == MailboxStatus.NEEDS_ATTENTION:
                report.failed[email] = result.detail or "needs attention"
            else:
                report.polled.append(email)
        current = self._ref(email).get().to_dict() or {}
        synced = current.get("last_sync_at") or current.get("connected_at")
        if synced is not None and now - synced >= 2 * self.poll_after:
            _event("mailbox_not_syncing", email, last_sync_at=synced)


def _event(name: str, mailbox: str, **fields: Any) -> None:
    """A structured log line Cloud Monitoring counts (terraform/monitoring.tf alerts on it)."""
    log.warning(
        "mailbox needs attention: %s",
        name,
        extra={"fields": {"event": name, "mailbox": mailbox, **fields}},
    )


def mailbox_gmail(store: Any, access: Any, mailbox: str) -> FreshClient:
    """A connected mailbox's Gmail client (through `access`, the mailbox token reader),
    renewed once when its grant is refused. NotFound for a mailbox never connected."""
    from shared.errors import NotFound

    snap = store.db.collection("mailboxes").document(mailbox).get()
    if not snap.exists:
        raise NotFound(f"the mailbox {mailbox} is not connected")
    data = snap.to_dict() or {}
    return FreshClient(
        lambda: access.gmail_for(mailbox, data), lambda: access.forget(mailbox, data)
    )


class FreshClient:
    """A Google client whose calls, on a refused grant, re-read the token once and try again:
    the person may have reconnected since this instance cached the old token. A generator
    (pages of history) is retried the same way if it fails before its first item."""

    def __init__(self, make: Any, forget: Any) -> None:
        self._make = make
        self._forget = forget
        self._client: Any = None

    def _renew(self) -> Any:
        self._forget()
        self._client = self._make()
        return self._client

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._client is None:
                self._client = self._make()
            try:
                result = getattr(self._client, name)(*args, **kwargs)
            except AuthorizationRefused:
                return getattr(self._renew(), name)(*args, **kwargs)
            if isinstance(result, Iterator):
                return self._guarded(result, name, args, kwargs)
            return result

        return call

    def _guarded(
        self, pages: Iterator[Any], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        try:
            first = next(pages)
        except StopIteration:
            return
        except AuthorizationRefused:
            yield from getattr(self._renew(), name)(*args, **kwargs)
            return
        yield first
        yield from pages
