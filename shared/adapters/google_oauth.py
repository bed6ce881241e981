"""Google's OAuth endpoints for connecting an account: code exchange, userinfo, revocation.

Connection failures, 429 and 5xx are retried with backoff (honouring Retry-After). A refused
code or token (400, e.g. `invalid_grant`) is `AuthorizationRefused`: connecting again fixes
it. A refused client (`invalid_client`, `unauthorized_client`) is `PermanentExternalError`: the
stored OAuth client is wrong, and connecting again cannot help.

No token, code or verifier ever appears in an exception, a log line or a repr: they travel
only in request bodies and the Authorization header, and errors name the endpoint and status.

An authorization code is single-use. If Google took the exchange but the answer was lost, the
retry is refused as `invalid_grant` and the person has to start again; that is rare and safe.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.adapters.retry import RetryAdvice, call_with_retries, parse_retry_after
from shared.domain.oauth_flow import granted_scopes
from shared.errors import (
    AuthorizationRefused,
    ConfigError,
    NotFound,
    PermanentExternalError,
    TransientError,
)

if TYPE_CHECKING:
    import requests

    from shared.adapters.secrets import SecretStore
    from shared.config import Settings


@dataclass(frozen=True, repr=False)
class OAuthClient:
    """Our OAuth client (from Secret Manager); its secret never shows in a repr."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, client_secret=<hidden>)"


def read_oauth_client(secrets: SecretStore, secret_id: str) -> OAuthClient:
    """The OAuth client stored as JSON `{"client_id", "client_secret"}`."""
    try:
        value = json.loads(secrets.read(secret_id))
        return OAuthClient(str(value["client_id"]), str(value["client_secret"]))
    except NotFound:
        raise ConfigError(f"secret {secret_id} (the Google OAuth client) is missing") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"secret {secret_id} must be JSON with client_id and client_secret"
        ) from None


@dataclass(frozen=True, repr=False)
class Grant:
    """What the token endpoint gave for an authorization code. Values never show in a repr."""

    refresh_token: str | None
    access_token: str
    expires_in: int
    scopes: tuple[str, ...]
    id_token: str | None = field(default=None)

    def __repr__(self) -> str:
        return (
            f"Grant(refresh_token={'<hidden>' if self.refresh_token else None}, "
            f"access_token=<hidden>, expires_in={self.expires_in}, scopes={self.scopes!r}, "
            f"id_token={'<hidden>' if self.id_token else None})"
        )


