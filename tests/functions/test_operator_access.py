"""Operator roles over HTTP against the local stack: every route above a role refuses it and
changes nothing, an approver acts on their own mailbox only, a viewer never sees a secret, and
roles are given, changed and taken away by admins (audited, effective on the next request).

This module's operator has one admin from the deployment (LEAD), so Maya, whose mailbox holds
the drafts, can hold a lesser role here."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from devstack import seed
from devstack.hubspot_webhooks import PUBLIC_URL
from devstack.stack import ROOT
from shared.adapters.secrets import SecretStore
from shared.domain.access import ROUTES, Role, Route
from shared.domain.gmail_history import token_secret_name
from shared.errors import NotFound
from tests.conftest import serve_function
from tests.functions.team_support import Team
from tests.functions.test_campaigns import _spec
from tests.functions.test_operator_page import Browser, _cookie_jar_accepts_insecure

pytestmark = pytest.mark.stack
LEAD = "lead@brightline.example"  # the only admin from the deployment, in this module
MAYA = seed.REP_EMAIL  # the rep whose mailbox is connected and holds the drafts
SAM = "sam@brightline.example"  # another rep, without a mailbox here
VERA = "vera@brightline.example"  # a viewer
DANA = seed.PROSPECTS[0]
SECRET_NAMES = (
    "hubspot-access-token",
    "hubspot-client-secret",
    "openai-api-key",
    "google-oauth-client",
    "operator-session-key",
)


@pytest.fixture(scope="module")
def team_servers(team_servers: dict[str, Any], stack: Any) -> dict[str, Any]:
    """The shared servers, with an operator whose OPERATOR_EMAILS is LEAD alone."""
    team_servers["operator"].stop()
    env = {
        **stack.env(),
        "HUBSPOT_WEBHOOK_URL": PUBLIC_URL,
        "SECRET_CACHE_SECONDS": "0",
        "CAMPAIGN_WINDOW_SECONDS": "1",
        "GUARDRAIL_BLOCKED_INDUSTRIES": "Gambling",
        "OPERATOR_EMAILS": LEAD,
    }
    team_servers["operator"] = serve_function(
        "operator", ROOT / "functions/operator/main.py", env, stack.function_ports["operator"]
    )
    return team_servers  # the shared fixture stops it with the others


class Person(Browser):
    """Someone signed in with the development login, with their page's CSRF token."""

    def __init__(self, team: Team, email: str) -> None:
        super().__init__(team)
        self.email = email
        answer = self.sign_in(email)
        assert answer.status_code == 303, (email, answer.text[:300])
        _cookie_jar_accepts_insecure(self)
        self.token = self.csrf("/")

    def form(self, path: str, data: dict[str, Any] | None = None) -> requests.Response:
        return self.post(path, {**(data or {}), "csrf": self.token})

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(
            method,
            f"{self.base}{path}",
            json=body,
            headers={"X-CSRF-Token": self.token},
            allow_redirects=False,
            timeout=60,
        )


def give(team: Team, email: str, role: Role) -> None:
    """A role document, as an admin's change leaves it."""
    team.db.collection("operator_roles").document(email).set(
        {"email": email, "role": role.value, "by": LEAD, "at": "setup", "reason": "test"}
    )


def stored(team: Team) -> dict[str, str]:
    """Every Firestore document (subcollections too) and every secret's value: a write by a
    refused request would show here."""
    found: dict[str, str] = {}

    def walk(collection: Any) -> None:
        for snap in collection.stream():
            found[snap.reference.path] = json.dumps(snap.to_dict(), default=str, sort_keys=True)
            for sub in snap.reference.collections():
                walk(sub)

    for collection in team.db.collections():
        walk(collection)
    secrets = SecretStore(team.stack.project, team.stack.secrets.address)
    for name in (*SECRET_NAMES, token_secret_name(MAYA), token_secret_name(SAM)):
        try:
            found[f"secret:{name}"] = secrets.read(name)
        except NotFound:
            found[f"secret:{name}"] = "(none)"
    return found


def settled(team: Team) -> dict[str, str]:
    """What is stored, once background work (a push after a draft, say) has stopped."""
    previous = stored(team)
    for _ in range(20):
        time.sleep(0.5)
        current = stored(team)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the stack never went quiet")


def drafted_for_maya(team: Team) -> tuple[str, str]:
    """A draft waiting in Maya's mailbox: (workflow id, the content hash shown for it)."""
    workflow_id = team.lead()
    team.drafted(workflow_id)
    shown = team.api("GET", f"/api/workflows/{workflow_id}").json()
    return workflow_id, shown["gmail_draft"]["content_hash"]


