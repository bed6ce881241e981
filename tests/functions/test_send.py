"""Sending end to end: approval on the operator API, the `send` task through real Cloud Tasks
dispatch, the fake Gmail's sent box, HubSpot's timeline, and the follow-up sequence."""

from __future__ import annotations

import base64
import concurrent.futures
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devstack import seed
from devstack.fakes import DEFAULT_SCOPES
from devstack.stack import OPERATOR_ACCOUNT
from tests.functions.team_support import Team
from tests.functions.test_draft import parsed

pytestmark = pytest.mark.stack
REP = seed.REP_EMAIL
DANA = seed.PROSPECTS[0]
CONNECT_SCOPES = (*DEFAULT_SCOPES, "https://www.googleapis.com/auth/calendar.events")


def sent_to(team: Team, address: str) -> list[Any]:
    return [m for m in team.sent() if address in str(parsed(raw_of(m))["To"])]


def raw_of(message: dict[str, Any]) -> bytes:
    raw = message.get("raw")
    if isinstance(raw, bytes):
        return raw
    return base64.urlsafe_b64decode(str(raw) + "==")


# --- the operator API's door ------------------------------------------------------------
def test_the_operator_api_refuses_strangers_and_changes_nothing(team):
    stranger = team.stack.issuer.sign(team.stack.function_url("operator"), "someone@else.example")
    for token in ("garbage", stranger):
        answer = team.api(
            "PATCH",
            "/api/flags",
            {"changes": {"kill_switch": True}, "reason": "x"},
            token=token,
        )
        assert answer.status_code == 401
    assert team.api("GET", "/api/flags").json()["flags"]["kill_switch"] is False
    assert not team.db.collection("flags").document("sending").get().exists


def test_a_flag_change_needs_a_reason_and_is_audited_field_by_field(team):
    refused = team.api("PATCH", "/api/flags", {"changes": {"kill_switch": True}})
    bad = team.api(
        "PATCH", "/api/flags", {"changes": {"mode": "SEND_EVERYTHING"}, "reason": "why not"}
    )
    assert refused.status_code == 400
    assert bad.status_code == 400
    assert "mode" in bad.json()["error"]
    assert not team.db.collection("flags").document("sending").get().exists

    answer = team.api(
        "PATCH",
        "/api/flags",
        {"changes": {"kill_switch": True, "quotas": {"mailbox_day": 5}}, "reason": "incident"},
    )

    assert answer.status_code == 200
    changed = {c["field"]: (c["old"], c["new"]) for c in answer.json()["changed"]}
    assert changed == {"kill_switch": (False, True), "quotas.mailbox_day": (50, 5)}
    audit = team.api("GET", "/api/audit?kind=flag_change").json()["entries"]
    assert {(e["field"], e["who"], e["reason"]) for e in audit} == {
        ("kill_switch", OPERATOR_ACCOUNT, "incident"),
        ("quotas.mailbox_day", OPERATOR_ACCOUNT, "incident"),
    }


# --- modes and approval ----------------------------------------------------------------
def test_in_draft_only_mode_an_approval_sends_nothing(team):
    workflow_id = team.lead()
    team.drafted(workflow_id)

    approval = team.approve(workflow_id)

    assert approval["status"] == "send_from_gmail"
    time.sleep(1.0)
    assert team.sent() == []
    assert team.tasks("send") == []
    assert team.workflow(workflow_id)["state"] == "approved"


