"""Google Calendar API v3 fake, spoken to by google-api-python-client (``build("calendar", "v3",
...)`` with ``client_options={"api_endpoint": "http://127.0.0.1:P/calendar/v3/"}``).

One primary calendar per account (created on first use, time zone ``UTC`` until
:meth:`FakeCalendar.set_timezone`), holding events. Faithful points worth knowing:

- ``freebusy.query`` merges overlapping and touching busy events and clips them to
  ``[timeMin, timeMax)``. Transparent events ("show as available") and cancelled events are
  free; all-day events are busy (the API's default transparency is ``opaque``; only the web UI
  makes new all-day events transparent), from midnight to midnight in the calendar's zone.
  Times come back in UTC (``...Z``), or with the offset of the request's ``timeZone``. A calendar
  the caller may not see (an unknown address, or another domain's) answers inside the 200 as
  ``calendars[id].errors: [{"reason": "notFound"}]`` with no busy list; colleagues in the same
  domain share free/busy, as Workspace does by default.
- ``events.insert`` keeps a client-chosen ``id`` (base32hex ``[a-v0-9]``, 5 to 1024 characters);
  an id used before answers 409 ``duplicate`` even after the event was deleted, as Google's.
  ``conferenceData.createRequest`` is honoured only with ``conferenceDataVersion=1``: it adds a
  Meet ``hangoutLink``, the same one for the same ``requestId``. ``sendUpdates`` (``all``,
  ``externalOnly``, ``none``; default ``none``) decides who would get an invitation email, see
  :meth:`FakeCalendar.invitations`.
- ``events.get`` returns deleted events with ``status: "cancelled"``; ``events.list`` hides them
  unless ``showDeleted=true``. ``timeMin`` bounds an event's end and ``timeMax`` its start (both
  exclusive, both RFC 3339 with an offset); ``privateExtendedProperty`` and
  ``sharedExtendedProperty`` (``name=value``, repeatable, all must match) and ``iCalUID`` filter.
- Times in an event are given with an offset, or as local wall time with ``timeZone``; without
  either the insert is refused (400 "Missing time zone definition for start time."). Answers
  show ``dateTime`` in the event's own ``timeZone`` (else the calendar's, or a ``timeZone`` query
  parameter).
- ``settings.get`` knows ``timezone``, ``locale``, ``weekStart``, ``format24HourTime``,
  ``dateFieldOrder`` and ``defaultEventLength``.
- Scopes as the discovery document lists them: free/busy needs ``calendar``,
  ``calendar.readonly``, ``calendar.freebusy`` or ``calendar.events.freebusy``; reading events
  ``calendar``, ``calendar.readonly`` or ``calendar.events[.owned][.readonly]``; writing
  ``calendar``, ``calendar.events`` or ``calendar.events.owned``; settings ``calendar``,
  ``calendar.readonly`` or ``calendar.settings.readonly``. Otherwise 403
  ``insufficientPermissions``.

Not modelled: recurring events, other calendars than the primary one, invitations landing on
attendees' calendars, ACLs beyond "same domain sees free/busy".
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import jsonify, request

from devstack.fakes.base import JSON, FakeHTTPError, ViewResult
from devstack.fakes.drive import parse_fields, select_fields
from devstack.fakes.google import AccessToken, GoogleAccounts, GoogleApiService

_AUTH = "https://www.googleapis.com/auth/"
CALENDAR = f"{_AUTH}calendar"
CALENDAR_READONLY = f"{_AUTH}calendar.readonly"
CALENDAR_EVENTS = f"{_AUTH}calendar.events"
CALENDAR_EVENTS_READONLY = f"{_AUTH}calendar.events.readonly"
CALENDAR_FREEBUSY = f"{_AUTH}calendar.freebusy"
CALENDAR_EVENTS_FREEBUSY = f"{_AUTH}calendar.events.freebusy"
CALENDAR_EVENTS_OWNED = f"{_AUTH}calendar.events.owned"
CALENDAR_EVENTS_OWNED_READONLY = f"{_AUTH}calendar.events.owned.readonly"
CALENDAR_SETTINGS_READONLY = f"{_AUTH}calendar.settings.readonly"

FREEBUSY_SCOPES = (CALENDAR, CALENDAR_READONLY, CALENDAR_FREEBUSY, CALENDAR_EVENTS_FREEBUSY)
READ_SCOPES = (
    CALENDAR,
    CALENDAR_READONLY,
    CALENDAR_EVENTS,
    CALENDAR_EVENTS_READONLY,
    CALENDAR_EVENTS_OWNED,
    CALENDAR_EVENTS_OWNED_READONLY,
)
WRITE_SCOPES = (CALENDAR, CALENDAR_EVENTS, CALENDAR_EVENTS_OWNED)
SETTINGS_SCOPES = (CALENDAR, CALENDAR_READONLY, CALENDAR_SETTINGS_READONLY)

DEFAULT_TIMEZONE = "UTC"
MAX_FREEBUSY_ITEMS = 50
_EVENT_ID_RE = re.compile(r"^[a-v0-9]{5,1024}$")
_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
_SEND_UPDATES = ("all", "externalOnly", "none")
_CALENDAR_REASONS = frozenset(
    {
        "notFound",
        "duplicate",
        "invalid",
        "required",
        "timeRangeEmpty",
        "tooManyCalendarsRequested",
        "invalidParameter",
    }
)
_OTHER_SETTINGS = {
    "locale": "en",
    "weekStart": "0",
    "format24HourTime": "false",
    "dateFieldOrder": "MDY",
    "defaultEventLength": "60",
}


def new_event_id() -> str:
    """A Calendar-looking event id: 26 base32hex characters."""
    return "".join(secrets.choice(_BASE32HEX) for _ in range(26))


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def _zone(name: str, location: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FakeHTTPError(
            400, "Invalid time zone definition", reason="invalid", location=location
        ) from None


def _parse_instant(value: Any, location: str) -> datetime:
    """An RFC 3339 timestamp with an offset (or Z), as the query parameters demand."""
    if not isinstance(value, str) or not value:
        raise FakeHTTPError(400, "Required", reason="required", location=location)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FakeHTTPError(400, "Bad Request", reason="invalid", location=location) from None
    if parsed.tzinfo is None:
        raise FakeHTTPError(400, "Bad Request", reason="invalid", location=location)
    return parsed.astimezone(UTC)


def _format(moment: datetime, zone: ZoneInfo | None) -> str:
    """``...Z`` in UTC, else the zone's wall time with its offset, as Calendar writes them."""
    if zone is None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.astimezone(zone).isoformat(timespec="seconds")


