"""Connecting a Google account through OAuth's web flow: scopes, PKCE, state. Pure.

The authorization request carries a random `state` and a PKCE challenge (RFC 7636, S256).
What we store about a flow is keyed by `state_key(state)`, a SHA-256 of the state, so the
database never holds a value that would complete someone's sign-in. The browser that started
the flow gets a separate random *binding* (a cookie); the callback is accepted only from the
browser that shows it, so a sign-in response cannot be replayed into another person's session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

_AUTH = "https://www.googleapis.com/auth/"
OPENID = "openid"
USERINFO_EMAIL = f"{_AUTH}userinfo.email"
GMAIL_MODIFY = f"{_AUTH}gmail.modify"
DRIVE_READONLY = f"{_AUTH}drive.readonly"
CALENDAR_FREEBUSY = f"{_AUTH}calendar.freebusy"
CALENDAR_EVENTS = f"{_AUTH}calendar.events"
CALENDAR_SETTINGS_READONLY = f"{_AUTH}calendar.settings.readonly"

SCOPES: tuple[str, ...] = (
    OPENID,
    USERINFO_EMAIL,
    GMAIL_MODIFY,
    DRIVE_READONLY,
    CALENDAR_FREEBUSY,
    CALENDAR_EVENTS,
    CALENDAR_SETTINGS_READONLY,
)
"""The least scopes the assistant needs, and why each one:

- ``openid`` and ``userinfo.email``: which account consented (its address names the mailbox).
- ``gmail.modify``: read mail and history, write drafts, send, watch. It covers every Gmail
  call we make (``gmail.compose`` and ``gmail.send`` are subsets of it); ``mail.google.com``
  would add permanent deletion, which we never do.
- ``drive.readonly``: read the files a rep shares as voice samples and sales material.
- ``calendar.freebusy``: busy times for offering meeting slots, without reading events.
- ``calendar.events``: the send step creates (and finds again, by a private property) the
  meeting invite. (``calendar.events.owned``, limited to calendars the rep owns, is a newer
  and slightly narrower alternative that the Calendar fake also accepts.)
- ``calendar.settings.readonly``: ``settings.get("timezone")``, the rep's time zone for
  working hours. Google (and the fake) allow that call only with ``calendar``,
  ``calendar.readonly`` or ``calendar.settings.readonly``; the last is by far the narrowest
  (settings only, no events). Without it the draft step offers no slots at all.
