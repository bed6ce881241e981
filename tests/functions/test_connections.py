"""The connections page's API: credentials go to Secret Manager only, a refused one pauses
what needs it, and replacing it resumes that work."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from devstack import seed
from shared.adapters.secrets import SecretStore
from shared.domain.gmail_history import token_secret_name
from shared.errors import NotFound
from tests.functions.team_support import Team

pytestmark = pytest.mark.stack
DANA_EMAIL = seed.PROSPECTS[0].email


def everything_stored(team: Team) -> str:
    """Every document in the emulator, as text: where a leaked credential would show."""
    found = []
    for collection in team.db.collections():
        for snap in collection.stream():
            found.append(json.dumps(snap.to_dict(), default=str))
            for sub in snap.reference.collections():
                found.extend(json.dumps(d.to_dict(), default=str) for d in sub.stream())
    return "\n".join(found)


def test_the_overview_says_which_mode_runs_and_shows_no_values(team: Team):
    answer = team.api("GET", "/api/connections")

    assert answer.status_code == 200
    connections = answer.json()["connections"]
    assert connections["openai"]["configured"] is False
    assert connections["openai"]["mode"].startswith("offline")
    assert connections["hubspot"]["token"] is True
    assert [m["email"] for m in connections["mailboxes"]] == [seed.REP_EMAIL]
    assert connections["mailboxes"][0]["status"] == "connected"
    token = next(iter(team.hubspot.tokens))
    assert token not in answer.text
    assert "token_secret" not in answer.text


def test_an_openai_key_is_stored_in_secret_manager_only_and_switches_on_the_llm(team: Team):
    key = "sk-test-0123456789abcdef"
    bad = team.api("PUT", "/api/connections/openai", {"key": "has spaces in it"})
    assert bad.status_code == 400

    answer = team.api("PUT", "/api/connections/openai", {"key": key})
    again = team.api("PUT", "/api/connections/openai", {"key": key})

    assert answer.status_code == 200
    assert answer.json()["changed"] == ["openai"]
    assert again.json()["changed"] == []  # the same value adds no version
    secrets = SecretStore(team.stack.project, team.stack.secrets.address)
    assert secrets.read("openai-api-key") == key
    overview = team.api("GET", "/api/connections").json()["connections"]
    assert overview["openai"]["mode"] == "LLM"
    assert key not in everything_stored(team)
    assert key not in json.dumps(team.api("GET", "/api/audit").json())

    removed = team.api("DELETE", "/api/connections/openai")
    assert removed.status_code == 200
    overview = team.api("GET", "/api/connections").json()["connections"]
    assert overview["openai"]["configured"] is False


def test_a_refused_hubspot_token_pauses_the_draft_and_a_new_token_resumes_it(team: Team):
    secrets = SecretStore(team.stack.project, team.stack.secrets.address)
    good = next(iter(team.hubspot.tokens))
    secrets.write("hubspot-access-token", "pat-revoked-by-an-admin")
    workflow_id = team.lead()

    paused = team.drafted(workflow_id)

    assert paused["state"] == "paused"
    assert paused["paused"]["connection"] == "hubspot"
    overview = team.api("GET", "/api/connections").json()["connections"]
    assert overview["hubspot"]["status"] == "needs_attention"
    assert team.gmail.drafts(seed.REP_EMAIL) == []

    answer = team.api("PUT", "/api/connections/hubspot", {"token": good})

    assert answer.status_code == 200
    assert answer.json()["resumed"] == {"draft": 1, "send": 0}
    resumed = team.drafted(workflow_id, version=2)
    assert resumed["state"] in ("awaiting_approval", "needs_input")
    assert len(team.gmail.drafts(seed.REP_EMAIL)) == 1
    stored = everything_stored(team)
    assert good not in stored
    assert "pat-revoked-by-an-admin" not in stored


def connect_through_google(team: Team, email: str) -> tuple[requests.Response, str]:
    """The operator starts the flow, Google (the fake) asks the person, the browser returns."""
    started = team.api("POST", "/api/connections/google/start", {"login_hint": email})
    assert started.status_code == 200, started.text
    binding = started.cookies.get("sa_oauth_binding")
    assert binding
    team.stack.fakes["oauth"][0].set_consent(email)
    consent = requests.get(started.json()["authorization_url"], allow_redirects=False, timeout=10)
    assert consent.status_code in (302, 303), consent.text
    back = consent.headers["Location"]
    code = parse_qs(urlparse(back).query)["code"][0]
    return requests.get(back, cookies={"sa_oauth_binding": binding}, timeout=30), code


def test_revoked_then_reconnected_through_google_nothing_lost_and_no_token_anywhere(
    team: Team, capfd: pytest.CaptureFixture[str]
):
    oauth = team.stack.fakes["oauth"][0]
    oauth.accounts.revoke_all(seed.REP_EMAIL)  # Maya changed her password
    oauth.accounts.expire_access_tokens(seed.REP_EMAIL)
    team.mail.inbound(f"Dana <{DANA_EMAIL}>", "Hello", "Are you there?")
    assert team.mail.push().status_code == 200  # the sync meets invalid_grant
    workflow_id = team.lead()
    paused = team.drafted(workflow_id)

    mailbox = team.api("GET", "/api/connections").json()["connections"]["mailboxes"][0]
    assert mailbox["status"] == "disconnected"
    assert mailbox["reconnect"] is True
    assert "authorization" in mailbox["reason"]
    assert paused["state"] == "paused"

    answer, code = connect_through_google(team, seed.REP_EMAIL)

    assert answer.status_code == 200, answer.text
    assert answer.json()["email"] == seed.REP_EMAIL
    replay = requests.get(answer.url, timeout=30)
    assert replay.status_code in (400, 403)  # single use, and no binding cookie
    mailbox = team.api("GET", "/api/connections").json()["connections"]["mailboxes"][0]
    assert mailbox["status"] == "connected"
    resumed = team.drafted(workflow_id, version=2)
    assert resumed["state"] in ("awaiting_approval", "needs_input")
    assert len(team.gmail.drafts(seed.REP_EMAIL)) >= 1

    secrets = SecretStore(team.stack.project, team.stack.secrets.address)
    refresh_token = secrets.read(token_secret_name(seed.REP_EMAIL))
    logged = capfd.readouterr()
    for value in (refresh_token, code):
        assert value not in everything_stored(team)
        assert value not in logged.out + logged.err


def test_a_callback_without_the_browser_binding_is_refused_and_writes_nothing(team: Team):
    started = team.api("POST", "/api/connections/google/start", {})
    team.stack.fakes["oauth"][0].set_consent(seed.REP_EMAIL)
    consent = requests.get(started.json()["authorization_url"], allow_redirects=False, timeout=10)
    before = everything_stored(team)

    answer = requests.get(consent.headers["Location"], timeout=30)  # another browser

    assert answer.status_code == 403
    assert everything_stored(team) == before


def test_disconnect_from_the_page_revokes_destroys_and_stops(team: Team):
    secrets = SecretStore(team.stack.project, team.stack.secrets.address, cache_seconds=0)
    refresh_token = secrets.read(token_secret_name(seed.REP_EMAIL))

    answer = team.api("POST", f"/api/connections/google/{seed.REP_EMAIL}/disconnect")

    assert answer.status_code == 200, answer.text
    assert refresh_token not in answer.text
    mailbox = team.db.collection("mailboxes").document(seed.REP_EMAIL).get().to_dict()
    assert mailbox["status"] == "disconnected"
    assert mailbox["watch"]["status"] == "stopped"
    assert team.gmail.watch_of(seed.REP_EMAIL) is None  # stopped at Gmail while it still could
    with pytest.raises(NotFound):
        secrets.read(token_secret_name(seed.REP_EMAIL))
    refreshed = requests.post(
        f"{team.stack.fake_url('oauth')}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            **json.loads(secrets.read("google-oauth-client")),
        },
        timeout=10,
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"  # revoked at Google
