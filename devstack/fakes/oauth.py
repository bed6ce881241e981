"""Google's OAuth 2.0 endpoints: authorize (auto-consent), token, revoke, userinfo, certs.

Paths are those of accounts.google.com and oauth2.googleapis.com on one host:
``/o/oauth2/v2/auth``, ``/token``, ``/revoke``, ``/oauth2/v3/userinfo``, ``/tokeninfo``,
``/oauth2/v1/certs`` (PEM, for ``google.oauth2.id_token.verify_token(certs_url=...)``) and
``/.well-known/openid-configuration``.

Like Google, a refresh token is returned only for ``access_type=offline``, and only on the
first consent of an account to a client unless ``prompt=consent`` asks again.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import jsonify, redirect, request

from devstack.fakes.base import JSON, FakeHTTPError, FakeService, ViewResult, bearer_token
from devstack.fakes.google import (
    ACCESS_TOKEN_LIFETIME,
    DEFAULT_SCOPES,
    AccessToken,
    GoogleAccounts,
)
from devstack.issuer import SigningKey

__all__ = ["DEFAULT_SCOPES", "FakeGoogleOAuth", "GoogleAccounts"]

ISSUER = "https://accounts.google.com"
_SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    403: "access_denied",
    429: "rate_limit_exceeded",
    500: "internal_failure",
    503: "temporarily_unavailable",
}


def normalize_scopes(scope: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in scope.split():
        seen[_SCOPE_ALIASES.get(item, item)] = None
    return tuple(seen)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class AuthCode:
    code: str
    email: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    access_type: str
    prompt: str
    code_challenge: str | None
    code_challenge_method: str
    nonce: str | None
    expires_at: float
    used: bool = False


class FakeGoogleOAuth(FakeService):
    """OAuth fake. Seed JSON (all keys optional)::

    {"consent_email": "rep@acme.test", "deny": false,
     "client_id": "...", "client_secret": "...", "redirect_uris": ["http://127.0.0.1:P/cb"],
     "accounts": ["rep@acme.test"],
     "refresh_tokens": [{"email": "rep@acme.test", "token": "1//fixed", "scopes": [...]}],
     "revoke_all": "rep@acme.test"}
    """

    name = "oauth"

    def __init__(
        self,
        accounts: GoogleAccounts | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self.accounts = accounts if accounts is not None else GoogleAccounts()
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: list[str] = []
        self.consent_email: str | None = None
        self.deny = False
        self.authorizations: list[JSON] = []
        self._codes: dict[str, AuthCode] = {}
        self._consented: set[tuple[str, str]] = set()
        self._key: SigningKey | None = None
        super().__init__()
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def set_consent(self, email: str | None, deny: bool = False) -> None:
        """Who 'clicks Allow' at the authorization endpoint (or denies, with `deny`)."""
        with self.lock:
            self.consent_email = email.lower() if email else None
            self.deny = deny
            if email:
                self.accounts.add(email)

    def issue_refresh_token(self, email: str, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
        return self.accounts.issue_refresh_token(email, scopes, client_id=self.client_id)

    def certs(self) -> dict[str, str]:
        """The id_token signing certificate, in the format of Google's /oauth2/v1/certs."""
        self._ensure_key()
        assert self._key is not None
        return self._key.certs()

    def _reset_state(self) -> None:
        self.accounts.reset()
        self.consent_email = None
        self.deny = False
        self.authorizations.clear()
        self._codes.clear()
        self._consented.clear()

    def _seed(self, data: JSON) -> None:
        for key in ("client_id", "client_secret"):
            if key in data:
                setattr(self, key, data[key])
        if "redirect_uris" in data:
            self.redirect_uris = list(data["redirect_uris"])
        for email in data.get("accounts", []):
            self.accounts.add(email)
        if "consent_email" in data or "deny" in data:
            self.set_consent(
                data.get("consent_email", self.consent_email), bool(data.get("deny", False))
            )
        for item in data.get("refresh_tokens", []):
            self.accounts.issue_refresh_token(
                item["email"],
                tuple(item.get("scopes") or DEFAULT_SCOPES),
                client_id=item.get("client_id", self.client_id),
                token=item.get("token"),
            )
        if data.get("revoke_all"):
            self.accounts.revoke_all(data["revoke_all"])

    def _state(self) -> JSON:
        return {
            "consent_email": self.consent_email,
            "deny": self.deny,
            "client_id": self.client_id,
            "authorizations": list(self.authorizations),
            **self.accounts.snapshot(),
        }

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        return {
            "error": details.get("error") or _OAUTH_ERRORS.get(status, "invalid_request"),
            "error_description": message,
        }

    # ----------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        for rule in ("/o/oauth2/v2/auth", "/o/oauth2/auth"):
            self.route(rule)(self._authorize)
        for rule in ("/token", "/o/oauth2/token", "/oauth2/v4/token"):
            self.route(rule, methods=("POST",))(self._token)
        for rule in ("/revoke", "/o/oauth2/revoke"):
            self.route(rule, methods=("GET", "POST"))(self._revoke)
        for rule in ("/oauth2/v3/userinfo", "/v1/userinfo", "/oauth2/v2/userinfo"):
            self.route(rule, methods=("GET", "POST"))(self._userinfo)
        for rule in ("/tokeninfo", "/oauth2/v3/tokeninfo"):
            self.route(rule, methods=("GET", "POST"))(self._tokeninfo)
        self.route("/oauth2/v1/certs")(self._certs)
        self.route("/.well-known/openid-configuration")(self._discovery)

    def _authorize(self) -> ViewResult:
        args = request.args
        client_id = args.get("client_id", "")
        redirect_uri = args.get("redirect_uri", "")
        record: JSON = {
            key: args.get(key)
            for key in (
                "client_id",
                "redirect_uri",
                "response_type",
                "scope",
                "state",
                "access_type",
                "prompt",
                "code_challenge",
                "code_challenge_method",
                "login_hint",
                "include_granted_scopes",
                "nonce",
            )
        }
        self.authorizations.append(record)
        if not client_id or (self.client_id and client_id != self.client_id):
            record["result"] = "invalid_client"
            raise FakeHTTPError(401, "The OAuth client was not found.", error="invalid_client")
        if not redirect_uri or (self.redirect_uris and redirect_uri not in self.redirect_uris):
            record["result"] = "redirect_uri_mismatch"
            raise FakeHTTPError(
                400,
                "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
                "policy.",
                error="redirect_uri_mismatch",
            )
        if args.get("response_type") != "code":
            record["result"] = "unsupported_response_type"
            return self._redirect(
                redirect_uri, error="unsupported_response_type", state=args.get("state")
            )
        scopes = normalize_scopes(args.get("scope", ""))
        if not scopes:
            record["result"] = "invalid_scope"
            return self._redirect(redirect_uri, error="invalid_scope", state=args.get("state"))
        email = self.consent_email or (args.get("login_hint") or "").lower() or None
        if self.deny or email is None:
            record["result"] = "access_denied"
            return self._redirect(redirect_uri, error="access_denied", state=args.get("state"))
        self.accounts.add(email)
        code = AuthCode(
            code=f"4/0Afake{secrets.token_urlsafe(30)}",
            email=email,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            access_type=args.get("access_type", "online"),
            prompt=args.get("prompt", ""),
            code_challenge=args.get("code_challenge"),
            code_challenge_method=args.get("code_challenge_method", "plain"),
            nonce=args.get("nonce"),
            expires_at=time.time() + 600,
        )
        self._codes[code.code] = code
        record["result"] = "code"
        record["email"] = email
        return self._redirect(
            redirect_uri,
            state=args.get("state"),
            code=code.code,
            scope=" ".join(scopes),
            authuser="0",
            prompt="consent",
        )

    @staticmethod
    def _redirect(uri: str, **params: str | None) -> ViewResult:
        parts = urlsplit(uri)
        extra = urlencode({k: v for k, v in params.items() if v is not None})
        query = f"{parts.query}&{extra}" if parts.query else extra
        return redirect(urlunsplit(parts._replace(query=query)), code=302)

    def _check_client(self, form: Any) -> str:
        client_id = form.get("client_id", "")
        client_secret = form.get("client_secret", "")
        if request.authorization and request.authorization.username:
            client_id = request.authorization.username
            client_secret = request.authorization.password or ""
        if not client_id:
            raise FakeHTTPError(
                400, "Could not determine client ID from request.", error="invalid_request"
            )
        if self.client_id and client_id != self.client_id:
            raise FakeHTTPError(401, "The OAuth client was not found.", error="invalid_client")
        if self.client_secret and client_secret != self.client_secret:
            raise FakeHTTPError(401, "Unauthorized", error="invalid_client")
        return str(client_id)

    def _token(self) -> ViewResult:
        form = request.form
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if not grant_type:
            raise FakeHTTPError(
                400, "Missing required parameter: grant_type", error="invalid_request"
            )
        raise FakeHTTPError(
            400, f"Invalid grant_type: {grant_type}", error="unsupported_grant_type"
        )

    def _refresh_grant(self, form: Any) -> ViewResult:
        client_id = self._check_client(form)
        token = form.get("refresh_token", "")
        if not token:
            raise FakeHTTPError(
                400, "Missing required parameter: refresh_token", error="invalid_request"
            )
        grant = self.accounts.refresh_grant(token)
        if grant is not None and grant.client_id and grant.client_id != client_id:
            raise FakeHTTPError(401, "Unauthorized", error="unauthorized_client")
        if grant is None or grant.revoked:
            raise FakeHTTPError(400, "Token has been expired or revoked.", error="invalid_grant")
        scope = form.get("scope")
        access = self.accounts.refresh(token, normalize_scopes(scope) if scope else None)
        if access is None:
            raise FakeHTTPError(400, "Bad Request", error="invalid_scope")
        return jsonify(self._token_response(access, client_id))

    def _code_grant(self, form: Any) -> ViewResult:
        client_id = self._check_client(form)
        code = self._codes.get(form.get("code", ""))
        if code is None or code.expires_at < time.time():
            raise FakeHTTPError(400, "Malformed auth code.", error="invalid_grant")
        if code.used:
            raise FakeHTTPError(400, "Bad Request", error="invalid_grant")
        if code.client_id != client_id:
            raise FakeHTTPError(401, "Unauthorized", error="unauthorized_client")
        if form.get("redirect_uri", "") != code.redirect_uri:
            raise FakeHTTPError(400, "Bad Request", error="redirect_uri_mismatch")
        if code.code_challenge:
            verifier = form.get("code_verifier", "")
            if not verifier:
                raise FakeHTTPError(400, "Missing code verifier.", error="invalid_grant")
            method = code.code_challenge_method.upper()
            expected = s256(verifier) if method == "S256" else verifier
            if not secrets.compare_digest(expected, code.code_challenge):
                raise FakeHTTPError(400, "Invalid code verifier.", error="invalid_grant")
        code.used = True
        refresh_token = None
        key = (code.email, client_id)
        if code.access_type == "offline" and (
            key not in self._consented or "consent" in code.prompt.split()
        ):
            refresh_token = self.accounts.issue_refresh_token(
                code.email, code.scopes, client_id=client_id
            )
        self._consented.add(key)
        access = self.accounts.issue_access_token(
            code.email, code.scopes, refresh_token=refresh_token, client_id=client_id
        )
        body = self._token_response(access, client_id, nonce=code.nonce)
        if refresh_token:
            body["refresh_token"] = refresh_token
        return jsonify(body)

    def _token_response(
        self, access: AccessToken, client_id: str, nonce: str | None = None
    ) -> JSON:
        body: JSON = {
            "access_token": access.token,
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": " ".join(access.scopes),
            "token_type": "Bearer",
        }
        if "openid" in access.scopes:
            body["id_token"] = self._id_token(access, client_id, nonce)
        return body

    def _id_token(self, access: AccessToken, client_id: str, nonce: str | None) -> str:

        self._ensure_key()
        account = self.accounts.add(access.email)
        now = int(time.time())
        claims: JSON = {
            "iss": ISSUER,
            "azp": client_id,
            "aud": client_id,
            "sub": account.sub,
            "email": account.email,
            "email_verified": True,
            "at_hash": s256(access.token)[:22],
            "name": account.name,
            "iat": now,
            "exp": now + 3600,
        }
        if nonce:
            claims["nonce"] = nonce
        assert self._key is not None
        return self._key.encode(claims)

    def _ensure_key(self) -> None:
        if self._key is None:
            self._key = SigningKey("fake accounts.google.com")

    def _revoke(self) -> ViewResult:
        token = request.values.get("token", "")
        if not token or not self.accounts.revoke(token):
            raise FakeHTTPError(400, "Token expired or revoked", error="invalid_token")
        return jsonify({})

    def _bearer_grant(self) -> AccessToken:
        token = bearer_token() or request.values.get("access_token", "")
        grant = self.accounts.resolve(token) if token else None
        if grant is None:
            raise FakeHTTPError(
                401,
                "Invalid Credentials",
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                    'error="invalid_token"'
                },
                error="invalid_request",
            )
        return grant

    def _userinfo(self) -> ViewResult:
        grant = self._bearer_grant()
        account = self.accounts.add(grant.email)
        return jsonify(
            {
                "sub": account.sub,
                "name": account.name,
                "email": account.email,
                "email_verified": True,
            }
        )

    def _tokeninfo(self) -> ViewResult:
        token = request.values.get("access_token", "")
        grant = self.accounts.resolve(token) if token else None
        if grant is None:
            raise FakeHTTPError(400, "Invalid Value", error="invalid_token")
        account = self.accounts.add(grant.email)
        expires_in = int(grant.expires_at - time.time())
        return jsonify(
            {
                "azp": grant.client_id or "",
                "aud": grant.client_id or "",
                "sub": account.sub,
                "scope": " ".join(grant.scopes),
                "exp": str(int(grant.expires_at)),
                "expires_in": str(expires_in),
                "email": account.email,
                "email_verified": "true",
                "access_type": "offline" if grant.refresh_token else "online",
            }
        )

    def _certs(self) -> ViewResult:
        return jsonify(self.certs())

    def _discovery(self) -> ViewResult:
        base = request.host_url.rstrip("/")
        return jsonify(
            {
                "issuer": ISSUER,
                "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/v1/userinfo",
                "revocation_endpoint": f"{base}/revoke",
                "jwks_uri": f"{base}/oauth2/v1/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            }
        )
