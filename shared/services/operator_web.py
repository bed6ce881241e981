"""The operator page's door: who is signed in, whether a state-changing request is really
theirs, and the headers every answer carries.

- Sign-in: a Google ID token (Google Sign-In, or IAP's) verified with google-auth against the
  configured audience and issuers, for an operator: an email on `OPERATOR_EMAILS` (the
  bootstrap admins) or one holding a role (`shared.services.access`). Locally, a development
  login for such an email, refused when the environment is production.
- The session is a signed, timestamped cookie (itsdangerous, key from Secret Manager):
  `Secure`, `HttpOnly`, `SameSite=Lax`; it carries the email and a CSRF token, nothing else.
  The role is read again on every request, so a removed or changed role counts at once.
- CSRF: every POST, PUT, PATCH and DELETE made with the session cookie must carry the session's
  CSRF token (form field `csrf` or header `X-CSRF-Token`) and, when the browser sends one, an
  `Origin` equal to the page's own. Service accounts calling the API with a bearer token send
  no cookie, so there is nothing to forge.
"""

from __future__ import annotations

import hmac
import secrets as random_secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from shared.domain.access import Role
from shared.errors import ConfigError, Forbidden, NotFound, Unauthorized

if TYPE_CHECKING:
    from shared.adapters.identity import OidcVerifier
    from shared.adapters.secrets import SecretStore
    from shared.config import Settings
    from shared.services.access import OperatorRoles

COOKIE = "sa_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@dataclass(frozen=True)
class Session:
    email: str
    csrf: str
    role: Role


