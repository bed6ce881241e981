"""Privacy requests on the running system: export a person, forget a person.

The forget test builds everything a real prospect leaves behind (a form lead, a draft, a sent
email, their reply in the thread and the second draft, a voice sample and an asset that name
them, a colleague's mail about them), asks the operator API to forget them, and then scans
every Firestore document and the fakes' stores we wrote to for anything of theirs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from devstack import seed
from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
from devstack.stack import OPERATOR_ACCOUNT
from shared.domain.privacy import person_key
from tests.functions.team_support import DANA, REP, Team, wait_until

pytestmark = pytest.mark.stack

FULL_NAME = f"{DANA.first} {DANA.last}"
THEIRS = re.compile(
    rf"{re.escape(DANA.email)}|{re.escape(DANA.first)}\s+{re.escape(DANA.last)}",
    re.IGNORECASE,
)
REASON = "She asked us by phone to erase everything we hold about her"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _every_document(db: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every document in the database, subcollections included (the test's own walk, not the
    service's)."""
    found = []
    pending = list(db.collections())
    while pending:
        collection = pending.pop()
        for doc in collection.list_documents():
            pending.extend(doc.collections())
            snap = doc.get()
            if snap.exists:
                found.append((doc.path, snap.to_dict() or {}))
    return found


def _theirs(path: str, data: dict[str, Any]) -> bool:
    if any(THEIRS.search(s) for s in _strings(data)):
        return True
    ids = [data.get(k) for k in ("contact_id", "object_id")]
    return DANA.contact_id in ids and "suppressions/" not in path


def _a_prospect_with_a_history(team: Team) -> dict[str, Any]:
    """Dana: a lead, a sent email, her reply and the second draft, a voice sample and an
    asset naming her, and a colleague's note about her."""
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    sent = team.send_settled(workflow_id)
    assert sent["state"] == "waiting_reply"
    team.mail.inbound(
        f"{FULL_NAME} <{DANA.email}>",
        "Re: " + sent["draft"]["subject"],
        "Thanks! Could we talk next week? I also want the regional forecast.\n\nDana",
        in_reply_to=sent["send"]["message_id"],
        references=sent["send"]["message_id"],
    )
    assert team.mail.push().status_code == 200
    replied = team.drafted(workflow_id, version=2)
    assert replied["state"] in ("awaiting_approval", "needs_input"), replied.get("blocked_reason")
    team.mail.inbound(
        f"Lee Park <lee@{REP.rpartition('@')[2]}>",
        "Heads-up",
        f"{FULL_NAME} from Northwind may call you about forecasting; she is keen.",
    )
    assert team.mail.push().status_code == 200
    sample = team.voice(
        "POST",
        "/samples",
        files={
            "file": (
                "call-notes.txt",
                (
                    f"Notes from my call with {FULL_NAME}. We talked about forecasting for "
                    "twelve warehouses and how the team plans the weekly order. I promised a "
                    "short summary and a follow-up with our regional view next week."
                ).encode(),
                "text/plain",
            )
        },
        data={"rep": REP},
    )
    assert sample.status_code in (200, 202), sample.text
    sample_id = sample.json()["sample"]["id"]
    wait_until(lambda: _sample_ready(team, sample_id))
    asset = team.voice(
        "POST",
        "/assets",
        files={
            "file": (
                "northwind-story.txt",
                (
                    "Northwind customer story\n\n"
                    f"{FULL_NAME}, VP Operations at Northwind, cut forecast errors by 30%.\n\n"
                    "Another paragraph about the product that names nobody at all."
                ).encode(),
                "text/plain",
            )
        },
        data={"title": "Northwind story"},
    )
    assert asset.status_code == 202, asset.text
    wait_until(lambda: _passages_mentioning(team))
    return {"workflow_id": workflow_id, "sample_id": sample_id, "sent": sent}


def _sample_ready(team: Team, sample_id: str) -> bool:
    snap = team.db.collection("training_samples").document(sample_id).get()
    return snap.exists and (snap.to_dict() or {}).get("status") == "ready"


def _passages_mentioning(team: Team) -> list[dict[str, Any]]:
    return [
        p.to_dict() or {}
        for p in team.db.collection("asset_passages").stream()
        if THEIRS.search(str((p.to_dict() or {}).get("text")))
    ]


def _webhook(team: Team) -> requests.Response:
    body = body_of(form_submission(DANA.contact_id, DANA.email, conversion_id="conv-again"))
    return requests.post(
        team.servers["webhook"].url + "/",
        data=body,
        headers=signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET),
        timeout=30,
    )


def test_an_export_holds_what_we_keep_about_a_person(team):
    history = _a_prospect_with_a_history(team)

    answer = team.api("GET", f"/api/privacy/export?email={DANA.email.upper()}")

    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["email"] == DANA.email
    assert FULL_NAME in export["names"]
    records = export["records"]
    workflows = [r for r in records["workflows"] if r["about_them"]]
    assert [r["data"]["id"] for r in workflows] == [history["workflow_id"]]
    assert any(r["about_them"] for r in records["gmail_messages"])
    assert any(not r["about_them"] for r in records["gmail_messages"])  # the colleague's note
    assert records["training_samples"]
    assert records["asset_passages"]
    assert "emb16" not in str(records["asset_passages"])  # numbers about text, left out


