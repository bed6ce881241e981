"""Verify Google-signed OIDC tokens on incoming Cloud Tasks and Pub/Sub push requests.

google-auth does the cryptography (`google.auth.jwt.decode`); this module fetches the signing
certificates once per instance (again when a new key id appears, or after the cache lifetime
the certificate endpoint announces) and enforces audience, issuer and caller.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.errors import TransientError, Unauthorized

_MAX_AGE = re.compile(r"max-age=(\d+)")


@dataclass(frozen=True)
class Caller:
    email: str
    subject: str
    claims: dict[str, Any]


class OidcVerifier:
    def __init__(
        self,
        certs_url: str,
        issuers: tuple[str, ...],
        *,
        default_max_age: float = 3600.0,
        clock_skew: int = 10,
    ) -> None:
        self.certs_url = certs_url
        self.issuers = issuers
        self.default_max_age = default_max_age
        self.clock_skew = clock_skew
        self._certs: dict[str, str] = {}
        self._expires = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> dict[str, str]:
        import requests

        try:
            response = requests.get(self.certs_url, timeout=5)
            response.raise_for_status()
            certs = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise TransientError("cannot fetch token signing certificates") from exc
        match = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
        max_age = float(match.group(1)) if match else self.default_max_age
        with self._lock:
            self._certs = dict(certs)
            self._expires = time.monotonic() + max_age
        return self._certs

    def _certs_for(self, key_id: str | None) -> dict[str, str]:
        with self._lock:
            fresh = time.monotonic() < self._expires
            certs = self._certs
        if fresh and (key_id is None or key_id in certs):
            return certs
        return self._fetch()

    def verify(
        self, authorization: str | None, *, audience: str, allowed_emails: tuple[str, ...]
    ) -> Caller:
        """The verified caller of a request, or Unauthorized. `audience` must not be empty."""
        if not audience:
            raise Unauthorized("token audience is not configured")
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("missing bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        from google.auth import exceptions, jwt

        try:
            header = jwt.decode_header(token)  # type: ignore[no-untyped-call]
        except (ValueError, exceptions.GoogleAuthError):
            raise Unauthorized("malformed token") from None
        key_id = header.get("kid") if isinstance(header, dict) else None
        certs = self._certs_for(key_id)
        try:
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=certs, audience=audience, clock_skew_in_seconds=self.clock_skew
            )
        except (ValueError, exceptions.GoogleAuthError):
            raise Unauthorized("invalid token") from None
        if claims.get("iss") not in self.issuers:
            raise Unauthorized("untrusted token issuer")
        email = str(claims.get("email", ""))
        if not email or claims.get("email_verified") is not True:
            raise Unauthorized("token has no verified email")
        if email not in allowed_emails:
            raise Unauthorized("caller is not allowed")
        return Caller(email=email, subject=str(claims.get("sub", "")), claims=claims)
