"""The HubSpot side of a draft, through hubspot-api-client against the HubSpot fake seeded with
the demo data: the context a draft needs, and the review task and note a draft leaves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devstack.seed import hubspot_data
from shared.adapters.hubspot_context import (
    Company,
    Deal,
    DraftContext,
    Engagement,
    HubSpotContext,
    Owner,
    iana_time_zone,
)
from shared.adapters.secrets import SecretStore
from shared.config import load_settings
from shared.errors import NotFound, PermanentExternalError, TransientError
from tests.hubspot_support import fake_context

pytestmark = pytest.mark.stack
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
CONTACT_701 = "/crm/v3/objects/contacts/701"
TASKS = "/crm/v3/objects/tasks"
NOTES = "/crm/v3/objects/notes"
MAYA = Owner(id="7001", email="maya@brightline.example", first_name="Maya", last_name="Chen")
NORTHWIND = Company(
    id=9001,
    name="Northwind Traders",
    domain="northwind.example",
    industry="LOGISTICS_AND_SUPPLY_CHAIN",
    employees=250,
    lifecycle_stage=None,
    time_zone=None,
)


def _ms(days_ago: float) -> str:
    return str(int((NOW - timedelta(days=days_ago)).timestamp() * 1000))


@pytest.fixture
def hubspot(local):
    fake = local.fakes["hubspot"][0]
    fake.seed(hubspot_data())
    return fake


@pytest.fixture
def engagements(hubspot):
    """A few weeks with Dana: mail both ways, a call, a meeting, a note; and a closed deal."""
    on_dana = [("contacts", 701)]
    hubspot.create(
        "calls",
        {
            "hs_timestamp": _ms(9),
            "hs_call_title": "Discovery call",
            "hs_call_body": "<p>Forecasts live in spreadsheets; peaks hurt.</p>",
        },
        on_dana,
    )
    hubspot.create(
        "emails",
        {
            "hs_timestamp": _ms(6),
            "hs_email_direction": "EMAIL",
            "hs_email_subject": "Pilot plan",
            "hs_email_html": "<div><p>Hi Dana,</p><p>Here is the <b>pilot plan</b>.</p></div>",
        },
        on_dana,
    )
    hubspot.create(
        "meetings",
        {
            "hs_timestamp": _ms(4),
            "hs_meeting_title": "Pilot kickoff",
            "hs_meeting_body": "Agreed on two weeks with their own data.",
            "hs_meeting_outcome": "COMPLETED",
        },
        on_dana,
    )
    hubspot.create(
        "emails",
        {
            "hs_timestamp": _ms(2),
            "hs_email_direction": "INCOMING_EMAIL",
            "hs_email_subject": "Re: Pilot plan",
            "hs_email_text": "Looks good. Who joins from your side?\n\n"
            "On Mon, 27 Oct 2026 at 09:12, Maya Chen <maya@brightline.example> wrote:\n"
            "> Here is the pilot plan.\n",
        },
        on_dana,
    )
    hubspot.create(
        "notes",
        {"hs_timestamp": _ms(1), "hs_note_body": "<p>Dana wants the pilot before Q3.</p>"},
        on_dana,
    )
    hubspot.create(
        "deals",
        {"dealname": "Northwind — 2025 trial", "dealstage": "closedlost", "amount": "5000"},
        [("contacts", 701)],
        object_id=8002,
    )
    return hubspot


_context = fake_context


def _deal_8001_close_date(hubspot) -> str:
    return hubspot.get("deals", 8001)["properties"]["closedate"][:10]


def _log(context: HubSpotContext, key: str = "draft-wf-701-1", **changes):
    arguments = {
        "key": key,
        "contact_id": 701,
        "owner_id": "7001",
        "subject": "Re: Pilot plan",
        "body": "Hi Dana,\n\nGreat. I'll join with Sam & our data lead.\nThursday at 10?",
        "reasons": ["proposes a meeting time", "mentions <Sam>"],
        "due": DUE,
        **changes,
    }
    return context.log_draft(**arguments)


def _created(hubspot, path: str) -> int:
    return sum(1 for r in hubspot.requests_to(path, "POST") if r["path"] == path)


# ---------------------------------------------------------------------------- context


def test_the_demo_lead_gets_contact_company_open_deal_owner_and_engagements(local, engagements):
    context = _context(local).for_contact(701)
    assert context == DraftContext(
        contact_id=701,
        email="dana@northwind.example",
        first_name="Dana",
        last_name="Whitfield",
        job_title="VP Operations",
        lifecycle_stage="lead",
        time_zone="Europe/London",
        unsubscribed=False,
        company=NORTHWIND,
        deals=(
            Deal(
                id=8001,
                name="Northwind Traders — forecasting pilot",
                stage="appointmentscheduled",
                amount="18000",
                close_date=_deal_8001_close_date(engagements),
            ),
        ),
        owner=MAYA,
        engagements=(
            Engagement("note", NOW - timedelta(days=1), "Dana wants the pilot before Q3."),
            Engagement(
                "email",
                NOW - timedelta(days=2),
                "Received “Re: Pilot plan”: Looks good. Who joins from your side?",
            ),
            Engagement(
                "meeting",
                NOW - timedelta(days=4),
                "Pilot kickoff (completed): Agreed on two weeks with their own data.",
            ),
            Engagement(
                "email",
                NOW - timedelta(days=6),
                "Sent “Pilot plan”: Hi Dana, Here is the pilot plan.",
            ),
            Engagement(
                "call",
                NOW - timedelta(days=9),
                "Discovery call: Forecasts live in spreadsheets; peaks hurt.",
            ),
        ),
    )


def test_one_context_costs_one_request_per_kind_of_record_it_has(local, engagements):
    engagements.clear_requests()
    _context(local).for_contact(701)
    assert [(r["method"], r["path"]) for r in engagements.requests] == [
        ("GET", CONTACT_701),
        ("POST", "/crm/v3/objects/companies/batch/read"),
        ("POST", "/crm/v3/objects/deals/batch/read"),
        ("GET", "/crm/v3/owners/7001"),
        ("POST", "/crm/v3/objects/emails/batch/read"),
        ("POST", "/crm/v3/objects/notes/batch/read"),
        ("POST", "/crm/v3/objects/calls/batch/read"),
        ("POST", "/crm/v3/objects/meetings/batch/read"),
    ]
    engagements.clear_requests()
    _context(local).for_contact(702)  # company and owner, no deals, no engagements
    assert [(r["method"], r["path"]) for r in engagements.requests] == [
        ("GET", "/crm/v3/objects/contacts/702"),
        ("POST", "/crm/v3/objects/companies/batch/read"),
        ("GET", "/crm/v3/owners/7001"),
    ]


def test_the_seeded_lead_alone_costs_four_requests(local, hubspot):
    hubspot.clear_requests()
    context = _context(local).for_contact(701)
    assert context.engagements == ()
    assert len(hubspot.requests) == 4


def test_engagements_are_the_ten_newest_with_short_summaries(local, hubspot):
    for n in range(14):
        hubspot.create(
            "notes",
            {"hs_timestamp": _ms(20 - n), "hs_note_body": f"<p>Note {n}: " + "word " * 200},
            [("contacts", 701)],
        )
    context = _context(local).for_contact(701)
    assert len(context.engagements) == 10
    assert [e.summary.split(":")[0] for e in context.engagements] == [
        f"Note {n}" for n in range(13, 3, -1)
    ]
    assert all(len(e.summary) <= 300 for e in context.engagements)
    assert context.engagements[0].summary.endswith("word…")


def test_a_contact_with_no_company_deals_or_owner(local, hubspot):
    hubspot.create(
        "contacts",
        {"email": "lee@solo.example", "firstname": "Lee", "hubspot_owner_id": "7999"},
        object_id=704,
    )
    hubspot.clear_requests()
    context = _context(local).for_contact(704)
    assert context == DraftContext(
        contact_id=704,
        email="lee@solo.example",
        first_name="Lee",
        last_name=None,
        job_title=None,
        lifecycle_stage=None,
        time_zone=None,
        unsubscribed=False,
        company=None,
        deals=(),
        owner=None,  # owner 7999 is no HubSpot user (any more)
        engagements=(),
    )
    assert [r["path"] for r in hubspot.requests] == [
        "/crm/v3/objects/contacts/704",
        "/crm/v3/owners/7999",
    ]


def test_the_company_time_zone_stands_in_for_the_contacts(local, hubspot):
    hubspot.seed(
        {
            "companies": [
                {
                    "id": "9004",
                    "properties": {"name": "Gulf Air Cargo", "timezone": "asia_slash_dubai"},
                }
            ],
            "contacts": [{"id": "705", "properties": {"email": "omar@gulfcargo.example"}}],
            "associations": [{"from": ["contacts", 705], "to": ["companies", 9004]}],
        }
    )
    context = _context(local).for_contact(705)
    assert context.company is not None
    assert (context.company.name, context.company.time_zone) == ("Gulf Air Cargo", "Asia/Dubai")
    assert context.time_zone == "Asia/Dubai"


def test_the_primary_company_wins_over_other_associated_companies(local, hubspot):
    hubspot.associate("contacts", 702, "companies", 9003)  # Priya also linked to Acme
    hubspot.associate("contacts", 702, "companies", 9002, type_id=1)  # Helio is primary
    context = _context(local).for_contact(702)
    assert context.company is not None
    assert context.company.name == "Helio Health"


@pytest.mark.parametrize(
    ("properties", "reasons"),
    [
        ({"hs_email_optout": "true"}, ("hs_email_optout",)),
        ({"hs_email_bad_address": "true"}, ("hs_email_bad_address",)),
        (
            {"hs_email_hard_bounce_reason_enum": "BAD_MAILBOX"},
            ("hs_email_hard_bounce_reason_enum",),
        ),
        (
            {"hs_email_optout": "true", "hs_email_quarantined": "true"},
            ("hs_email_optout", "hs_email_quarantined"),
        ),
    ],
)
def test_opted_out_or_bounced_contacts_are_unsubscribed(local, hubspot, properties, reasons):
    hubspot.create("contacts", {"email": "gone@elsewhere.example", **properties}, object_id=706)
    context = _context(local).for_contact(706)
    assert context.unsubscribed is True
    assert context.unsubscribe_reasons == reasons


def test_an_opt_out_set_to_false_is_no_opt_out(local, hubspot):
    hubspot.create(
        "contacts", {"email": "back@elsewhere.example", "hs_email_optout": "false"}, object_id=707
    )
    assert _context(local).for_contact(707).unsubscribed is False


def test_an_unknown_contact_is_not_found(local, hubspot):
    with pytest.raises(NotFound) as raised:
        _context(local).for_contact(799)
    assert "799" in raised.value.public_message
    assert not raised.value.retryable


def test_the_context_is_json_ready(local, engagements):
    recorded = _context(local).for_contact(701).as_json()
    assert json.loads(json.dumps(recorded)) == recorded
    assert recorded["company"] == {
        "id": 9001,
        "name": "Northwind Traders",
        "domain": "northwind.example",
        "industry": "LOGISTICS_AND_SUPPLY_CHAIN",
        "employees": 250,
        "lifecycle_stage": None,
        "time_zone": None,
    }
    assert recorded["owner"] == {
        "id": "7001",
        "email": "maya@brightline.example",
        "first_name": "Maya",
        "last_name": "Chen",
    }
    assert [d["id"] for d in recorded["deals"]] == [8001]
    assert recorded["engagements"][0] == {
        "kind": "note",
        "at": "2026-11-01T15:00:00+00:00",
        "summary": "Dana wants the pilot before Q3.",
    }
    assert (recorded["unsubscribed"], recorded["unsubscribe_reasons"]) == (False, [])


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        ("europe_slash_london", "Europe/London"),
        ("america_slash_new_york", "America/New_York"),
        ("america_slash_argentina_slash_buenos_aires", "America/Argentina/Buenos_Aires"),
        ("us_slash_eastern", "US/Eastern"),
        ("Europe/Paris", "Europe/Paris"),
        ("mars_slash_olympus", None),
        ("", None),
        (None, None),
    ],
)
def test_hubspot_time_zones_become_iana_names(value, zone):
    assert iana_time_zone(value) == zone


# ---------------------------------------------------------------------------- draft effects


def test_a_draft_leaves_a_review_task_and_a_note_on_the_contact(local, hubspot):
    ids = _log(_context(local))
    [task] = hubspot.objects("tasks")
    [note] = hubspot.objects("notes")
    assert ids == {"task_id": task["id"], "note_id": note["id"]}
    props = task["properties"]
    assert props["hs_task_subject"] == "Review draft: Re: Pilot plan"
    assert props["hs_task_status"] == "NOT_STARTED"
    assert props["hubspot_owner_id"] == "7001"
    assert props["hs_timestamp"] == "2026-11-03T09:30:00.000Z"
    assert props["hs_task_body"] == (
        "<p>A draft “Re: Pilot plan” is waiting in Gmail for your approval.</p>"
        "<p><strong>Why:</strong></p>"
        "<ul><li>proposes a meeting time</li><li>mentions &lt;Sam&gt;</li></ul>"
        "<p>sales-agent ref: draft-wf-701-1</p>"
    )
    assert note["properties"]["hs_note_body"] == (
        "<p><strong>Draft for review:</strong> Re: Pilot plan</p>"
        "<p>Hi Dana,</p><p>Great. I'll join with Sam &amp; our data lead.<br>Thursday at 10?</p>"
        "<p><strong>Why:</strong></p>"
        "<ul><li>proposes a meeting time</li><li>mentions &lt;Sam&gt;</li></ul>"
        "<p>sales-agent ref: draft-wf-701-1</p>"
    )
    assert note["properties"]["hubspot_owner_id"] == "7001"
    assert hubspot.associations("tasks", task["id"], "contacts") == ["701"]
    assert hubspot.associations("notes", note["id"], "contacts") == ["701"]


def test_the_same_key_twice_creates_one_task_and_one_note(local, hubspot):
    context = _context(local)
    first = _log(context)
    hubspot.clear_requests()
    again = _log(context)
    assert again == first
    assert len(hubspot.objects("tasks")) == 1
    assert len(hubspot.objects("notes")) == 1
    assert _created(hubspot, TASKS) == 0
    assert _created(hubspot, NOTES) == 0
    assert len(hubspot.requests) == 4  # tasks and notes: associations, then one batch read


def test_another_key_is_another_draft_even_when_one_key_starts_the_other(local, hubspot):
    context = _context(local)
    first = _log(context, key="draft-wf-701-1")
    second = _log(context, key="draft-wf-701-12", subject="Pricing")
    assert second["task_id"] != first["task_id"]
    assert second["note_id"] != first["note_id"]
    subjects = sorted(t["properties"]["hs_task_subject"] for t in hubspot.objects("tasks"))
    assert subjects == ["Review draft: Pricing", "Review draft: Re: Pilot plan"]
    assert _log(context, key="draft-wf-701-12") == second


def test_a_draft_note_is_not_read_back_as_an_engagement(local, engagements):
    context = _context(local)
    _log(context)
    summaries = [e.summary for e in context.for_contact(701).engagements]
    assert summaries[0] == "Dana wants the pilot before Q3."
    assert not any("Draft for review" in s for s in summaries)


def test_a_create_that_landed_but_timed_out_is_found_not_repeated(local, hubspot):
    hubspot.inject_fault(0, delay=1.5, path_prefix=TASKS, method="POST")
    sleeps: list[float] = []
    ids = _log(_context(local, sleeps, timeout=0.5))
    [task] = hubspot.objects("tasks")
    assert ids["task_id"] == task["id"]
    assert _created(hubspot, TASKS) == 1
    assert len(sleeps) == 1
    assert len(hubspot.objects("notes")) == 1


def test_a_rate_limited_create_is_retried_once_it_is_allowed(local, hubspot):
    hubspot.inject_fault(429, count=2, retry_after=1, path_prefix=NOTES, method="POST")
    sleeps: list[float] = []
    ids = _log(_context(local, sleeps))
    [note] = hubspot.objects("notes")
    assert ids["note_id"] == note["id"]
    assert sleeps == [1.0, 1.0]
    assert _created(hubspot, NOTES) == 3


def test_a_draft_for_an_unknown_contact_creates_nothing(local, hubspot):
    with pytest.raises(NotFound):
        _log(_context(local), contact_id=799)
    assert hubspot.objects("tasks") == []
    assert hubspot.objects("notes") == []


@pytest.mark.parametrize("key", ["", "draft wf 1", "draft-<1>", "x" * 201, "-draft"])
def test_a_key_that_cannot_be_a_reference_is_refused_before_any_request(local, hubspot, key):
    with pytest.raises(ValueError, match="key"):
        _log(_context(local), key=key)
    assert hubspot.requests == []


def test_a_naive_due_time_is_refused(local, hubspot):
    with pytest.raises(ValueError, match="timezone"):
        _log(_context(local), due=datetime(2026, 11, 3, 9, 30))
    assert hubspot.objects("tasks") == []


# ---------------------------------------------------------------------------- failures


def test_a_429_storm_is_waited_out(local, hubspot):
    hubspot.inject_fault(429, count=3, retry_after=2, path_prefix=CONTACT_701)
    sleeps: list[float] = []
    context = _context(local, sleeps).for_contact(701)
    assert context.company == NORTHWIND
    assert sleeps == [2.0, 2.0, 2.0]
    assert len(hubspot.requests_to(CONTACT_701)) == 4


def test_a_429_storm_longer_than_the_attempts_is_transient(local, hubspot):
    hubspot.inject_fault(429, count=20, retry_after=1, path_prefix="/crm/v3/objects/deals")
    sleeps: list[float] = []
    with pytest.raises(TransientError) as raised:
        _context(local, sleeps).for_contact(701)
    assert "429" in raised.value.public_message
    assert raised.value.retryable
    assert len(sleeps) == 4
    assert len(hubspot.requests_to("/crm/v3/objects/deals/batch/read")) == 5


def test_a_503_on_the_owner_is_retried(local, hubspot):
    hubspot.inject_fault(503, count=2, path_prefix="/crm/v3/owners")
    sleeps: list[float] = []
    assert _context(local, sleeps).for_contact(701).owner == MAYA
    assert len(sleeps) == 2


@pytest.mark.parametrize("action", ["context", "log"])
def test_a_bad_token_is_permanent_and_never_shown(local, hubspot, action):
    bad = "pat-revoked-3c8e41"
    sleeps: list[float] = []
    context = _context(local, sleeps, token=bad)
    with pytest.raises(PermanentExternalError) as raised:
        context.for_contact(701) if action == "context" else _log(context)
    error = raised.value
    assert error.public_message == "hubspot: access refused"
    assert not error.retryable
    text = f"{error} {error.detail} {error!r} {error.__cause__} {error.__context__} {context!r}"
    assert bad not in text
    assert sleeps == []
    assert hubspot.objects("tasks") == []


def test_missing_scopes_on_deals_are_permanent(local, hubspot):
    hubspot.inject_fault(403, path_prefix="/crm/v3/objects/deals")
    with pytest.raises(PermanentExternalError, match="access refused"):
        _context(local, []).for_contact(701)


def test_from_settings_reads_the_token_from_secret_manager(local, hubspot):
    settings = load_settings()
    secrets = SecretStore(local.project, local.secrets.address)
    secrets.write(settings.hubspot_access_token_id, next(iter(hubspot.tokens)))
    context = HubSpotContext.from_settings(settings, secrets)
    assert isinstance(context, HubSpotContext)
    assert context.for_contact(701).owner == MAYA
