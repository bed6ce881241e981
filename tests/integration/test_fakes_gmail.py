"""The Gmail fake, driven by google-api-python-client with google-auth credentials refreshed
against the OAuth fake."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from devstack.fakes import (
    FakeGmail,
    FakeGoogleOAuth,
    FakeService,
    GoogleAccounts,
    google_error_body,
    make_message,
    stop_fakes,
)
from devstack.serving import ThreadedServer

PROSPECT = "Pat Prospect <pat@prospect.test>"


@dataclass
class Google:
    accounts: GoogleAccounts
    oauth: FakeGoogleOAuth
    gmail: FakeGmail


@dataclass
class Mailbox:
    email: str
    creds: Credentials
    service: Any

    def users(self) -> Any:
        return self.service.users()


@pytest.fixture(scope="module")
def fakes() -> Iterator[Google]:
    accounts = GoogleAccounts()
    oauth = FakeGoogleOAuth(accounts, client_id="cid", client_secret="secret")
    gmail = FakeGmail(accounts)
    started: dict[str, tuple[FakeService, ThreadedServer]] = {}
    for name, fake in (("oauth", oauth), ("gmail", gmail)):
        server = ThreadedServer(fake.app).start()
        fake.url = server.url
        started[name] = (fake, server)
    yield Google(accounts, oauth, gmail)
    stop_fakes(started)


def connect(fakes: Google, email: str, scopes: tuple[str, ...] | None = None) -> Mailbox:
    token = (
        fakes.accounts.issue_refresh_token(email, scopes)
        if scopes
        else fakes.accounts.issue_refresh_token(email)
    )
    creds = Credentials(
        token=None,
        refresh_token=token,
        token_uri=fakes.oauth.url + "/token",
        client_id="cid",
        client_secret="secret",
    )
    creds.refresh(Request())
    service = build(
        "gmail",
        "v1",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": fakes.gmail.url},
    )
    return Mailbox(email, creds, service)


@pytest.fixture
def box(fakes: Google) -> Mailbox:
    return connect(fakes, f"rep-{secrets.token_hex(4)}@acme.test")


def raw_of(message: EmailMessage) -> str:
    return base64.urlsafe_b64encode(message.as_bytes()).decode()


def reply_to(box: Mailbox, original_id: str, subject: str = "Re: Pricing?") -> EmailMessage:
    return make_message(
        box.email,
        PROSPECT,
        subject,
        "It costs less than you think.",
        message_id=f"<ours-{secrets.token_hex(6)}@acme.test>",
        in_reply_to=original_id,
        references=original_id,
    )


def deliver(fakes: Google, box: Mailbox, subject: str = "Pricing?") -> tuple[str, str]:
    """Deliver an inbound message; (Gmail id, RFC 822 Message-ID)."""
    message_id = f"<{secrets.token_hex(6)}@prospect.test>"
    message = make_message(
        PROSPECT, box.email, subject, "What does it cost?", message_id=message_id
    )
    return fakes.gmail.deliver(box.email, message), message_id


def all_history(box: Mailbox, start: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    records: list[dict[str, Any]] = []
    pages = 0
    token = None
    while True:
        page = (
            box.users()
            .history()
            .list(userId="me", startHistoryId=start, pageToken=token, **params)
            .execute()
        )
        pages += 1
        records.extend(page.get("history", []))
        token = page.get("nextPageToken")
        if not token:
            return records, pages


def test_profile_of_the_refreshed_account(box: Mailbox) -> None:
    profile = box.users().getProfile(userId="me").execute()

    assert profile["emailAddress"] == box.email
    assert isinstance(profile["historyId"], str)
    assert profile["messagesTotal"] == 0


def test_send_keeps_our_message_id_and_rfc822msgid_finds_it(fakes: Google, box: Mailbox) -> None:
    _, original = deliver(fakes, box)
    reply = reply_to(box, original)

    sent = box.users().messages().send(userId="me", body={"raw": raw_of(reply)}).execute()
    bare = reply["Message-ID"].strip("<>")
    with_brackets = (
        box.users().messages().list(userId="me", q=f"rfc822msgid:{reply['Message-ID']}").execute()
    )
    without = box.users().messages().list(userId="me", q=f"rfc822msgid:{bare}").execute()
    in_sent = box.users().messages().list(userId="me", q="in:sent").execute()

    assert sent["labelIds"] == ["SENT"]
    assert int(sent["id"], 16) > 0
    assert [m["id"] for m in with_brackets["messages"]] == [sent["id"]]
    assert [m["id"] for m in without["messages"]] == [sent["id"]]
    assert [m["id"] for m in in_sent["messages"]] == [sent["id"]]
    stored = box.users().messages().get(userId="me", id=sent["id"], format="raw").execute()
    assert reply["Message-ID"].encode() in base64.urlsafe_b64decode(stored["raw"])
    assert [m["message_id"] for m in fakes.gmail.sent(box.email)] == [bare]


def test_send_without_message_id_gets_one_and_needs_a_recipient(box: Mailbox) -> None:
    message = EmailMessage()
    message["To"] = "pat@prospect.test"
    message["Subject"] = "Hello"
    message.set_content("Hi")
    no_to = EmailMessage()
    no_to["Subject"] = "Nobody"
    no_to.set_content("Hi")

    sent = box.users().messages().send(userId="me", body={"raw": raw_of(message)}).execute()
    with pytest.raises(HttpError) as caught:
        box.users().messages().send(userId="me", body={"raw": raw_of(no_to)}).execute()

    got = (
        box.users()
        .messages()
        .get(userId="me", id=sent["id"], format="metadata", metadataHeaders=["Message-ID", "From"])
        .execute()
    )
    headers = {h["name"]: h["value"] for h in got["payload"]["headers"]}
    assert headers["Message-ID"].startswith("<")
    assert headers["Message-ID"].endswith(">")
    assert headers["From"] == box.email
    assert caught.value.status_code == 400
    assert "Recipient address required" in caught.value.reason


def test_reply_joins_thread_only_with_references_and_matching_subject(
    fakes: Google, box: Mailbox
) -> None:
    gmail_id, original = deliver(fakes, box)
    thread_id = box.users().messages().get(userId="me", id=gmail_id).execute()["threadId"]
    loose = make_message(box.email, PROSPECT, "Re: Pricing?", "no references")

    joined = (
        box.users()
        .messages()
        .send(userId="me", body={"raw": raw_of(reply_to(box, original)), "threadId": thread_id})
        .execute()
    )
    apart = (
        box.users()
        .messages()
        .send(userId="me", body={"raw": raw_of(loose), "threadId": thread_id})
        .execute()
    )
    followup, _ = deliver(fakes, box, subject="Totally different")

    thread = box.users().threads().get(userId="me", id=thread_id, format="minimal").execute()
    assert joined["threadId"] == thread_id
    assert apart["threadId"] != thread_id
    assert [m["id"] for m in thread["messages"]] == [gmail_id, joined["id"]]
    assert box.users().messages().get(userId="me", id=followup).execute()["threadId"] != thread_id


def test_inbound_reply_is_threaded_by_its_references(fakes: Google, box: Mailbox) -> None:
    reply = reply_to(box, "<x@p>")
    sent = box.users().messages().send(userId="me", body={"raw": raw_of(reply)}).execute()
    answer = make_message(
        PROSPECT,
        box.email,
        "RE: Pricing?",
        "Thanks!",
        in_reply_to=reply["Message-ID"],
        references=reply["Message-ID"],
    )

    received = fakes.gmail.deliver(box.email, answer)

    got = box.users().messages().get(userId="me", id=received, format="minimal").execute()
    assert got["threadId"] == sent["threadId"]
    assert got["labelIds"] == ["INBOX", "UNREAD"]


def test_drafts_create_update_send(fakes: Google, box: Mailbox) -> None:
    gmail_id, original = deliver(fakes, box)
    thread_id = box.users().messages().get(userId="me", id=gmail_id).execute()["threadId"]
    first = reply_to(box, original)
    second = reply_to(box, original)

    created = (
        box.users()
        .drafts()
        .create(userId="me", body={"message": {"raw": raw_of(first), "threadId": thread_id}})
        .execute()
    )
    updated = (
        box.users()
        .drafts()
        .update(
            userId="me",
            id=created["id"],
            body={"message": {"raw": raw_of(second), "threadId": thread_id}},
        )
        .execute()
    )
    listed = box.users().drafts().list(userId="me").execute()
    fetched = box.users().drafts().get(userId="me", id=created["id"], format="raw").execute()
    sent = box.users().drafts().send(userId="me", body={"id": created["id"]}).execute()

    assert created["message"]["labelIds"] == ["DRAFT"]
    assert created["message"]["threadId"] == thread_id
    assert updated["id"] == created["id"]
    assert updated["message"]["id"] != created["message"]["id"]
    assert [d["id"] for d in listed["drafts"]] == [created["id"]]
    assert second["Message-ID"].encode() in base64.urlsafe_b64decode(fetched["message"]["raw"])
    assert sent["labelIds"] == ["SENT"]
    assert sent["threadId"] == thread_id
    assert fakes.gmail.drafts(box.email) == []
    assert [m["message_id"] for m in fakes.gmail.sent(box.email)] == [
        second["Message-ID"].strip("<>")
    ]
    assert box.users().drafts().list(userId="me").execute().get("drafts") is None
    with pytest.raises(HttpError) as caught:
        box.users().drafts().get(userId="me", id=created["id"]).execute()
    assert caught.value.status_code == 404


def test_history_pages_through_deliveries(fakes: Google, box: Mailbox) -> None:
    start = box.users().getProfile(userId="me").execute()["historyId"]
    delivered = [deliver(fakes, box, subject=f"Question {i}")[0] for i in range(3)]

    records, pages = all_history(box, start, maxResults=2, historyTypes="messageAdded")
    current = box.users().getProfile(userId="me").execute()["historyId"]
    last = box.users().history().list(userId="me", startHistoryId=current).execute()

    assert pages == 2
    added = [a["message"] for r in records for a in r["messagesAdded"]]
    assert [m["id"] for m in added] == delivered
    assert all("INBOX" in m["labelIds"] for m in added)
    assert all(int(r["id"]) > int(start) for r in records)
    assert last == {"historyId": current}


def test_history_reports_label_changes_and_filters_by_label(fakes: Google, box: Mailbox) -> None:
    gmail_id, _ = deliver(fakes, box)
    start = box.users().getProfile(userId="me").execute()["historyId"]

    box.users().messages().modify(
        userId="me", id=gmail_id, body={"removeLabelIds": ["UNREAD"], "addLabelIds": ["STARRED"]}
    ).execute()
    box.users().messages().trash(userId="me", id=gmail_id).execute()

    removed, _ = all_history(box, start, historyTypes="labelRemoved")
    starred, _ = all_history(box, start, labelId="STARRED")
    assert [r["labelsRemoved"][0]["labelIds"] for r in removed] == [["UNREAD"], ["INBOX"]]
    assert len(starred) == 4
    assert box.users().messages().list(userId="me").execute().get("messages") is None
    trashed = box.users().messages().list(userId="me", q="in:trash").execute()["messages"]
    assert [m["id"] for m in trashed] == [gmail_id]


def test_history_older_than_retained_is_404(fakes: Google, box: Mailbox) -> None:
    start = box.users().getProfile(userId="me").execute()["historyId"]
    deliver(fakes, box)
    fakes.gmail.expire_history(box.email, int(start) + 1)

    with pytest.raises(HttpError) as caught:
        box.users().history().list(userId="me", startHistoryId=start).execute()

    error = json.loads(caught.value.content)["error"]
    assert caught.value.status_code == 404
    assert error["status"] == "NOT_FOUND"
    assert error["message"] == "Requested entity was not found."
    fresh = box.users().history().list(userId="me", startHistoryId=str(int(start) + 1)).execute()
    assert "historyId" in fresh


def test_injected_429_carries_retry_after_and_reason(fakes: Google, box: Mailbox) -> None:
    fakes.gmail.inject_fault(429, retry_after=1, path_prefix="/gmail/v1/users/me/messages")

    with pytest.raises(HttpError) as caught:
        box.users().messages().list(userId="me").execute()
    after = box.users().messages().list(userId="me").execute()

    error = json.loads(caught.value.content)["error"]
    assert caught.value.status_code == 429
    assert caught.value.resp["retry-after"] == "1"
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert caught.value.error_details[0]["reason"] == "rateLimitExceeded"
    assert after["resultSizeEstimate"] == 0


def test_insufficient_permissions_from_scopes_and_from_injection(
    fakes: Google, box: Mailbox
) -> None:
    readonly = connect(
        fakes,
        f"reader-{secrets.token_hex(4)}@acme.test",
        scopes=("https://www.googleapis.com/auth/gmail.readonly",),
    )
    fakes.gmail.inject_fault(
        403,
        body=google_error_body(403, "insufficientPermissions"),
        path_prefix="/gmail/v1/users/me/drafts",
    )
    message = make_message(readonly.email, PROSPECT, "Hi", "Hi")

    with pytest.raises(HttpError) as by_scope:
        readonly.users().messages().send(userId="me", body={"raw": raw_of(message)}).execute()
    with pytest.raises(HttpError) as injected:
        box.users().drafts().list(userId="me").execute()

    for caught in (by_scope, injected):
        error = json.loads(caught.value.content)["error"]
        assert caught.value.status_code == 403
        assert error["status"] == "PERMISSION_DENIED"
        assert error["errors"][0]["reason"] == "insufficientPermissions"
        # googleapiclient prefers error.details (ErrorInfo) over error.errors, as with Google
        assert caught.value.error_details[0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert readonly.users().messages().list(userId="me").execute()["resultSizeEstimate"] == 0


def test_accepted_send_that_times_out_is_found_by_rfc822msgid(fakes: Google, box: Mailbox) -> None:
    impatient = build(
        "gmail",
        "v1",
        http=google_auth_httplib2.AuthorizedHttp(box.creds, http=httplib2.Http(timeout=0.2)),
        static_discovery=True,
        client_options={"api_endpoint": fakes.gmail.url},
    )
    fakes.gmail.inject_fault(0, delay=0.6, path_prefix="/gmail/v1/users/me/messages/send")
    message = make_message(box.email, PROSPECT, "Proposal", "Attached.")

    with pytest.raises(TimeoutError):
        impatient.users().messages().send(userId="me", body={"raw": raw_of(message)}).execute()
    found = (
        box.users()
        .messages()
        .list(userId="me", q=f"rfc822msgid:{message['Message-ID']} in:sent")
        .execute()
    )

    assert found["resultSizeEstimate"] == 1
    assert len(fakes.gmail.sent(box.email)) == 1


def test_revoked_grant_surfaces_as_refresh_error_on_the_next_call(
    fakes: Google, box: Mailbox
) -> None:
    fakes.accounts.revoke_all(box.email)

    with pytest.raises(RefreshError) as caught:
        box.users().getProfile(userId="me").execute()

    assert caught.value.retryable is False


def test_expired_access_token_is_refreshed_transparently(fakes: Google, box: Mailbox) -> None:
    old = box.creds.token
    fakes.accounts.expire_access_tokens(box.email)

    profile = box.users().getProfile(userId="me").execute()

    assert profile["emailAddress"] == box.email
    assert box.creds.token != old


def test_message_formats_parts_and_attachments(fakes: Google, box: Mailbox) -> None:
    message = make_message(
        PROSPECT, box.email, "Deck", "Plain body with 'quotes'", html_body="<p>HTML body</p>"
    )
    message.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="deck.pdf"
    )
    gmail_id = fakes.gmail.deliver(box.email, message)
    users = box.users()

    full = users.messages().get(userId="me", id=gmail_id).execute()
    minimal = users.messages().get(userId="me", id=gmail_id, format="minimal").execute()
    metadata = (
        users.messages()
        .get(userId="me", id=gmail_id, format="metadata", metadataHeaders=["Subject"])
        .execute()
    )

    payload = full["payload"]
    assert payload["mimeType"] == "multipart/mixed"
    assert payload["partId"] == ""
    alternative, attachment = payload["parts"]
    plain, html = alternative["parts"]
    assert plain["partId"] == "0.0"
    assert base64.urlsafe_b64decode(plain["body"]["data"]).decode().startswith("Plain body")
    assert html["mimeType"] == "text/html"
    assert attachment["filename"] == "deck.pdf"
    fetched = (
        users.messages()
        .attachments()
        .get(userId="me", messageId=gmail_id, id=attachment["body"]["attachmentId"])
        .execute()
    )
    assert base64.urlsafe_b64decode(fetched["data"]) == b"%PDF-1.4 fake"
    assert full["snippet"] == "Plain body with &#39;quotes&#39;"
    assert full["sizeEstimate"] > 0
    assert full["internalDate"].isdigit()
    assert "payload" not in minimal
    assert metadata["payload"]["headers"] == [{"name": "Subject", "value": "Deck"}]
    has_attachment = users.messages().list(userId="me", q="has:attachment from:pat").execute()
    assert [m["id"] for m in has_attachment["messages"]] == [gmail_id]


def test_watch_notifies_once_per_change_burst_and_stop_ends_it(fakes: Google, box: Mailbox) -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    arrived = threading.Event()

    def notify(topic: str, data: dict[str, Any]) -> None:
        if data["emailAddress"] == box.email:
            got.append((topic, data))
            arrived.set()

    fakes.gmail.on_notify = notify
    try:
        watch = (
            box.users()
            .watch(
                userId="me", body={"topicName": "projects/demo/topics/gmail", "labelIds": ["INBOX"]}
            )
            .execute()
        )
        gmail_id, _ = deliver(fakes, box)
        assert arrived.wait(2)
        box.users().stop(userId="me").execute()
    finally:
        fakes.gmail.on_notify = None

    assert int(watch["expiration"]) > int(watch["historyId"])
    topic, data = got[0]
    assert topic == "projects/demo/topics/gmail"
    assert data["historyId"] >= int(watch["historyId"]) + 1
    assert fakes.gmail.watch_of(box.email) is None
    assert gmail_id


def test_labels_and_other_users_mailbox(box: Mailbox) -> None:
    labels = box.users().labels().list(userId="me").execute()["labels"]
    created = box.users().labels().create(userId="me", body={"name": "sales-agent"}).execute()

    with pytest.raises(HttpError) as caught:
        box.users().getProfile(userId="someone-else@acme.test").execute()

    assert {"INBOX", "SENT", "DRAFT", "UNREAD"} <= {label["id"] for label in labels}
    assert created["type"] == "user"
    assert caught.value.status_code == 403
    assert box.users().getProfile(userId=box.email).execute()["emailAddress"] == box.email


def test_control_endpoints_seed_state_and_log(fakes: Google, box: Mailbox) -> None:
    url = fakes.gmail.url
    seeded = requests.post(
        url + "/_fake/seed",
        json={
            "deliver": [
                {
                    "mailbox": box.email,
                    "message": {
                        "from": PROSPECT,
                        "to": box.email,
                        "subject": "Seeded",
                        "body": "Hello from the demo",
                        "message_id": "<seeded@prospect.test>",
                    },
                }
            ]
        },
        timeout=5,
    )
    found = box.users().messages().list(userId="me", q="rfc822msgid:seeded@prospect.test").execute()
    state = requests.get(url + "/_fake/state", timeout=5).json()
    log = requests.get(url + "/_fake/requests", params={"path_prefix": "/gmail/"}, timeout=5)

    assert seeded.status_code == 200
    assert found["resultSizeEstimate"] == 1
    messages = state["mailboxes"][box.email]["messages"]
    assert [m["subject"] for m in messages] == ["Seeded"]
    entries = log.json()["requests"]
    assert entries[-1]["query"]["q"] == "rfc822msgid:seeded@prospect.test"
    assert all("Authorization" not in e["headers"] for e in entries)


def test_list_queries_dates_labels_threads_and_paging(fakes: Google, box: Mailbox) -> None:
    day = 86_400
    old = fakes.gmail.deliver(
        box.email,
        make_message("old@acme-old.test", box.email, "Old", "x"),
        internal_date=1_000 * day,
    )
    new = fakes.gmail.deliver(
        box.email, make_message(PROSPECT, box.email, "New", "y"), internal_date=2_000 * day
    )
    unread_sent = fakes.gmail.deliver(
        box.email, make_message(box.email, PROSPECT, "Mine", "z"), labels=("SENT",)
    )
    messages = box.users().messages()

    after = messages.list(userId="me", q=f"after:{1_500 * day}").execute()
    before = messages.list(userId="me", q=f"before:{1_500 * day}").execute()
    from_prospect = messages.list(userId="me", q="from:pat@prospect.test -in:sent").execute()
    inbox = messages.list(userId="me", labelIds=["INBOX", "UNREAD"]).execute()
    first = messages.list(userId="me", maxResults=2).execute()
    rest = messages.list(userId="me", maxResults=2, pageToken=first["nextPageToken"]).execute()
    threads = box.users().threads().list(userId="me", q="subject:new").execute()

    assert {m["id"] for m in after["messages"]} == {new, unread_sent}
    assert [m["id"] for m in before["messages"]] == [old]
    assert [m["id"] for m in from_prospect["messages"]] == [new]
    assert {m["id"] for m in inbox["messages"]} == {old, new}
    assert [m["id"] for m in first["messages"] + rest["messages"]] == [unread_sent, new, old]
    assert "nextPageToken" not in rest
    assert [t["id"] for t in threads["threads"]] == [new]
    assert threads["threads"][0]["snippet"] == "y"
