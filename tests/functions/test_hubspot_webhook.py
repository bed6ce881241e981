"""`hubspot_webhook` over HTTP through functions-framework, against the emulators."""

from __future__ import annotations

import logging
import threading
import time

import grpc
import pytest
import requests
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack.hubspot_webhooks import (
    PUBLIC_URL,
    SECRET,
    body_of,
    crm_event,
    form_submission,
    sign_v3,
    signed_headers,
)
from devstack.stack import LOCATION, ROOT
from shared.adapters.secrets import SecretStore
from shared.adapters.store import Store
from tests.conftest import serve_function

pytestmark = pytest.mark.stack
SOURCE = ROOT / "functions/hubspot_webhook/main.py"


def _env(stack, **extra: str) -> dict[str, str]:
    return {**stack.env(), "HUBSPOT_WEBHOOK_URL": PUBLIC_URL, **extra}


@pytest.fixture(scope="module")
def webhook(stack):
    server = serve_function("hubspot_webhook", SOURCE, _env(stack))
    yield server
    server.stop()


def _tasks_client(stack) -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(stack.tasks.address)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def _draft_queue(stack) -> str:
    return f"projects/{stack.project}/locations/{LOCATION}/queues/draft"


@pytest.fixture
def hub(local, webhook):
    """A clean stack with the webhook secret stored and the draft queue held, so queued
    draft tasks stay visible instead of being dispatched."""
    SecretStore(local.project, local.secrets.address).write("hubspot-client-secret", SECRET)
    _tasks_client(local).pause_queue(name=_draft_queue(local))
    return local


def _post(server, payload=None, *, body: bytes | None = None, headers=None, path: str = "/"):
    raw = body if body is not None else body_of(payload)
    return requests.post(
        f"{server.url}{path}",
        data=raw,
        headers=headers if headers is not None else signed_headers(raw),
        timeout=10,
    )


def _db(stack):
    return Store(stack.project, emulator_host=stack.firestore.host).db


def _workflows(stack) -> list[dict]:
    return [doc.to_dict() for doc in _db(stack).collection("workflows").stream()]


def _queued_drafts(stack) -> list[str]:
    return [
        task.name.rsplit("/", 1)[-1]
        for task in _tasks_client(stack).list_tasks(parent=_draft_queue(stack))
    ]


def _nothing_written(stack) -> bool:
    db = _db(stack)
    return (
        not any(
            list(db.collection(name).limit(1).stream())
            for name in ("workflows", "hubspot_events", "crm_objects")
        )
        and _queued_drafts(stack) == []
    )


# --- the happy path ----------------------------------------------------------------------
def test_new_contact_opens_one_workflow_and_queues_one_draft(hub, webhook):
    answer = _post(webhook, [crm_event("contact.creation", 501)])
    assert answer.status_code == 200
    workflows = _workflows(hub)
    assert len(workflows) == 1
    assert workflows[0]["state"] == "queued"
    assert workflows[0]["source"] == "contact"
    assert workflows[0]["contact_id"] == 501
    assert _queued_drafts(hub) == [f"draft-{workflows[0]['id']}-1"]


def test_form_submission_opens_a_workflow_with_the_contact(hub, webhook):
    answer = _post(webhook, form_submission(701, "Dana@Northwind.example"))
    assert answer.status_code == 200
    [workflow] = _workflows(hub)
    assert workflow["source"] == "form"
    assert workflow["contact_email"] == "dana@northwind.example"
    contact = _db(hub).document("crm_objects/62515-contact-701").get().to_dict()
    assert contact["properties"]["form_title"]["value"] == "Request a demo"
    assert contact["open_workflow_id"] == workflow["id"]
    assert len(_queued_drafts(hub)) == 1


def test_events_that_start_nothing_only_update_what_we_know(hub, webhook):
    events = [
        crm_event("company.creation", 9001),
        crm_event("deal.creation", 8001),
        crm_event("deal.propertyChange", 8001, propertyName="dealstage", propertyValue="qualified"),
        crm_event("contact.propertyChange", 501, propertyName="jobtitle", propertyValue="CFO"),
    ]
    assert _post(webhook, events).status_code == 200
    assert _workflows(hub) == []
    assert _queued_drafts(hub) == []
    deal = _db(hub).document("crm_objects/62515-deal-8001").get().to_dict()
    assert deal["properties"]["dealstage"]["value"] == "qualified"


