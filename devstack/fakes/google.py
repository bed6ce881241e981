"""Shared by the Google fakes: the accounts/token registry and Google's API error shape."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.fakes.base import JSON, FakeHTTPError, FakeService, bearer_token

GMAIL_SCOPES = {
    "read": (
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.metadata",
    ),
    "write": (
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.modify",
    ),
    "compose": (
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.compose",
    ),
    "send": (
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.compose",
        "https://www.googleapis.com/auth/gmail.send",
    ),
    "insert": (
        "https://mail.google.com/",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://www.googleapis.com/auth/gmail.insert",
    ),
}

DEFAULT_SCOPES: tuple[str, ...] = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/gmail.modify",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
)

ACCESS_TOKEN_LIFETIME = 3599

_STATUS_NAMES = {
    400: ("INVALID_ARGUMENT", "badRequest", "global"),
    401: ("UNAUTHENTICATED", "authError", "global"),
    403: ("PERMISSION_DENIED", "forbidden", "global"),
    404: ("NOT_FOUND", "notFound", "global"),
    409: ("ALREADY_EXISTS", "conflict", "global"),
    412: ("FAILED_PRECONDITION", "conditionNotMet", "global"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded", "usageLimits"),
    500: ("INTERNAL", "backendError", "global"),
    502: ("UNAVAILABLE", "backendError", "global"),
    503: ("UNAVAILABLE", "backendError", "global"),
    504: ("DEADLINE_EXCEEDED", "backendError", "global"),
}

_DEFAULT_MESSAGES = {
    400: "Invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "User-rate limit exceeded.",
    500: "Backend Error",
    503: "The service is currently unavailable.",
}

_REASON_MESSAGES = {
    "authError": "Invalid Credentials",
    "required": "Login Required.",
    "insufficientPermissions": "Insufficient Permission",
    "rateLimitExceeded": "User-rate limit exceeded.",
    "userRateLimitExceeded": "User-rate limit exceeded.",
    "dailyLimitExceeded": "Daily Limit Exceeded",
    "backendError": "Backend Error",
    "notFound": "Requested entity was not found.",
}


def google_error_body(
    status: int,
    reason: str | None = None,
    message: str | None = None,
) -> JSON:
    """Google's JSON error shape, e.g. ``google_error_body(403, "insufficientPermissions")``."""
    status_name, default_reason, domain = _STATUS_NAMES.get(
        status, ("UNKNOWN", "unknown", "global")
    )
    reason = reason or default_reason
    if reason == "insufficientPermissions":
        message = message or "Request had insufficient authentication scopes."
    message = message or _DEFAULT_MESSAGES.get(status, "Error")
    item: JSON = {
        "message": _REASON_MESSAGES.get(reason, message),
        "domain": "usageLimits" if "Limit" in reason else domain,
        "reason": reason,
    }
    if status == 401:
        item.update(location="Authorization", locationType="header")
    error: JSON = {"code": status, "message": message, "errors": [item], "status": status_name}
    if reason == "insufficientPermissions":
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "gmail.googleapis.com"},
            }
        ]
    return {"error": error}


@dataclass
class Account:
    email: str
    sub: str
    name: str


@dataclass
class RefreshToken:
    token: str
    email: str
    scopes: tuple[str, ...]
    client_id: str | None
    issued_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    email: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_token: str | None = None
    client_id: str | None = None
    revoked: bool = False

    @property
    def valid(self) -> bool:
        return not self.revoked and time.time() < self.expires_at


