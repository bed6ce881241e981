"""The connections page's API: credentials go to Secret Manager only, a refused one pauses
what needs it, and replacing it resumes that work."""

from __future__ import annotations

import json

import pytest

from devstack import seed
from shared.adapters.secrets import SecretStore
from tests.functions.test_send import Team, servers, team  # noqa: F401 (fixtures)

pytestmark = pytest.mark.stack


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
