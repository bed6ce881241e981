"""A local OIDC token issuer standing in for Google's.

It signs RS256 ID tokens (as Cloud Tasks and Pub/Sub push do) and serves its public
certificate in Google's v1 certs format (`{kid: PEM}`), so the functions verify tokens locally
with exactly the production code path, configured to trust this issuer instead of Google.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from werkzeug.wrappers import Request, Response

ISSUER = "https://issuer.devstack.local"


class SigningKey:
    """An RSA key with a self-signed certificate: signs RS256 JWTs, publishes `{kid: PEM}`."""

    def __init__(self, common_name: str = "devstack issuer") -> None:
        self.key_id = uuid.uuid4().hex
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._signer = crypt.RSASigner.from_string(private_pem, key_id=self.key_id)

    def encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(self._signer, claims).decode("ascii")

    def certs(self) -> dict[str, str]:
        return {self.key_id: self.cert_pem}


class LocalIssuer:
    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.key = SigningKey()

    def sign(
        self,
        audience: str,
        email: str,
        *,
        lifetime: int = 3600,
        issued_at: int | None = None,
        email_verified: bool = True,
        issuer: str | None = None,
        **extra: Any,
    ) -> str:
        """An ID token like Google's for a service account `email`, addressed to `audience`."""
        now = int(time.time()) if issued_at is None else issued_at
        payload = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "sub": str(abs(hash(email)) % 10**21),
            "email": email,
            "email_verified": email_verified,
            "iat": now,
            "exp": now + lifetime,
            **extra,
        }
        return self.key.encode(payload)

    def certs(self) -> dict[str, str]:
        return self.key.certs()

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Serves `GET /certs` (what the functions fetch) and `POST /token` (for scripts)."""
        request = Request(environ)
        if request.path == "/certs":
            response = Response(
                json.dumps(self.certs()),
                mimetype="application/json",
                headers={"Cache-Control": "public, max-age=3600"},
            )
        elif request.path == "/token" and request.method == "POST":
            body = request.get_json(silent=True) or {}
            response = Response(
                self.sign(str(body.get("audience", "")), str(body.get("email", ""))),
                mimetype="text/plain",
            )
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)