_ERROR_CODE = re.compile(r"^[A-Za-z_]{1,64}$")
_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class _HttpFailure(Exception):
    """An answer worth retrying (429, 5xx); carries no body, so no token can leak."""

    def __init__(self, what: str, status: int, retry_after: float | None) -> None:
        super().__init__(f"{what}: HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _classify(exc: BaseException) -> RetryAdvice | None:
    import requests

    if isinstance(exc, _HttpFailure):
        return RetryAdvice(exc.retry_after)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return RetryAdvice()
    return None


def _oauth_error(response: requests.Response) -> str:
    """The OAuth `error` code of a refusal (`invalid_grant`, ...), or ``""``."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # Google API style {"error": {"status": ...}}
        error = error.get("status")
    return error if isinstance(error, str) and _ERROR_CODE.match(error) else ""


class GoogleOAuth:
    def __init__(
        self,
        client: OAuthClient,
        *,
        token_uri: str,
        revoke_uri: str,
        userinfo_uri: str,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.token_uri = token_uri
        self.revoke_uri = revoke_uri
        self.userinfo_uri = userinfo_uri
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._session = session
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings, client: OAuthClient) -> GoogleOAuth:
        return cls(
            client,
            token_uri=settings.google_oauth_token_uri,
            revoke_uri=settings.google_oauth_revoke_uri,
            userinfo_uri=settings.google_oauth_userinfo_uri,
            timeout=settings.http_timeout_seconds,
            attempts=settings.http_max_attempts,
            backoff_max=settings.http_backoff_max_seconds,
        )

    def __repr__(self) -> str:
        return f"GoogleOAuth(client_id={self.client.client_id!r}, token_uri={self.token_uri!r})"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    # --- calls ----------------------------------------------------------------------------
    def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> Grant:
        """Trade an authorization code (and its PKCE verifier) for tokens."""
        response = self._call(
            "google token endpoint",
            lambda: self.session.post(
                self.token_uri,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "code_verifier": verifier,
                    "redirect_uri": redirect_uri,
                    "client_id": self.client.client_id,
                    "client_secret": self.client.client_secret,
                },
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        self._raise_for_refusal("google token endpoint", response)
        try:
            body = response.json()
        except ValueError:
            raise TransientError("google token endpoint: an answer that is not JSON") from None
        access_token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise TransientError("google token endpoint: an answer without an access token")
        refresh_token = body.get("refresh_token")
        id_token = body.get("id_token")
        try:
            expires_in = int(body.get("expires_in") or 0)
        except (TypeError, ValueError):
            expires_in = 0
        return Grant(
            refresh_token=refresh_token
            if isinstance(refresh_token, str) and refresh_token
            else None,
            access_token=access_token,
            expires_in=expires_in,
            scopes=granted_scopes(str(body.get("scope") or "")),
            id_token=id_token if isinstance(id_token, str) and id_token else None,
        )

    def email_of(self, grant: Grant) -> str:
        """The verified address of the account that consented, from OpenID userinfo.

        The access token came straight from the token endpoint (over TLS, for our client), so
        asking userinfo with it is as trustworthy as verifying the id_token, and simpler.
        """
        response = self._call(
            "google userinfo",
            lambda: self.session.get(
                self.userinfo_uri,
                headers={
                    "Authorization": f"Bearer {grant.access_token}",
                    "Accept": "application/json",
                },
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        self._raise_for_refusal("google userinfo", response)
        try:
            body = response.json()
        except ValueError:
            raise TransientError("google userinfo: an answer that is not JSON") from None
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise PermanentExternalError(
                "google userinfo: no email address; the email scope was not granted"
            )
        if body.get("email_verified") in (False, "false"):
            raise PermanentExternalError("google: the account's email address is not verified")
        return email.strip().lower()

    def revoke(self, token: str) -> bool:
        """Revoke a token (and with it the grant). True when revoked now, False when Google
        already considered it invalid (revoked, expired or unknown): either way it is dead."""
        response = self._call(
            "google revoke",
            lambda: self.session.post(
                self.revoke_uri,
                data={"token": token},
                headers={"Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        if response.status_code == 200:
            return True
        if response.status_code == 400 and _oauth_error(response) in (
            "invalid_token",
            "invalid_grant",
            "",
        ):
            return False
        self._raise_for_refusal("google revoke", response)
        return True

    # --- plumbing -------------------------------------------------------------------------
    def _call(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        def attempt() -> requests.Response:
            response = send()
            if response.status_code == 429 or response.status_code >= 500:
                raise _HttpFailure(
                    what,
                    response.status_code,
                    parse_retry_after(response.headers.get("Retry-After")),
                )
            return response

        try:
            return call_with_retries(
                attempt,
                _classify,
                attempts=self.attempts,
                initial=self.backoff_initial,
                maximum=self.backoff_max,
                what=what,
                sleep=self._sleep,
            )
        except _HttpFailure as exc:
            raise TransientError(
                f"{what} is unavailable; try again shortly", detail=f"HTTP {exc.status}"
            ) from None
        except Exception as exc:
            if _classify(exc) is None:
                raise
            raise TransientError(
                f"{what} could not be reached; try again shortly", detail=type(exc).__name__
            ) from None

    @staticmethod
    def _raise_for_refusal(what: str, response: requests.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        error = _oauth_error(response)
        detail = f"HTTP {status} {error}".strip()
        if error in _CLIENT_ERRORS:
            raise PermanentExternalError(
                f"{what}: Google refused our OAuth client; check the stored client id and secret",
                detail=detail,
            )
        if 400 <= status < 500:
            raise AuthorizationRefused(
                f"{what}: Google refused the authorization ({error or 'bad request'}); "
                "start connecting again",
                detail=detail,
            )
        raise TransientError(f"{what}: unexpected answer", detail=detail)