class OperatorDoor:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        verifier: OidcVerifier,
        roles: OperatorRoles | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.verifier = verifier
        self.roles = roles  # None: the bootstrap admins only
        self._serializer: Any = None

    def role_of(self, email: str) -> Role | None:
        """The role `email` holds right now (read each time), or None: not an operator."""
        address = (email or "").strip().lower()
        if address in {e.strip().lower() for e in self.settings.operator_emails}:
            return Role.ADMIN
        return self.roles.role_of(address) if self.roles is not None else None

    def _operators(self) -> tuple[str, ...]:
        if self.roles is not None:
            return self.roles.emails()
        return tuple(e.strip().lower() for e in self.settings.operator_emails)

    @property
    def origin(self) -> str:
        parsed = urlparse(self.settings.function_url_operator)
        return f"{parsed.scheme}://{parsed.netloc}"

    @property
    def max_age(self) -> int:
        return int(self.settings.operator_session_hours) * 3600

    def _signer(self) -> Any:
        if self._serializer is None:
            from itsdangerous import URLSafeTimedSerializer

            self._serializer = URLSafeTimedSerializer(self._key(), salt="operator-session")
        return self._serializer

    def _key(self) -> str:
        secret_id = self.settings.operator_session_secret_id
        try:
            return self.secrets.read(secret_id)
        except NotFound:
            # Made on first use (Terraform creates the secret empty, so no key sits in its
            # state). Two first uses at once each add a version; reading the latest back makes
            # later instances agree, and the loser's sessions at worst sign in again.
            self.secrets.write(secret_id, random_secrets.token_urlsafe(48))
            self.secrets.forget(secret_id)
            return self.secrets.read(secret_id)

    # --- signing in ---------------------------------------------------------------------
    def sign_in_google(self, id_token: str) -> tuple[Session, str]:
        """(session, cookie value) for a verified Google identity on the allow-list."""
        audience = self.settings.operator_login_audience
        if not audience:
            raise ConfigError("OPERATOR_LOGIN_AUDIENCE is not set: Google sign-in is off")
        caller = self.verifier.verify(
            f"Bearer {id_token}", audience=audience, allowed_emails=self._operators()
        )
        return self._new_session(caller.email)

    # --- "Sign in with Google": OpenID Connect code flow, server side, no Google script ---
    @property
    def login_redirect_uri(self) -> str:
        return self.settings.function_url_operator.rstrip("/") + "/login/callback"

    def start_google_login(self) -> tuple[str, str]:
        """(Google's sign-in URL, a short-lived signed cookie holding the state and the PKCE
        verifier): only the browser that started may finish, once, within 10 minutes."""
        from urllib.parse import urlencode

        from shared.adapters.google_oauth import read_oauth_client
        from shared.domain.oauth_flow import new_verifier, s256_challenge

        client = read_oauth_client(self.secrets, self.settings.google_oauth_client_secret_id)
        state = random_secrets.token_urlsafe(32)
        verifier = new_verifier()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": self.login_redirect_uri,
                "scope": "openid email",
                "state": state,
                "code_challenge": s256_challenge(verifier),
                "code_challenge_method": "S256",
                "prompt": "select_account",
            }
        )
        flow = self._login_signer().dumps({"state": state, "verifier": verifier})
        return f"{self.settings.google_oauth_auth_uri}?{query}", str(flow)

    def finish_google_login(
        self, state: str | None, code: str | None, flow_cookie: str | None, error: str | None
    ) -> tuple[Session, str]:
        from itsdangerous import BadSignature

        from shared.adapters.google_oauth import GoogleOAuth, read_oauth_client
        from shared.errors import BadRequest

        if error:
            raise Unauthorized("Google sign-in was cancelled")
        try:
            flow = self._login_signer().loads(flow_cookie or "", max_age=600)
        except BadSignature:
            raise BadRequest(
                "the sign-in expired or began in another browser: start again"
            ) from None
        if not state or not code or not hmac.compare_digest(str(flow.get("state")), state):
            raise BadRequest("the sign-in does not match the one this browser started")
        client = read_oauth_client(self.secrets, self.settings.google_oauth_client_secret_id)
        oauth = GoogleOAuth.from_settings(self.settings, client)
        grant = oauth.exchange_code(code, str(flow.get("verifier")), self.login_redirect_uri)
        return self._new_session(oauth.email_of(grant))

    def _login_signer(self) -> Any:
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self._key(), salt="operator-login-flow")

    def sign_in_dev(self, email: str) -> tuple[Session, str]:
        """Local development only: an operator's email, without Google."""
        if self.settings.environment.value != "local":
            raise Forbidden("the development login is off in production")
        return self._new_session(email)

    def _new_session(self, email: str) -> tuple[Session, str]:
        address = (email or "").strip().lower()
        role = self.role_of(address)
        if role is None:
            raise Unauthorized("this account is not on the operator list and holds no role")
        session = Session(email=address, csrf=random_secrets.token_urlsafe(32), role=role)
        cookie = self._signer().dumps({"email": session.email, "csrf": session.csrf})
        return session, str(cookie)

    # --- each request -------------------------------------------------------------------
    def session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        from itsdangerous import BadSignature

        try:
            data = self._signer().loads(cookie, max_age=self.max_age)
        except BadSignature:  # includes expired
            return None
        email = str(data.get("email") or "")
        role = self.role_of(email)
        if role is None:
            return None  # taken off the list, or the role removed, since signing in
        return Session(email=email, csrf=str(data.get("csrf") or ""), role=role)

    def check_csrf(self, session: Session, method: str, headers: Any, form: Any) -> None:
        """Refuse a state-changing request that the session's own page did not make."""
        if method.upper() not in UNSAFE_METHODS:
            return
        origin = headers.get("Origin")
        if origin and origin.rstrip("/") != self.origin:
            raise Forbidden("cross-site request refused")
        if headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            raise Forbidden("cross-site request refused")
        token = headers.get("X-CSRF-Token") or (form.get("csrf") if form else None) or ""
        if not session.csrf or not hmac.compare_digest(str(token), session.csrf):
            raise Forbidden("missing or wrong CSRF token: reload the page")


def cookie_options(door: OperatorDoor) -> dict[str, Any]:
    return {
        "max_age": door.max_age,
        "path": "/",
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
    }