# --- every route, every role below it ------------------------------------------------------
def _attempt(route: Route, person: Person, ids: dict[str, str]) -> requests.Response:
    """`route` called as `person` with a body that would change something if it were let
    through (a role for themselves, the kill switch on, a key, a launch...)."""
    filled = {
        "/queue/<id>": ids["workflow"],
        "/workflows/<id>": ids["workflow"],
        "/api/workflows/<id>": ids["workflow"],
        "/campaigns/<id>": ids["campaign"],
        "/api/campaigns/<id>": ids["campaign"],
        "/api/roles/<email>": person.email,  # raising themselves
        "/access/<email>": ids["other"],
        "/api/connections/google/<email>": MAYA,
    }
    segments = route.pattern.split("/")
    for index, segment in enumerate(segments):
        if segment.startswith("<"):
            segments[index] = filled.get("/".join(segments[: index + 1]), "x-1")
    path = "/".join(segments)
    content_hash = ids["hash"]
    bodies: dict[str, dict[str, Any]] = {
        "/flags": {"kill_switch": "true", "reason": "attempt"},
        "/api/flags": {"changes": {"kill_switch": True, "mode": "SEND_ALLOWED"}, "reason": "x"},
        "/flags/overrides": {"target": "quotas.team_day", "value": "900", "hours": "2"},
        "/api/overrides": {"target": "quotas.team_day", "value": 900, "hours": 2, "reason": "x"},
        "/connections/openai": {"key": "sk-attempt-0123456789"},
        "/api/connections/openai": {"key": "sk-attempt-0123456789"},
        "/connections/hubspot": {"token": "pat-attempt-0123456789"},
        "/api/connections/hubspot": {"token": "pat-attempt-0123456789"},
        "/access": {"email": person.email, "role": "admin", "reason": "attempt"},
        "/api/roles/<email>": {"role": "admin", "reason": "attempt"},
        "/privacy/forget": {"email": DANA.email, "reason": "attempt", "confirm": "yes"},
        "/api/privacy/forget": {"email": DANA.email, "reason": "attempt"},
        "/campaigns/new": {"action": "create", "id": "sneaky", "name": "Sneaky"},
        "/api/campaigns": _spec("sneaky"),
        "/api/campaigns/preview": _spec("sneaky"),
        "/api/campaigns/<id>/approve": {"sampled": [ids["workflow"]]},
        "/campaigns/<id>/approve": {"sampled": ids["workflow"]},
        "/voice/links": {"links": "https://youtu.be/bRtLn3Fc9kQ"},
        "/voice/hubspot": {"object_type": "contact", "id": "701"},
    }
    action = route.pattern.rsplit("/", 1)[-1]
    draft_bodies = {
        "approve": {"content_hash": content_hash},
        "edit": {"content_hash": content_hash, "subject": "Changed", "body": "Changed"},
        "reject": {"reason": "attempt"},
        "regenerate": {"instruction": "shorter"},
        "cancel": {},
    }
    is_draft_action = route.pattern.startswith(("/queue/<id>/", "/api/workflows/<id>/"))
    body = (draft_bodies.get(action) if is_draft_action else None) or bodies.get(
        route.pattern, {"reason": "attempt"}
    )
    if route.pattern.startswith("/api/"):
        return person.call(route.method, path, None if route.method == "GET" else body)
    if route.method == "GET":
        return person.get(path)
    return person.form(path, body)


def test_every_route_refuses_each_role_below_its_own_and_nothing_changes(team: Team):
    give(team, VERA, Role.VIEWER)
    give(team, MAYA, Role.APPROVER)
    workflow_id, content_hash = drafted_for_maya(team)
    assert team.api("POST", "/api/campaigns", _spec("roles-matrix")).status_code == 200
    people = {Role.VIEWER: Person(team, VERA), Role.APPROVER: Person(team, MAYA)}
    ids = {"workflow": workflow_id, "hash": content_hash, "campaign": "roles-matrix"}
    before = settled(team)

    tried = 0
    for route in ROUTES:
        for role, person in people.items():
            if role.allows(route.role):
                continue
            ids["other"] = VERA if person.email == MAYA else MAYA
            answer = _attempt(route, person, ids)
            tried += 1
            where = (route.method, route.pattern, role.value)
            assert answer.status_code == 403, (*where, answer.status_code, answer.text[:300])
            assert f"needs the {route.role.value} role" in answer.text, where
            assert DANA.email not in answer.text, where  # no export slipped out either

    assert tried >= 60  # every admin route twice, every approver route once
    assert stored(team) == before
    assert team.workflow(workflow_id)["state"] == "awaiting_approval"


