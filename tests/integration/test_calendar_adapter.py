"""Our Calendar adapter against the Calendar fake, through google-api-python-client and
google-auth (credentials refreshed against the OAuth fake, endpoint from the stack's settings)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from devstack.fakes import FakeCalendar, FakeGoogleOAuth
from shared.adapters.calendar import (
    CALENDAR_READONLY_SCOPE,
    CALENDAR_SCOPES,
    KEY_PROPERTY,
    CalendarClient,
    conference_request_id,
    event_id_for,
)
from shared.adapters.google_auth import GMAIL_SCOPES
from shared.config import get_settings
from shared.domain.slots import WorkingHours, describe, free_slots
from shared.errors import (
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from tests.google_support import fake_credentials

pytestmark = pytest.mark.stack

REP = "maya@brightline.example"
PROSPECT = "dana@northwind.example"
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def _fakes(local: Any) -> tuple[FakeCalendar, FakeGoogleOAuth]:
    calendar, oauth = local.fakes["calendar"][0], local.fakes["oauth"][0]
    assert isinstance(calendar, FakeCalendar)
    assert isinstance(oauth, FakeGoogleOAuth)
    return calendar, oauth


def _client(
    local: Any,
    sleeps: list[float] | None = None,
    *,
    scopes: tuple[str, ...] = CALENDAR_SCOPES,
    attempts: int = 5,
    timeout: float = 10.0,
    email: str = REP,
) -> CalendarClient:
    settings = get_settings()
    return CalendarClient(
        fake_credentials(local, email, scopes),
        endpoint=settings.calendar_api_endpoint,
        sleep=(sleeps if sleeps is not None else []).append,
        attempts=attempts,
        timeout=timeout,
    )


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _invite(client: CalendarClient, key: str = "wf-42-v3", **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "key": key,
        "summary": "Northwind x Brightline",
        "description": "Agenda: the rollout questions from your last email.",
        "start": _at(24, 9),
        "end": _at(24, 9, 30),
        "attendees": [PROSPECT, REP],
        "time_zone": "Europe/Berlin",
        **overrides,
    }
    return client.create_event(**arguments)


def test_busy_is_merged_in_utc_without_free_or_cancelled_time(local):
    calendar, _ = _fakes(local)
    calendar.add_event(REP, _at(24, 9), _at(24, 10), "Standup")
    calendar.add_event(REP, _at(24, 9, 30), _at(24, 11), "Demo prep")
    calendar.add_event(REP, _at(24, 13), _at(24, 14), "Focus", transparent=True)
    calendar.add_event(REP, _at(24, 15), _at(24, 16), "Off", status="cancelled")
    calendar.add_event(
        REP, datetime(2026, 11, 25, 9), datetime(2026, 11, 25, 10), time_zone="America/New_York"
    )
    calendar.add_event(REP, date(2026, 11, 26), date(2026, 11, 27), "Offsite")

    busy = _client(local).busy(REP, MONDAY, MONDAY + timedelta(days=5))

    assert busy == [
        (_at(24, 9), _at(24, 11)),
        (_at(25, 14), _at(25, 15)),
        (_at(26, 0), _at(27, 0)),
    ]
    assert all(start.tzinfo is UTC for start, _ in busy)


def test_busy_of_a_calendar_the_account_cannot_see_is_not_found(local):
    with pytest.raises(NotFound):
        _client(local).busy(PROSPECT, MONDAY, MONDAY + timedelta(days=1))


def test_timezone_comes_from_the_calendar_settings(local):
    calendar, _ = _fakes(local)
    calendar.set_timezone(REP, "Europe/London")

    assert _client(local, scopes=(CALENDAR_READONLY_SCOPE,)).timezone() == "Europe/London"


def test_an_invite_is_created_once_with_meet_attendees_and_our_key(local):
    calendar, _ = _fakes(local)
    client = _client(local)

    first = _invite(client)
    second = _invite(client)

    assert second["id"] == first["id"] == event_id_for("wf-42-v3")
    assert len(calendar.events(REP)) == 1
    assert len(calendar.requests_to("/calendar/v3/calendars/primary/events", "POST")) == 1
    assert calendar.invitations(REP) == [
        {
            "eventId": first["id"],
            "summary": "Northwind x Brightline",
            "to": [PROSPECT],
            "sendUpdates": "all",
        }
    ]
    assert first["start"] == {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert first["description"] == "Agenda: the rollout questions from your last email."
    assert first["hangoutLink"].startswith("https://meet.google.com/")
    request_id = first["conferenceData"]["createRequest"]["requestId"]
    assert request_id == conference_request_id("wf-42-v3")
    assert first["extendedProperties"]["private"] == {KEY_PROPERTY: "wf-42-v3"}
    assert client.find_event("wf-42-v3") == second
    assert client.find_event("wf-other") is None


def test_an_insert_that_landed_unseen_is_found_not_repeated(local):
    """The insert is stored but its answer comes after the client gave up: the retry runs into
    the event's id (409) and returns the stored event."""
    calendar, _ = _fakes(local)
    client = _client(local, timeout=0.3)
    client.timezone()  # token fetched before the slow call
    calendar.inject_fault(
        0, delay=0.6, path_prefix="/calendar/v3/calendars/primary/events", method="POST"
    )

    event = _invite(client)

    assert [e["id"] for e in calendar.events(REP)] == [event["id"]]
    assert event["hangoutLink"]
    inserts = calendar.requests_to("/calendar/v3/calendars/primary/events", "POST")
    assert [r["status"] for r in inserts][-1] == 409
    assert len(inserts) == 2
    assert len(calendar.invitations(REP)) == 1


