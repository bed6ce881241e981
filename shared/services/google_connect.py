"""Connecting (and disconnecting) a person's Google account from the operator page.

`start` stores the verifier of a new flow under the hash of its state, and returns Google's
consent URL and a browser binding, which the caller sets as an HttpOnly, Secure, SameSite=Lax
cookie. `callback` accepts Google's redirect once: from the browser holding the binding,
within ten minutes; it exchanges the code (PKCE), reads the account's address, stores the
refresh token in Secret Manager (never Firestore) and hands the mailbox to `connect_mailbox`
(cursor and watch). `disconnect` stops the mailbox, revokes the grant at Google and destroys
the stored token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain import oauth_flow
from shared.domain.gmail_history import token_secret_name
from shared.errors import BadRequest, ConfigError, Forbidden, NotFound, PermanentExternalError

if TYPE_CHECKING:
    from shared.adapters.google_oauth import Grant, OAuthClient
    from shared.adapters.secrets import SecretStore
    from shared.adapters.store import Store
    from shared.config import Settings

log = logging.getLogger(__name__)

OAUTH_FLOWS = "oauth_flows"
MAILBOXES = "mailboxes"


class OAuthEndpoints(Protocol):
    """What `GoogleConnect` needs of Google's OAuth endpoints (`GoogleOAuth` in production)."""

    def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> Grant: ...

    def email_of(self, grant: Grant) -> str: ...

    def revoke(self, token: str) -> bool: ...


def _now() -> datetime:
    return datetime.now(UTC)