def merge_intervals(
    intervals: Iterable[tuple[datetime, datetime]],
) -> list[tuple[datetime, datetime]]:
    """Sorted, with overlapping and touching intervals joined."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@dataclass
class CalendarEvent:
    id: str
    calendar: str
    start: JSON
    end: JSON
    summary: str = ""
    description: str = ""
    location: str = ""
    status: str = "confirmed"
    transparency: str = "opaque"
    attendees: list[JSON] = field(default_factory=list)
    private: dict[str, str] = field(default_factory=dict)
    shared: dict[str, str] = field(default_factory=dict)
    conference: JSON | None = None
    hangout_link: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    sequence: int = 0

    @property
    def ical_uid(self) -> str:
        return f"{self.id}@google.com"

    @property
    def all_day(self) -> bool:
        return "date" in self.start

    @property
    def busy(self) -> bool:
        return self.status != "cancelled" and self.transparency != "transparent"


@dataclass
class Calendar:
    email: str
    timezone: str = DEFAULT_TIMEZONE
    events: dict[str, CalendarEvent] = field(default_factory=dict)
    invitations: list[JSON] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class FakeCalendar(GoogleApiService):
    """Calendar v3 fake. Seed JSON::

    {"calendars": [{"email": "rep@acme.test", "timezone": "Europe/London",
                    "events": [{"start": "2026-11-24T10:00:00+00:00",
                                "end": "2026-11-24T11:00:00+00:00", "summary": "Standup",
                                "transparent": false, "time_zone": "Europe/London"},
                               {"start": "2026-11-25", "end": "2026-11-26",
                                "summary": "Offsite"}]}]}

    A date without a time is an all-day event (``end`` is the day after, exclusive).
    """

    name = "calendar"

    def __init__(self, accounts: GoogleAccounts | None = None) -> None:
        super().__init__(accounts if accounts is not None else GoogleAccounts())
        self.calendars: dict[str, Calendar] = {}
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def add_event(
        self,
        email: str,
        start: datetime | date,
        end: datetime | date,
        summary: str = "Busy",
        transparent: bool = False,
        time_zone: str | None = None,
        *,
        status: str = "confirmed",
        attendees: Iterable[str] = (),
        private: dict[str, str] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Put an event on `email`'s calendar; returns its id.

        Dates (not datetimes) make an all-day event, `end` exclusive. A naive datetime is wall
        time in `time_zone`, or in the calendar's zone when none is given; an aware one keeps
        its instant (and is shown in `time_zone` when given). `status="cancelled"` stores a
        deleted event.
        """
        with self.lock:
            calendar = self._calendar(email)
            zone_name = time_zone or calendar.timezone
            _zone(zone_name, "timeZone")
            new_id = event_id or new_event_id()
            if new_id in calendar.events:
                raise ValueError(f"event {new_id!r} exists")
            event = CalendarEvent(
                id=new_id,
                calendar=calendar.email,
                start=_time_json(start, zone_name, time_zone),
                end=_time_json(end, zone_name, time_zone),
                summary=summary,
                status=status,
                transparency="transparent" if transparent else "opaque",
                attendees=[
                    {"email": a.lower(), "responseStatus": "needsAction"} for a in attendees
                ],
                private=dict(private or {}),
            )
            first, last = self._span(event, calendar)
            if last < first:
                raise ValueError("an event cannot end before it starts")
            calendar.events[new_id] = event
            return new_id

    def cancel_event(self, email: str, event_id: str) -> None:
        """Delete an event, as the owner does in the UI (it stays, ``status: cancelled``)."""
        with self.lock:
            event = self._calendar(email).events[event_id]
            event.status = "cancelled"
            event.updated = time.time()
            event.sequence += 1

    def set_timezone(self, email: str, time_zone: str) -> None:
        ZoneInfo(time_zone)
        with self.lock:
            self._calendar(email).timezone = time_zone

    def timezone(self, email: str) -> str:
        with self.lock:
            return self._calendar(email).timezone

    def events(self, email: str) -> list[JSON]:
        """Every event on `email`'s calendar (cancelled ones too), by start, as the API shows
        them."""
        with self.lock:
            calendar = self._calendar(email)
            ordered = sorted(
                calendar.events.values(), key=lambda e: (self._span(e, calendar)[0], e.created)
            )
            return [self._resource(e, calendar, None) for e in ordered]

    def invitations(self, email: str) -> list[JSON]:
        """The invitation emails Google would have sent for `email`'s events:
        ``{"eventId", "summary", "to": [...], "sendUpdates"}``, oldest first."""
        with self.lock:
            return copy.deepcopy(self._calendar(email).invitations)

    # ----------------------------------------------------------------- FakeService hooks

    def _reset_state(self) -> None:
        self.calendars.clear()

    def _seed(self, data: JSON) -> None:
        for item in data.get("calendars", []):
            email = str(item["email"])
            if item.get("timezone"):
                self.set_timezone(email, str(item["timezone"]))
            for event in item.get("events", []):
                self.add_event(
                    email,
                    _seed_moment(str(event["start"])),
                    _seed_moment(str(event["end"])),
                    str(event.get("summary", "Busy")),
                    transparent=bool(event.get("transparent", False)),
                    time_zone=event.get("time_zone"),
                    status=str(event.get("status", "confirmed")),
                    attendees=event.get("attendees", ()),
                    event_id=event.get("id"),
                )

    def _state(self) -> JSON:
        return {
            "calendars": {
                email: {
                    "timezone": calendar.timezone,
                    "events": [self._resource(e, calendar, None) for e in calendar.events.values()],
                    "invitations": copy.deepcopy(calendar.invitations),
                }
                for email, calendar in self.calendars.items()
            }
        }

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        body = super().error_body(status, message, **details)
        item = body["error"]["errors"][0]
        if details.get("reason") in _CALENDAR_REASONS:
            item["message"] = message
        if details.get("location"):
            item.update(location=details["location"], locationType="parameter")
        for detail in body["error"].get("details", []):
            metadata = detail.get("metadata")
            if isinstance(metadata, dict) and "service" in metadata:
                metadata["service"] = "calendar-json.googleapis.com"
        return body

    # ----------------------------------------------------------------- internals

    def _calendar(self, email: str) -> Calendar:
        account = self.accounts.add(email)
        calendar = self.calendars.get(account.email)
        if calendar is None:
            calendar = self.calendars[account.email] = Calendar(account.email)
        return calendar

    def _own_calendar(self, grant: AccessToken, calendar_id: str) -> Calendar:
        """The caller's calendar (``primary`` or their address); others answer 404."""
        if calendar_id == "primary" or calendar_id.lower() == grant.email:
            return self._calendar(grant.email)
        raise FakeHTTPError(404, "Not Found", reason="notFound")

    def _span(self, event: CalendarEvent, calendar: Calendar) -> tuple[datetime, datetime]:
        return (
            _instant(event.start, calendar.zone, "start"),
            _instant(event.end, calendar.zone, "end"),
        )

    def _resource(self, event: CalendarEvent, calendar: Calendar, shown_in: str | None) -> JSON:
        organizer = self.accounts.add(calendar.email)
        resource: JSON = {
            "kind": "calendar#event",
            "etag": f'"{int(event.updated * 1000)}"',
            "id": event.id,
            "status": event.status,
            "htmlLink": _html_link(event.id, calendar.email),
            "created": _rfc3339(event.created),
            "updated": _rfc3339(event.updated),
            "summary": event.summary,
            "creator": {"email": calendar.email, "self": True},
            "organizer": {"email": calendar.email, "displayName": organizer.name, "self": True},
            "start": self._time_resource(event.start, calendar, shown_in),
            "end": self._time_resource(event.end, calendar, shown_in),
            "iCalUID": event.ical_uid,
            "sequence": event.sequence,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        if event.description:
            resource["description"] = event.description
        if event.location:
            resource["location"] = event.location
        if event.transparency == "transparent":
            resource["transparency"] = "transparent"
        if event.attendees:
            resource["attendees"] = [dict(a) for a in event.attendees]
        if event.private or event.shared:
            resource["extendedProperties"] = {
                k: dict(v) for k, v in (("private", event.private), ("shared", event.shared)) if v
            }
        if event.hangout_link:
            resource["hangoutLink"] = event.hangout_link
        if event.conference:
            resource["conferenceData"] = copy.deepcopy(event.conference)
        return resource

    def _time_resource(self, when: JSON, calendar: Calendar, shown_in: str | None) -> JSON:
        if "date" in when:
            return {"date": when["date"]}
        zone_name = when.get("timeZone") or shown_in or calendar.timezone
        moment = _instant(when, calendar.zone, "start")
        shown: JSON = {"dateTime": _format(moment, ZoneInfo(zone_name))}
        if when.get("timeZone"):
            shown["timeZone"] = when["timeZone"]
        return shown

    def _fields(self) -> dict[str, Any] | None:
        spec = request.args.get("fields")
        if not spec:
            return None
        try:
            return parse_fields(spec)
        except ValueError:
            raise FakeHTTPError(
                400, "Invalid field selection fields", reason="invalidParameter", location="fields"
            ) from None

    def _answer(self, body: JSON) -> ViewResult:
        return jsonify(select_fields(body, self._fields()))

    # ----------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        self.route("/calendar/v3/freeBusy", methods=("POST",))(self._freebusy)
        self.route("/calendar/v3/calendars/<calendar_id>/events", methods=("GET",))(
            self._list_events
        )
        self.route("/calendar/v3/calendars/<calendar_id>/events", methods=("POST",))(
            self._insert_event
        )
        self.route("/calendar/v3/calendars/<calendar_id>/events/<event_id>", methods=("GET",))(
            self._get_event
        )
        self.route("/calendar/v3/calendars/<calendar_id>/events/<event_id>", methods=("DELETE",))(
            self._delete_event
        )
        self.route("/calendar/v3/users/me/settings/<setting>")(self._get_setting)

    def _freebusy(self) -> ViewResult:
        grant = self.authenticate(FREEBUSY_SCOPES)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise FakeHTTPError(400, "Parse Error", reason="parseError")
        time_min = _parse_instant(body.get("timeMin"), "timeMin")
        time_max = _parse_instant(body.get("timeMax"), "timeMax")
        if time_max <= time_min:
            raise _empty_range("timeMax")
        shown = _zone(str(body["timeZone"]), "timeZone") if body.get("timeZone") else None
        items = body.get("items") or []
        if not isinstance(items, list):
            raise FakeHTTPError(400, "Bad Request", reason="invalid", location="items")
        if len(items) > MAX_FREEBUSY_ITEMS:
            raise FakeHTTPError(
                400,
                "Too many calendars requested.",
                reason="tooManyCalendarsRequested",
                location="items",
            )
        calendars: JSON = {}
        for item in items:
            calendar_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            calendar = self._freebusy_calendar(grant, calendar_id)
            if calendar is None:
                calendars[calendar_id] = {"errors": [{"domain": "global", "reason": "notFound"}]}
                continue
            busy = merge_intervals(
                (max(first, time_min), min(last, time_max))
                for first, last in (
                    self._span(e, calendar) for e in calendar.events.values() if e.busy
                )
                if first < time_max and last > time_min and last > first
            )
            calendars[calendar_id] = {
                "busy": [{"start": _format(a, shown), "end": _format(b, shown)} for a, b in busy]
            }
        return self._answer(
            {
                "kind": "calendar#freeBusy",
                "timeMin": _format(time_min, shown),
                "timeMax": _format(time_max, shown),
                "calendars": calendars,
            }
        )

    def _freebusy_calendar(self, grant: AccessToken, calendar_id: str) -> Calendar | None:
        if calendar_id == "primary":
            return self._calendar(grant.email)
        account = self.accounts.get(calendar_id) if "@" in calendar_id else None
        if account is None:
            return None
        same_domain = account.email.rpartition("@")[2] == grant.email.rpartition("@")[2]
        return self._calendar(account.email) if same_domain else None

    def _insert_event(self, calendar_id: str) -> ViewResult:
        grant = self.authenticate(WRITE_SCOPES)
        calendar = self._own_calendar(grant, calendar_id)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise FakeHTTPError(400, "Parse Error", reason="parseError")
        send_updates = request.args.get("sendUpdates", "none")
        if send_updates not in _SEND_UPDATES:
            raise FakeHTTPError(
                400, "Invalid Value", reason="invalidParameter", location="sendUpdates"
            )
        version = request.args.get("conferenceDataVersion", "0")
        if version not in {"0", "1"}:
            raise FakeHTTPError(
                400, "Invalid Value", reason="invalidParameter", location="conferenceDataVersion"
            )

        event_id = body.get("id")
        if event_id is not None:
            if not isinstance(event_id, str) or not _EVENT_ID_RE.match(event_id):
                raise FakeHTTPError(400, "Invalid resource id value.", reason="invalid")
            if event_id in calendar.events:
                raise FakeHTTPError(
                    409, "The requested identifier already exists.", reason="duplicate"
                )
        event = CalendarEvent(
            id=event_id or new_event_id(),
            calendar=calendar.email,
            start=_checked_time(body.get("start"), "start"),
            end=_checked_time(body.get("end"), "end"),
            summary=str(body.get("summary") or ""),
            description=str(body.get("description") or ""),
            location=str(body.get("location") or ""),
            status="tentative" if body.get("status") == "tentative" else "confirmed",
            transparency="transparent" if body.get("transparency") == "transparent" else "opaque",
            attendees=self._attendees(body.get("attendees"), calendar.email),
        )
        first, last = self._span(event, calendar)
        if last < first:
            raise _empty_range("end")
        properties = body.get("extendedProperties") or {}
        if isinstance(properties, dict):
            event.private = {str(k): str(v) for k, v in (properties.get("private") or {}).items()}
            event.shared = {str(k): str(v) for k, v in (properties.get("shared") or {}).items()}
        if version == "1" and isinstance(body.get("conferenceData"), dict):
            self._create_conference(event, body["conferenceData"])
        calendar.events[event.id] = event
        recipients = self._invited(event, calendar.email, send_updates)
        if recipients:
            calendar.invitations.append(
                {
                    "eventId": event.id,
                    "summary": event.summary,
                    "to": recipients,
                    "sendUpdates": send_updates,
                }
            )
        return self._answer(self._resource(event, calendar, None))

    @staticmethod
    def _attendees(value: Any, organizer: str) -> list[JSON]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise FakeHTTPError(400, "Bad Request", reason="invalid", location="attendees")
        attendees: list[JSON] = []
        for item in value:
            email = str(item.get("email", "")).strip().lower() if isinstance(item, dict) else ""
            local, _, domain = email.partition("@")
            if not local or "." not in domain or any(c in email for c in " ,;<>\r\n"):
                raise FakeHTTPError(400, "Invalid attendee email.", reason="invalid")
            attendee: JSON = {"email": email}
            if isinstance(item, dict) and item.get("displayName"):
                attendee["displayName"] = str(item["displayName"])
            if isinstance(item, dict) and item.get("optional"):
                attendee["optional"] = True
            if email == organizer:
                attendee.update(organizer=True, self=True, responseStatus="accepted")
            else:
                attendee["responseStatus"] = "needsAction"
            attendees.append(attendee)
        return attendees

    @staticmethod
    def _invited(event: CalendarEvent, organizer: str, send_updates: str) -> list[str]:
        if send_updates == "none":
            return []
        domain = organizer.rpartition("@")[2]
        return [
            a["email"]
            for a in event.attendees
            if a["email"] != organizer
            and (send_updates == "all" or a["email"].rpartition("@")[2] != domain)
        ]

    @staticmethod
    def _create_conference(event: CalendarEvent, data: JSON) -> None:
        create = data.get("createRequest")
        if not isinstance(create, dict):
            return
        request_id = str(create.get("requestId") or "")
        if not request_id:
            raise FakeHTTPError(400, "Invalid conference request id.", reason="invalid")
        kind = (create.get("conferenceSolutionKey") or {}).get("type", "hangoutsMeet")
        if kind != "hangoutsMeet":
            raise FakeHTTPError(400, "Invalid conference type value.", reason="invalid")
        digest = hashlib.sha256(f"{event.calendar} {request_id}".encode()).digest()
        letters = "".join("abcdefghijklmnopqrstuvwxyz"[b % 26] for b in digest[:10])
        code = f"{letters[:3]}-{letters[3:7]}-{letters[7:10]}"
        link = f"https://meet.google.com/{code}"
        event.hangout_link = link
        event.conference = {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
                "status": {"statusCode": "success"},
            },
            "entryPoints": [
                {"entryPointType": "video", "uri": link, "label": f"meet.google.com/{code}"}
            ],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "conferenceId": code,
        }

    def _get_event(self, calendar_id: str, event_id: str) -> ViewResult:
        grant = self.authenticate(READ_SCOPES)
        calendar = self._own_calendar(grant, calendar_id)
        event = calendar.events.get(event_id)
        if event is None:
            raise FakeHTTPError(404, "Not Found", reason="notFound")
        shown = request.args.get("timeZone")
        if shown:
            _zone(shown, "timeZone")
        return self._answer(self._resource(event, calendar, shown))

    def _delete_event(self, calendar_id: str, event_id: str) -> ViewResult:
        grant = self.authenticate(WRITE_SCOPES)
        calendar = self._own_calendar(grant, calendar_id)
        event = calendar.events.get(event_id)
        if event is None:
            raise FakeHTTPError(404, "Not Found", reason="notFound")
        if event.status == "cancelled":
            raise FakeHTTPError(410, "Resource has been deleted", reason="deleted")
        event.status = "cancelled"
        event.updated = time.time()
        event.sequence += 1
        return "", 204

    def _list_events(self, calendar_id: str) -> ViewResult:
        grant = self.authenticate(READ_SCOPES)
        calendar = self._own_calendar(grant, calendar_id)
        args = request.args
        time_min = _parse_instant(args["timeMin"], "timeMin") if "timeMin" in args else None
        time_max = _parse_instant(args["timeMax"], "timeMax") if "timeMax" in args else None
        if time_min is not None and time_max is not None and time_max <= time_min:
            raise _empty_range("timeMax")
        shown = args.get("timeZone")
        if shown:
            _zone(shown, "timeZone")
        show_deleted = _flag("showDeleted")
        single_events = _flag("singleEvents")
        order_by = args.get("orderBy")
        if order_by not in (None, "startTime", "updated"):
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="orderBy")
        if order_by == "startTime" and not single_events:
            raise FakeHTTPError(
                400,
                "The requested ordering is not available for the particular query.",
                reason="invalid",
                location="orderBy",
            )
        size = args.get("maxResults", "250")
        max_results = min(int(size), 2500) if size.isdigit() else 0
        if max_results < 1:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="maxResults")
        private = _properties(args.getlist("privateExtendedProperty"), "privateExtendedProperty")
        shared = _properties(args.getlist("sharedExtendedProperty"), "sharedExtendedProperty")
        ical_uid = args.get("iCalUID")
        text = (args.get("q") or "").lower()

        found: list[tuple[datetime, CalendarEvent]] = []
        for event in calendar.events.values():
            first, last = self._span(event, calendar)
            if event.status == "cancelled" and not show_deleted:
                continue
            if time_min is not None and last <= time_min:
                continue
            if time_max is not None and first >= time_max:
                continue
            if ical_uid is not None and event.ical_uid != ical_uid:
                continue
            if any(event.private.get(k) != v for k, v in private):
                continue
            if any(event.shared.get(k) != v for k, v in shared):
                continue
            if text and text not in f"{event.summary}\n{event.description}".lower():
                continue
            found.append((first, event))
        if order_by == "updated":
            found.sort(key=lambda pair: (pair[1].updated, pair[1].id))
        else:
            found.sort(key=lambda pair: (pair[0], pair[1].created, pair[1].id))

        start = 0
        token = args.get("pageToken")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise FakeHTTPError(
                    400, "Invalid Value", reason="invalid", location="pageToken"
                ) from None
        page = found[start : start + max_results]
        body: JSON = {
            "kind": "calendar#events",
            "etag": f'"{int(time.time() * 1000)}"',
            "summary": calendar.email,
            "updated": _rfc3339(max((e.updated for _, e in found), default=time.time())),
            "timeZone": calendar.timezone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
        }
        if start + max_results < len(found):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                str(start + max_results).encode()
            ).decode()
        body["items"] = [self._resource(e, calendar, shown) for _, e in page]
        return self._answer(body)

    def _get_setting(self, setting: str) -> ViewResult:
        grant = self.authenticate(SETTINGS_SCOPES)
        calendar = self._calendar(grant.email)
        if setting == "timezone":
            value = calendar.timezone
        elif setting in _OTHER_SETTINGS:
            value = _OTHER_SETTINGS[setting]
        else:
            raise FakeHTTPError(404, "Not Found", reason="notFound")
        return self._answer(
            {
                "kind": "calendar#setting",
                "etag": f'"{hashlib.sha256(f"{setting}={value}".encode()).hexdigest()[:12]}"',
                "id": setting,
                "value": value,
            }
        )