def test_a_server_error_on_insert_is_retried_into_one_event(local):
    calendar, _ = _fakes(local)
    calendar.inject_fault(503, path_prefix="/calendar/v3/calendars/primary/events", method="POST")
    sleeps: list[float] = []

    _invite(_client(local, sleeps))

    assert len(calendar.events(REP)) == 1
    assert len(sleeps) == 1


def test_without_meet_the_invite_has_no_conference(local):
    event = _invite(_client(local), conference=False, send_updates="none")

    assert "hangoutLink" not in event
    assert "conferenceData" not in event
    assert _fakes(local)[0].invitations(REP) == []


def test_an_invite_someone_deleted_is_not_booked_again(local):
    calendar, _ = _fakes(local)
    client = _client(local)
    event = _invite(client)
    calendar.cancel_event(REP, event["id"])

    again = _invite(client)

    assert (again["id"], again["status"]) == (event["id"], "cancelled")
    assert len(calendar.events(REP)) == 1


def test_bad_arguments_are_refused_before_any_call(local):
    calendar, _ = _fakes(local)
    client = _client(local)

    with pytest.raises(ValueError, match="time zone"):
        _invite(client, start=datetime(2026, 11, 24, 9))
    with pytest.raises(ValueError, match="end after"):
        _invite(client, end=_at(24, 8))
    with pytest.raises(ValueError, match="unknown time zone"):
        _invite(client, time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="event key"):
        _invite(client, key="has spaces=and equals")
    assert calendar.requests_to("/calendar") == []


def test_a_429_is_retried_after_the_time_calendar_asked_for(local):
    calendar, _ = _fakes(local)
    calendar.add_event(REP, _at(24, 9), _at(24, 10))
    calendar.inject_fault(429, count=2, retry_after=2, path_prefix="/calendar/v3/freeBusy")
    sleeps: list[float] = []

    busy = _client(local, sleeps).busy(REP, MONDAY, MONDAY + timedelta(days=2))

    assert busy == [(_at(24, 9), _at(24, 10))]
    assert sleeps == [2.0, 2.0]


def test_5xx_that_does_not_pass_becomes_a_transient_error(local):
    calendar, _ = _fakes(local)
    calendar.inject_fault(500, count=10, path_prefix="/calendar/v3/users/me/settings")
    sleeps: list[float] = []

    with pytest.raises(TransientError):
        _client(local, sleeps, attempts=3).timezone()

    assert len(sleeps) == 2


def test_a_revoked_grant_is_refused_for_good(local):
    _, oauth = _fakes(local)
    client = _client(local)
    assert client.timezone() == "UTC"

    oauth.accounts.revoke_all(REP)

    with pytest.raises(AuthorizationRefused):
        client.busy(REP, MONDAY, MONDAY + timedelta(days=1))


def test_a_grant_without_calendar_write_consent_is_a_permanent_refusal(local):
    sleeps: list[float] = []
    readonly = _client(local, sleeps, scopes=(CALENDAR_READONLY_SCOPE,))
    assert readonly.busy(REP, MONDAY, MONDAY + timedelta(days=1)) == []

    with pytest.raises(PermanentExternalError) as raised:
        _invite(readonly)

    assert not isinstance(raised.value, AuthorizationRefused)
    assert raised.value.detail == "insufficientPermissions"
    with pytest.raises(PermanentExternalError):
        _client(local, scopes=GMAIL_SCOPES).timezone()
    assert sleeps == []


def test_slots_from_the_reps_calendar_avoid_what_is_booked(local):
    """From the calendar to three proposed times: the rep's zone from settings, busy from
    free/busy, the prospect in New York."""
    calendar, _ = _fakes(local)
    calendar.set_timezone(REP, "Europe/London")
    calendar.add_event(REP, _at(23, 13), _at(23, 18), "Workshop")
    calendar.add_event(REP, date(2026, 11, 24), date(2026, 11, 25), "Conference")
    client = _client(local)
    now = _at(23, 8)

    hours = WorkingHours(time_zone=client.timezone())
    busy = client.busy(REP, now, now + timedelta(days=8))
    slots = free_slots(busy, now=now, hours=hours, prospect_tz="America/New_York")

    assert [describe(s, "America/New_York") for s in slots] == [
        "Wednesday 25 November, 08:00\u201308:30 (America/New_York)",
        "Thursday 26 November, 10:00\u201310:30 (America/New_York)",
        "Friday 27 November, 08:00\u201308:30 (America/New_York)",
    ]
    assert all(s.start.astimezone(hours.zone).time() >= time(13) for s in slots)
