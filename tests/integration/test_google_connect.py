"""Connecting a Google account from the operator page, end to end against the local stack:
the OAuth fake (consent, token, userinfo, revoke), Secret Manager, Firestore and the Gmail fake
behind the real `Mailboxes.connect`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import grpc
import pytest
import requests
from google.cloud import firestore, secretmanager_v1
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from devstack import seed
from shared.adapters.google_oauth import GoogleOAuth, Grant, OAuthClient, read_oauth_client
from shared.adapters.secrets import SecretStore
from shared.domain.gmail_history import token_secret_name
from shared.domain.oauth_flow import GMAIL_MODIFY, SCOPES, state_key
from shared.errors import (
    AuthorizationRefused,
    BadRequest,
    Forbidden,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from shared.runtime import Runtime
from shared.services.google_connect import GoogleConnect
from shared.services.mail_wiring import GmailServices

pytestmark = pytest.mark.stack

REP = "maya@brightline.example"
OPERATOR = "ops@brightline.example"
CLIENT_ID = "connect-test.apps.googleusercontent.com"
CLIENT_SECRET = "connect-test-secret"
State = secretmanager_v1.SecretVersion.State


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        from datetime import UTC

        return datetime.now(UTC) + self.offset


class Harness:
    """The service wired as the operator function will wire it, with the grants it received
    recorded (so the test knows every token value to look for) and `stop_mailbox` recorded."""

    def __init__(self, local: Any) -> None:
        self.local = local
        self.settings = seed.settings_for(local)
        self.runtime = Runtime(self.settings)
        self.mail = GmailServices(self.runtime)
        self.oauth = local.fakes["oauth"][0]
        self.gmail = local.fakes["gmail"][0]
        self.db = firestore.Client(project=local.project)
        self.grants: list[Grant] = []
        self.stopped: list[tuple[str, str, bool]] = []
        self.sleeps: list[float] = []
        self.clock = Clock()
        self.runtime.secrets.write(
            self.settings.google_oauth_client_secret_id,
            json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        self.service = GoogleConnect(
            self.runtime.store,
            self.runtime.secrets,
            lambda: read_oauth_client(
                self.runtime.secrets, self.settings.google_oauth_client_secret_id
            ),
            self._adapter,
            self.mail.mailboxes.connect,
            self._stop_mailbox,
            auth_uri=self.settings.google_oauth_auth_uri,
            redirect_uri=self.settings.google_oauth_redirect_uri,
            clock=self.clock,
        )

    def _adapter(self, client: OAuthClient) -> GoogleOAuth:
        harness = self

        class Recording(GoogleOAuth):
            def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> Grant:
                grant = super().exchange_code(code, verifier, redirect_uri)
                harness.grants.append(grant)
                return grant

        settings = self.settings
        return Recording(
            client,
            token_uri=settings.google_oauth_token_uri,
            revoke_uri=settings.google_oauth_revoke_uri,
            userinfo_uri=settings.google_oauth_userinfo_uri,
            timeout=10,
            attempts=3,
            sleep=self.sleeps.append,
        )

    def _stop_mailbox(self, email: str, reason: str) -> None:
        token_still_stored = bool(self.secret_versions(token_secret_name(email), State.ENABLED))
        self.stopped.append((email, reason, token_still_stored))

    # --- the browser ------------------------------------------------------------------------
    def consent(self, url: str, drop_scopes: tuple[str, ...] = ()) -> dict[str, str]:
        """Open Google's consent page (the fake answers at once) and follow nothing: the
        redirect's query is what the browser would bring to our callback."""
        if drop_scopes:
            parts = urlsplit(url)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            query["scope"] = " ".join(s for s in query["scope"].split() if s not in drop_scopes)
            url = urlunsplit(parts._replace(query=urlencode(query)))
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        location = answer.headers["Location"]
        assert location.startswith(self.settings.google_oauth_redirect_uri + "?")
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def connect(self, email: str = REP) -> tuple[dict[str, Any], dict[str, str], str]:
        self.oauth.set_consent(email)
        url, binding = self.service.start(OPERATOR)
        params = self.consent(url)
        result = self.service.callback(params["state"], params["code"], binding)
        return result, params, binding

    # --- what is stored ---------------------------------------------------------------------
    def secret_versions(self, secret_id: str, state: Any = None) -> list[Any]:
        channel = grpc.insecure_channel(self.local.secrets.address)
        client = secretmanager_v1.SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )
        try:
            versions = list(
                client.list_secret_versions(
                    parent=f"projects/{self.local.project}/secrets/{secret_id}"
                )
            )
        except Exception:  # no such secret
            return []
        versions.sort(key=lambda v: int(v.name.rsplit("/", 1)[1]))
        return [v for v in versions if state is None or v.state == state]

    def stored_token(self, email: str = REP) -> str:
        return SecretStore(self.local.project, self.local.secrets.address).read(
            token_secret_name(email)
        )

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every document in every collection (and subcollection) of the emulator."""

        def walk(collections: Any) -> Iterator[tuple[str, dict[str, Any]]]:
            for collection in collections:
                for ref in collection.list_documents():
                    snapshot = ref.get()
                    if snapshot.exists:
                        yield ref.path, snapshot.to_dict() or {}
                    yield from walk(ref.collections())

        yield from walk(self.db.collections())

    def firestore_text(self) -> str:
        return "\n".join(f"{path} {data!r}" for path, data in self.documents())

    def flow(self, state: str) -> dict[str, Any] | None:
        snapshot = self.db.collection("oauth_flows").document(state_key(state)).get()
        return snapshot.to_dict() if snapshot.exists else None

    def mailbox(self, email: str = REP) -> dict[str, Any] | None:
        snapshot = self.db.collection("mailboxes").document(email).get()
        return snapshot.to_dict() if snapshot.exists else None

    def code_exchanges(self) -> list[dict[str, Any]]:
        """Authorization-code exchanges at the token endpoint (not the refreshes the Gmail
        client makes afterwards)."""
        return [
            r
            for r in self.oauth.requests_to("/token", "POST")
            if (r.get("form") or {}).get("grant_type") == "authorization_code"
        ]

    def assert_nothing_connected(self, email: str = REP) -> None:
        assert self.secret_versions(token_secret_name(email)) == []
        assert self.mailbox(email) is None
        assert self.grants == []


@pytest.fixture
def harness(local: Any) -> Iterator[Harness]:
    oauth = local.fakes["oauth"][0]
    saved = (oauth.client_id, oauth.client_secret, list(oauth.redirect_uris))
    harness = Harness(local)
    oauth.seed(
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [harness.settings.google_oauth_redirect_uri],
        }
    )
    try:
        yield harness
    finally:
        oauth.client_id, oauth.client_secret, oauth.redirect_uris = saved


def test_connect_stores_the_token_in_secret_manager_and_none_in_firestore(
    harness: Harness, caplog: pytest.LogCaptureFixture
):
    harness.oauth.set_consent(REP)
    url, binding = harness.service.start(OPERATOR)
    params = harness.consent(url)  # the browser's visit: the URL carries the state, by design
    caplog.clear()
    caplog.set_level(logging.DEBUG)  # every library's debug lines too (urllib3, google-auth)

    result = harness.service.callback(params["state"], params["code"], binding)

    assert result["email"] == REP
    assert result["status"] == "connected"
    assert set(SCOPES) <= set(result["scopes"])
    assert result["missing_scopes"] == []

    (grant,) = harness.grants
    assert grant.refresh_token
    refresh, access, id_token = grant.refresh_token, grant.access_token, grant.id_token
    assert id_token
    for value in (refresh, access, id_token, params["code"]):
        assert value not in repr(result)

    # Secret Manager: one enabled version, the refresh token Google issued for these scopes.
    secret_id = token_secret_name(REP)
    assert len(harness.secret_versions(secret_id)) == 1
    assert harness.stored_token() == refresh
    issued = harness.oauth.accounts.refresh_grant(refresh)
    assert issued.email == REP
    assert not issued.revoked
    assert set(issued.scopes) == set(SCOPES)

    # The consent request carried PKCE, offline access and consent (the fake checked the
    # verifier against the challenge when it gave the tokens).
    (asked,) = harness.oauth.authorizations
    assert asked["code_challenge_method"] == "S256"
    assert asked["access_type"] == "offline"
    assert asked["prompt"] == "consent"
    assert asked["client_id"] == CLIENT_ID

    # The mailbox is really connected: record with only the secret's name, watch on.
    mailbox = harness.mailbox()
    assert mailbox is not None
    assert mailbox["status"] == "connected"
    assert mailbox["token_secret"] == secret_id
    assert mailbox["watch"]["status"] == "active"
    assert harness.gmail.mailbox(REP).watch is not None

    # The flow is spent and was stored under the state's hash only.
    flow = harness.flow(params["state"])
    assert flow is not None
    assert flow["used"] is True
    assert flow["operator"] == OPERATOR
    assert flow["email"] == REP

    # No token, code, state or binding anywhere in Firestore, nor in any log line.
    text = harness.firestore_text()
    assert "mailboxes/" + REP in text
    logged = "\n".join(
        f"{r.getMessage()} {getattr(r, 'fields', '')} {r.args!r}" for r in caplog.records
    )
    assert "google account connected" in logged
    for value in (refresh, access, id_token, params["code"], params["state"], binding):
        assert value not in text
        assert value not in logged


def test_reconnecting_adds_a_version_only_for_a_new_token(harness: Harness):
    harness.connect()
    secret_id = token_secret_name(REP)
    first = harness.grants[0].refresh_token
    assert first

    # Google answers with the very same refresh token: nothing new is stored.
    same_access = harness.oauth.accounts.issue_access_token(
        REP, SCOPES, refresh_token=first, client_id=CLIENT_ID
    )
    harness.oauth.inject_fault(
        200,
        path_prefix="/token",
        body={
            "access_token": same_access.token,
            "refresh_token": first,
            "expires_in": 3599,
            "scope": " ".join(SCOPES),
            "token_type": "Bearer",
        },
    )
    result, _, _ = harness.connect()
    assert result["status"] == "connected"
    assert len(harness.secret_versions(secret_id)) == 1

    # A new refresh token: a second version, the first disabled.
    harness.connect()
    second = harness.grants[-1].refresh_token
    assert second
    assert second != first
    versions = harness.secret_versions(secret_id)
    assert [v.state for v in versions] == [State.DISABLED, State.ENABLED]
    assert harness.stored_token() == second
    assert harness.mailbox()["status"] == "connected"


def test_a_replayed_callback_is_refused(harness: Harness):
    _, params, binding = harness.connect()
    before = harness.firestore_text()

    with pytest.raises(BadRequest, match="already used"):
        harness.service.callback(params["state"], params["code"], binding)

    assert len(harness.code_exchanges()) == 1
    assert len(harness.secret_versions(token_secret_name(REP))) == 1
    assert harness.firestore_text() == before


def test_a_callback_from_another_browser_is_refused_and_changes_nothing(harness: Harness):
    harness.oauth.set_consent(REP)
    url, binding = harness.service.start(OPERATOR)
    params = harness.consent(url)

    for wrong in ("another-browser-binding", "", None):
        with pytest.raises(Forbidden, match="another browser"):
            harness.service.callback(params["state"], params["code"], wrong)

    assert harness.flow(params["state"])["used"] is False
    assert harness.code_exchanges() == []
    harness.assert_nothing_connected()

    # The browser that started it still can finish.
    result = harness.service.callback(params["state"], params["code"], binding)
    assert result["status"] == "connected"


def test_an_expired_flow_is_refused(harness: Harness):
    harness.oauth.set_consent(REP)
    url, binding = harness.service.start(OPERATOR)
    params = harness.consent(url)
    harness.clock.offset = timedelta(minutes=10, seconds=1)

    with pytest.raises(BadRequest, match="expired"):
        harness.service.callback(params["state"], params["code"], binding)

    assert harness.flow(params["state"])["used"] is False
    assert harness.code_exchanges() == []
    harness.assert_nothing_connected()


def test_unknown_or_missing_state_is_refused(harness: Harness):
    harness.oauth.set_consent(REP)
    url, binding = harness.service.start(OPERATOR)
    params = harness.consent(url)

    with pytest.raises(BadRequest, match="unknown"):
        harness.service.callback(params["state"] + "x", params["code"], binding)
    for state in (None, "", "not a state!", "a" * 600):
        with pytest.raises(BadRequest, match="state"):
            harness.service.callback(state, params["code"], binding)

    assert harness.code_exchanges() == []
    harness.assert_nothing_connected()


def test_denied_consent_is_refused_with_nothing_written(harness: Harness):
    harness.oauth.set_consent(REP, deny=True)
    url, binding = harness.service.start(OPERATOR)
    params = harness.consent(url)
    assert params["error"] == "access_denied"
    assert "code" not in params
    before = harness.firestore_text()

    with pytest.raises(BadRequest, match="consent was refused"):
        harness.service.callback(params["state"], params.get("code"), binding, params["error"])

    assert harness.firestore_text() == before
    assert harness.code_exchanges() == []
    harness.assert_nothing_connected()


def test_a_grant_without_gmail_is_refused_naming_what_is_missing(harness: Harness):
    harness.oauth.set_consent(REP)
    url, binding = harness.service.start(OPERATOR)
    params = harness.consent(url, drop_scopes=(GMAIL_MODIFY,))

    with pytest.raises(BadRequest, match="Gmail") as refused:
        harness.service.callback(params["state"], params["code"], binding)

    assert GMAIL_MODIFY in refused.value.public_message
    assert harness.secret_versions(token_secret_name(REP)) == []
    assert harness.mailbox() is None
    text = harness.firestore_text()
    for grant in harness.grants:
        for value in (grant.refresh_token, grant.access_token):
            assert value
            assert value not in text


def test_disconnect_stops_the_mailbox_revokes_at_google_and_destroys_the_token(
    harness: Harness,
):
    harness.connect()
    refresh = harness.grants[0].refresh_token
    assert refresh
    secret_id = token_secret_name(REP)

    result = harness.service.disconnect(REP, OPERATOR)

    assert result == {
        "email": REP,
        "status": "disconnected",
        "revoked": True,
        "destroyed_versions": 1,
    }
    # stop_mailbox ran while the grant still worked (it stops the Gmail watch with it).
    assert harness.stopped == [(REP, f"disconnected by {OPERATOR}", True)]
    # Google (the fake) now refuses the token.
    assert harness.oauth.accounts.refresh_grant(refresh).revoked
    answer = requests.post(
        harness.settings.google_oauth_token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    # Every version destroyed; nothing left to read.
    assert [v.state for v in harness.secret_versions(secret_id)] == [State.DESTROYED]
    with pytest.raises(NotFound):
        harness.stored_token()

    # Disconnecting again is harmless.
    again = harness.service.disconnect(REP, OPERATOR)
    assert again["revoked"] is False
    assert again["destroyed_versions"] == 0


def test_disconnect_when_google_no_longer_knows_the_token(harness: Harness):
    """Google answers 400 invalid_token for a token it considers dead (revoked, expired,
    unused for six months): the disconnect still completes."""
    harness.connect()
    secret_id = token_secret_name(REP)
    harness.runtime.secrets.write(secret_id, "1//a-token-google-never-issued")

    result = harness.service.disconnect(REP, OPERATOR)

    assert result["revoked"] is False
    assert result["destroyed_versions"] == 2
    assert harness.oauth.requests_to("/revoke")[-1]["status"] == 400
    assert {v.state for v in harness.secret_versions(secret_id)} == {State.DESTROYED}


def test_disconnect_after_the_person_removed_access_in_their_google_account(harness: Harness):
    harness.connect()
    harness.oauth.accounts.revoke_all(REP)

    result = harness.service.disconnect(REP, OPERATOR)

    assert result["status"] == "disconnected"
    assert result["destroyed_versions"] == 1
    assert [v.state for v in harness.secret_versions(token_secret_name(REP))] == [State.DESTROYED]


def test_a_503_from_the_token_endpoint_is_retried(harness: Harness):
    harness.oauth.inject_fault(503, count=1, path_prefix="/token")

    result, _, _ = harness.connect()

    assert result["status"] == "connected"
    assert [r["status"] for r in harness.code_exchanges()] == [503, 200]
    assert len(harness.sleeps) == 1
    assert harness.stored_token() == harness.grants[0].refresh_token


def test_production_wiring_connects(local: Any, harness: Harness):
    """`GoogleConnect.from_settings`, as the operator function builds it."""
    service = GoogleConnect.from_settings(
        harness.settings,
        harness.runtime.store,
        harness.runtime.secrets,
        harness.mail.mailboxes.connect,
        lambda email, reason: None,
    )
    harness.oauth.set_consent(REP)
    url, binding = service.start(OPERATOR, login_hint="Maya@Brightline.example")
    assert parse_qs(urlsplit(url).query)["login_hint"] == [REP]
    params = harness.consent(url)

    result = service.callback(params["state"], params["code"], binding)

    assert result["email"] == REP
    assert harness.mailbox()["status"] == "connected"


def test_the_adapter_maps_refusals_and_outages_without_naming_a_secret(harness: Harness):
    google = harness._adapter(OAuthClient(CLIENT_ID, CLIENT_SECRET))
    code, verifier = "4/0Afake-a-code-google-never-gave", "v" * 64
    redirect = harness.settings.google_oauth_redirect_uri

    with pytest.raises(AuthorizationRefused) as refused:
        google.exchange_code(code, verifier, redirect)
    assert "invalid_grant" in refused.value.public_message

    wrong_client = harness._adapter(OAuthClient(CLIENT_ID, "not-the-secret"))
    with pytest.raises(PermanentExternalError) as misconfigured:
        wrong_client.exchange_code(code, verifier, redirect)
    assert not isinstance(misconfigured.value, AuthorizationRefused)
    assert "OAuth client" in misconfigured.value.public_message

    harness.oauth.inject_fault(503, count=3, path_prefix="/token", retry_after=0.25)
    with pytest.raises(TransientError) as down:
        google.exchange_code(code, verifier, redirect)
    assert harness.sleeps[-2:] == [0.25, 0.25]  # Retry-After honoured, 3 attempts

    for error in (refused.value, misconfigured.value, down.value):
        shown = f"{error} {error.public_message} {error.detail} {error!r}"
        for secret in (code, verifier, CLIENT_SECRET, "not-the-secret"):
            assert secret not in shown


def test_exactly_these_scopes_cover_every_google_call_the_assistant_makes(harness: Harness):
    """A grant of exactly `SCOPES` (what the consent page asks for) works for Gmail, Drive and
    Calendar through the clients the other steps use, as the services build them."""
    from datetime import UTC

    from shared.adapters.calendar import CalendarClient
    from shared.adapters.drive import DriveFiles

    refresh = harness.oauth.accounts.issue_refresh_token(REP, SCOPES, client_id=CLIENT_ID)
    harness.runtime.secrets.write(token_secret_name(REP), refresh)
    settings, access = harness.settings, harness.mail.access

    calendar = CalendarClient(
        access.credentials_for(REP), endpoint=settings.calendar_api_endpoint, attempts=1
    )
    now = datetime.now(UTC).replace(microsecond=0)
    assert calendar.timezone()
    assert calendar.busy(REP, now, now + timedelta(days=7)) == []
    invite = calendar.create_event(
        "connect-check",
        "Northwind x Brightline",
        "Agenda",
        now + timedelta(days=1),
        now + timedelta(days=1, minutes=30),
        ["dana@northwind.example", REP],
        "UTC",
        conference=False,
        send_updates="none",
    )
    assert calendar.find_event("connect-check")["id"] == invite["id"]

    drive_fake = harness.local.fakes["drive"][0]
    file_id = drive_fake.add_file(REP, "notes.txt", "text/plain", "Cheers, Maya")
    drive = DriveFiles(access.credentials_for(REP), endpoint=settings.drive_api_endpoint)
    assert drive.content(file_id)[1] == b"Cheers, Maya"

    try:
        profile = access.gmail_for(REP, {}).profile()
    except AuthorizationRefused:
        refreshes = harness.oauth.requests_to("/token", "POST")
        asked = (refreshes[-1].get("form") or {}).get("scope", "") if refreshes else ""
        pytest.fail(
            "the Gmail client refreshes the stored token asking for scopes beyond the grant "
            f"({asked!r}; Google refuses that as invalid_scope): see GMAIL_SCOPES in "
            "shared/adapters/google_auth.py, which should ask for gmail.modify only (or none)"
        )
    assert profile["emailAddress"] == REP