"""

REQUIRED_SCOPES: tuple[str, ...] = (GMAIL_MODIFY,)
"""Without these the connection is refused: a mailbox we cannot read is no connection."""

SCOPE_LABELS: Mapping[str, str] = {
    OPENID: "your Google identity",
    USERINFO_EMAIL: "your email address",
    GMAIL_MODIFY: "Gmail (read, draft and send mail)",
    DRIVE_READONLY: "Google Drive (read shared files)",
    CALENDAR_FREEBUSY: "Calendar free/busy times",
    CALENDAR_EVENTS: "Calendar events (create meeting invites)",
    CALENDAR_SETTINGS_READONLY: "Calendar settings (your time zone)",
}

_SCOPE_ALIASES = {"email": USERINFO_EMAIL, "profile": f"{_AUTH}userinfo.profile"}

FLOW_LIFETIME = timedelta(minutes=10)
VERIFIER_BYTES = 48  # 64 url-safe characters, within RFC 7636's 43..128
STATE_BYTES = 32
BINDING_BYTES = 32
MAX_STATE_CHARS = 512
_URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")


def new_verifier() -> str:
    """A PKCE code verifier: 64 url-safe characters from `secrets`."""
    return secrets.token_urlsafe(VERIFIER_BYTES)


def s256_challenge(verifier: str) -> str:
    """The S256 code challenge: BASE64URL(SHA256(ASCII(verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, repr=False)
class NewFlow:
    """What starting a flow makes: the state (goes to Google), the verifier (kept on our
    side until the code is exchanged) and the browser binding (goes to the browser)."""

    state: str
    verifier: str
    binding: str

    @property
    def challenge(self) -> str:
        return s256_challenge(self.verifier)

    def __repr__(self) -> str:
        return "NewFlow(state=<hidden>, verifier=<hidden>, binding=<hidden>)"


def new_flow() -> NewFlow:
    return NewFlow(
        state=secrets.token_urlsafe(STATE_BYTES),
        verifier=new_verifier(),
        binding=secrets.token_urlsafe(BINDING_BYTES),
    )


def authorization_url(
    auth_uri: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    challenge: str,
    login_hint: str | None = None,
    scopes: Iterable[str] = SCOPES,
) -> str:
    """Google's consent page for our scopes, asking for a refresh token every time.

    `prompt=consent` makes Google return a refresh token even when the account consented
    before (otherwise a reconnect would bring none); `include_granted_scopes` keeps scopes
    granted earlier in the same grant.
    """
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in auth_uri else "?"
    return f"{auth_uri}{separator}{urlencode(params)}"


def _sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def state_key(state: str) -> str:
    """The id a flow is stored under: SHA-256 (hex) of the state, never the state itself."""
    return _sha256_hex(state)


def binding_hash(binding: str) -> str:
    return _sha256_hex(binding)


def plausible_state(state: str | None) -> bool:
    return (
        bool(state) and len(state or "") <= MAX_STATE_CHARS and bool(_URL_SAFE.match(state or ""))
    )


def binding_matches(stored_hash: str | None, binding: str | None) -> bool:
    if not stored_hash or not binding or len(binding) > MAX_STATE_CHARS:
        return False
    return hmac.compare_digest(str(stored_hash), binding_hash(binding))


def flow_record(
    operator: str, verifier: str, binding: str, now: datetime, login_hint: str | None = None
) -> dict[str, Any]:
    """The stored half of a flow (no state, no binding in clear)."""
    return {
        "operator": operator,
        "verifier": verifier,
        "binding_hash": binding_hash(binding),
        "login_hint": login_hint or None,
        "created_at": now,
        "expires_at": now + FLOW_LIFETIME,
        "used": False,
    }


def flow_refusal(
    record: Mapping[str, Any] | None, binding: str | None, now: datetime
) -> str | None:
    """Why a stored flow cannot complete (a message for the person), or None when it can.

    A binding mismatch is reported with the prefix ``binding:`` so the caller can answer 403
    rather than 400.
    """
    if record is None:
        return "this sign-in is unknown or was already finished; start connecting again"
    if record.get("used"):
        return "this sign-in was already used; start connecting again"
    expires_at = record.get("expires_at")
    if not isinstance(expires_at, datetime) or expires_at <= now:
        return "this sign-in expired; start connecting again"
    if not binding_matches(record.get("binding_hash"), binding):
        return "binding: this sign-in was started in another browser; start again from this one"
    return None


def consent_error_message(error: str) -> str:
    """What Google's `error` parameter on the redirect means for the person."""
    if error == "access_denied":
        return "consent was refused: the Google account was not connected"
    if _ERROR_CODE.match(error):
        return f"Google did not complete the sign-in ({error}); start connecting again"
    return "Google did not complete the sign-in; start connecting again"


def granted_scopes(scope: str | Iterable[str] | None) -> tuple[str, ...]:
    """The token response's `scope` as full scope URLs, each once, in order."""
    items = scope.split() if isinstance(scope, str) else list(scope or ())
    seen: dict[str, None] = {}
    for item in items:
        seen[_SCOPE_ALIASES.get(item, item)] = None
    return tuple(seen)


def missing_scopes(granted: Iterable[str], wanted: Iterable[str] = REQUIRED_SCOPES) -> list[str]:
    have = set(granted_scopes(list(granted)))
    return [scope for scope in wanted if scope not in have]


def describe_scopes(scopes: Iterable[str]) -> str:
    return ", ".join(f"{SCOPE_LABELS.get(s, s)} ({s})" for s in scopes)