def test_lifecycle_change_to_the_chosen_stage_opens_a_workflow(hub, webhook):
    change = crm_event(
        "contact.propertyChange",
        502,
        propertyName="lifecyclestage",
        propertyValue="salesqualifiedlead",
    )
    other = crm_event(
        "contact.propertyChange", 503, propertyName="lifecyclestage", propertyValue="lead"
    )
    assert _post(webhook, [change, other]).status_code == 200
    [workflow] = _workflows(hub)
    assert (workflow["source"], workflow["contact_id"]) == ("lifecycle", 502)


def test_older_event_delivered_late_does_not_overwrite_newer_value(hub, webhook):
    now = int(time.time() * 1000)
    newer = crm_event(
        "contact.propertyChange", 501, occurred_at=now, propertyName="jobtitle", propertyValue="CFO"
    )
    older = crm_event(
        "contact.propertyChange",
        501,
        occurred_at=now - 60_000,
        propertyName="jobtitle",
        propertyValue="Analyst",
    )
    _post(webhook, [newer])
    _post(webhook, [older])
    contact = _db(hub).document("crm_objects/62515-contact-501").get().to_dict()
    assert contact["properties"]["jobtitle"]["value"] == "CFO"


# --- exactly one workflow per lead -------------------------------------------------------
def test_same_batch_three_times_yields_one_workflow_and_one_task(hub, webhook):
    batch = [crm_event("contact.creation", 601), crm_event("company.creation", 9100)]
    answers = [_post(webhook, batch) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[2].json()["outcomes"] == {"duplicate": 2}
    assert len(_workflows(hub)) == 1
    assert len(_queued_drafts(hub)) == 1


def test_two_deliveries_at_once_yield_one_workflow_and_one_task(hub, webhook):
    batch = [crm_event("contact.creation", 602)]
    raw = body_of(batch)
    statuses: list[int] = []

    def deliver() -> None:
        statuses.append(_post(webhook, body=raw, headers=signed_headers(raw)).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    assert len(_workflows(hub)) == 1
    assert len(_queued_drafts(hub)) == 1


def test_a_contact_with_an_open_workflow_gets_the_signal_attached(hub, webhook):
    _post(webhook, form_submission(701, conversion_id="conv-1"))
    _post(webhook, [crm_event("contact.creation", 701)])
    _post(webhook, form_submission(701, conversion_id="conv-2"))
    [workflow] = _workflows(hub)
    assert workflow["signals"] == 3
    timeline = list(_db(hub).collection(f"workflows/{workflow['id']}/events").stream())
    assert len(timeline) == 3
    assert len(_queued_drafts(hub)) == 1


def test_a_workflow_a_gmail_reply_opened_gets_the_contacts_signals(hub, webhook):
    """Gmail intake opens workflows knowing the contact id only (no CRM object record)."""
    _db(hub).document("workflows/wf-from-mail").set(
        {"id": "wf-from-mail", "state": "awaiting_approval", "contact_id": 701, "version": 1}
    )
    answer = _post(webhook, form_submission(701, "dana@northwind.example"))
    assert answer.json()["outcomes"] == {"attached": 1}
    [workflow] = _workflows(hub)
    assert workflow["id"] == "wf-from-mail"
    assert workflow["signals"] == 1
    assert _queued_drafts(hub) == []
    # The event's dedupe record names that workflow (a redelivery repairs its task by it).
    [event] = [d.to_dict() for d in _db(hub).collection("hubspot_events").stream()]
    assert event["workflow_id"] == "wf-from-mail"


def test_one_bad_event_does_not_lose_the_others(hub, webhook):
    good = crm_event("contact.creation", 640)
    answer = _post(webhook, [{"objectId": "not-a-number"}, good, "junk"])
    assert answer.status_code == 200
    assert answer.json()["rejected"] == 2
    [workflow] = _workflows(hub)
    assert workflow["contact_id"] == 640


def test_lost_enqueue_is_repaired_by_hubspots_retry(hub, webhook):
    """Commit happened, enqueue did not (crash): the redelivery queues the draft task."""
    batch = [crm_event("contact.creation", 650)]
    _post(webhook, batch)
    [workflow] = _workflows(hub)
    _tasks_client(hub).purge_queue(name=_draft_queue(hub))
    hub.tasks.reset()
    hub._create_queues()
    _tasks_client(hub).pause_queue(name=_draft_queue(hub))
    _post(webhook, batch)
    assert _queued_drafts(hub) == [f"draft-{workflow['id']}-1"]
    assert len(_workflows(hub)) == 1


# --- refused: signatures -----------------------------------------------------------------
def _tampered_requests():
    raw = body_of([crm_event("contact.creation", 777)])
    now = int(time.time() * 1000)
    good = signed_headers(raw, timestamp_ms=now)
    yield "body byte", raw.replace(b"777", b"778"), good, "/"
    yield "query parameter", raw, good, "/?extra=1"
    yield "scheme", raw, signed_headers(raw, uri=PUBLIC_URL.replace("https", "http")), "/"
    yield "secret", raw, signed_headers(raw, secret="another-secret"), "/"
    yield "timestamp", raw, {**good, "X-HubSpot-Request-Timestamp": str(now + 1)}, "/"
    yield "stale", raw, signed_headers(raw, timestamp_ms=now - 301_000), "/"
    yield "future", raw, signed_headers(raw, timestamp_ms=now + 120_000), "/"
    hexed = dict(good)
    hexed["X-HubSpot-Signature-v3"] = __import__("hashlib").sha256(raw).hexdigest()
    yield "hex", raw, hexed, "/"
    yield "missing", raw, {"Content-Type": "application/json"}, "/"
    no_stamp = {k: v for k, v in good.items() if k != "X-HubSpot-Request-Timestamp"}
    yield "no timestamp", raw, no_stamp, "/"
    legacy = {"X-HubSpot-Signature": "abc", "X-HubSpot-Signature-Version": "v1"}
    yield "legacy not enabled", raw, legacy, "/"


TAMPERED = [case for case, *_ in _tampered_requests()]


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_or_unsigned_requests_get_401_and_write_nothing(hub, webhook, case):
    # Built now, not at collection: the time-based cases must be fresh when they are sent.
    raw, headers, path = next(rest for name, *rest in _tampered_requests() if name == case)
    answer = _post(webhook, body=raw, headers=headers, path=path)
    assert answer.status_code == 401, case
    assert "signature" in answer.json()["error"]
    assert _nothing_written(hub)


def test_signature_covers_the_query_string_when_hubspot_sent_one(hub, webhook):
    raw = body_of([crm_event("contact.creation", 778)])
    headers = signed_headers(raw, uri=f"{PUBLIC_URL}?portal=62515")
    assert _post(webhook, body=raw, headers=headers, path="/?portal=62515").status_code == 200
    assert len(_workflows(hub)) == 1


# --- refused: bad bodies -----------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"{not json", b"42", b'"text"', b"null", b"\xff\xfe"])
def test_malformed_bodies_get_400_and_write_nothing(hub, webhook, raw):
    answer = _post(webhook, body=raw, headers=signed_headers(raw))
    assert answer.status_code in (400, 401)
    assert _nothing_written(hub)


def test_well_signed_malformed_json_is_400(hub, webhook):
    raw = b'[{"portalId": 1,'
    assert _post(webhook, body=raw, headers=signed_headers(raw)).status_code == 400
    assert _nothing_written(hub)


def test_too_many_events_is_400(hub, webhook):
    raw = body_of([crm_event("company.creation", 10_000 + i) for i in range(101)])
    assert _post(webhook, body=raw, headers=signed_headers(raw)).status_code == 400
    assert _nothing_written(hub)


def test_body_over_one_megabyte_is_refused_before_hashing(hub, webhook):
    raw = b"[" + b" " * 1_000_001 + b"]"
    headers = {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "1"}
    assert _post(webhook, body=raw, headers=headers).status_code == 413
    assert _nothing_written(hub)


def test_get_is_refused(hub, webhook):
    assert requests.get(f"{webhook.url}/", timeout=5).status_code == 400


# --- fail closed ---------------------------------------------------------------------------
def test_without_a_secret_the_function_fails_closed(local, caplog):
    server = serve_function(
        "hubspot_webhook", SOURCE, _env(local, HUBSPOT_CLIENT_SECRET_ID="missing-secret")
    )
    try:
        raw = body_of([crm_event("contact.creation", 880)])
        with caplog.at_level(logging.ERROR):
            answer = _post(server, body=raw, headers=signed_headers(raw))
        assert answer.status_code == 500
        assert any(r.levelno == logging.ERROR for r in caplog.records)
        assert SECRET not in caplog.text
        assert _nothing_written(local)
    finally:
        server.stop()


def test_without_a_public_url_the_function_fails_closed(local):
    SecretStore(local.project, local.secrets.address).write("hubspot-client-secret", SECRET)
    server = serve_function("hubspot_webhook", SOURCE, {**local.env(), "HUBSPOT_WEBHOOK_URL": ""})
    try:
        raw = body_of([crm_event("contact.creation", 881)])
        headers = {
            **signed_headers(raw),
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", "", raw, int(time.time() * 1000)),
        }
        assert _post(server, body=raw, headers=headers).status_code == 500
        assert _nothing_written(local)
    finally:
        server.stop()


def test_logs_carry_neither_the_secret_nor_contact_details(hub, webhook, caplog):
    with caplog.at_level(logging.DEBUG):
        _post(webhook, form_submission(702, "private.person@northwind.example"))
    assert SECRET not in caplog.text
    assert "private.person" not in caplog.text


def test_different_events_for_one_contact_racing_open_one_workflow(hub, webhook):
    """Two deliveries of two different starting events for the same contact, at once: the
    loser of the race attaches its signal instead of opening a second workflow."""
    bodies = [body_of([crm_event("contact.creation", 660)]), body_of(form_submission(660))]
    statuses: list[int] = []

    def deliver(raw: bytes) -> None:
        statuses.append(_post(webhook, body=raw, headers=signed_headers(raw)).status_code)

    threads = [threading.Thread(target=deliver, args=(raw,)) for raw in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    [workflow] = _workflows(hub)
    assert workflow["signals"] == 2
    assert len(_queued_drafts(hub)) == 1


def test_property_names_with_dots_are_kept_whole(hub, webhook):
    change = crm_event(
        "contact.propertyChange", 670, propertyName="utm.source", propertyValue="newsletter"
    )
    assert _post(webhook, [change]).status_code == 200
    contact = _db(hub).document("crm_objects/62515-contact-670").get().to_dict()
    assert contact["properties"]["utm.source"]["value"] == "newsletter"
    later = crm_event(
        "contact.propertyChange", 670, propertyName="utm.source", propertyValue="webinar"
    )
    assert _post(webhook, [later]).status_code == 200
    contact = _db(hub).document("crm_objects/62515-contact-670").get().to_dict()
    assert contact["properties"]["utm.source"]["value"] == "webinar"


def test_legacy_v1_signature_is_accepted_only_when_enabled(local):
    """Older workflow webhooks sign with v1 (SHA-256 of secret + body)."""
    import hashlib

    SecretStore(local.project, local.secrets.address).write("hubspot-client-secret", SECRET)
    _tasks_client(local).pause_queue(name=_draft_queue(local))
    server = serve_function(
        "hubspot_webhook", SOURCE, _env(local, HUBSPOT_ACCEPT_LEGACY_SIGNATURES="true")
    )
    try:
        raw = body_of(form_submission(720, "legacy@northwind.example"))
        good = hashlib.sha256(SECRET.encode() + raw).hexdigest()
        bad = hashlib.sha256(b"wrong" + raw).hexdigest()
        for signature, expected in ((bad, 401), (good, 200)):
            headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": "v1"}
            assert _post(server, body=raw, headers=headers).status_code == expected
        assert len(_workflows(local)) == 1
    finally:
        server.stop()


# --- operations ----------------------------------------------------------------------------
def test_a_rotated_secret_is_read_again_instead_of_refusing_hubspot(hub):
    server = serve_function("hubspot_webhook", SOURCE, _env(hub, SECRET_CACHE_SECONDS="3600"))
    try:
        first = body_of([crm_event("contact.creation", 801)])
        assert _post(server, body=first, headers=signed_headers(first)).status_code == 200
        SecretStore(hub.project, hub.secrets.address).write("hubspot-client-secret", "rotated")

        second = body_of([crm_event("contact.creation", 802)])
        answer = _post(server, body=second, headers=signed_headers(second, secret="rotated"))

        assert answer.status_code == 200, answer.text
        assert len(_workflows(hub)) == 2
        third = body_of([crm_event("contact.creation", 803)])
        assert _post(server, body=third, headers=signed_headers(third)).status_code == 401
        assert len(_workflows(hub)) == 2
    finally:
        server.stop()


def test_a_signed_dry_run_is_checked_and_writes_nothing(hub, webhook):
    raw = body_of([crm_event("contact.creation", 901), crm_event("company.creation", 902)])
    headers = {**signed_headers(raw), "X-Sales-Agent-Dry-Run": "true"}

    answer = _post(webhook, body=raw, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"dry_run": True, "received": 2, "rejected": 0, "would_start": 1}
    assert _nothing_written(hub)
    unsigned = _post(webhook, body=raw, headers={"X-Sales-Agent-Dry-Run": "true"})
    assert unsigned.status_code == 401