class GoogleConnect:
    def __init__(
        self,
        store: Store,
        secrets: SecretStore,
        oauth_client_reader: Callable[[], OAuthClient],
        oauth_adapter_factory: Callable[[OAuthClient], OAuthEndpoints],
        connect_mailbox: Callable[[str, str], Any],
        stop_mailbox: Callable[[str, str], Any],
        *,
        auth_uri: str,
        redirect_uri: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.read_client = oauth_client_reader
        self.make_adapter = oauth_adapter_factory
        self.connect_mailbox = connect_mailbox
        self.stop_mailbox = stop_mailbox
        self.auth_uri = auth_uri
        self.redirect_uri = redirect_uri
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        secrets: SecretStore,
        connect_mailbox: Callable[[str, str], Any],
        stop_mailbox: Callable[[str, str], Any],
    ) -> GoogleConnect:
        """Wired as in production: the OAuth client from Secret Manager, Google's endpoints
        from settings. `connect_mailbox` is `Mailboxes.connect`."""
        from shared.adapters.google_oauth import GoogleOAuth, read_oauth_client

        return cls(
            store,
            secrets,
            lambda: read_oauth_client(secrets, settings.google_oauth_client_secret_id),
            lambda client: GoogleOAuth.from_settings(settings, client),
            connect_mailbox,
            stop_mailbox,
            auth_uri=settings.google_oauth_auth_uri,
            redirect_uri=settings.google_oauth_redirect_uri,
        )

    def _flow_ref(self, key: str) -> Any:
        return self.store.db.collection(OAUTH_FLOWS).document(key)

    def _checked_redirect_uri(self) -> str:
        if not self.redirect_uri:
            raise ConfigError(
                "GOOGLE_OAUTH_REDIRECT_URI is not set: the operator function's "
                "/api/connections/google/callback URL, registered on the OAuth client"
            )
        return self.redirect_uri

    # --- connecting -------------------------------------------------------------------------
    def start(self, operator_email: str, login_hint: str | None = None) -> tuple[str, str]:
        """A new flow: (Google's consent URL, the browser binding to set as a cookie)."""
        redirect_uri = self._checked_redirect_uri()
        client = self.read_client()
        flow = oauth_flow.new_flow()
        hint = (login_hint or "").strip().lower() or None
        record = oauth_flow.flow_record(
            operator_email.strip().lower(), flow.verifier, flow.binding, self.clock(), hint
        )
        self._flow_ref(oauth_flow.state_key(flow.state)).create(record)
        url = oauth_flow.authorization_url(
            self.auth_uri, client.client_id, redirect_uri, flow.state, flow.challenge, hint
        )
        log.info(
            "google connection started",
            extra={
                "fields": {"operator": record["operator"], "expires_at": str(record["expires_at"])}
            },
        )
        return url, flow.binding

    def callback(
        self, state: str | None, code: str | None, binding: str | None, error: str | None = None
    ) -> dict[str, Any]:
        """Finish a flow from Google's redirect; refuses (writing nothing) anything but a
        fresh, unused flow from the browser that started it, with Gmail access granted."""
        redirect_uri = self._checked_redirect_uri()
        if state is None or not oauth_flow.plausible_state(state):
            raise BadRequest("the sign-in response has no valid state; start connecting again")
        ref = self._flow_ref(oauth_flow.state_key(state))
        now = self.clock()
        self._refuse_unless_usable(ref.get().to_dict(), binding, now)
        if error:
            raise BadRequest(oauth_flow.consent_error_message(error))
        if not code or len(code) > 2048:
            raise BadRequest("the sign-in response has no authorization code; start again")

        record = self._claim(ref, binding, now)
        client = self.read_client()
        google = self.make_adapter(client)
        grant = google.exchange_code(code, str(record["verifier"]), redirect_uri)
        missing = oauth_flow.missing_scopes(grant.scopes)
        if missing:
            raise BadRequest(
                "Google did not grant what the assistant needs: "
                f"{oauth_flow.describe_scopes(missing)}; connect again and allow it"
            )
        if not grant.refresh_token:
            raise PermanentExternalError("google: the sign-in gave no refresh token; connect again")
        email = google.email_of(grant)
        secret_id = token_secret_name(email)
        added = self.secrets.write(secret_id, grant.refresh_token)
        self.connect_mailbox(email, secret_id)
        ref.update({"email": email, "completed_at": self.clock()})
        optional_missing = oauth_flow.missing_scopes(grant.scopes, oauth_flow.SCOPES)
        log.info(
            "google account connected",
            extra={
                "fields": {
                    "operator": record.get("operator"),
                    "email": email,
                    "new_token_version": added,
                    "missing_scopes": optional_missing,
                }
            },
        )
        return {
            "email": email,
            "status": "connected",
            "scopes": list(grant.scopes),
            "missing_scopes": optional_missing,
        }

    @staticmethod
    def _refuse_unless_usable(
        record: dict[str, Any] | None, binding: str | None, now: datetime
    ) -> None:
        reason = oauth_flow.flow_refusal(record, binding, now)
        if reason is None:
            return
        if reason.startswith("binding:"):
            raise Forbidden(reason.removeprefix("binding:").strip())
        raise BadRequest(reason)

    def _claim(self, ref: Any, binding: str | None, now: datetime) -> dict[str, Any]:
        """Mark the flow used, in a transaction: of two callbacks with one state, one wins."""

        def claim(transaction: Any) -> dict[str, Any]:
            snapshot = ref.get(transaction=transaction)
            record = snapshot.to_dict() if snapshot.exists else None
            self._refuse_unless_usable(record, binding, now)
            transaction.update(ref, {"used": True, "used_at": now})
            return record or {}

        return self.store.run_transaction(claim)

    # --- disconnecting ----------------------------------------------------------------------
    def disconnect(self, email: str, operator_email: str) -> dict[str, Any]:
        """Stop the mailbox, revoke the grant at Google, destroy the stored token. Safe to
        repeat: a token already gone or already revoked is not an error.

        The mailbox is stopped first, while the grant still works: stopping the Gmail watch
        is a call made with the person's token.
        """
        address = email.strip().lower()
        operator = operator_email.strip().lower()
        secret_id = self._token_secret(address)
        self.stop_mailbox(address, f"disconnected by {operator}")
        revoked: bool | None = None
        self.secrets.forget(secret_id)  # another instance may have stored a newer token
        try:
            refresh_token = self.secrets.read(secret_id)
        except NotFound:
            refresh_token = None
        if refresh_token:
            revoked = self.make_adapter(self.read_client()).revoke(refresh_token)
        destroyed = self.secrets.destroy(secret_id)
        log.info(
            "google account disconnected",
            extra={
                "fields": {
                    "operator": operator,
                    "email": address,
                    "revoked": revoked,
                    "destroyed_versions": destroyed,
                }
            },
        )
        return {
            "email": address,
            "status": "disconnected",
            "revoked": bool(revoked),
            "destroyed_versions": destroyed,
        }

    def _token_secret(self, email: str) -> str:
        snapshot = self.store.db.collection(MAILBOXES).document(email).get()
        stored = (snapshot.to_dict() or {}).get("token_secret") if snapshot.exists else None
        return str(stored) if stored else token_secret_name(email)