def test_export_and_forget_refuse_what_is_not_one_address(team):
    for value in ("", "dana", "dana@northwind.example, tom@acme.example"):
        answer = team.api("GET", f"/api/privacy/export?email={value}")
        assert answer.status_code == 400, answer.text
    workflow_id = team.lead()
    before = team.workflow(workflow_id)

    no_reason = team.api("POST", "/api/privacy/forget", {"email": DANA.email, "reason": " "})

    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]
    assert team.workflow(workflow_id)["id"] == before["id"]
    assert not team.db.collection("suppressions").document(person_key(DANA.email)).get().exists


def test_forgetting_a_person_leaves_nothing_of_theirs(team):
    history = _a_prospect_with_a_history(team)
    sent_gmail_id = history["sent"]["send"]["gmail_id"]
    assert any(_theirs(p, d) for p, d in _every_document(team.db))  # the scan can see them

    answer = team.api("POST", "/api/privacy/forget", {"email": DANA.email, "reason": REASON})

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["remaining_mentions"] == 0
    assert result["gmail_drafts_deleted"] == 1  # the second draft, in the thread
    assert result["gmail_sent_trashed"] == 1
    assert result["hubspot_records_archived"] >= 3  # task and note per draft, the sent email
    assert result["problems"] == []
    team.stack.tasks.wait_idle(20)  # the profile rebuild and the asset index re-pack

    # Firestore: nothing of hers but the pseudonymous audit record and the suppression.
    left = [path for path, data in _every_document(team.db) if _theirs(path, data)]
    assert left == []
    (record,) = [d for _, d in _every_document(team.db) if d.get("kind") == "person_forgotten"]
    assert record["subject"] == person_key(DANA.email)
    assert record["who"] == OPERATOR_ACCOUNT
    assert DANA.email not in str(record)
    suppression = team.db.collection("suppressions").document(person_key(DANA.email)).get()
    assert suppression.to_dict()["active"] is True
    assert DANA.email not in str(suppression.to_dict())
    # The colleague's note stays, without her name.
    notes = [d for p, d in _every_document(team.db) if d.get("subject") == "Heads-up"]
    assert len(notes) == 1
    assert "[removed] from Northwind may call you" in notes[0]["new_text"]

    # Gmail: no draft to her; what we sent her is in Trash.
    assert [d for d in team.gmail.drafts(REP) if THEIRS.search(str(d))] == []
    (trashed,) = [m for m in team.gmail.messages(REP) if m["id"] == sent_gmail_id]
    assert "TRASH" in trashed["labelIds"]
    # HubSpot: none of the tasks, notes, emails or meetings we logged on her contact remain.
    for kind in ("tasks", "notes", "emails", "meetings"):
        ours = [o for o in team.hubspot.objects(kind) if "sales-agent ref: " in str(o)]
        assert [o for o in ours if history["workflow_id"] in str(o)] == [], kind

    # She comes back: a webhook opens nothing and stores nothing of hers.
    again = _webhook(team)
    assert again.status_code == 200, again.text
    assert again.json()["opened"] == []
    # ...and her mail is not kept either.
    team.mail.inbound(DANA.email, "Hello again", f"It's {FULL_NAME} again, any news?")
    assert team.mail.push().status_code == 200
    assert [path for path, data in _every_document(team.db) if _theirs(path, data)] == []
    assert team.api("GET", f"/api/privacy/export?email={DANA.email}").json()["records"] == {}

    # A second request finds nothing more to do.
    twice = team.api("POST", "/api/privacy/forget", {"email": DANA.email, "reason": REASON})
    assert twice.status_code == 200
    assert twice.json()["deleted"] == {}
    assert twice.json()["redacted"] == {}


def test_an_admin_can_stop_all_contact_with_an_address_and_lift_it(team):
    from shared.services.suppressions import is_suppressed

    for bad in ({"email": "dana", "reason": "x"}, {"email": DANA.email, "reason": " "}):
        assert team.api("POST", "/api/suppressions", bad).status_code == 400
    assert not is_suppressed(team.db, DANA.email)
    reason = f"Complaint from {DANA.email} about our last email"

    answer = team.api("POST", "/api/suppressions", {"email": DANA.email, "reason": reason})

    assert answer.status_code == 200, answer.text
    workflow = team.drafted(team.lead())
    assert workflow["state"] == "blocked"  # no draft for a suppressed address
    assert team.gmail.drafts(REP) == []
    (record,) = team.api("GET", "/api/audit?kind=suppressed").json()["entries"]
    assert record["subject"] == person_key(DANA.email)
    assert DANA.email not in str(record)
    suppression = team.db.collection("suppressions").document(person_key(DANA.email)).get()
    assert DANA.email not in str(suppression.to_dict())

    lifted = team.api("POST", "/api/suppressions/lift", {"email": DANA.email, "reason": "opted in"})

    assert lifted.status_code == 200, lifted.text
    assert not is_suppressed(team.db, DANA.email)
    again = team.api("POST", "/api/suppressions/lift", {"email": DANA.email, "reason": "again"})
    assert again.status_code == 404
    team.api("POST", "/api/privacy/forget", {"email": DANA.email, "reason": "asked"})
    forgotten = team.api("POST", "/api/suppressions/lift", {"email": DANA.email, "reason": "oops"})
    assert forgotten.status_code == 409
    assert is_suppressed(team.db, DANA.email)
