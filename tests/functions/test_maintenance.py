"""`maintenance` over HTTP: Cloud Scheduler's hourly call renews watches, polls quiet
mailboxes, and records lapsed or failing ones for the operator page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from devstack import seed
from devstack.stack import PUSH_INVOKER, ROOT, SCHEDULER_INVOKER
from shared.adapters.secrets import SecretStore
from shared.domain.gmail_history import token_secret_name
from tests.conftest import serve_function
from tests.functions.conftest import events
from tests.functions.gmail_support import DANA, REP, Mail, draft_tasks, queue_path, tasks_client

pytestmark = pytest.mark.stack
SOURCE = ROOT / "functions/maintenance/main.py"
LI = "li@brightline.example"


@pytest.fixture(scope="module")
def server(stack):
    server = serve_function("maintenance", SOURCE, stack.env())
    yield server
    server.stop()


@pytest.fixture
def mail(local, server):
    seed.seed(local)
    tasks_client(local).pause_queue(name=queue_path(local))
    return Mail(local, server)


def run(mail: Mail, email: str = SCHEDULER_INVOKER) -> requests.Response:
    token = mail.stack.issuer.sign(mail.stack.function_url("maintenance"), email)
    return requests.post(
        mail.server.url + "/", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def set_mailbox(mail: Mail, email: str = REP, **fields) -> None:
    mail.db.collection("mailboxes").document(email).update(fields)


def test_only_the_scheduler_may_call(mail):
    before = mail.mailbox()

    assert run(mail, email=PUSH_INVOKER).status_code == 401
    assert requests.post(mail.server.url + "/", timeout=30).status_code == 401

    assert mail.mailbox() == before


def test_a_day_old_watch_is_renewed_and_a_fresh_one_is_left_alone(mail):
    now = datetime.now(UTC)
    set_mailbox(mail, **{"watch.renewed_at": now - timedelta(hours=25), "last_push_at": now})
    mail.gmail.clear_requests()

    answer = run(mail)

    assert answer.status_code == 200, answer.text
    assert answer.json()["renewed"] == [REP], answer.json()
    watch = mail.mailbox()["watch"]
    assert now - timedelta(minutes=1) < watch["renewed_at"]
    assert watch["expires_at"] > now + timedelta(days=6)
    assert mail.gmail.watch_of(REP)["labelIds"] == ["INBOX", "SENT"]
    assert len(mail.gmail.requests_to("/gmail/v1/users/me/watch")) == 1

    assert run(mail).json()["renewed"] == []
    assert len(mail.gmail.requests_to("/gmail/v1/users/me/watch")) == 1


def test_a_mailbox_whose_pushes_went_quiet_is_polled(mail):
    now = datetime.now(UTC)
    set_mailbox(mail, last_push_at=now - timedelta(hours=7))
    gmail_id, _ = mail.inbound(DANA.email, "Pricing", "Could you send pricing?")  # no push

    answer = run(mail)

    assert answer.json()["polled"] == [REP]
    assert list(mail.messages()) == [gmail_id]
    assert mail.messages()[gmail_id]["route"] == "prospect_reply"
    assert run(mail).json()["polled"] == []  # just polled: not again within the hour


def test_a_lapsed_watch_is_recorded_and_renewed(mail):
    now = datetime.now(UTC)
    set_mailbox(
        mail,
        **{
            "watch.expires_at": now - timedelta(hours=1),
            "watch.renewed_at": now - timedelta(days=8),
            "last_push_at": now,
        },
    )

    answer = run(mail)

    assert answer.json()["lapsed"] == [REP], answer.json()
    assert answer.json()["renewed"] == [REP], answer.json()
    watch = mail.mailbox()["watch"]
    assert watch["status"] == "active"
    assert now - timedelta(minutes=1) < watch["lapsed_at"] <= datetime.now(UTC)


def test_a_refused_mailbox_is_marked_and_the_others_still_get_their_upkeep(mail):
    mail.gmail.mailbox(LI)
    oauth = mail.stack.fakes["oauth"][0]
    secrets = SecretStore(mail.stack.project, mail.stack.secrets.address)
    secrets.write(token_secret_name(LI), oauth.issue_refresh_token(LI))
    seed.connect_mailbox(mail.stack, LI)
    secrets.write(token_secret_name(LI), "1//revoked-by-the-user")
    old = datetime.now(UTC) - timedelta(hours=25)
    for email in (REP, LI):
        set_mailbox(mail, email, **{"watch.renewed_at": old})

    answer = run(mail)

    assert answer.status_code == 200
    assert answer.json()["renewed"] == [REP], answer.json()
    assert LI in answer.json()["failed"]
    li = mail.db.collection("mailboxes").document(LI).get().to_dict()
    assert li["status"] == "disconnected"
    assert li["watch"]["status"] == "stopped"
    assert "authorization" in li["attention"]["reason"]
    assert "1//revoked" not in str(li)
    assert run(mail).json()["attention"] == [LI]


def test_texts_past_their_retention_go_and_the_records_stay(mail):
    """Message text after 90 days, a sample's full text after 365, an idle workflow's bodies
    after 180 (the settings' defaults); younger ones are left alone, and a second run changes
    nothing."""
    db = mail.db
    now = datetime.now(UTC)
    db.collection("gmail_messages").document("old-msg").set(
        {"recorded_at": now - timedelta(days=91), "new_text": "my budget is 40k", "route": "x"}
    )
    db.collection("gmail_messages").document("new-msg").set(
        {"recorded_at": now - timedelta(days=89), "new_text": "still fresh", "route": "x"}
    )
    db.collection("training_samples").document("old-sample").set(
        {"created_at": now - timedelta(days=400), "content": "a long talk", "chunks": 3}
    )
    workflow = {
        "state": "waiting_reply",
        "draft": {"subject": "Hi", "body": "Hi Dana", "gate": {"verdict": "ready"}},
        "sends": [{"seq": 1, "body": "Hi Dana", "gmail_id": "g1"}],
    }
    db.collection("workflows").document("wf-idle").set(
        {**workflow, "updated_at": now - timedelta(days=181)}
    )
    db.collection("workflows").document("wf-busy").set(
        {**workflow, "updated_at": now - timedelta(days=2)}
    )

    first = run(mail)

    assert first.status_code == 200, first.text
    assert first.json()["retention"] == {
        "message_text": 1,
        "sample_text": 1,
        "workflow_bodies": 1,
    }
    old = db.collection("gmail_messages").document("old-msg").get().to_dict()
    assert old["new_text"] is None
    assert old["route"] == "x"
    assert db.collection("gmail_messages").document("new-msg").get().get("new_text")
    sample = db.collection("training_samples").document("old-sample").get().to_dict()
    assert sample["content"] is None
    assert sample["chunks"] == 3
    idle = db.collection("workflows").document("wf-idle").get().to_dict()
    assert idle["draft"]["body"] is None
    assert idle["draft"]["gate"] == {"verdict": "ready"}
    assert idle["sends"] == [{"seq": 1, "gmail_id": "g1"}]
    assert idle["state"] == "waiting_reply"
    assert db.collection("workflows").document("wf-busy").get().to_dict() == {
        **workflow,
        "updated_at": db.collection("workflows").document("wf-busy").get().get("updated_at"),
    }
    assert run(mail).json()["retention"] == {
        "message_text": 0,
        "sample_text": 0,
        "workflow_bodies": 0,
    }


def test_what_needs_a_person_is_logged_for_the_alerts(mail, cloud_logs):
    """The events terraform/monitoring.tf counts: a lapsed watch, a mailbox that has not
    synced for 12 hours, a disconnected mailbox (every hour while it stays so)."""
    now = datetime.now(UTC)
    set_mailbox(
        mail,
        **{
            "watch.expires_at": now - timedelta(hours=1),
            "last_push_at": now,
            "last_sync_at": now - timedelta(hours=13),
        },
    )

    assert run(mail).status_code == 200

    assert [e["mailbox"] for e in events(cloud_logs, "mailbox_watch_lapsed")] == [REP]
    assert [e["mailbox"] for e in events(cloud_logs, "mailbox_not_syncing")] == [REP]
    assert events(cloud_logs, "mailbox_disconnected") == []
    set_mailbox(mail, status="disconnected")

    run(mail)
    run(mail)

    assert len(events(cloud_logs, "mailbox_disconnected")) == 2
    assert {e["severity"] for e in cloud_logs() if e.get("event")} == {"WARNING"}


def test_a_workflow_stuck_between_steps_gets_its_draft_step_again(mail, cloud_logs):
    """A draft task that failed all its attempts (or a purged queue) leaves a workflow in
    `queued` for good: the hourly run queues a new draft task under a name of its own, and
    logs it for the alert. A stuck send is reported, never re-sent blindly."""
    now = datetime.now(UTC)
    workflows = mail.db.collection("workflows")
    workflows.document("wf-stuck").set(
        {"state": "queued", "version": 3, "updated_at": now - timedelta(hours=2)}
    )
    workflows.document("wf-sending").set(
        {"state": "sending", "version": 1, "updated_at": now - timedelta(hours=2)}
    )
    workflows.document("wf-fresh").set(
        {"state": "queued", "version": 1, "updated_at": now - timedelta(minutes=5)}
    )
    workflows.document("wf-waiting").set(
        {"state": "waiting_reply", "version": 1, "updated_at": now - timedelta(days=2)}
    )

    first = run(mail).json()

    assert first["workflows"] == {"stuck": 2, "retried": 1}
    (task,) = [t for t in draft_tasks(mail.stack) if "wf-stuck" in t]
    assert "retry" in task
    stuck = sorted(e["workflow_id"] for e in events(cloud_logs, "workflow_stuck"))
    assert stuck == ["wf-sending", "wf-stuck"]
    assert run(mail).json()["workflows"] == {"stuck": 2, "retried": 1}
    assert len([t for t in draft_tasks(mail.stack) if "wf-stuck" in t]) == 1  # same hour: once


def _job(mail: Mail, body: dict) -> requests.Response:
    token = mail.stack.issuer.sign(mail.stack.function_url("maintenance"), SCHEDULER_INVOKER)
    return requests.post(
        mail.server.url + "/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def test_the_weekly_digest_is_one_draft_for_the_team_lead(mail):
    from shared.domain.outcomes import iso_week
    from shared.services.outcomes import OUTCOMES

    now = datetime.now(UTC)
    week, before = iso_week(now), iso_week(now - timedelta(days=7))
    mail.db.collection(OUTCOMES).document(week).set(
        {
            "week": week,
            "counts": {
                "sent": {"all": 12, "rep": {REP: 12}},
                "replies": {"all": 3, "rep": {REP: 3}},
                "meetings": {"all": 1, "rep": {REP: 1}},
            },
        }
    )
    mail.db.collection(OUTCOMES).document(before).set(
        {"week": before, "counts": {"sent": {"all": 10, "rep": {REP: 10}}}}
    )
    drafts_before = len(mail.gmail.drafts(REP))

    first = _job(mail, {"job": "weekly_digest", "week": week})

    assert first.status_code == 200, first.text
    assert first.json() == {"week": week, "status": "drafted", "mailbox": REP}
    (digest,) = mail.gmail.drafts(REP)[drafts_before:]
    message = digest["message"]
    assert message["to"] == REP
    assert week in message["subject"]
    body = str(message["body"])
    assert "sent               12 (+2 on the week before)" in body
    assert "reply rate: 0.25" in body
    assert f"{REP}: 0 drafted, 12 sent, 3 replies, 1 meetings" in body
    again = _job(mail, {"job": "weekly_digest", "week": week})
    assert again.json()["status"] == "already drafted"
    assert len(mail.gmail.drafts(REP)) == drafts_before + 1
    assert _job(mail, {"job": "weekly_digest", "week": "last week"}).status_code == 400
    assert _job(mail, {"job": "reindex"}).status_code == 400