def test_an_approved_draft_is_sent_once_logged_in_hubspot_and_followed_up(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    draft_task = team.workflow(workflow_id)["draft"]["hubspot"]["task_id"]

    team.approve(workflow_id)
    workflow = team.send_settled(workflow_id)

    assert workflow["state"] == "waiting_reply"
    (message,) = sent_to(team, DANA.email)
    email = parsed(raw_of(message))
    assert email["Message-ID"].strip() == workflow["send"]["message_id"]
    assert "Dana" in email.get_body(("plain",)).get_content()
    assert team.gmail.drafts(REP) == []  # the approved draft left the Drafts folder
    logged = [e for e in team.hubspot.objects("emails") if workflow_id in str(e)]
    assert len(logged) == 1
    assert team.hubspot.associations("emails", logged[0]["id"], "deals") == ["8001"]
    contact = team.hubspot.get("contacts", DANA.contact_id)
    assert contact["properties"]["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"
    task = team.hubspot.get("tasks", draft_task)
    assert task["properties"]["hs_task_status"] == "COMPLETED"
    (follow_up,) = team.tasks("draft")
    due = follow_up.schedule_time.replace(tzinfo=UTC)
    assert due - datetime.now(UTC) > timedelta(days=2, hours=20)  # +3 working days
    kinds = [e["kind"] for e in team.api("GET", "/api/audit").json()["entries"]]
    assert "sent" in kinds
    assert "approved" in kinds


def test_an_approval_for_version_a_does_not_send_version_b(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=3)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)

    # The rep changes the draft in Gmail during the undo window.
    workflow = team.workflow(workflow_id)
    from shared.domain.outbound import compose

    raw = compose(
        sender=REP,
        to=DANA.email,
        subject="Your request",
        body="Hi Dana, here is a 50% discount just for you.",
        message_id=workflow["draft"]["message_id"],
    )
    team.rep_gmail().update_draft(workflow["draft_id"], raw)

    workflow = team.send_settled(workflow_id)
    assert workflow["send"]["status"] == "held"
    assert "changed after it was approved" in workflow["send"]["reason"]
    assert workflow["state"] == "awaiting_approval"
    assert team.sent() == []


def test_a_wrong_hash_is_refused_and_nothing_is_scheduled(team):
    team.set_flags(mode="SEND_ALLOWED")
    workflow_id = team.lead()
    team.drafted(workflow_id)

    answer = team.api("POST", f"/api/workflows/{workflow_id}/approve", {"content_hash": "0" * 64})

    assert answer.status_code == 409
    assert team.tasks("send") == []
    assert team.workflow(workflow_id)["state"] in ("awaiting_approval", "needs_input")


def test_cancel_in_the_undo_window_stops_the_send(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=30)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    assert len(team.tasks("send")) == 1

    answer = team.api("POST", f"/api/workflows/{workflow_id}/cancel")

    assert answer.status_code == 200
    assert team.tasks("send") == []
    assert team.workflow(workflow_id)["state"] == "awaiting_approval"
    assert team.sent() == []


def test_a_reply_during_the_undo_window_cancels_the_send(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=3)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)

    team.mail.inbound(f"Dana <{DANA.email}>", "Re: Your request", "Actually, can we talk today?")
    assert team.mail.push().status_code == 200

    workflow = team.send_settled(workflow_id)
    assert workflow["send"]["status"] == "cancelled"
    assert team.sent() == []
    redrafted = team.drafted(workflow_id, version=2)
    assert redrafted["state"] in ("awaiting_approval", "needs_input")


# --- exactly once ----------------------------------------------------------------------
def test_two_identical_send_tasks_at_once_send_one_email(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=3600)  # the queued task stays queued
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: team.send_task(workflow_id), range(2)))

    assert len(sent_to(team, DANA.email)) == 1
    assert sorted(a.status_code for a in answers) in ([200, 200], [200, 503])
    again = team.send_task(workflow_id)  # the loser's retry finds it done
    assert again.status_code == 200
    assert again.json()["already"] is True
    assert len(team.sent()) == 1
    assert team.workflow(workflow_id)["state"] == "waiting_reply"