def test_each_role_may_use_what_its_role_allows(team: Team):
    give(team, VERA, Role.VIEWER)
    give(team, MAYA, Role.APPROVER)
    workflow_id, _ = drafted_for_maya(team)
    assert team.api("POST", "/api/campaigns", _spec("roles-allowed")).status_code == 200
    viewer, lead = Person(team, VERA), Person(team, LEAD)
    ids = {"workflow": workflow_id, "hash": "0" * 64, "campaign": "roles-allowed", "other": MAYA}

    for route in ROUTES:
        if route.method == "GET" and route.role is Role.VIEWER:
            answer = _attempt(route, viewer, ids)
            assert answer.status_code == 200, (route.pattern, answer.status_code)
    for path in ("/access", "/privacy", "/campaigns/new", "/api/roles"):
        assert lead.get(path).status_code == 200, path
    page = viewer.get("/").text
    assert "(viewer)" in page  # the session carries the role
    assert 'href="/access"' not in page
    assert 'href="/privacy"' not in page
    assert 'href="/access"' in lead.get("/").text
    assert (
        'action="/campaigns/roles-allowed/launch"'
        not in viewer.get("/campaigns/roles-allowed").text
    )
    assert 'action="/campaigns/roles-allowed/launch"' in lead.get("/campaigns/roles-allowed").text
    assert 'action="/flags/overrides"' not in viewer.get("/flags").text
    assert 'action="/flags/overrides"' in lead.get("/flags").text


def test_an_approver_cannot_flip_the_kill_switch(team: Team):
    give(team, MAYA, Role.APPROVER)
    maya = Person(team, MAYA)
    flags_before = team.db.collection("flags").document("sending").get().to_dict()

    page = maya.form("/flags", {"kill_switch": "true", "reason": "incident"})
    api = maya.call("PATCH", "/api/flags", {"changes": {"kill_switch": True}, "reason": "x"})

    assert page.status_code == 403
    assert "needs the admin role; you are a approver" in page.text
    assert api.status_code == 403
    assert api.json() == {"error": "this needs the admin role; you are a approver"}
    assert team.db.collection("flags").document("sending").get().to_dict() == flags_before
    assert team.api("GET", "/api/flags").json()["flags"]["kill_switch"] is False
    assert team.api("GET", "/api/audit?kind=flag_change").json()["entries"] == []
    shown = maya.get("/flags").text
    assert "Stop all sending" not in shown  # the button is not even offered
    assert "Only an admin changes these." in shown


def test_a_viewer_never_sees_a_token_or_a_secret_name(team: Team):
    openai_key, hubspot_token = "sk-viewer-test-0123456789", "pat-na1-viewer-test-0123456789"
    assert team.api("PUT", "/api/connections/openai", {"key": openai_key}).status_code == 200
    assert team.api("PUT", "/api/connections/hubspot", {"token": hubspot_token}).status_code == 200
    secrets = SecretStore(team.stack.project, team.stack.secrets.address)
    refresh_token = secrets.read(token_secret_name(MAYA))
    workflow_id = team.lead()
    team.drafted(workflow_id)
    # What the system records when a secret cannot be read (the adapters' own messages).
    mailbox_reason = f"gmail: secret {token_secret_name(MAYA)} has no enabled version"
    team.db.collection("mailboxes").document(MAYA).update(
        {"status": "needs_attention", "attention": {"reason": mailbox_reason}}
    )
    team.db.collection("connections").document("hubspot").set(
        {
            "status": "needs_attention",
            "attention": {"reason": "hubspot: secret hubspot-access-token has no value"},
        },
        merge=True,
    )
    give(team, VERA, Role.VIEWER)
    vera, lead = Person(team, VERA), Person(team, LEAD)
    seen = {
        path: vera.get(path)
        for path in (
            "/connections",
            "/",
            f"/workflows/{workflow_id}",
            f"/queue/{workflow_id}",
            "/api/connections",
            f"/api/workflows/{workflow_id}",
            "/api/flags",
        )
    }

    for path, answer in seen.items():
        assert answer.status_code == 200, path
        for secret in (*SECRET_NAMES, "gmail-refresh-", openai_key, hubspot_token, refresh_token):
            assert secret not in answer.text, (path, secret)
    connections = seen["/api/connections"].json()["connections"]
    assert connections["mailboxes"][0]["email"] == MAYA  # what a viewer needs is still there
    assert connections["mailboxes"][0]["status"] == "needs_attention"
    assert connections["mailboxes"][0]["reason"] == "gmail: secret (hidden) has no enabled version"
    assert connections["hubspot"]["token"] is True
    assert connections["openai"]["mode"] == "LLM"
    assert 'name="key"' not in seen["/connections"].text  # no credential forms for a viewer
    # The admin still sees which secret needs attention, and the forms to replace it.
    admin_page = lead.get("/connections").text
    admin_api = lead.get("/api/connections").json()["connections"]
    assert token_secret_name(MAYA) in admin_page
    assert admin_api["hubspot"]["reason"] == "hubspot: secret hubspot-access-token has no value"
    assert 'name="key"' in admin_page
    assert openai_key not in admin_page


