"""What a rep wrote on a contact or deal, read through hubspot-api-client from the HubSpot fake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.hubspot_records import HubSpotRecords, RecordText
from shared.adapters.secrets import SecretStore
from shared.config import load_settings
from shared.errors import NotFound, PermanentExternalError, TransientError

pytestmark = pytest.mark.stack
TOKEN = "pat-test-records-5d21b7"
REP = "maya@brightline.example"
OTHER_REP = "sam@brightline.example"
PROSPECT = "dana@northwind.example"
MAYA, SAM = "7001", "7002"
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
ASSOCIATIONS = "/crm/v4/objects/contacts/701/associations/"
EMAILS_READ = "/crm/v3/objects/emails/batch/read"
NOTES_READ = "/crm/v3/objects/notes/batch/read"


def _at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


def _ms(days_ago: float) -> str:
    return str(int(_at(days_ago).timestamp() * 1000))


def _email(
    id_: str, days_ago: float, sender: str, direction: str = "EMAIL", **props: str
) -> dict[str, object]:
    return {
        "id": id_,
        "properties": {
            "hs_timestamp": _ms(days_ago),
            "hs_email_direction": direction,
            "hs_email_from_email": sender,
            "hs_email_to_email": PROSPECT,
            **props,
        },
    }


def _owned(id_: str, days_ago: float, owner: str, **props: str) -> dict[str, object]:
    return {
        "id": id_,
        "properties": {"hs_timestamp": _ms(days_ago), "hubspot_owner_id": owner, **props},
    }


QUOTED_REPLY = (
    "Hi Dana,\n\nThursday at 10 works. I'll bring the pilot plan.\n\nCheers,\nMaya\n\n"
    "On Mon, 27 Oct 2026 at 09:12, Dana Whitfield <dana@northwind.example> wrote:\n"
    "> Could we meet this week?\n"
)


@pytest.fixture
def hubspot(local):
    fake = local.fakes["hubspot"][0]
    fake.seed(
        {
            "tokens": [TOKEN],
            "owners": [
                {"id": MAYA, "email": REP, "firstName": "Maya", "lastName": "Chen"},
                {"id": SAM, "email": OTHER_REP, "firstName": "Sam", "lastName": "Ortiz"},
            ],
            "contacts": [
                {"id": "701", "properties": {"email": PROSPECT}},
                {"id": "702", "properties": {"email": "priya@heliohealth.example"}},
            ],
            "deals": [{"id": "8001", "properties": {"dealname": "Northwind pilot"}}],
            "emails": [
                _email(
                    "501",
                    6,
                    REP,
                    hs_email_subject="Re: Meeting",
                    hs_email_text=QUOTED_REPLY,
                ),
                _email(
                    "502",
                    5,
                    PROSPECT,
                    "INCOMING_EMAIL",
                    hs_email_subject="Meeting",
                    hs_email_text="Could we meet this week?",
                ),
                _email(
                    "503",
                    4,
                    OTHER_REP,
                    hs_email_subject="Intro",
                    hs_email_text="Sam here, covering for Maya.",
                ),
                _email(
                    "504",
                    1,
                    "Maya@BrightLine.Example",
                    hs_email_subject="Pricing",
                    hs_email_html="<div><p>Hi Dana,</p><p>The Team plan is <b>£1,500</b> "
                    "a month.</p><script>track()</script></div>",
                ),
                _email(
                    "505",
                    2,
                    REP,
                    "FORWARDED_EMAIL",
                    hs_email_subject="Fwd: Meeting",
                    hs_email_text="FYI",
                ),
                _email("506", 0.5, REP, hs_email_subject="Other contact", hs_email_text="Hi Priya"),
            ],
            "notes": [
                _owned(
                    "601",
                    3,
                    MAYA,
                    hs_note_body="<p>Dana owns the budget.</p><p>Next: send pricing.</p>",
                ),
                _owned("602", 2.5, SAM, hs_note_body="<p>Sam's note</p>"),
                _owned("603", 0.2, MAYA, hs_note_body="<p> </p>"),
            ],
            "calls": [
                _owned(
                    "651",
                    7,
                    MAYA,
                    hs_call_title="Discovery call",
                    hs_call_body="<p>Walked through their forecasting gaps.</p>",
                ),
                _owned("652", 6.5, SAM, hs_call_title="Sam's call", hs_call_body="Hello"),
            ],
            "associations": [
                *(
                    {"from": [kind, id_], "to": ["contacts", "701"]}
                    for kind, ids in (
                        ("emails", ("501", "502", "503", "504", "505")),
                        ("notes", ("601", "602", "603")),
                        ("calls", ("651", "652")),
                    )
                    for id_ in ids
                ),
                {"from": ["emails", "506"], "to": ["contacts", "702"]},
                {"from": ["emails", "504"], "to": ["deals", "8001"]},
                {"from": ["notes", "601"], "to": ["deals", "8001"]},
                {"from": ["calls", "652"], "to": ["deals", "8001"]},
            ],
        }
    )
    return fake


def _records(local, sleeps: list[float] | None = None, token: str = TOKEN) -> HubSpotRecords:
    sleep = sleeps.append if sleeps is not None else None
    return HubSpotRecords(token, host=local.fake_url("hubspot"), sleep=sleep)


def test_a_contact_gives_what_the_rep_wrote_newest_first(local, hubspot):
    texts = _records(local).texts_by_rep("contact", 701, rep_email=REP)
    assert texts == [
        RecordText(
            "email", "504", "Pricing", "Hi Dana,\n\nThe Team plan is £1,500 a month.", _at(1)
        ),
        RecordText(
            "note", "601", "Dana owns the budget.", "Dana owns the budget.\n\nNext: send pricing.",
            _at(3),
        ),
        RecordText(
            "email", "501", "Re: Meeting",
            "Hi Dana,\n\nThursday at 10 works. I'll bring the pilot plan.\n\nCheers,\nMaya",
            _at(6),
        ),
        RecordText(
            "call", "651", "Discovery call", "Walked through their forecasting gaps.", _at(7)
        ),
    ]  # fmt: skip


def test_a_deal_gives_what_the_rep_wrote_on_the_deal(local, hubspot):
    texts = _records(local).texts_by_rep("deal", 8001, rep_email=REP)
    assert [(t.kind, t.id) for t in texts] == [("email", "504"), ("note", "601")]


def test_another_rep_gets_only_their_own_words(local, hubspot):
    texts = _records(local).texts_by_rep("contact", 701, rep_email=OTHER_REP)
    assert [(t.kind, t.id, t.text) for t in texts] == [
        ("note", "602", "Sam's note"),
        ("email", "503", "Sam here, covering for Maya."),
        ("call", "652", "Hello"),
    ]


def test_a_rep_who_is_no_owner_still_gets_their_emails(local, hubspot):
    hubspot.seed(
        {
            "emails": [_email("507", 1, "lee@brightline.example", hs_email_text="Hi from Lee")],
            "associations": [{"from": ["emails", "507"], "to": ["contacts", "701"]}],
        }
    )
    texts = _records(local).texts_by_rep("contact", 701, rep_email="lee@brightline.example")
    assert [(t.kind, t.id, t.text) for t in texts] == [("email", "507", "Hi from Lee")]
    assert hubspot.requests_to(NOTES_READ) == []


def test_a_record_with_nothing_on_it_gives_nothing(local, hubspot):
    assert _records(local).texts_by_rep("contact", 702, rep_email=OTHER_REP) == []


def test_owner_ids_are_found_by_email_in_any_case(local, hubspot):
    records = _records(local)
    assert records.owner_id_for(REP) == MAYA
    assert records.owner_id_for(" SAM@brightline.EXAMPLE ") == SAM
    assert records.owner_id_for("nobody@brightline.example") is None
    assert records.owner_id_for("not an address") is None


@pytest.mark.parametrize("object_type", ["company", "contacts", "ticket", ""])
def test_other_object_types_are_refused_before_any_request(local, hubspot, object_type):
    with pytest.raises(ValueError, match="contact"):
        _records(local).texts_by_rep(object_type, 701, rep_email=REP)
    assert hubspot.requests == []


def test_an_unreadable_rep_address_is_refused(local, hubspot):
    with pytest.raises(ValueError, match="rep_email"):
        _records(local).texts_by_rep("contact", 701, rep_email="Maya <maya@x.example")
    assert hubspot.requests == []


def test_an_unknown_record_is_not_found(local, hubspot):
    with pytest.raises(NotFound) as raised:
        _records(local).texts_by_rep("contact", 799, rep_email=REP)
    assert "799" in raised.value.public_message
    assert not raised.value.retryable


def test_reading_is_bounded_to_the_newest_engagements(local, hubspot):
    notes = [
        _owned(str(10_000 + n), 600 - n, MAYA, hs_note_body=f"<p>Note number {n}</p>")
        for n in range(520)
    ]
    hubspot.seed(
        {
            "contacts": [{"id": "703", "properties": {"email": "tom@acmerobotics.example"}}],
            "notes": notes,
            "associations": [
                {"from": ["notes", note["id"]], "to": ["contacts", "703"]} for note in notes
            ],
        }
    )
    hubspot.clear_requests()
    texts = _records(local).texts_by_rep("contact", 703, rep_email=REP)
    assert len(texts) == 200
    assert texts[0].text == "Note number 519"
    assert texts[-1].text == "Note number 320"
    assert [t.at for t in texts] == sorted((t.at for t in texts), reverse=True)
    pages = hubspot.requests_to("/crm/v4/objects/contacts/703/associations/notes")
    assert len(pages) == 2  # 520 associations: two pages of at most 500
    assert len(hubspot.requests_to(NOTES_READ)) == 2  # 200 notes: two batches of 100


def test_a_429_on_associations_is_retried_after_the_time_asked(local, hubspot):
    sleeps: list[float] = []
    hubspot.inject_fault(429, count=1, retry_after=2, path_prefix=ASSOCIATIONS)
    texts = _records(local, sleeps).texts_by_rep("contact", 701, rep_email=REP)
    assert [t.id for t in texts] == ["504", "601", "501", "651"]
    assert sleeps == [2.0]


def test_a_503_on_a_batch_read_is_retried(local, hubspot):
    sleeps: list[float] = []
    hubspot.inject_fault(503, count=2, path_prefix=EMAILS_READ)
    texts = _records(local, sleeps).texts_by_rep("contact", 701, rep_email=REP)
    assert [t.id for t in texts] == ["504", "601", "501", "651"]
    assert len(sleeps) == 2
    assert len(hubspot.requests_to(EMAILS_READ)) == 3


def test_a_5xx_storm_on_the_owners_api_is_transient(local, hubspot):
    sleeps: list[float] = []
    hubspot.inject_fault(502, count=10, path_prefix="/crm/v3/owners")
    with pytest.raises(TransientError) as raised:
        _records(local, sleeps).texts_by_rep("contact", 701, rep_email=REP)
    assert "502" in raised.value.public_message
    assert len(sleeps) == 4
    assert len(hubspot.requests_to("/crm/v3/owners")) == 5


def test_a_bad_token_is_permanent_and_never_shown(local, hubspot):
    sleeps: list[float] = []
    bad = "pat-revoked-0a9f1c"
    with pytest.raises(PermanentExternalError) as raised:
        _records(local, sleeps, token=bad).texts_by_rep("contact", 701, rep_email=REP)
    error = raised.value
    assert error.public_message == "hubspot: access refused"
    assert not error.retryable
    assert bad not in f"{error} {error.detail} {error!r} {error.__cause__} {error.__context__}"
    assert sleeps == []


def test_missing_scopes_on_emails_are_permanent(local, hubspot):
    hubspot.inject_fault(403, path_prefix=EMAILS_READ)
    with pytest.raises(PermanentExternalError, match="access refused"):
        _records(local, []).texts_by_rep("contact", 701, rep_email=REP)


def test_a_refused_connection_is_transient(local):
    from devstack.serving import free_port

    sleeps: list[float] = []
    records = HubSpotRecords(
        TOKEN, host=f"http://127.0.0.1:{free_port()}", attempts=2, sleep=sleeps.append
    )
    with pytest.raises(TransientError):
        records.owner_id_for(REP)
    assert len(sleeps) == 1


def test_from_settings_reads_the_token_from_secret_manager(local, hubspot):
    settings = load_settings()
    secrets = SecretStore(settings.gcp_project, local.secrets.address)
    secrets.write(settings.hubspot_access_token_id, TOKEN)
    records = HubSpotRecords.from_settings(settings, secrets)
    assert records.owner_id_for(REP) == MAYA
