"""Google Calendar through google-api-python-client: when the rep is busy, their time zone, and
the invite a confirmed meeting becomes.

Creating an invite is idempotent by our own key. The event carries the key in its private
extended properties and gets an id derived from it, so a retry (or a second delivery of the send
task) first finds the event by the key and, if an earlier insert landed unseen, runs into
Calendar's 409 for that id and returns the stored event instead of booking twice. The Meet
request id is derived from the key as well. An event someone deleted keeps its id in Calendar,
so it is returned as it is (``status: "cancelled"``), never booked again.

Errors map as for every Google API (`shared.adapters.google_api`): 404 (and 410) is NotFound,
401 after a refresh and a refused refresh are AuthorizationRefused, a permission 403 is
PermanentExternalError; rate limits, 5xx and timeouts are retried with backoff (honouring
Retry-After), then TransientError. A 409 is ConflictError, which `create_event` turns into a
look-up of the event that is already there.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.adapters.google_api import PERMISSION_REASONS, GoogleApi
from shared.errors import AppError, ConflictError, NotFound, TransientError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

log = logging.getLogger(__name__)

_AUTH = "https://www.googleapis.com/auth/"
CALENDAR_READONLY_SCOPE = f"{_AUTH}calendar.readonly"
CALENDAR_EVENTS_SCOPE = f"{_AUTH}calendar.events"
CALENDAR_FREEBUSY_SCOPE = f"{_AUTH}calendar.freebusy"
CALENDAR_SCOPES = (CALENDAR_READONLY_SCOPE, CALENDAR_EVENTS_SCOPE)
"""What a connected account grants for slots (free/busy, time zone) and invites."""

KEY_PROPERTY = "salesagent_key"
SEND_UPDATES = ("all", "externalOnly", "none")
_KEY_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")
_PERMISSION_REASONS = PERMISSION_REASONS | {"requiredAccessLevel", "forbiddenForNonOrganizer"}


def event_id_for(key: str) -> str:
    """The Calendar event id for our key: base32hex (``[a-v0-9]``), as event ids must be."""
    digest = hashlib.sha256(f"salesagent:{key}".encode()).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def conference_request_id(key: str) -> str:
    """The Meet ``createRequest.requestId`` for our key: one key, one conference."""
    return "salesagent-" + hashlib.sha256(f"meet:{key}".encode()).hexdigest()[:32]


def _checked_key(key: str) -> str:
    if not _KEY_RE.match(key):
        raise ValueError("an event key is 1-200 letters, digits and . _ : @ -")
    return key


def _aware(moment: datetime, name: str) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return moment


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TransientError("calendar freebusy: an answer without times")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TransientError("calendar freebusy: an answer with unreadable times") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class CalendarClient(GoogleApi):
    """The primary calendar of one Google account (the credentials' user)."""

    api = "calendar"
    version = "v3"
    label = "calendar"
    permission_reasons = _PERMISSION_REASONS

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        calendar_id: str = "primary",
        timeout: float = 30.0,
        attempts: int = 5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            credentials,
            endpoint=endpoint,
            timeout=timeout,
            attempts=attempts,
            backoff_max=backoff_max,
            sleep=sleep,
        )
        self.calendar_id = calendar_id

    # --- reading ----------------------------------------------------------------------
    def busy(self, email: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """When `email`'s calendar is busy between `start` and `end`: merged, sorted, in UTC.

        Transparent ("free") and cancelled events do not count; Calendar decides that. NotFound
        when Calendar will not show that calendar's free/busy to this account.
        """
        time_min, time_max = _aware(start, "start"), _aware(end, "end")
        if time_max <= time_min:
            return []
        body = {
            "timeMin": _rfc3339(time_min),
            "timeMax": _rfc3339(time_max),
            "timeZone": "UTC",
            "items": [{"id": email}],
        }
        data: dict[str, Any] = self._call(
            lambda: self.service.freebusy().query(body=body).execute(), "freebusy.query"
        )
        calendars = data.get("calendars") or {}
        entry = calendars.get(email)
        if entry is None:
            lowered = {str(k).lower(): v for k, v in calendars.items()}
            entry = lowered.get(email.lower())
        if not isinstance(entry, dict):
            raise TransientError("calendar freebusy.query: the answer left the calendar out")
        errors = entry.get("errors") or []
        if errors:
            reasons = {str(e.get("reason")) for e in errors if isinstance(e, dict)}
            if "notFound" in reasons:
                raise NotFound(
                    "calendar freebusy.query: this account cannot see that calendar's free/busy"
                )
            raise TransientError(
                "calendar freebusy.query: the calendar could not be read",
                detail=",".join(sorted(reasons)),
            )
        intervals = sorted(
            (_parse_time(item.get("start")), _parse_time(item.get("end")))
            for item in entry.get("busy") or []
            if isinstance(item, dict)
        )
        merged: list[tuple[datetime, datetime]] = []
        for first, last in intervals:
            if last <= first:
                continue
            if merged and first <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        return merged

    def timezone(self) -> str:
        """The calendar's time zone (an IANA name), from the account's settings."""
        data: dict[str, Any] = self._call(
            lambda: self.service.settings().get(setting="timezone").execute(), "settings.get"
        )
        value = data.get("value")
        if not isinstance(value, str) or not value:
            raise TransientError("calendar settings.get: an answer without a time zone")
        return value

    def find_event(self, key: str) -> dict[str, Any] | None:
        """The event we created under `key`, cancelled ones included, or None."""
        _checked_key(key)
        data: dict[str, Any] = self._call(
            lambda: (
                self.service.events()
                .list(
                    calendarId=self.calendar_id,
                    privateExtendedProperty=f"{KEY_PROPERTY}={key}",
                    showDeleted=True,
                    maxResults=10,
                )
                .execute()
            ),
            "events.list",
        )
        items = [item for item in data.get("items") or [] if isinstance(item, dict)]
        if not items:
            return None
        live = [item for item in items if item.get("status") != "cancelled"]
        return (live or items)[0]

    def get_event(self, event_id: str) -> dict[str, Any]:
        event: dict[str, Any] = self._call(
            lambda: (
                self.service.events().get(calendarId=self.calendar_id, eventId=event_id).execute()
            ),
            "events.get",
        )
        return event

    # --- writing ----------------------------------------------------------------------
    def create_event(
        self,
        key: str,
        summary: str,
        description: str,
        start: datetime,
        end: datetime,
        attendees: Sequence[str],
        time_zone: str,
        conference: bool = True,
        send_updates: str = "all",
    ) -> dict[str, Any]:
        """The invite for `key`, created once: an existing event with the key is returned as is.

        Times are shown to attendees in `time_zone`; `conference` adds a Google Meet link;
        `send_updates` (``all``, ``externalOnly``, ``none``) says whom Calendar emails.
        """
        _checked_key(key)
        _aware(start, "start")
        _aware(end, "end")
        if end <= start:
            raise ValueError("an invite must end after it starts")
        if send_updates not in SEND_UPDATES:
            raise ValueError(f"send_updates is one of {', '.join(SEND_UPDATES)}")
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {time_zone!r}") from None

        existing = self.find_event(key)
        if existing is not None:
            return existing
        body: dict[str, Any] = {
            "id": event_id_for(key),
            "summary": summary,
            "description": description,
            "start": {"dateTime": start.astimezone(zone).isoformat(), "timeZone": time_zone},
            "end": {"dateTime": end.astimezone(zone).isoformat(), "timeZone": time_zone},
            "attendees": [{"email": address} for address in dict.fromkeys(attendees)],
            "extendedProperties": {"private": {KEY_PROPERTY: key}},
            "reminders": {"useDefault": True},
        }
        if conference:
            body["conferenceData"] = {
                "createRequest": {
                    "requestId": conference_request_id(key),
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            }
        try:
            created: dict[str, Any] = self._call(
                lambda: (
                    self.service.events()
                    .insert(
                        calendarId=self.calendar_id,
                        body=body,
                        conferenceDataVersion=1 if conference else 0,
                        sendUpdates=send_updates,
                    )
                    .execute()
                ),
                "events.insert",
            )
        except ConflictError:
            log.info("calendar invite already created by an earlier attempt; using it")
            return self.get_event(body["id"])
        return created

    # --- internals --------------------------------------------------------------------
    def _special_error(
        self, status: int, reasons: set[str], exc: Any, what: str
    ) -> AppError | Exception | None:
        if status == 409:
            return ConflictError(
                f"calendar {what}: already exists", detail=",".join(sorted(reasons))
            )
        if status == 410:
            return NotFound(f"calendar {what}: deleted")
        return None