def test_an_approver_approves_only_drafts_in_their_own_mailbox(team: Team):
    give(team, MAYA, Role.APPROVER)
    give(team, SAM, Role.APPROVER)
    workflow_id, content_hash = drafted_for_maya(team)
    sam, maya = Person(team, SAM), Person(team, MAYA)
    before = team.workflow(workflow_id)

    page = sam.form(f"/queue/{workflow_id}/approve", {"content_hash": content_hash})
    api = sam.call("POST", f"/api/workflows/{workflow_id}/reject", {"reason": "not mine"})

    assert page.status_code == 403
    assert f"this draft is in {MAYA}&#39;s mailbox" in page.text
    assert api.status_code == 403
    assert api.json()["error"] == (
        f"this draft is in {MAYA}'s mailbox: only that rep or an admin may act on it"
    )
    assert team.workflow(workflow_id) == before
    assert 'action="/queue/' not in sam.get(f"/queue/{workflow_id}").text  # no buttons shown

    approved = maya.form(f"/queue/{workflow_id}/approve", {"content_hash": content_hash})

    assert approved.status_code == 303, approved.text[:300]
    workflow = team.workflow(workflow_id)
    assert workflow["state"] == "approved"
    assert workflow["approval"]["by"] == MAYA


def test_a_non_admin_bulk_approval_skips_other_mailboxes_with_the_reason(team: Team):
    give(team, MAYA, Role.APPROVER)
    workflow_id, _ = drafted_for_maya(team)
    team.db.collection("workflows").document(workflow_id).update({"campaign_id": "bulk-roles"})
    team.db.collection("workflows").document("wf-sams").set(
        {"campaign_id": "bulk-roles", "state": "awaiting_approval", "mailbox": SAM}
    )
    maya = Person(team, MAYA)

    answer = maya.call("POST", "/api/campaigns/bulk-roles/approve", {"sampled": [workflow_id]})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "approved": 1,
        "skipped": [
            {
                "workflow_id": "wf-sams",
                "reason": f"this draft is in {SAM}'s mailbox: only that rep or an admin may "
                "act on it",
            }
        ],
    }
    assert team.workflow(workflow_id)["state"] == "approved"
    assert team.workflow("wf-sams")["state"] == "awaiting_approval"


def test_an_approver_trains_their_own_voice_only(team: Team):
    give(team, SAM, Role.APPROVER)
    team.stack.fakes["youtube"][0].add_video(
        "bRtLn3Fc9kQ", "Maya at RetailOps 2026", transcripts={"en": seed.TALK}
    )
    sam = Person(team, SAM)
    link = {"links": "https://youtu.be/bRtLn3Fc9kQ"}

    others = sam.form(f"/voice/links?rep={MAYA}", link)
    retrain = sam.form(f"/voice/retrain?rep={MAYA}")
    own = sam.form(f"/voice/links?rep={SAM}", link)

    assert others.status_code == 403
    assert retrain.status_code == 403
    assert "you may train your own voice only" in others.text
    assert team.wait_for_samples(MAYA, count=1, timeout=1) == []
    assert not team.db.collection("voice_retrains").document(MAYA).get().exists
    assert own.status_code == 303
    assert len(team.wait_for_samples(SAM, count=1)) == 1
    assert 'action="/voice/links' not in sam.get(f"/voice?rep={MAYA}").text
    assert 'action="/voice/links' in sam.get(f"/voice?rep={SAM}").text


