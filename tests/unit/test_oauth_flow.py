"""The OAuth web flow's pure parts: PKCE, the consent URL, what is stored, the scopes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.adapters.google_oauth import Grant, OAuthClient
from shared.domain import oauth_flow
from shared.domain.oauth_flow import (
    SCOPES,
    authorization_url,
    flow_record,
    flow_refusal,
    missing_scopes,
    new_flow,
    new_verifier,
    s256_challenge,
    state_key,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifier_is_64_unreserved_characters_and_fresh_each_time() -> None:
    verifiers = {new_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for verifier in verifiers:
        assert re.fullmatch(r"[A-Za-z0-9_-]{64}", verifier)


def test_new_flow_values_are_random_url_safe_and_hidden_from_repr() -> None:
    first, second = new_flow(), new_flow()
    assert len({first.state, second.state, first.binding, second.binding}) == 4
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first.state)  # 32 random bytes
    assert first.challenge == s256_challenge(first.verifier)
    shown = repr(first)
    for value in (first.state, first.verifier, first.binding):
        assert value not in shown


def test_authorization_url_has_every_parameter() -> None:
    url = authorization_url(
        "https://accounts.google.com/o/oauth2/v2/auth",
        "client-1.apps.googleusercontent.com",
        "https://operator.example/api/connections/google/callback",
        "state-123",
        "challenge-abc",
        login_hint="maya@brightline.example",
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://accounts.google.com/o/oauth2/v2/auth"
    )
    query = {key: values[0] for key, values in parse_qs(parts.query, strict_parsing=True).items()}
    assert query == {
        "client_id": "client-1.apps.googleusercontent.com",
        "redirect_uri": "https://operator.example/api/connections/google/callback",
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": "state-123",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": "challenge-abc",
        "code_challenge_method": "S256",
        "login_hint": "maya@brightline.example",
    }


def test_authorization_url_without_hint_has_none() -> None:
    url = authorization_url("https://a.example/auth?hd=x", "c", "https://r.example/cb", "s", "ch")
    query = parse_qs(urlsplit(url).query)
    assert "login_hint" not in query
    assert query["hd"] == ["x"]


def test_state_key_is_a_sha256_never_the_state() -> None:
    state = new_flow().state
    key = state_key(state)
    assert key != state
    assert state not in key
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert key == state_key(state)
    assert key != state_key(state + "x")


def test_scopes_are_exactly_the_least_set() -> None:
    auth = "https://www.googleapis.com/auth/"
    assert set(SCOPES) == {
        "openid",
        f"{auth}userinfo.email",
        f"{auth}gmail.modify",
        f"{auth}drive.readonly",
        f"{auth}calendar.freebusy",
        f"{auth}calendar.events",
        f"{auth}calendar.settings.readonly",
    }
    assert len(SCOPES) == len(set(SCOPES))
    broad = {
        "https://mail.google.com/",
        f"{auth}drive",
        f"{auth}calendar",
        f"{auth}calendar.readonly",
    }
    assert not broad & set(SCOPES)


def test_stored_record_holds_no_state_or_binding() -> None:
    flow = new_flow()
    record = flow_record("op@brightline.example", flow.verifier, flow.binding, NOW)
    text = repr(record)
    assert flow.state not in text
    assert flow.binding not in text
    assert record["expires_at"] == NOW + timedelta(minutes=10)
    assert record["used"] is False


@pytest.mark.parametrize(
    ("change", "binding", "at", "expected"),
    [
        ({}, None, NOW, None),
        ({"used": True}, None, NOW, "already used"),
        ({}, None, NOW + timedelta(minutes=10), "expired"),
        ({}, "another-browser", NOW, "binding:"),
        ({}, "", NOW, "binding:"),
    ],
)
def test_flow_refusals(
    change: dict, binding: str | None, at: datetime, expected: str | None
) -> None:
    flow = new_flow()
    record = {**flow_record("op@x.example", flow.verifier, flow.binding, NOW), **change}
    reason = flow_refusal(record, flow.binding if binding is None else binding, at)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason
    assert "unknown" in (flow_refusal(None, flow.binding, NOW) or "")


def test_missing_scopes_names_gmail_and_accepts_aliases() -> None:
    assert missing_scopes(["openid", "email"]) == [oauth_flow.GMAIL_MODIFY]
    assert missing_scopes(["email", oauth_flow.GMAIL_MODIFY]) == []
    assert oauth_flow.granted_scopes("openid email") == ("openid", oauth_flow.USERINFO_EMAIL)


def test_consent_errors_read_clearly_and_echo_nothing_odd() -> None:
    assert "consent was refused" in oauth_flow.consent_error_message("access_denied")
    assert "<script>" not in oauth_flow.consent_error_message("<script>alert(1)</script>")


def test_grant_and_client_reprs_hide_values() -> None:
    grant = Grant("1//refresh-secret", "ya29.access-secret", 3599, SCOPES, "eyJ.id.token")
    client = OAuthClient("client-id", "client-secret-value")
    for shown, hidden in (
        (repr(grant), ("1//refresh-secret", "ya29.access-secret", "eyJ.id.token")),
        (str(grant), ("1//refresh-secret", "ya29.access-secret", "eyJ.id.token")),
        (repr(client), ("client-secret-value",)),
    ):
        for value in hidden:
            assert value not in shown
