"""What a sent email leaves in HubSpot, through hubspot-api-client against the HubSpot fake
seeded with the demo data: the email on the timeline, the lead status, the review task done,
a booked meeting. Every create is keyed, so a retried send step never logs anything twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hubspot import HubSpot

from devstack.seed import hubspot_data
from shared.adapters.hubspot_context import Engagement, HubSpotContext
from shared.errors import NotFound, PermanentExternalError
from tests.hubspot_support import fake_context

pytestmark = pytest.mark.stack
SENT_AT = datetime(2026, 11, 2, 15, 4, 5, tzinfo=UTC)
START = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
EMAILS = "/crm/v3/objects/emails"
MEETINGS = "/crm/v3/objects/meetings"
TASKS = "/crm/v3/objects/tasks"
BODY = "Hi Dana,\n\nThursday at 10 works. I'll send an invite.\n\nBest,\nMaya"


@pytest.fixture
def hubspot(local):
    fake = local.fakes["hubspot"][0]
    fake.seed(hubspot_data())
    return fake


_context = fake_context


def _send(context: HubSpotContext, key: str = "send-wf-701-1", **changes) -> str:
    arguments = {
        "key": key,
        "contact_id": 701,
        "company_id": 9001,
        "deal_ids": [8001],
        "owner_id": "7001",
        "sender": "maya@brightline.example",
        "to": "dana@northwind.example",
        "subject": "Re: Pilot plan",
        "body": BODY,
        "sent_at": SENT_AT,
        **changes,
    }
    return context.log_sent_email(**arguments)


def _meet(context: HubSpotContext, key: str = "meeting-wf-701-1", **changes) -> str:
    arguments = {
        "key": key,
        "contact_id": 701,
        "owner_id": "7001",
        "title": "Pilot review",
        "start": START,
        "end": START + timedelta(minutes=30),
        "body": "Agenda: pilot data sources.\nWho joins: Sam.",
        "location": "https://meet.example/abc-defg",
        **changes,
    }
    return context.log_meeting(**arguments)


def _created(hubspot, path: str) -> int:
    return sum(1 for r in hubspot.requests_to(path, "POST") if r["path"] == path)


def _review_task(hubspot) -> str:
    made = hubspot.create(
        "tasks",
        {
            "hs_timestamp": str(int(SENT_AT.timestamp() * 1000)),
            "hs_task_subject": "Review draft: Re: Pilot plan",
            "hs_task_status": "NOT_STARTED",
        },
        [("contacts", 701)],
    )
    return str(made["id"])


# ---------------------------------------------------------------------------- sent email


def test_a_sent_email_is_on_the_timeline_of_contact_company_and_deal(local, hubspot):
    email_id = _send(_context(local))
    [email] = hubspot.objects("emails")
    assert email["id"] == email_id
    props = email["properties"]
    assert props["hs_timestamp"] == "2026-11-02T15:04:05.000Z"
    assert props["hs_email_direction"] == "EMAIL"
    assert props["hs_email_status"] == "SENT"
    assert props["hs_email_subject"] == "Re: Pilot plan"
    assert props["hs_email_text"] == BODY + "\n\n-- \nsales-agent ref: send-wf-701-1"
    assert props["hubspot_owner_id"] == "7001"
    headers = json.loads(props["hs_email_headers"])
    assert headers["from"] == {"email": "maya@brightline.example"}
    assert headers["to"] == [{"email": "dana@northwind.example"}]
    assert hubspot.associations("emails", email_id, "contacts") == ["701"]
    assert hubspot.associations("emails", email_id, "companies") == ["9001"]
    assert hubspot.associations("emails", email_id, "deals") == ["8001"]
    assert hubspot.associations("contacts", 701, "emails") == [email_id]
    assert hubspot.associations("deals", 8001, "emails") == [email_id]


def test_the_next_draft_sees_the_sent_email_without_its_reference(local, hubspot):
    context = _context(local)
    _send(context)
    assert context.for_contact(701).engagements == (
        Engagement(
            "email",
            SENT_AT,
            "Sent “Re: Pilot plan”: Hi Dana, Thursday at 10 works. I'll send an invite. Best, Maya",
        ),
    )


def test_the_same_key_twice_logs_one_email(local, hubspot):
    context = _context(local)
    first = _send(context)
    hubspot.clear_requests()
    assert _send(context) == first
    assert len(hubspot.objects("emails")) == 1
    assert _created(hubspot, EMAILS) == 0


def test_another_key_logs_another_email(local, hubspot):
    context = _context(local)
    first = _send(context, key="send-wf-701-1")
    second = _send(context, key="send-wf-701-12", subject="Invite")
    assert second != first
    assert sorted(e["properties"]["hs_email_subject"] for e in hubspot.objects("emails")) == [
        "Invite",
        "Re: Pilot plan",
    ]
    assert _send(context, key="send-wf-701-12") == second


def test_a_create_that_landed_but_timed_out_is_found_not_repeated(local, hubspot):
    hubspot.inject_fault(0, delay=1.5, path_prefix=EMAILS, method="POST")
    sleeps: list[float] = []
    email_id = _send(_context(local, sleeps, timeout=0.5))
    [email] = hubspot.objects("emails")
    assert email_id == email["id"]
    assert _created(hubspot, EMAILS) == 1
    assert len(sleeps) == 1


def test_a_503_on_the_create_is_retried_into_one_email(local, hubspot):
    hubspot.inject_fault(503, count=2, path_prefix=EMAILS, method="POST")
    sleeps: list[float] = []
    email_id = _send(_context(local, sleeps))
    [email] = hubspot.objects("emails")
    assert email_id == email["id"]
    assert _created(hubspot, EMAILS) == 3
    assert len(sleeps) == 2


def test_without_company_or_deals_the_email_is_on_the_contact_only(local, hubspot):
    email_id = _send(_context(local), contact_id=702, company_id=None, deal_ids=(), owner_id=None)
    [email] = hubspot.objects("emails")
    assert "hubspot_owner_id" not in email["properties"]
    assert hubspot.associations("emails", email_id, "contacts") == ["702"]
    assert hubspot.associations("emails", email_id, "companies") == []
    assert hubspot.associations("emails", email_id, "deals") == []


def test_a_deal_named_twice_is_associated_once(local, hubspot):
    email_id = _send(_context(local), deal_ids=iter([8001, 8001]))
    assert hubspot.associations("emails", email_id, "deals") == ["8001"]


def test_an_email_for_an_unknown_contact_logs_nothing(local, hubspot):
    with pytest.raises(NotFound):
        _send(_context(local), contact_id=799)
    assert hubspot.objects("emails") == []


@pytest.mark.parametrize("key", ["", "send wf 1", "-send", "x" * 201])
def test_a_bad_key_is_refused_before_any_request(local, hubspot, key):
    with pytest.raises(ValueError, match="key"):
        _send(_context(local), key=key)
    with pytest.raises(ValueError, match="key"):
        _meet(_context(local), key=key)
    assert hubspot.requests == []


def test_a_naive_send_time_is_refused(local, hubspot):
    with pytest.raises(ValueError, match="timezone"):
        _send(_context(local), sent_at=datetime(2026, 11, 2, 15, 4))
    assert hubspot.requests == []


# ---------------------------------------------------------------------------- lead status


def test_the_lead_status_changes_and_setting_it_again_is_harmless(local, hubspot):
    context = _context(local)
    context.set_lead_status(701, "ATTEMPTED_TO_CONTACT")
    assert hubspot.get("contacts", 701)["properties"]["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"
    context.set_lead_status(701, "CONNECTED")
    context.set_lead_status(701, "CONNECTED")
    contact = hubspot.get("contacts", 701)["properties"]
    assert contact["hs_lead_status"] == "CONNECTED"
    assert contact["email"] == "dana@northwind.example"


def test_the_lead_status_of_an_unknown_contact_is_not_found(local, hubspot):
    with pytest.raises(NotFound):
        _context(local).set_lead_status(799, "CONNECTED")


def test_a_revoked_token_is_permanent(local, hubspot):
    with pytest.raises(PermanentExternalError, match="access refused"):
        _context(local, [], token="pat-revoked-1").set_lead_status(701, "CONNECTED")
    assert "hs_lead_status" not in hubspot.get("contacts", 701)["properties"]


# ---------------------------------------------------------------------------- review task


def test_the_review_task_is_completed(local, hubspot):
    task_id = _review_task(hubspot)
    context = _context(local)
    context.complete_task(task_id)
    context.complete_task(task_id)
    [task] = hubspot.objects("tasks")
    assert task["properties"]["hs_task_status"] == "COMPLETED"
    assert task["properties"]["hs_task_subject"] == "Review draft: Re: Pilot plan"


def test_a_task_that_is_gone_is_fine(local, hubspot):
    context = _context(local)
    context.complete_task("424242")
    deleted = _review_task(hubspot)
    rep = HubSpot(access_token=next(iter(hubspot.tokens)), host=local.fake_url("hubspot"))
    rep.crm.objects.basic_api.archive("tasks", deleted)  # the rep deleted it meanwhile
    context.complete_task(deleted)
    assert hubspot.objects("tasks") == []
    [archived] = hubspot.objects("tasks", archived=True)
    assert archived["properties"]["hs_task_status"] == "NOT_STARTED"


def test_a_503_on_completing_is_retried(local, hubspot):
    task_id = _review_task(hubspot)
    hubspot.inject_fault(503, path_prefix=TASKS, method="PATCH")
    sleeps: list[float] = []
    _context(local, sleeps).complete_task(task_id)
    assert hubspot.get("tasks", task_id)["properties"]["hs_task_status"] == "COMPLETED"
    assert len(sleeps) == 1


# ---------------------------------------------------------------------------- meeting


def test_a_booked_meeting_is_logged_once_with_its_times(local, hubspot):
    context = _context(local)
    meeting_id = _meet(context)
    assert _meet(context) == meeting_id
    [meeting] = hubspot.objects("meetings")
    assert meeting["id"] == meeting_id
    props = meeting["properties"]
    assert props["hs_timestamp"] == "2026-11-05T10:00:00.000Z"
    assert props["hs_meeting_start_time"] == "2026-11-05T10:00:00.000Z"
    assert props["hs_meeting_end_time"] == "2026-11-05T10:30:00.000Z"
    assert props["hs_meeting_title"] == "Pilot review"
    assert props["hs_meeting_outcome"] == "SCHEDULED"
    assert props["hs_meeting_location"] == "https://meet.example/abc-defg"
    assert props["hubspot_owner_id"] == "7001"
    assert props["hs_meeting_body"] == (
        "<p>Agenda: pilot data sources.<br>Who joins: Sam.</p>"
        "<p>sales-agent ref: meeting-wf-701-1</p>"
    )
    assert hubspot.associations("meetings", meeting_id, "contacts") == ["701"]
    assert _created(hubspot, MEETINGS) == 1


def test_the_next_draft_sees_the_meeting_without_its_reference(local, hubspot):
    context = _context(local)
    _meet(context, location=None)
    assert "hs_meeting_location" not in hubspot.objects("meetings")[0]["properties"]
    assert context.for_contact(701).engagements == (
        Engagement(
            "meeting",
            START,
            "Pilot review (scheduled): Agenda: pilot data sources. Who joins: Sam.",
        ),
    )


def test_a_meeting_create_that_timed_out_is_found_not_repeated(local, hubspot):
    hubspot.inject_fault(0, delay=1.5, path_prefix=MEETINGS, method="POST")
    sleeps: list[float] = []
    meeting_id = _meet(_context(local, sleeps, timeout=0.5))
    [meeting] = hubspot.objects("meetings")
    assert meeting_id == meeting["id"]
    assert _created(hubspot, MEETINGS) == 1


def test_a_meeting_that_ends_before_it_starts_is_refused(local, hubspot):
    with pytest.raises(ValueError, match="end"):
        _meet(_context(local), end=START - timedelta(minutes=1))
    with pytest.raises(ValueError, match="timezone"):
        _meet(_context(local), start=datetime(2026, 11, 5, 10, 0))
    assert hubspot.requests == []