# --- managing roles ------------------------------------------------------------------------
def test_an_admin_gives_a_role_that_person_works_and_removing_it_locks_them_out(team: Team):
    workflow_id, content_hash = drafted_for_maya(team)
    assert Browser(team).sign_in(MAYA).status_code == 401  # no role yet
    lead = Person(team, LEAD)

    given = lead.form(
        "/access",
        {"email": "Maya@Brightline.example", "role": "approver", "reason": "runs the queue"},
    )

    assert given.status_code == 303
    maya = Person(team, MAYA)
    assert "(approver)" in maya.get("/").text
    approved = maya.form(f"/queue/{workflow_id}/approve", {"content_hash": content_hash})
    assert approved.status_code == 303
    assert team.workflow(workflow_id)["state"] == "approved"
    listed = lead.get("/access").text
    assert "from the deployment" in listed
    assert MAYA in listed

    removed = lead.call("DELETE", f"/api/roles/{MAYA}", {"reason": "left the team"})

    assert removed.status_code == 200, removed.text
    page = maya.get("/queue")
    assert page.status_code == 303  # the very next request
    assert page.headers["Location"].endswith("/login")
    assert maya.get("/api/queue").status_code == 401
    assert Browser(team).sign_in(MAYA).status_code == 401
    changes = team.api("GET", "/api/audit?kind=role_change").json()["entries"]
    assert [(c["who"], c["email"], c["old"], c["new"], c["reason"]) for c in changes] == [
        (LEAD, MAYA, "approver", None, "left the team"),
        (LEAD, MAYA, None, "approver", "runs the queue"),
    ]


def test_a_role_holder_signs_in_with_google_too(team: Team):
    from tests.functions.test_operator_page import _google_sign_in

    _, refused = _google_sign_in(team, SAM)
    assert refused.status_code == 401
    give(team, SAM, Role.VIEWER)

    http, answer = _google_sign_in(team, SAM)

    assert answer.status_code == 303, answer.text[:300]
    for cookie in http.cookies:
        cookie.secure = False
    assert "(viewer)" in http.get(f"{team.servers['operator'].url}/", timeout=30).text


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/roles/not-an-email", {"role": "viewer", "reason": "x"}, "email: an email address"),
        (f"/api/roles/{SAM}", {"role": "owner", "reason": "x"}, "role: one of viewer"),
        (f"/api/roles/{SAM}", {"role": "viewer", "reason": " "}, "reason: say why"),
        (f"/api/roles/{SAM}", {"role": "viewer"}, "reason: say why"),
        (f"/api/roles/{LEAD}", {"role": "viewer", "reason": "x"}, "from the deployment"),
    ],
)
def test_bad_role_changes_are_refused_and_nothing_is_written(
    team: Team, path: str, body: dict[str, Any], message: str
):
    lead = Person(team, LEAD)
    before = stored(team)

    answer = lead.call("PUT", path, body)

    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]
    assert stored(team) == before


def test_an_admin_cannot_demote_or_remove_themselves_nor_a_deployment_admin(team: Team):
    give(team, "ada@brightline.example", Role.ADMIN)
    give(team, VERA, Role.VIEWER)
    ada, lead = Person(team, "ada@brightline.example"), Person(team, LEAD)
    before = stored(team)

    demote = ada.call("PUT", "/api/roles/ada@brightline.example", {"role": "viewer", "reason": "x"})
    remove = ada.call("DELETE", "/api/roles/ada@brightline.example", {"reason": "x"})
    page = ada.form("/access/ada@brightline.example/remove", {"reason": "x"})
    bootstrap = ada.call("DELETE", f"/api/roles/{LEAD}", {"reason": "x"})
    self_bootstrap = lead.call("PUT", f"/api/roles/{LEAD}", {"role": "approver", "reason": "x"})

    for answer in (demote, remove, page, bootstrap, self_bootstrap):
        assert answer.status_code == 400, answer.text[:300]
    assert "your own" in demote.json()["error"]
    assert "from the deployment" in bootstrap.json()["error"]
    assert stored(team) == before
    assert "(admin)" in ada.get("/").text
    # Another admin's changes go through, and count on the next request.
    raised = ada.call("PUT", f"/api/roles/{VERA}", {"role": "approver", "reason": "promoted"})
    assert raised.json() == {"email": VERA, "role": "approver", "old": "viewer", "changed": True}
    again = ada.call("PUT", f"/api/roles/{VERA}", {"role": "approver", "reason": "promoted"})
    assert again.json()["changed"] is False
    assert len(team.api("GET", "/api/audit?kind=role_change").json()["entries"]) == 1
    listing = team.api("GET", "/api/roles").json()["roles"]
    assert [(r["email"], r["role"], r["source"]) for r in listing] == [
        (LEAD, "admin", "deployment"),
        ("ada@brightline.example", "admin", "stored"),
        (VERA, "approver", "stored"),
    ]