def test_a_send_that_timed_out_after_gmail_took_it_is_found_not_repeated(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=3600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    team.gmail.inject_fault(0, delay=3.0, path_prefix="/gmail/v1/users/me/messages/send")

    first = team.send_task(workflow_id)
    assert first.status_code == 503  # ambiguous: Cloud Tasks retries
    time.sleep(2.0)  # the fake finishes its slow answer
    retry = team.send_task(workflow_id)

    assert retry.status_code == 200, retry.text
    assert retry.json()["found_on_retry"] is True
    assert len(team.sent()) == 1
    workflow = team.workflow(workflow_id)
    assert workflow["send"]["gmail_id"] == team.sent()[0]["id"]
    sends = team.gmail.requests_to("/gmail/v1/users/me/messages/send", "POST")
    assert len(sends) == 1


# --- kill switch and quotas ------------------------------------------------------------
def test_the_kill_switch_stops_ten_queued_sends(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_ids = team.more_leads(10)
    for workflow_id in workflow_ids:
        team.drafted(workflow_id)
        team.approve(workflow_id)
    queued = team.tasks("send")
    assert len(queued) == 10

    team.set_flags(kill_switch=True)
    for task in queued:  # their time comes
        team.run_task(task)

    settled = [team.send_settled(w) for w in workflow_ids]
    assert team.sent() == []
    assert {w["state"] for w in settled} == {"suppressed"}
    assert {w["send"]["reason"] for w in settled} == {"the kill switch is on"}
    queue = team.api("GET", "/api/queue").json()["items"]
    assert sum(1 for item in queue if item["state"] == "suppressed") == 10
    audit = team.api("GET", "/api/audit?kind=send_suppressed").json()["entries"]
    assert len(audit) == 10


def test_a_quota_of_five_sends_five_and_defers_three_to_the_next_day(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0, quotas={"mailbox_day": 5})
    workflow_ids = team.more_leads(8)
    for workflow_id in workflow_ids:
        team.drafted(workflow_id)
        team.approve(workflow_id)

    settled = [team.send_settled(w, timeout=60) for w in workflow_ids]

    statuses = sorted(w["send"]["status"] for w in settled)
    assert statuses == ["deferred"] * 3 + ["sent"] * 5
    assert len(team.sent()) == 5
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    deferred = [w for w in settled if w["send"]["status"] == "deferred"]
    assert {w["send"]["deferred_until"].date() for w in deferred} == {tomorrow}
    # A task leaves the queue when its answer is in, a moment after its effects are recorded.
    deadline = time.monotonic() + 15
    waiting = team.tasks("send")
    while len(waiting) > 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        waiting = team.tasks("send")
    assert len(waiting) == 3  # nothing dropped: each has its task for tomorrow
    assert {t.schedule_time.date() for t in waiting} == {tomorrow}

    # Tomorrow comes: the same service, its clock a day on, sends the three.
    from shared.runtime import Runtime
    from shared.services.send_wiring import SendWiring

    wiring = SendWiring(Runtime(seed.settings_for(team.stack)))
    service = wiring.service
    service.clock = lambda: datetime.now(UTC) + timedelta(days=1)
    for workflow in deferred:
        approval = workflow["approval"]
        service.run(workflow["id"], approval["version"], approval["hash"], approval["seq"])
    assert len(team.sent()) == 8


# --- after the send: the meeting and the sequence --------------------------------------
def test_no_reply_gets_a_follow_up_on_schedule_and_a_reply_cancels_the_next(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    first = team.send_settled(workflow_id)
    (follow_up,) = team.tasks("draft")

    team.run_task(follow_up)  # its schedule_time, brought forward

    workflow = team.drafted(workflow_id, version=2)
    assert workflow["nurture"]["step"] == 1
    (draft,) = team.gmail.drafts(REP)
    message = parsed(draft["message"]["raw"])
    assert draft["message"]["threadId"] == first["send"]["thread_id"]
    assert message["In-Reply-To"].strip() == first["send"]["message_id"]
    assert "Following up" in message.get_body(("plain",)).get_content()

    # The follow-up goes out; then Dana answers before the second one is due.
    seq = team.approve(workflow_id)["seq"]
    team.wait(workflow_id, lambda d: d["send"]["seq"] == seq and d["send"].get("effects_done"))
    second = [t for t in team.tasks("draft") if "nurture" in t.name]
    assert len(second) == 1
    team.mail.inbound(f"Dana <{DANA.email}>", "Re: Your request", "Sorry, busy week. Friday?")
    assert team.mail.push().status_code == 200
    replied = team.drafted(workflow_id, version=3)
    assert replied["nurture"]["cancelled"]["reason"] == "the prospect replied"

    team.run_task(second[0])
    time.sleep(1.0)
    assert team.workflow(workflow_id)["version"] == 3  # the cancelled step drafted nothing
    assert team.workflow(workflow_id)["nurture"].get("step") == 1


def test_sending_a_confirmation_books_the_prepared_meeting_once(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    drafted = team.drafted(workflow_id)
    offered = drafted["draft"]["offered_slots"]
    assert offered, "the first draft offers calendar slots"
    team.approve(workflow_id)
    team.send_settled(workflow_id)
    team.mail.inbound(f"Dana <{DANA.email}>", "Re: Your request", "The second one works for me.")
    assert team.mail.push().status_code == 200
    confirmation = team.drafted(workflow_id, version=2)
    assert confirmation["draft"].get("meeting"), confirmation["draft"]

    seq = team.approve(workflow_id)["seq"]
    workflow = team.wait(
        workflow_id, lambda d: d["send"]["seq"] == seq and d["send"].get("effects_done")
    )

    assert workflow["meeting"]["booked"] is True
    calendar = team.stack.fakes["calendar"][0]
    events = [e for e in calendar.events(REP) if DANA.email in str(e.get("attendees"))]
    assert len(events) == 1
    assert events[0]["start"]["dateTime"][:16] == offered[1]["start"][:16].replace("+00:00", "")
    meetings = [m for m in team.hubspot.objects("meetings") if "meeting-" in str(m)]
    assert len(meetings) == 1
    assert workflow["nurture"]["stopped"] == "meeting booked"
    assert not [t for t in team.tasks("draft") if "nurture" in t.name and "-2-" in t.name]


def test_the_rep_sending_our_draft_from_gmail_counts_as_the_send(team):
    workflow_id = team.lead()  # DRAFT_ONLY, the default: the system never sends
    team.drafted(workflow_id)
    draft_id = team.workflow(workflow_id)["draft_id"]

    gmail = team.rep_gmail()
    gmail.service.users().drafts().send(userId="me", body={"id": draft_id}).execute()
    assert team.mail.push().status_code == 200

    workflow = team.wait(
        workflow_id, lambda d: (d.get("send") or {}).get("effects_done"), timeout=40
    )
    assert workflow["state"] == "waiting_reply"
    assert workflow["send"]["by"] == "rep in Gmail"
    assert len(team.sent()) == 1  # hers; the system sent nothing
    assert len([e for e in team.hubspot.objects("emails") if workflow_id in str(e)]) == 1
    assert [t for t in team.tasks("draft") if "nurture" in t.name]


def test_the_auto_approve_policy_sends_a_ready_low_risk_draft_by_itself(team):
    team.set_flags(
        mode="SEND_ALLOWED",
        undo_seconds=0,
        auto_approve={"enabled": True, "max_risk": 30, "sources": ["form"]},
    )
    workflow_id = team.lead()

    workflow = team.wait(
        workflow_id, lambda d: (d.get("send") or {}).get("effects_done"), timeout=40
    )

    assert workflow["approval"]["by"] == "auto-approve policy"
    assert len(sent_to(team, DANA.email)) == 1


def test_a_contact_who_unsubscribed_in_hubspot_after_approval_is_not_sent_to(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    hubspot_url = team.stack.env()["HUBSPOT_API_BASE"]
    unsubscribed = requests.patch(
        f"{hubspot_url}/crm/v3/objects/contacts/{DANA.contact_id}",
        json={"properties": {"hs_email_optout": "true"}},
        headers={"Authorization": f"Bearer {next(iter(team.hubspot.tokens))}"},
        timeout=10,
    )
    assert unsubscribed.status_code == 200

    answer = team.send_task(workflow_id)

    assert answer.status_code == 200
    assert answer.json()["status"] == "held"
    assert team.sent() == []
    workflow = team.workflow(workflow_id)
    assert workflow["state"] == "blocked"
    used = team.db.collection("send_counters").stream()
    assert all((c.to_dict() or {}).get("count") == 0 for c in used)  # the reservation returned


def test_a_rep_reply_in_the_thread_after_approval_stops_the_send(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    thread_id = team.gmail.drafts(REP)[0]["message"]["threadId"]
    # Maya writes to Dana herself in the same thread; the intake has not seen it yet.
    from shared.domain.outbound import compose

    raw = compose(
        sender=REP,
        to=DANA.email,
        subject="Your request",
        body="Hi Dana, I'll call you this afternoon.",
        message_id="<handwritten-1@brightline.example>",
    )
    team.rep_gmail().send_raw(raw, thread_id)

    answer = team.send_task(workflow_id)

    assert answer.json()["status"] == "held"
    assert "newer message" in answer.json()["reasons"][0]
    assert len(team.sent()) == 1  # only hers


def test_a_revoked_google_grant_pauses_the_send_instead_of_losing_it(team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    oauth = team.stack.fakes["oauth"][0]
    oauth.accounts.revoke_all(REP)
    oauth.accounts.expire_access_tokens(REP)

    answer = team.send_task(workflow_id)

    assert answer.status_code == 200
    assert answer.json()["status"] == "held"
    workflow = team.workflow(workflow_id)
    assert workflow["state"] == "paused"  # kept and visible, waiting for the reconnect
    assert workflow["paused"]["kind"] == "send"
    assert "reconnect" in workflow["send"]["reason"]
    assert team.sent() == []

    # Maya reconnects: the paused send resumes by itself, with the same approved content.
    from shared.adapters.secrets import SecretStore
    from shared.domain.gmail_history import token_secret_name

    SecretStore(team.stack.project, team.stack.secrets.address).write(
        token_secret_name(REP), oauth.issue_refresh_token(REP, CONNECT_SCOPES)
    )
    seed.connect_mailbox(team.stack, REP)
    resumed = team.workflow(workflow_id)
    assert resumed["state"] == "approved"
    assert resumed["approval"]["hash"] == workflow["approval"]["hash"]
    (task,) = [t for t in team.tasks("send") if t.name.endswith(f"-{resumed['approval']['seq']}")]
    team.run_task(task)
    done = team.wait(workflow_id, lambda d: (d.get("send") or {}).get("effects_done"))
    assert done["state"] == "waiting_reply"
    assert len(sent_to(team, DANA.email)) == 1


def test_a_draft_for_a_disconnected_mailbox_waits_and_resumes_on_reconnect(team):
    oauth = team.stack.fakes["oauth"][0]
    oauth.accounts.revoke_all(REP)
    oauth.accounts.expire_access_tokens(REP)
    workflow_id = team.lead()

    paused = team.drafted(workflow_id)

    assert paused["state"] == "paused"
    assert paused["paused"] == {**paused["paused"], "kind": "draft", "mailbox": REP}
    assert team.gmail.drafts(REP) == []
    from shared.adapters.secrets import SecretStore
    from shared.domain.gmail_history import token_secret_name

    SecretStore(team.stack.project, team.stack.secrets.address).write(
        token_secret_name(REP), oauth.issue_refresh_token(REP, CONNECT_SCOPES)
    )
    seed.connect_mailbox(team.stack, REP)

    resumed = team.drafted(workflow_id, version=2)
    assert resumed["state"] in ("awaiting_approval", "needs_input")
    assert "paused" not in resumed
    assert len(team.gmail.drafts(REP)) == 1
