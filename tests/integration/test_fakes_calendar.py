"""The Calendar fake, driven by google-api-python-client with google-auth credentials refreshed
against the OAuth fake (all from the session stack, sharing one accounts registry)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import requests
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from devstack.fakes import DEFAULT_SCOPES, FakeCalendar, FakeGoogleOAuth
from devstack.fakes.calendar import (
    CALENDAR,
    CALENDAR_EVENTS,
    CALENDAR_FREEBUSY,
    CALENDAR_READONLY,
)
from shared.config import get_settings
from tests.google_support import fake_credentials

pytestmark = pytest.mark.stack

REP = "maya@brightline.example"
COLLEAGUE = "sam@brightline.example"
PROSPECT = "dana@northwind.example"
GMAIL = "https://www.googleapis.com/auth/gmail.modify"


def _fakes(local: Any) -> tuple[FakeCalendar, FakeGoogleOAuth]:
    calendar, oauth = local.fakes["calendar"][0], local.fakes["oauth"][0]
    assert isinstance(calendar, FakeCalendar)
    assert isinstance(oauth, FakeGoogleOAuth)
    return calendar, oauth


def _service(local: Any, email: str = REP, scopes: tuple[str, ...] = (CALENDAR,)) -> Any:
    credentials = fake_credentials(local, email, scopes)
    return build(
        "calendar",
        "v3",
        http=google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=10)),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": get_settings().calendar_api_endpoint},
    )


def _error(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as raised:
        call()
    return int(raised.value.resp.status), json.loads(raised.value.content)["error"]


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _freebusy(service: Any, calendar_id: str = "primary", **extra: Any) -> dict[str, Any]:
    body = {
        "timeMin": "2026-11-23T00:00:00Z",
        "timeMax": "2026-11-28T00:00:00Z",
        "items": [{"id": calendar_id}],
        **extra,
    }
    answer: dict[str, Any] = service.freebusy().query(body=body).execute()
    return answer


def _invite(**overrides: Any) -> dict[str, Any]:
    return {
        "summary": "Brightline intro",
        "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-24T10:30:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": PROSPECT}, {"email": COLLEAGUE}],
        **overrides,
    }


def test_the_stack_points_calendar_settings_at_the_fake(local):
    assert get_settings().calendar_api_endpoint == f"{local.fake_url('calendar')}/calendar/v3/"


def test_freebusy_merges_overlaps_and_ignores_free_and_cancelled_events(local):
    calendar, _ = _fakes(local)
    calendar.add_event(REP, _utc(24, 10), _utc(24, 11), "Standup")
    calendar.add_event(REP, _utc(24, 10, 30), _utc(24, 12), "Pipeline review")
    calendar.add_event(REP, _utc(24, 12), _utc(24, 12, 30), "Back to back")
    calendar.add_event(REP, _utc(24, 14), _utc(24, 15), "Focus time", transparent=True)
    calendar.add_event(REP, _utc(24, 16), _utc(24, 17), "Dropped", status="cancelled")
    deleted = calendar.add_event(REP, _utc(26, 9), _utc(26, 10), "Deleted later")
    calendar.cancel_event(REP, deleted)

    answer = _freebusy(_service(local))

    assert answer["kind"] == "calendar#freeBusy"
    assert answer["calendars"]["primary"] == {
        "busy": [{"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T12:30:00Z"}]
    }


def test_all_day_events_are_busy_midnight_to_midnight_in_the_calendars_zone(local):
    calendar, _ = _fakes(local)
    calendar.set_timezone(REP, "Europe/Berlin")
    calendar.add_event(REP, date(2026, 11, 25), date(2026, 11, 26), "Offsite")

    busy = _freebusy(_service(local))["calendars"]["primary"]["busy"]

    assert busy == [{"start": "2026-11-24T23:00:00Z", "end": "2026-11-25T23:00:00Z"}]


def test_wall_times_with_a_zone_and_offsets_mean_the_same_instant(local):
    calendar, _ = _fakes(local)
    calendar.add_event(
        REP,
        datetime(2026, 11, 24, 9, 0),
        datetime(2026, 11, 24, 10, 0),
        time_zone="America/New_York",
    )
    calendar.add_event(
        REP,
        datetime.fromisoformat("2026-11-24T17:00:00+01:00"),
        datetime.fromisoformat("2026-11-24T17:30:00+01:00"),
    )

    busy = _freebusy(_service(local))["calendars"]["primary"]["busy"]

    assert busy == [
        {"start": "2026-11-24T14:00:00Z", "end": "2026-11-24T15:00:00Z"},
        {"start": "2026-11-24T16:00:00Z", "end": "2026-11-24T16:30:00Z"},
    ]
    shown = calendar.events(REP)[0]["start"]
    assert shown == {"dateTime": "2026-11-24T09:00:00-05:00", "timeZone": "America/New_York"}


def test_freebusy_clips_to_the_range_and_answers_in_the_asked_zone(local):
    calendar, _ = _fakes(local)
    calendar.add_event(REP, _utc(22, 20), _utc(23, 9), "Red-eye")

    answer = _freebusy(_service(local), timeZone="Europe/Berlin")

    assert answer["timeMin"] == "2026-11-23T01:00:00+01:00"
    assert answer["calendars"]["primary"]["busy"] == [
        {"start": "2026-11-23T01:00:00+01:00", "end": "2026-11-23T10:00:00+01:00"}
    ]


def test_freebusy_sees_colleagues_but_not_other_domains_or_strangers(local):
    calendar, _ = _fakes(local)
    calendar.add_event(COLLEAGUE, _utc(24, 9), _utc(24, 10))
    calendar.add_event(PROSPECT, _utc(24, 9), _utc(24, 10))
    service = _service(local)

    body = {
        "timeMin": "2026-11-24T00:00:00Z",
        "timeMax": "2026-11-25T00:00:00Z",
        "items": [{"id": COLLEAGUE}, {"id": PROSPECT}, {"id": "nobody@brightline.example"}],
    }
    calendars = service.freebusy().query(body=body).execute()["calendars"]

    assert calendars[COLLEAGUE] == {
        "busy": [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}]
    }
    not_found = {"errors": [{"domain": "global", "reason": "notFound"}]}
    assert calendars[PROSPECT] == not_found
    assert calendars["nobody@brightline.example"] == not_found


def test_an_empty_range_is_refused(local):
    service = _service(local)
    status, error = _error(
        lambda: _freebusy(service, timeMin="2026-11-25T00:00:00Z", timeMax="2026-11-24T00:00:00Z")
    )
    assert status == 400
    assert error["errors"][0]["reason"] == "timeRangeEmpty"


def test_scopes_are_enforced_per_method(local):
    freebusy_only = _service(local, scopes=(CALENDAR_FREEBUSY,))
    readonly = _service(local, scopes=(CALENDAR_READONLY,))
    gmail_only = _service(local, scopes=(GMAIL,))

    assert "primary" in _freebusy(freebusy_only)["calendars"]
    assert _error(lambda: freebusy_only.events().list(calendarId="primary").execute())[0] == 403
    assert readonly.events().list(calendarId="primary").execute()["items"] == []
    status, error = _error(
        lambda: readonly.events().insert(calendarId="primary", body=_invite()).execute()
    )
    assert (status, error["errors"][0]["reason"]) == (403, "insufficientPermissions")
    assert _error(lambda: _freebusy(gmail_only))[0] == 403
    assert _error(lambda: gmail_only.settings().get(setting="timezone").execute())[0] == 403
    no_token = requests.get(
        f"{local.fake_url('calendar')}/calendar/v3/users/me/settings/timezone", timeout=5
    )
    assert no_token.status_code == 401


def test_the_default_oauth_grant_reads_free_busy_but_cannot_create_invites(local):
    """What the OAuth fake grants by default: calendar.readonly, not calendar.events."""
    assert CALENDAR_READONLY in DEFAULT_SCOPES
    assert CALENDAR_EVENTS not in DEFAULT_SCOPES
    assert CALENDAR not in DEFAULT_SCOPES
    service = _service(local, scopes=DEFAULT_SCOPES)

    assert _freebusy(service)["calendars"]["primary"] == {"busy": []}
    status, _ = _error(
        lambda: service.events().insert(calendarId="primary", body=_invite()).execute()
    )
    assert status == 403


def test_insert_with_meet_attendees_and_invitations(local):
    calendar, _ = _fakes(local)
    service = _service(local, scopes=(CALENDAR_EVENTS,))
    body = _invite(
        description="Agenda: rollout plan",
        conferenceData={
            "createRequest": {
                "requestId": "req-1",
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        },
        extendedProperties={"private": {"salesagent_key": "wf-1-v2"}},
    )

    event = (
        service.events()
        .insert(calendarId="primary", body=body, conferenceDataVersion=1, sendUpdates="all")
        .execute()
    )

    assert event["status"] == "confirmed"
    assert event["start"] == {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert event["organizer"]["email"] == REP
    assert [(a["email"], a["responseStatus"]) for a in event["attendees"]] == [
        (PROSPECT, "needsAction"),
        (COLLEAGUE, "needsAction"),
    ]
    assert event["hangoutLink"].startswith("https://meet.google.com/")
    assert event["conferenceData"]["createRequest"]["status"] == {"statusCode": "success"}
    assert event["conferenceData"]["entryPoints"][0]["uri"] == event["hangoutLink"]
    assert event["extendedProperties"] == {"private": {"salesagent_key": "wf-1-v2"}}
    assert calendar.invitations(REP) == [
        {
            "eventId": event["id"],
            "summary": "Brightline intro",
            "to": [PROSPECT, COLLEAGUE],
            "sendUpdates": "all",
        }
    ]
    assert calendar.events(REP)[0]["id"] == event["id"]

    again = (
        service.events()
        .insert(calendarId="primary", body=body, conferenceDataVersion=1, sendUpdates="none")
        .execute()
    )
    assert again["id"] != event["id"]
    assert again["hangoutLink"] == event["hangoutLink"]  # same requestId, same conference
    assert len(calendar.invitations(REP)) == 1


def test_conference_data_needs_version_1_and_external_only_skips_colleagues(local):
    calendar, _ = _fakes(local)
    service = _service(local)
    body = _invite(
        conferenceData={
            "createRequest": {"requestId": "r", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
        }
    )

    event = service.events().insert(calendarId="primary", body=body, sendUpdates="externalOnly")
    created = event.execute()

    assert "hangoutLink" not in created
    assert "conferenceData" not in created
    assert calendar.invitations(REP)[0]["to"] == [PROSPECT]


def test_a_chosen_id_is_kept_and_never_reused_even_after_deletion(local):
    service = _service(local)

    def insert(event_id: str) -> dict[str, Any]:
        body = _invite(id=event_id)
        created: dict[str, Any] = service.events().insert(calendarId="primary", body=body).execute()
        return created

    event = insert("abc123def456")
    assert event["id"] == "abc123def456"
    assert event["iCalUID"] == "abc123def456@google.com"

    status, error = _error(lambda: insert("abc123def456"))
    assert (status, error["errors"][0]["reason"]) == (409, "duplicate")

    service.events().delete(calendarId="primary", eventId="abc123def456").execute()
    assert _error(lambda: insert("abc123def456"))[0] == 409
    gone = service.events().get(calendarId="primary", eventId="abc123def456").execute()
    assert gone["status"] == "cancelled"
    assert _error(lambda: insert("Not_Base32"))[0] == 400


def test_invalid_times_and_attendees_are_refused(local):
    service = _service(local)
    insert = service.events().insert

    status, error = _error(
        lambda: insert(
            calendarId="primary",
            body=_invite(start={"dateTime": "2026-11-24T10:00:00"}),
        ).execute()
    )
    assert (status, error["message"]) == (400, "Missing time zone definition for start time.")
    status, error = _error(
        lambda: insert(
            calendarId="primary",
            body=_invite(end={"dateTime": "2026-11-24T09:00:00+01:00"}),
        ).execute()
    )
    assert (status, error["errors"][0]["reason"]) == (400, "timeRangeEmpty")
    status, error = _error(
        lambda: insert(calendarId="primary", body=_invite(attendees=[{"email": "dana"}])).execute()
    )
    assert (status, error["message"]) == (400, "Invalid attendee email.")
    status, _ = _error(lambda: insert(calendarId=COLLEAGUE, body=_invite()).execute())
    assert status == 404


def test_list_filters_by_private_property_time_and_ical_uid(local):
    calendar, _ = _fakes(local)
    service = _service(local)
    ours = calendar.add_event(
        REP, _utc(24, 10), _utc(24, 11), "Ours", private={"salesagent_key": "wf-1"}
    )
    calendar.add_event(REP, _utc(25, 10), _utc(25, 11), "Other", private={"salesagent_key": "wf-2"})
    cancelled = calendar.add_event(
        REP, _utc(26, 10), _utc(26, 11), "Gone", private={"salesagent_key": "wf-3"}
    )
    calendar.cancel_event(REP, cancelled)
    events = service.events()

    def ids(**query: Any) -> list[str]:
        return [e["id"] for e in events.list(calendarId="primary", **query).execute()["items"]]

    assert ids(privateExtendedProperty="salesagent_key=wf-1") == [ours]
    assert ids(privateExtendedProperty="salesagent_key=nope") == []
    assert ids(privateExtendedProperty="salesagent_key=wf-3") == []
    assert ids(privateExtendedProperty="salesagent_key=wf-3", showDeleted=True) == [cancelled]
    assert ids(timeMin="2026-11-24T11:00:00Z", timeMax="2026-11-25T10:30:00Z") == [
        calendar.events(REP)[1]["id"]
    ]
    assert ids(iCalUID=f"{ours}@google.com") == [ours]
    assert len(ids(maxResults=1)) == 1
    page = events.list(calendarId="primary", maxResults=1).execute()
    second = events.list(calendarId="primary", maxResults=1, pageToken=page["nextPageToken"])
    assert second.execute()["items"][0]["summary"] == "Other"
    status, _ = _error(lambda: events.list(calendarId="primary", orderBy="startTime").execute())
    assert status == 400


def test_settings_give_the_calendars_time_zone(local):
    calendar, _ = _fakes(local)
    service = _service(local, scopes=(CALENDAR_READONLY,))
    assert service.settings().get(setting="timezone").execute()["value"] == "UTC"

    calendar.set_timezone(REP, "America/New_York")

    setting = service.settings().get(setting="timezone").execute()
    assert (setting["kind"], setting["id"], setting["value"]) == (
        "calendar#setting",
        "timezone",
        "America/New_York",
    )
    assert _error(lambda: service.settings().get(setting="colorTheme").execute())[0] == 404


def test_seed_state_and_reset_over_http(local):
    base = local.fake_url("calendar")
    seed = {
        "calendars": [
            {
                "email": REP,
                "timezone": "Europe/London",
                "events": [
                    {"start": "2026-11-24T10:00:00+00:00", "end": "2026-11-24T11:00:00+00:00"},
                    {"start": "2026-11-25", "end": "2026-11-26", "summary": "Offsite"},
                ],
            }
        ]
    }
    assert requests.post(f"{base}/_fake/seed", json=seed, timeout=5).status_code == 200

    state = requests.get(f"{base}/_fake/state", timeout=5).json()["calendars"][REP]
    assert state["timezone"] == "Europe/London"
    assert [e.get("summary") for e in state["events"]] == ["Busy", "Offsite"]
    assert len(_freebusy(_service(local))["calendars"]["primary"]["busy"]) == 2

    requests.post(f"{base}/_fake/reset", timeout=5)
    assert requests.get(f"{base}/_fake/state", timeout=5).json() == {"calendars": {}}