# --- privacy and overrides: admin routes to the services behind them ----------------------
def test_an_admin_exports_and_forgets_a_person_from_the_page(team: Team):
    workflow_id = team.lead()
    team.drafted(workflow_id)
    lead = Person(team, LEAD)
    assert 'href="/privacy"' in lead.get("/").text

    download = lead.get(f"/privacy/export?email={DANA.email}")
    api_export = lead.get(f"/api/privacy/export?email={DANA.email}")
    unconfirmed = lead.form("/privacy/forget", {"email": DANA.email, "reason": "ticket 12"})
    no_reason = lead.call("POST", "/api/privacy/forget", {"email": DANA.email, "reason": ""})

    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("application/json")
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="privacy-export-dana-northwind-example.json"'
    )
    assert download.json()["email"] == DANA.email
    assert workflow_id in download.text
    assert api_export.json()["email"] == DANA.email
    assert unconfirmed.status_code == 400
    assert "tick the box to confirm" in unconfirmed.text
    assert 'value="ticket 12"' in unconfirmed.text  # what was typed is kept
    assert no_reason.status_code == 400
    assert team.workflow(workflow_id)["contact_email"] == DANA.email  # nothing forgotten yet

    forgotten = lead.form(
        "/privacy/forget", {"email": DANA.email, "reason": "ticket 12", "confirm": "yes"}
    )

    assert forgotten.status_code == 200, forgotten.text[:500]
    assert f"Forgotten: {DANA.email}" in forgotten.text
    assert "<td>workflows</td><td>1</td>" in forgotten.text
    assert DANA.email not in json.dumps(team.workflow(workflow_id))
    audit = team.api("GET", "/api/audit?kind=person_forgotten").json()["entries"]
    assert [a["who"] for a in audit] == [LEAD]


def test_an_admin_sets_and_revokes_a_temporary_override_from_the_flags_page(team: Team):
    lead = Person(team, LEAD)
    form = {
        "target": "guardrails.blocked_industries",
        "value": "Tobacco, Gambling",
        "hours": "24",
        "reason": "brand review",
    }

    bad = lead.form("/flags/overrides", {**form, "hours": "0"})
    assert bad.status_code == 400
    assert team.api("GET", "/api/flags").json()["flags"]["overrides"] == []
    assert "No override" in lead.get("/flags").text

    answer = lead.form("/flags/overrides", form)

    assert answer.status_code == 303, answer.text[:300]
    (active,) = team.api("GET", "/api/flags").json()["flags"]["overrides"]
    assert (active["target"], active["value"], active["by"]) == (
        "guardrails.blocked_industries",
        ["Gambling", "Tobacco"],
        LEAD,
    )
    page = lead.get("/flags").text
    assert "<code>guardrails.blocked_industries</code>" in page
    assert "Gambling, Tobacco" in page
    assert f"{LEAD}: brand review" in page

    revoked = lead.form(f"/flags/overrides/{active['id']}/revoke", {"reason": "review done"})

    assert revoked.status_code == 303
    assert team.api("GET", "/api/flags").json()["flags"]["overrides"] == []
    assert "No override" in lead.get("/flags").text


def test_the_override_api_sets_and_revokes(team: Team):
    lead = Person(team, LEAD)
    body = {"target": "quotas.mailbox_day", "value": 80, "hours": 6, "reason": "launch day"}

    refused = lead.call("POST", "/api/overrides", {**body, "target": "quotas.everything"})
    set_ = lead.call("POST", "/api/overrides", body)

    assert refused.status_code == 400
    assert set_.status_code == 200, set_.text
    (active,) = team.api("GET", "/api/flags").json()["flags"]["overrides"]
    assert (active["target"], active["value"]) == ("quotas.mailbox_day", 80)
    gone = lead.call("DELETE", f"/api/overrides/{active['id']}", {"reason": "over"})
    assert gone.status_code == 200, gone.text
    assert team.api("GET", "/api/flags").json()["flags"]["overrides"] == []
    again = lead.call("DELETE", f"/api/overrides/{active['id']}", {"reason": "over"})
    assert again.status_code == 404