# ---------------------------------------------------------------------- helpers


def _empty_range(location: str) -> FakeHTTPError:
    return FakeHTTPError(
        400, "The specified time range is empty.", reason="timeRangeEmpty", location=location
    )


def _html_link(event_id: str, email: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {email}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def _flag(name: str) -> bool:
    value = request.args.get(name)
    if value is None:
        return False
    if value.lower() not in {"true", "false"}:
        raise FakeHTTPError(400, "Invalid Value", reason="invalid", location=name)
    return value.lower() == "true"


def _properties(values: list[str], location: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        name, sep, wanted = value.partition("=")
        if not sep or not name:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location=location)
        pairs.append((name, wanted))
    return pairs


def _checked_time(value: Any, which: str) -> JSON:
    """An event's start or end as the API takes it: ``date``, or ``dateTime`` with an offset or
    with ``timeZone``."""
    if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
        raise FakeHTTPError(400, f"Missing {which} time.", reason="required")
    if value.get("date"):
        try:
            date.fromisoformat(str(value["date"]))
        except ValueError:
            raise FakeHTTPError(400, "Bad Request", reason="invalid") from None
        return {"date": str(value["date"])}
    try:
        moment = datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        raise FakeHTTPError(400, "Bad Request", reason="invalid") from None
    zone_name = value.get("timeZone")
    if zone_name:
        _zone(str(zone_name), f"{which}.timeZone")
    if moment.tzinfo is None and not zone_name:
        raise FakeHTTPError(
            400, f"Missing time zone definition for {which} time.", reason="required"
        )
    checked: JSON = {"dateTime": str(value["dateTime"])}
    if zone_name:
        checked["timeZone"] = str(zone_name)
    return checked


def _instant(when: JSON, calendar_zone: ZoneInfo, which: str) -> datetime:
    """The UTC instant of a stored start or end; an all-day date is midnight in the calendar's
    zone."""
    if "date" in when:
        day = date.fromisoformat(when["date"])
        return datetime(day.year, day.month, day.day, tzinfo=calendar_zone).astimezone(UTC)
    moment = datetime.fromisoformat(when["dateTime"])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(when["timeZone"]))
    return moment.astimezone(UTC)


def _time_json(moment: datetime | date, zone_name: str, time_zone: str | None) -> JSON:
    if not isinstance(moment, datetime):
        return {"date": moment.isoformat()}
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone_name))
    stored: JSON = {"dateTime": moment.isoformat()}
    if time_zone:
        stored["timeZone"] = time_zone
    return stored


def _seed_moment(value: str) -> datetime | date:
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value)


__all__ = [
    "CALENDAR",
    "CALENDAR_EVENTS",
    "CALENDAR_FREEBUSY",
    "CALENDAR_READONLY",
    "DEFAULT_TIMEZONE",
    "FREEBUSY_SCOPES",
    "READ_SCOPES",
    "SETTINGS_SCOPES",
    "WRITE_SCOPES",
    "FakeCalendar",
    "merge_intervals",
    "new_event_id",
]
