"""The Google OAuth fake, driven by google-auth (and a browser stand-in for the consent page)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from devstack.fakes import (
    FakeGmail,
    FakeGoogleOAuth,
    FakeService,
    GoogleAccounts,
    start_fakes,
    stop_fakes,
)
from devstack.serving import ThreadedServer

CLIENT_ID = "local-client.apps.googleusercontent.com"
CLIENT_SECRET = "local-secret"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.modify"

Stack = dict[str, tuple[FakeService, ThreadedServer]]


@pytest.fixture(scope="module")
def all_fakes() -> Iterator[Stack]:
    started = start_fakes()
    oauth = started["oauth"][0]
    assert isinstance(oauth, FakeGoogleOAuth)
    oauth.seed({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    yield started
    stop_fakes(started)


@pytest.fixture
def oauth(all_fakes: Stack) -> FakeGoogleOAuth:
    fake = all_fakes["oauth"][0]
    assert isinstance(fake, FakeGoogleOAuth)
    return fake


@pytest.fixture
def gmail(all_fakes: Stack) -> FakeGmail:
    fake = all_fakes["gmail"][0]
    assert isinstance(fake, FakeGmail)
    return fake


@pytest.fixture
def email() -> str:
    return f"rep-{secrets.token_hex(4)}@acme.test"


def credentials(oauth: FakeGoogleOAuth, refresh_token: str, **overrides: str) -> Credentials:
    return Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=oauth.url + "/token",
        client_id=overrides.get("client_id", CLIENT_ID),
        client_secret=overrides.get("client_secret", CLIENT_SECRET),
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize(oauth: FakeGoogleOAuth, challenge: str, **params: str) -> dict[str, list[str]]:
    """What the browser does: open the consent URL and follow it to our redirect URI."""
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": f"openid email {GMAIL_SCOPE}",
        "state": "state-123",
        "access_type": "offline",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    answer = requests.get(
        oauth.url + "/o/oauth2/v2/auth", params=query, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return parse_qs(urlsplit(location).query)


def exchange(oauth: FakeGoogleOAuth, code: str, verifier: str) -> requests.Response:
    return requests.post(
        oauth.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code_verifier": verifier,
        },
        timeout=5,
    )


def test_refreshed_token_opens_the_gmail_fake(
    oauth: FakeGoogleOAuth, gmail: FakeGmail, email: str
) -> None:
    creds = credentials(oauth, oauth.accounts.issue_refresh_token(email))

    creds.refresh(google.auth.transport.requests.Request())

    assert creds.token
    assert creds.token.startswith("ya29.fake-")
    assert creds.expiry is not None
    assert creds.valid
    service = build(
        "gmail",
        "v1",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": gmail.url},
    )
    assert service.users().getProfile(userId="me").execute()["emailAddress"] == email


def test_revoked_refresh_token_raises_a_permanent_refresh_error(
    oauth: FakeGoogleOAuth, email: str
) -> None:
    creds = credentials(oauth, oauth.accounts.issue_refresh_token(email))
    oauth.accounts.revoke_all(email)

    with pytest.raises(RefreshError) as caught:
        creds.refresh(google.auth.transport.requests.Request())

    assert caught.value.retryable is False
    assert "invalid_grant" in str(caught.value)


def test_revoke_endpoint_kills_the_whole_grant(oauth: FakeGoogleOAuth, email: str) -> None:
    creds = credentials(oauth, oauth.accounts.issue_refresh_token(email))
    creds.refresh(google.auth.transport.requests.Request())

    answer = requests.post(oauth.url + "/revoke", params={"token": creds.token}, timeout=5)

    assert answer.status_code == 200
    with pytest.raises(RefreshError):
        creds.refresh(google.auth.transport.requests.Request())
    again = requests.post(oauth.url + "/revoke", params={"token": "unknown"}, timeout=5)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"


def test_wrong_client_secret_is_refused(oauth: FakeGoogleOAuth, email: str) -> None:
    creds = credentials(
        oauth, oauth.accounts.issue_refresh_token(email), client_secret="not-the-secret"
    )

    with pytest.raises(RefreshError) as caught:
        creds.refresh(google.auth.transport.requests.Request())

    assert "invalid_client" in str(caught.value)


def test_authorization_code_flow_with_pkce(oauth: FakeGoogleOAuth, email: str) -> None:
    oauth.set_consent(email)
    verifier, challenge = pkce_pair()

    params = authorize(oauth, challenge, prompt="consent", login_hint=email)
    assert params["state"] == ["state-123"]
    tokens = exchange(oauth, params["code"][0], verifier)

    assert tokens.status_code == 200
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert GMAIL_SCOPE in body["scope"].split()
    claims = id_token.verify_token(
        body["id_token"],
        google.auth.transport.requests.Request(),
        audience=CLIENT_ID,
        certs_url=oauth.url + "/oauth2/v1/certs",
    )
    assert claims["email"] == email
    assert claims["email_verified"] is True
    userinfo = requests.get(
        oauth.url + "/oauth2/v3/userinfo",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=5,
    ).json()
    assert userinfo["email"] == email
    assert userinfo["email_verified"] is True
    creds = credentials(oauth, body["refresh_token"])
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.valid
    recorded = oauth.authorizations[-1]
    assert recorded["code_challenge"] == challenge
    assert recorded["access_type"] == "offline"
    assert recorded["prompt"] == "consent"


def test_pkce_verifier_is_checked_and_codes_are_single_use(
    oauth: FakeGoogleOAuth, email: str
) -> None:
    oauth.set_consent(email)
    verifier, challenge = pkce_pair()
    code = authorize(oauth, challenge)["code"][0]

    wrong = exchange(oauth, code, "not-the-verifier")
    right = exchange(oauth, code, verifier)
    reused = exchange(oauth, code, verifier)

    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid code verifier.",
    }
    assert right.status_code == 200
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_refresh_token_only_on_first_consent_unless_prompt_consent(
    oauth: FakeGoogleOAuth, email: str
) -> None:
    oauth.set_consent(email)

    def connect(**params: str) -> dict[str, object]:
        verifier, challenge = pkce_pair()
        code = authorize(oauth, challenge, **params)["code"][0]
        answer: dict[str, object] = exchange(oauth, code, verifier).json()
        return answer

    assert "refresh_token" in connect()
    assert "refresh_token" not in connect()
    assert "refresh_token" in connect(prompt="consent")
    assert "refresh_token" not in connect(access_type="online", prompt="consent")


def test_denied_consent_redirects_with_access_denied(oauth: FakeGoogleOAuth, email: str) -> None:
    oauth.set_consent(email, deny=True)
    try:
        params = authorize(oauth, pkce_pair()[1])
    finally:
        oauth.set_consent(None)

    assert params["error"] == ["access_denied"]
    assert params["state"] == ["state-123"]
    assert "code" not in params


def test_control_endpoints_over_http(oauth: FakeGoogleOAuth, gmail: FakeGmail, email: str) -> None:
    seeded = requests.post(
        oauth.url + "/_fake/seed",
        json={"refresh_tokens": [{"email": email, "token": "1//seeded-token"}]},
        timeout=5,
    )
    assert seeded.status_code == 200
    creds = credentials(oauth, "1//seeded-token")
    creds.refresh(google.auth.transport.requests.Request())

    fault = requests.post(
        oauth.url + "/_fake/faults",
        json={"status": 429, "retry_after": 2, "path_prefix": "/oauth2/v3/userinfo"},
        timeout=5,
    )
    limited = requests.get(
        oauth.url + "/oauth2/v3/userinfo",
        headers={"Authorization": f"Bearer {creds.token}"},
        timeout=5,
    )
    state = requests.get(oauth.url + "/_fake/state", timeout=5).json()
    log = requests.get(oauth.url + "/_fake/requests", timeout=5).json()["requests"]

    assert fault.status_code == 201
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert email in [a["email"] for a in state["accounts"]]
    token_calls = [r for r in log if r["path"] == "/token"]
    assert token_calls
    assert all("Authorization" not in r["headers"] for r in log)
    assert all(
        r["form"]["refresh_token"].startswith("...")
        for r in token_calls
        if "refresh_token" in r.get("form", {})
    )


def test_accounts_registry_is_shared_by_separately_built_fakes() -> None:
    accounts = GoogleAccounts()
    oauth = FakeGoogleOAuth(accounts)
    gmail = FakeGmail(accounts)
    started: Stack = {
        "oauth": (oauth, ThreadedServer(oauth.app).start()),
        "gmail": (gmail, ThreadedServer(gmail.app).start()),
    }
    try:
        token = accounts.issue_refresh_token("shared@acme.test")
        creds = Credentials(
            token=None,
            refresh_token=token,
            token_uri=started["oauth"][1].url + "/token",
            client_id="any-client",
            client_secret="any-secret",
        )
        creds.refresh(google.auth.transport.requests.Request())
        service = build(
            "gmail",
            "v1",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": started["gmail"][1].url},
        )
        profile = service.users().getProfile(userId="me").execute()
    finally:
        stop_fakes(started)
    assert profile["emailAddress"] == "shared@acme.test"
