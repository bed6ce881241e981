"""`gmail_push` over HTTP through functions-framework, with the Gmail fake and the emulators:
push authentication, sync from the stored cursor, duplicates, resync and Gmail's faults."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest
import requests

from devstack import seed
from devstack.issuer import SigningKey
from devstack.stack import PUSH_INVOKER, TASKS_INVOKER
from tests.conftest import serve_function
from tests.functions.gmail_support import (
    DANA,
    REP,
    SOURCE,
    SYNC_QUEUE,
    Mail,
    draft_tasks,
    queue_path,
    tasks_client,
)

pytestmark = pytest.mark.stack


def test_a_prospects_reply_opens_a_workflow_and_queues_one_draft(mail):
    gmail_id, _ = mail.inbound(
        f"{DANA.first} {DANA.last} <{DANA.email}>",
        "Question about forecasting",
        "Hi Maya, can you send pricing for 20 seats? We'd like to start next month.",
    )

    answer = mail.push()

    assert answer.status_code == 200, answer.text
    assert answer.json()["routes"] == {"prospect_reply": 1}
    stored = mail.messages()
    assert list(stored) == [gmail_id]
    record = stored[gmail_id]
    assert record["route"] == "prospect_reply"
    assert record["from"]["email"] == DANA.email
    assert record["contact_id"] == DANA.contact_id
    assert record["intent"]["source"] == "rules"
    assert "pricing" in record["new_text"]
    (workflow,) = mail.workflows().values()
    assert workflow["source"] == "reply"
    assert workflow["contact_id"] == DANA.contact_id
    assert workflow["state"] == "queued"
    assert workflow["thread_id"] == record["thread_id"]
    assert draft_tasks(mail.stack) == [f"draft-{workflow['id']}-1"]
    assert mail.cursor() == mail.gmail.history_id(REP)


def test_a_second_reply_in_the_thread_advances_the_same_workflow(mail):
    _first_id, first = mail.inbound(DANA.email, "Forecasting", "Interested. What does it cost?")
    mail.push()
    mail.inbound(
        DANA.email,
        "Re: Forecasting",
        "Also, can we meet Thursday?\n\nOn Mon, Maya wrote:\n> Thanks Dana",
        in_reply_to=first["Message-ID"],
        references=first["Message-ID"],
    )

    mail.push()

    (workflow,) = mail.workflows().values()
    assert workflow["version"] == 2
    assert workflow["state"] == "queued"
    assert draft_tasks(mail.stack) == sorted(
        [f"draft-{workflow['id']}-1", f"draft-{workflow['id']}-2"]
    )
    assert {m["workflow_id"] for m in mail.messages().values()} == {workflow["id"]}


def test_duplicate_and_reordered_pushes_record_each_message_once(mail):
    ids = []
    history_ids = []
    for index in range(3):
        gmail_id, _ = mail.inbound(
            seed.PROSPECTS[index].email, f"Question {index}", f"Can you tell me more? ({index})"
        )
        ids.append(gmail_id)
        history_ids.append(mail.gmail.history_id(REP))
    # Five pushes at once, naming old and new historyIds (as a number and as a string).
    notices = [history_ids[2], str(history_ids[0]), history_ids[1], history_ids[2], 1]
    answers: list[int] = []

    def send(history_id: Any) -> None:
        answers.append(mail.push(history_id).status_code)

    threads = [threading.Thread(target=send, args=(h,)) for h in notices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * 5
    assert sorted(mail.messages()) == sorted(ids)
    assert len(mail.workflows()) == 3
    assert len(draft_tasks(mail.stack)) == 3
    head = mail.gmail.history_id(REP)
    assert mail.cursor() == head
    # Late, older notifications change nothing and never move the cursor back.
    for history_id in (history_ids[0], 1, str(history_ids[1])):
        assert mail.push(history_id).status_code == 200
        assert mail.cursor() == head
    assert len(mail.messages()) == 3
    assert "sync_lease" not in mail.mailbox()
    gets = mail.gmail.requests_to("/gmail/v1/users/me/messages/", "GET")
    assert len([r for r in gets if r["path"].rsplit("/", 1)[1] in ids]) == 3


def test_an_expired_history_cursor_resyncs_the_gap_and_loses_nothing(mail):
    old_cursor = mail.cursor()
    ids = [mail.inbound(p.email, f"Gap {p.first}", "Any update?")[0] for p in seed.PROSPECTS]
    mail.gmail.expire_history(REP, mail.gmail.history_id(REP) + 1)

    answer = mail.push()

    assert answer.status_code == 200, answer.text
    assert answer.json()["resynced"] is True
    assert sorted(mail.messages()) == sorted(ids)
    assert mail.cursor() > old_cursor
    resync = mail.mailbox()["last_resync"]
    assert resync["messages"] >= len(ids)
    assert resync["truncated"] is False
    # The seeded past threads predate the connection by weeks: not read back.
    assert len(mail.messages()) == len(ids)

    later, _ = mail.inbound(DANA.email, "After the gap", "Still keen")
    assert mail.push().status_code == 200
    assert later in mail.messages()


def test_a_rate_limit_storm_is_survived(mail):
    gmail_id, _ = mail.inbound(DANA.email, "Storm", "Keen to learn more")
    mail.gmail.inject_fault(
        429, count=3, retry_after=0.05, path_prefix="/gmail/v1/users/me/history"
    )
    mail.gmail.inject_fault(
        429, count=2, retry_after=0.05, path_prefix="/gmail/v1/users/me/messages/"
    )

    answer = mail.push()

    assert answer.status_code == 200, answer.text
    assert list(mail.messages()) == [gmail_id]
    assert len(draft_tasks(mail.stack)) == 1


def test_a_storm_longer_than_our_retries_answers_503_then_recovers(mail):
    gmail_id, _ = mail.inbound(DANA.email, "Storm", "Keen to learn more")
    before = mail.cursor()
    mail.gmail.inject_fault(
        503, count=50, retry_after=0.01, path_prefix="/gmail/v1/users/me/history"
    )

    answer = mail.push()

    assert answer.status_code == 503
    assert mail.messages() == {}
    assert mail.cursor() == before
    assert "sync_lease" not in mail.mailbox()  # released, so the task's retry can proceed
    assert len(mail.sync_tasks()) == 1  # kept for Cloud Tasks to retry
    mail.gmail.clear_faults()
    assert mail.push().status_code == 200  # the same push again: the same task, delivered
    assert mail.sync_tasks() == []
    assert list(mail.messages()) == [gmail_id]


def test_insufficient_permission_marks_the_mailbox_and_is_not_retried(mail):
    mail.inbound(DANA.email, "Hello", "Keen")
    mail.gmail.inject_fault(
        403,
        count=1,
        path_prefix="/gmail/v1/users/me/history",
        body={
            "error": {
                "code": 403,
                "message": "Request had insufficient authentication scopes.",
                "errors": [{"reason": "insufficientPermissions"}],
            }
        },
    )

    answer = mail.push()

    assert answer.status_code == 200
    assert answer.json()["status"] == "needs_attention"
    assert mail.mailbox()["status"] == "needs_attention"
    assert len(mail.gmail.requests_to("/gmail/v1/users/me/history")) == 1
    assert mail.messages() == {}


def _forged_token(mail: Mail) -> str:
    other = SigningKey("forger")
    return other.encode(
        {
            "iss": mail.stack.issuer.issuer,
            "aud": mail.stack.push_audience,
            "email": PUSH_INVOKER,
            "email_verified": True,
            "iat": int(time.time()),
            "exp": int(time.time()) + 600,
        }
    )


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda m: "", id="missing"),
        pytest.param(lambda m: "not-a-jwt", id="garbage"),
        pytest.param(_forged_token, id="forged"),
        pytest.param(lambda m: m.token(issued_at=int(time.time()) - 7200), id="expired"),
        pytest.param(lambda m: m.token(audience="https://elsewhere.example/"), id="audience"),
        pytest.param(lambda m: m.token(email="someone@evil.example"), id="account"),
        pytest.param(lambda m: m.token(email_verified=False), id="unverified"),
    ],
)
def test_bad_tokens_get_401_and_nothing_is_read(mail, make_token):
    mail.inbound(DANA.email, "Hello", "Keen")
    token = make_token(mail)
    answer = requests.post(
        mail.server.url + "/",
        data=mail.envelope(mail.gmail.history_id(REP)),
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=30,
    )

    assert answer.status_code == 401
    assert "token" in answer.json()["error"] or "caller" in answer.json()["error"]
    assert mail.messages() == {}
    assert mail.gmail.requests_to("/gmail/v1/users/me/history") == []
    assert mail.sync_tasks() == []


@pytest.mark.parametrize(
    "data",
    [
        "",
        "!!!not base64!!!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b'{"emailAddress": "maya@brightline.example"}').decode(),
        base64.b64encode(b'{"emailAddress": "x", "historyId": 5}').decode(),
        base64.b64encode(
            b'{"emailAddress": "maya@brightline.example", "historyId": "12; drop"}'
        ).decode(),
    ],
)
def test_undecodable_pushes_are_acknowledged_and_change_nothing(mail, data):
    mail.inbound(DANA.email, "Hello", "Keen")
    before = mail.mailbox()

    answer = mail.push(body=mail.envelope(0, data=data))

    assert answer.status_code == 200
    assert answer.json()["status"] == "ignored"
    assert mail.messages() == {}
    assert mail.mailbox()["history_id"] == before["history_id"]
    assert mail.sync_tasks() == []


def test_a_push_for_a_mailbox_we_do_not_know_is_acknowledged(mail):
    answer = mail.push(body=mail.envelope(5, email="stranger@elsewhere.example"))

    assert answer.status_code == 200
    assert answer.json()["status"] == "unknown_mailbox"
    assert (
        mail.db.collection("mailboxes").document("stranger@elsewhere.example").get().exists is False
    )


def test_a_push_only_queues_the_sync_and_a_redelivery_queues_nothing_more(mail):
    gmail_id, _ = mail.inbound(DANA.email, "Pricing", "What would 20 seats cost?")
    before = mail.mailbox()
    history_id = mail.gmail.history_id(REP)

    first = mail.push_only(history_id)
    again = mail.push_only(str(history_id))  # Pub/Sub delivers the same notice twice

    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["status"] == "queued"
    assert first.json()["created"] is True
    assert again.json()["created"] is False
    assert first.json()["task"] == again.json()["task"]
    assert len(mail.sync_tasks()) == 1
    assert REP not in first.json()["task"]  # the task's name carries a hash, not the address
    # Nothing read or written yet: the sync is the task's work.
    assert mail.gmail.requests_to("/gmail/v1/users/me/history") == []
    assert mail.messages() == {}
    assert mail.mailbox() == before

    synced = mail.deliver_task(first.json()["task"])

    assert synced is not None
    assert synced.status_code == 200, synced.text
    assert synced.json()["routes"] == {"prospect_reply": 1}
    assert list(mail.messages()) == [gmail_id]
    assert mail.sync_tasks() == []
    # Once run, the same notice cannot queue it again (Cloud Tasks keeps the name a while).
    late = mail.push_only(history_id)
    assert late.status_code == 200
    assert late.json()["created"] is False
    assert mail.sync_tasks() == []


def test_a_push_that_cannot_be_queued_answers_503_so_pubsub_delivers_it_again(mail):
    mail.inbound(DANA.email, "Pricing", "What would 20 seats cost?")
    mail.tasks.delete_queue(name=queue_path(mail.stack, SYNC_QUEUE))

    answer = mail.push_only()

    assert answer.status_code == 503
    assert answer.json() == {"error": "could not queue the mailbox sync"}
    assert mail.messages() == {}


@pytest.mark.parametrize(
    "caller",
    ["push subscription", "wrong audience", "no token"],
)
def test_only_cloud_tasks_may_run_a_sync(mail, caller):
    mail.inbound(DANA.email, "Pricing", "What would 20 seats cost?")
    queued = mail.push_only().json()
    task = mail.tasks.get_task(request={"name": queued["task"], "response_view": "FULL"})
    tokens = {
        "push subscription": mail.token(),  # a valid push token is not a Cloud Tasks call
        "wrong audience": mail.stack.issuer.sign("https://elsewhere.example", TASKS_INVOKER),
        "no token": None,
    }
    token = tokens[caller]

    answer = requests.post(
        mail.server.url + "/sync",
        data=task.http_request.body,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=30,
    )

    assert answer.status_code == 401
    assert mail.messages() == {}
    assert mail.gmail.requests_to("/gmail/v1/users/me/history") == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"mailbox": "not an address"}', b"{}"])
def test_a_malformed_sync_task_gets_400_and_changes_nothing(mail, body):
    before = mail.mailbox()
    token = mail.stack.issuer.sign(mail.stack.function_url("gmail_push"), TASKS_INVOKER)

    answer = requests.post(
        mail.server.url + "/sync",
        data=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert answer.status_code == 400
    assert mail.mailbox() == before
    assert mail.gmail.requests_to("/gmail/v1/users/me/history") == []


@pytest.fixture
def published(local):
    """`gmail_push` on the port the stack's push subscription targets, and the Gmail fake
    publishing its watch notifications to the Pub/Sub emulator, as Gmail does."""
    port = local.function_ports["gmail_push"]
    server = serve_function("gmail_push", SOURCE, local.env(), port)
    gmail = local.fakes["gmail"][0]
    gmail.pubsub_emulator_host = local.pubsub.host
    seed.seed(local)
    tasks_client(local).pause_queue(name=queue_path(local))
    mail = Mail(local, server)
    mail.tasks.resume_queue(name=queue_path(local, SYNC_QUEUE))  # Cloud Tasks delivers syncs
    yield mail
    gmail.pubsub_emulator_host = None
    server.stop()


def test_gmail_to_pubsub_to_the_function_end_to_end(published):
    mail = published
    gmail_id, _ = mail.inbound(DANA.email, "Forecasting", "Could we see a demo next week?")

    def delivered() -> bool:
        return any(
            d["route"] == "gmail" and d["status"] == 200 for d in mail.stack.relay.deliveries
        )

    # The push queues the sync; Cloud Tasks delivers it to `/sync`, which records the
    # message: wait for both.
    deadline = time.monotonic() + 30
    while not (gmail_id in mail.messages() and delivered()) and time.monotonic() < deadline:
        time.sleep(0.2)

    assert gmail_id in mail.messages()
    assert mail.messages()[gmail_id]["route"] == "prospect_reply"
    assert mail.gmail.notifications[-1]["data"]["emailAddress"] == REP
    assert delivered()
    assert len(draft_tasks(mail.stack)) == 1