@dataclass
class GoogleAccounts:
    """Accounts and tokens shared by the OAuth fake and the Google API fakes.

    Access tokens are opaque (``ya29.fake-...``); the registry resolves them to an account.
    """

    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _accounts: dict[str, Account] = field(default_factory=dict)
    _refresh: dict[str, RefreshToken] = field(default_factory=dict)
    _access: dict[str, AccessToken] = field(default_factory=dict)

    def add(self, email: str, name: str | None = None) -> Account:
        key = email.lower()
        with self._lock:
            if key not in self._accounts:
                digest = hashlib.sha256(key.encode()).hexdigest()
                sub = "1" + str(int(digest[:16], 16)).rjust(20, "0")[:20]
                local = key.split("@", 1)[0]
                self._accounts[key] = Account(
                    email=key, sub=sub, name=name or local.replace(".", " ").title()
                )
            return self._accounts[key]

    def get(self, email: str) -> Account | None:
        with self._lock:
            return self._accounts.get(email.lower())

    def emails(self) -> list[str]:
        with self._lock:
            return sorted(self._accounts)

    def issue_refresh_token(
        self,
        email: str,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        client_id: str | None = None,
        token: str | None = None,
    ) -> str:
        """A new refresh token for `email` (added if unknown); `token` fixes its value."""
        account = self.add(email)
        value = token or f"1//fake-{secrets.token_urlsafe(24)}"
        with self._lock:
            self._refresh[value] = RefreshToken(
                value, account.email, tuple(scopes), client_id, time.time()
            )
        return value

    def issue_access_token(
        self,
        email: str,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        expires_in: float = ACCESS_TOKEN_LIFETIME,
        refresh_token: str | None = None,
        client_id: str | None = None,
    ) -> AccessToken:
        account = self.add(email)
        value = f"ya29.fake-{secrets.token_urlsafe(32)}"
        grant = AccessToken(
            value, account.email, tuple(scopes), time.time() + expires_in, refresh_token, client_id
        )
        with self._lock:
            self._access[value] = grant
        return grant

    def refresh(
        self, refresh_token: str, scopes: Iterable[str] | None = None
    ) -> AccessToken | None:
        """A fresh access token for a live refresh token, or None (invalid_grant)."""
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.revoked:
                return None
            wanted = tuple(scopes) if scopes else grant.scopes
            if not set(wanted) <= set(grant.scopes):
                return None
            return self.issue_access_token(
                grant.email, wanted, refresh_token=refresh_token, client_id=grant.client_id
            )

    def refresh_grant(self, refresh_token: str) -> RefreshToken | None:
        with self._lock:
            return self._refresh.get(refresh_token)

    def resolve(self, access_token: str) -> AccessToken | None:
        """The live grant behind a bearer token; None if unknown, expired or revoked."""
        with self._lock:
            grant = self._access.get(access_token)
            if grant is None or not grant.valid:
                return None
            parent = self._refresh.get(grant.refresh_token or "")
            if parent is not None and parent.revoked:
                return None
            return grant

    def revoke(self, token: str) -> bool:
        """Revoke a refresh or access token; revoking either kills the whole grant, as Google."""
        with self._lock:
            refresh = self._refresh.get(token)
            if refresh is None and token in self._access:
                parent = self._access[token].refresh_token
                self._access[token].revoked = True
                refresh = self._refresh.get(parent or "")
                if refresh is None:
                    return True
            if refresh is None:
                return False
            refresh.revoked = True
            for grant in self._access.values():
                if grant.refresh_token == refresh.token:
                    grant.revoked = True
            return True

    def revoke_all(self, email: str) -> None:
        with self._lock:
            for grant in self._refresh.values():
                if grant.email == email.lower():
                    grant.revoked = True
            for access in self._access.values():
                if access.email == email.lower():
                    access.revoked = True

    def expire_access_tokens(self, email: str | None = None) -> None:
        """Make live access tokens expire now (the next API call gets 401, then a refresh)."""
        with self._lock:
            for grant in self._access.values():
                if email is None or grant.email == email.lower():
                    grant.expires_at = time.time() - 1

    def reset(self) -> None:
        with self._lock:
            self._accounts.clear()
            self._refresh.clear()
            self._access.clear()

    def snapshot(self) -> JSON:
        with self._lock:
            return {
                "accounts": [vars(a) for a in self._accounts.values()],
                "refresh_tokens": [
                    {
                        "email": r.email,
                        "token_suffix": r.token[-6:],
                        "scopes": list(r.scopes),
                        "revoked": r.revoked,
                    }
                    for r in self._refresh.values()
                ],
                "live_access_tokens": sum(1 for a in self._access.values() if a.valid),
            }


class GoogleApiService(FakeService):
    """A Google REST API fake: bearer tokens from the registry, Google's error JSON."""

    def __init__(self, accounts: GoogleAccounts) -> None:
        self.accounts = accounts
        super().__init__()

    def default_error_message(self, status: int) -> str:
        return _DEFAULT_MESSAGES.get(status) or super().default_error_message(status)

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        retry_after = details.get("retry_after")
        if details.get("injected") and status == 429 and retry_after is not None:
            until = time.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + float(retry_after))
            )
            message = f"User-rate limit exceeded.  Retry after {until}"
        return google_error_body(status, details.get("reason"), message)

    def authenticate(self, any_of_scopes: Iterable[str] = ()) -> AccessToken:
        """The caller's grant, or a Google 401/403 (insufficientPermissions)."""
        token = bearer_token()
        www = 'Bearer realm="https://accounts.google.com/"'
        if token is None:
            raise FakeHTTPError(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                headers={"WWW-Authenticate": www},
                reason="required",
            )
        grant = self.accounts.resolve(token)
        if grant is None:
            raise FakeHTTPError(
                401,
                _DEFAULT_MESSAGES[401],
                headers={"WWW-Authenticate": f'{www}, error="invalid_token"'},
                reason="authError",
            )
        wanted = set(any_of_scopes)
        if wanted and not wanted & set(grant.scopes):
            raise FakeHTTPError(
                403,
                "Request had insufficient authentication scopes.",
                headers={"WWW-Authenticate": f'{www}, error="insufficient_scope"'},
                reason="insufficientPermissions",
            )
        return grant
