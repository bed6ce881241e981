"""Meeting times: free slots from a calendar's busy times, how to write them, and which one a
prospect's reply takes.

Pure: busy intervals and "now" come in, nothing is read. Time zones are IANA names resolved with
zoneinfo. Slots are UTC instants; each day's working window is built from local wall times with
zoneinfo, so across a daylight-saving change the rep's 09:00 stays 09:00 local and the prospect's
window moves with their own clocks (Europe and the US change on different weekends).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
PROSPECT_DAYS = frozenset({0, 1, 2, 3, 4})
"""Days a prospect is offered a meeting on, in their own zone (never their weekend)."""
SECOND_SLOT_GAP = timedelta(hours=1)
"""A second slot on the same day keeps at least this much free time from the first."""


def zone(name: str) -> ZoneInfo:
    """The zone for an IANA name; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def known_time_zone(value: str | None) -> str | None:
    """An IANA zone name from what a CRM holds, or None when it names no zone.

    Takes IANA names in any case and HubSpot's ``hs_timezone`` values
    (``america_slash_new_york``). Anything else (empty, an offset, garbage) is None: the prospect's
    zone is then unknown, which is not an error.
    """
    text = (value or "").strip()
    if not text or len(text) > 64:
        return None
    text = text.replace("_slash_", "/")
    if "/" not in text and text.upper() != "UTC":
        return None
    for candidate in (text, "/".join(part.title() for part in text.split("/"))):
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return candidate
    return _zones_by_lower_name().get(text.lower())


@dataclass(frozen=True)
class WorkingHours:
    """When the rep takes meetings: local wall times on the given weekdays (Monday is 0)."""

    start: time = time(9)
    end: time = time(17, 30)
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    time_zone: str = "Europe/London"

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are wall times: give the zone in time_zone")
        if self.start >= self.end:
            raise ValueError("working hours must start before they end (not across midnight)")
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("working days are weekday numbers 0 (Monday) to 6 (Sunday)")
        zone(self.time_zone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Slot:
    """A meeting time; built from aware datetimes, held in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise ValueError("a slot's times must carry a time zone")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError("a slot must end after it starts")

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end


# ---------------------------------------------------------------------- finding slots


def free_slots(
    busy: list[tuple[datetime, datetime]],
    *,
    now: datetime,
    hours: WorkingHours,
    duration: timedelta = timedelta(minutes=30),
    days_ahead: int = 5,
    max_slots: int = 3,
    min_notice: timedelta = timedelta(hours=4),
    step: timedelta = timedelta(minutes=30),
    prospect_tz: str | None = None,
    prospect_hours: tuple[time, time] = (time(8), time(18)),
) -> list[Slot]:
    """Up to `max_slots` meeting times to propose, earliest first.

    Each lies in the rep's working hours on one of their next `days_ahead` working days (today
    counts while its window is still ahead of `now` plus `min_notice`), starts on a `step`
    boundary from the start of the working day, overlaps nothing in `busy`, and starts at least
    `min_notice` after `now`. When `prospect_tz` names a zone the slot also falls inside
    `prospect_hours` on a weekday of theirs; an unknown name is treated as no zone.

    The slots are spread: one per day first (early and later in the day in turn), a second on
    a day only when there are fewer good days than slots, and then at least an hour apart.
    """
    if now.utcoffset() is None:
        raise ValueError("now must carry a time zone")
    if duration <= timedelta(0) or step <= timedelta(0):
        raise ValueError("duration and step must be positive")
    low, high = prospect_hours
    if low >= high:
        raise ValueError("the prospect's hours must start before they end")
    if max_slots <= 0 or days_ahead <= 0:
        return []
    blocked = _merged(busy)
    earliest = now.astimezone(UTC) + max(min_notice, timedelta(0))
    known = known_time_zone(prospect_tz)
    their_zone = ZoneInfo(known) if known else None

    days: list[list[Slot]] = []
    day = now.astimezone(hours.zone).date()
    for _ in range(days_ahead * 7 + 7):
        if len(days) == days_ahead:
            break
        if day.weekday() in hours.days:
            opens = _instant(day, hours.start, hours.zone)
            closes = _instant(day, hours.end, hours.zone)
            if closes - duration >= earliest:
                days.append(
                    [
                        slot
                        for slot in _candidates(opens, closes, duration, step)
                        if slot.start >= earliest
                        and not _collides(slot, blocked)
                        and (their_zone is None or _suits(slot, their_zone, low, high))
                    ]
                )
        day += timedelta(days=1)
    return _spread(days, max_slots)


def _instant(day: date, at: time, where: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=where).astimezone(UTC)


def _merged(busy: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    intervals: list[tuple[datetime, datetime]] = []
    for start, end in busy:
        if start.utcoffset() is None or end.utcoffset() is None:
            raise ValueError("busy times must carry a time zone")
        if end > start:
            intervals.append((start.astimezone(UTC), end.astimezone(UTC)))
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _candidates(
    opens: datetime, closes: datetime, duration: timedelta, step: timedelta
) -> list[Slot]:
    found: list[Slot] = []
    start = opens
    while start + duration <= closes:
        found.append(Slot(start, start + duration))
        start += step
    return found


def _collides(slot: Slot, blocked: list[tuple[datetime, datetime]]) -> bool:
    return any(slot.overlaps(start, end) for start, end in blocked)


def _suits(slot: Slot, where: ZoneInfo, low: time, high: time) -> bool:
    start, end = slot.start.astimezone(where), slot.end.astimezone(where)
    return (
        start.weekday() in PROSPECT_DAYS
        and start.date() == end.date()
        and low <= start.time()
        and end.time() <= high
    )


def _spread(days: list[list[Slot]], max_slots: int) -> list[Slot]:
    """One slot per day, taking turns between the first free time of the day and the first in
    the later half of what is free that day; then a second slot on the days already used, as
    far from the first as the day allows."""
    chosen: dict[int, list[Slot]] = {}
    for index, candidates in enumerate(days):
        if len(chosen) == max_slots:
            break
        if candidates:
            pick = candidates[0]
            if len(chosen) % 2 == 1:
                middle = pick.start + (candidates[-1].start - pick.start) / 2
                pick = next(s for s in candidates if s.start >= middle)
            chosen[index] = [pick]
    total = len(chosen)
    for index, picked in list(chosen.items()):
        if total == max_slots:
            break
        first = picked[0]
        apart = [s for s in days[index] if _gap(s, first) >= SECOND_SLOT_GAP]
        if apart:
            picked.append(max(apart, key=lambda s: (_gap(s, first), -s.start.timestamp())))
            total += 1
    return sorted((slot for picked in chosen.values() for slot in picked), key=_start)


def _start(slot: Slot) -> datetime:
    return slot.start


def _gap(slot: Slot, other: Slot) -> timedelta:
    if slot.start >= other.end:
        return slot.start - other.end
    if other.start >= slot.end:
        return other.start - slot.end
    return timedelta(0) - (min(slot.end, other.end) - max(slot.start, other.start))


# ---------------------------------------------------------------------- writing slots


def describe(slot: Slot, tz: str) -> str:
    """``Tuesday 24 November, 10:00–10:30 (Europe/Berlin)``."""
    where = zone(tz)
    start, end = slot.start.astimezone(where), slot.end.astimezone(where)
    return (
        f"{WEEKDAYS[start.weekday()]} {start.day} {MONTHS[start.month - 1]}, "
        f"{start:%H:%M}\u2013{end:%H:%M} ({tz})"
    )


# ---------------------------------------------------------------------- reading a reply

_MERIDIEM = r"(am|pm)"
_MONTH_NAMES = (
    r"(january|jan|february|feb|march|mar|april|apr|may|june|jun|july|jul|august|aug|"
    r"september|sept|sep|october|oct|november|nov|december|dec)"
)
_MONTH_NUMBERS = {name[:3].lower(): number for number, name in enumerate(MONTHS, start=1)}
_WEEKDAY_NUMBERS = {name[:3].lower(): number for number, name in enumerate(WEEKDAYS)}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_ORDINAL_WORDS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
}

_NUMBER = r"(?:\d{1,2}|one|two|three|four|five)\b"
_OPTION_RE = re.compile(
    rf"\b(?:option|slot|choice)s?\s*(?:number\s*|no\s*)?#?\s*({_NUMBER}"
    rf"(?:\s*(?:,|/|&|\bor\b|\band\b)\s*#?\s*{_NUMBER})*)"
    r"|(?<![\w#])#(\d)\b"
    r"|\b(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last)\s+(?:option|slot|choice|one)\b",
    re.IGNORECASE,
)
_DAY_MONTH_RE = re.compile(
    rf"(?<!at )(?<!@)(?<!@ )\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAMES}\b", re.I
)
_MONTH_DAY_RE = re.compile(
    rf"\b{_MONTH_NAMES}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:[:.]\d|am\b|pm\b))", re.I
)
_ORDINAL_DAY_RE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.I)
_WEEKDAY_RE = re.compile(
    r"\b(monday|mon|tuesday|tues|tue|wednesday|weds|wed|thursday|thurs|thur|thu|friday|fri|"
    r"saturday|sunday)\b",
    re.I,
)
_RELATIVE_RE = re.compile(r"\b(today|tomorrow)\b", re.I)
_RANGE_RE = re.compile(
    rf"(?<![\d£$€.,])\b(\d{{1,2}})(?:[:.](\d{{2}}))?\s*{_MERIDIEM}?\s*(?:-|\u2013|\u2014|to|until|till)"
    rf"\s*\d{{1,2}}(?:[:.]\d{{2}})?\s*{_MERIDIEM}?",
    re.I,
)
_CLOCK_RE = re.compile(
    rf"(?<![\d£$€.,])\b(\d{{1,2}})[:.](\d{{2}})\s*{_MERIDIEM}?\b"
    rf"|(?<![\d£$€.,])\b(\d{{1,2}})\s*{_MERIDIEM}\b"
    r"|(?:\bat|@)\s*(\d{1,2})\b(?![:.]?\d|\s*(?:st|nd|rd|th|am|pm|%|/))"
    r"|\b(noon|midday)\b",
    re.I,
)
_NEGATION_RE = re.compile(
    r"\b(?:not|no|never|cannot|cant|unable|unfortunately|neither|nor|none|busy|conflict|"
    r"clash(?:es)?)\b|n't\b",
    re.I,
)
_ACCEPTANCE_RE = re.compile(
    r"\b(?:works?|fine|good|great|perfect|suits?|ideal|best|prefer|let'?s|book|go with|go for|"
    r"take|i'?ll|i will|yes|yep|sure|ok|okay|sounds|please|confirm(?:ed)?|happy|see you)\b",
    re.I,
)
_FRAGMENT_SPLIT_RE = re.compile(
    r",|\b(?:but|however|although|though|except|whereas)\b", re.IGNORECASE
)
_QUOTE_START_RE = re.compile(
    r"^\s*(?:on\b.{0,200}\bwrote:?|-{2,}\s*original message\s*-{2,}|from:\s.*)\s*$", re.I
)
_SHORT_REPLY_WORDS = 8


@dataclass
class _Mentions:
    options: set[int]
    weekdays: set[int]
    dates: set[tuple[int, int | None]]
    times: set[tuple[int, int]]
    clock_mentions: int = 0

    @property
    def any(self) -> bool:
        return bool(self.options or self.weekdays or self.dates or self.times)

    @property
    def several(self) -> bool:
        """Names more than one option, weekday, date or time: which goes with which is a guess
        ("Monday at 1pm or Wednesday at 12"), so an accepting clause like this settles nothing."""
        return (
            len(self.options) > 1
            or len(self.weekdays) > 1
            or len(self.dates) > 1
            or self.clock_mentions > 1
        )


def match_acceptance(text: str, offered: list[Slot], tz: str, now: datetime) -> Slot | None:
    """The offered slot a reply accepts, or None when it accepts none or it is not clear which.

    `tz` is the zone the slots were written in for the prospect (see :func:`describe`). Reads
    "option 2" / "the second one", weekdays, dates ("the 24th", "24 November", "tomorrow") and
    times ("10", "10:00", "3pm", "noon"; an hour without am/pm is either), only in the new text
    (quoted lines and anything after an "On ... wrote:" line are left out). A part of the reply
    that refuses ("Tuesday doesn't work") rules out what it names; a question ("Would Tuesday
    work?") accepts nothing. The answer is a slot only when exactly one offered slot, still in
    the future, is accepted, and the reply says so ("works", "fine", "let's"...) or is a bare
    choice of a few words.
    """
    where = zone(tz)
    live = {index: slot for index, slot in enumerate(offered, start=1) if slot.start > now}
    if not live:
        return None
    body = _new_text(text)
    clauses = _clauses(body)
    accepting = any(
        _ACCEPTANCE_RE.search(clause) and not negated and not question
        for clause, negated, question in clauses
    ) or (len(body.split()) <= _SHORT_REPLY_WORDS and "?" not in body)
    if not accepting:
        return None
    accepted: set[int] = set()
    refused: set[int] = set()
    for clause, negated, question in clauses:
        mentions = _mentions(clause, now.astimezone(where).date())
        if not mentions.any or (question and not negated):
            continue
        if mentions.several and not negated:
            return None
        matched = _matching(mentions, live, len(offered), where)
        (refused if negated else accepted).update(matched)
    chosen = accepted - refused
    if len(chosen) != 1:
        return None
    return live[chosen.pop()]


def _new_text(text: str) -> str:
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_START_RE.match(line):
            break
        if not line.lstrip().startswith(">"):
            lines.append(line)
    body = "\n".join(lines).replace("\u2019", "'")
    body = re.sub(r"\b([ap])\.m\.?", r"\1m", body, flags=re.I)
    return re.sub(
        r"\b(jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mon|tue|tues|wed|thu|thur|"
        r"thurs|fri)\.",
        r"\1",
        body,
        flags=re.I,
    )


def _clauses(body: str) -> list[tuple[str, bool, bool]]:
    """(clause, refuses, asks) for each part of the reply.

    Sentences split at end punctuation; inside one, commas and "but"/"however" split parts that
    refuse or accept, while plain parts ("Tuesday, 24 November, 10:00 works") join the next.
    """
    clauses: list[tuple[str, bool, bool]] = []
    for sentence in re.split(r"(?<=[.!?;])\s+|\n+", body):
        sentence = sentence.strip()
        if not sentence:
            continue
        asks = sentence.endswith("?")
        parts = [p for p in _FRAGMENT_SPLIT_RE.split(sentence) if p.strip()]
        joined: list[str] = []
        pending = ""
        for part in parts:
            pending = f"{pending},{part}" if pending else part
            if _NEGATION_RE.search(part) or _ACCEPTANCE_RE.search(part):
                joined.append(pending)
                pending = ""
        if pending:
            if joined:
                joined[-1] = f"{joined[-1]},{pending}"
            else:
                joined.append(pending)
        for index, part in enumerate(joined):
            last = index == len(joined) - 1
            clauses.append((part, bool(_NEGATION_RE.search(part)), asks and last))
    return clauses


def _mentions(clause: str, today: date) -> _Mentions:
    found = _Mentions(set(), set(), set(), set())
    rest = clause

    def take(pattern: re.Pattern[str]) -> list[re.Match[str]]:
        nonlocal rest
        matches = list(pattern.finditer(rest))
        for match in reversed(matches):
            rest = rest[: match.start()] + " " * (match.end() - match.start()) + rest[match.end() :]
        return matches

    for match in take(_OPTION_RE):
        number, hashed, ordinal = match.groups()
        if number:
            for item in re.findall(r"\d{1,2}|[a-z]+", number.lower()):
                if item.isdigit() or item in _NUMBER_WORDS:
                    found.options.add(int(item) if item.isdigit() else _NUMBER_WORDS[item])
        elif hashed:
            found.options.add(int(hashed))
        else:
            found.options.add(_ORDINAL_WORDS[ordinal.lower()])
    for match in take(_RANGE_RE):
        found.times.update(_clock(match[1], match[2], match[3]))
        found.clock_mentions += 1
    for match in take(_DAY_MONTH_RE):
        _add_date(found, int(match[1]), _MONTH_NUMBERS[match[2][:3].lower()])
    for match in take(_MONTH_DAY_RE):
        _add_date(found, int(match[2]), _MONTH_NUMBERS[match[1][:3].lower()])
    for match in take(_ORDINAL_DAY_RE):
        _add_date(found, int(match[1]), None)
    for match in take(_RELATIVE_RE):
        day = today + timedelta(days=1 if match[1].lower() == "tomorrow" else 0)
        found.dates.add((day.day, day.month))
    for match in take(_WEEKDAY_RE):
        found.weekdays.add(_WEEKDAY_NUMBERS[match[1][:3].lower()])
    for match in take(_CLOCK_RE):
        if match[1]:
            found.times.update(_clock(match[1], match[2], match[3]))
        elif match[4]:
            found.times.update(_clock(match[4], None, match[5]))
        elif match[6]:
            found.times.update(_clock(match[6], None, None))
        else:
            found.times.add((12, 0))
        found.clock_mentions += 1
    return found


def _add_date(found: _Mentions, day: int, month: int | None) -> None:
    if 1 <= day <= 31:
        found.dates.add((day, month))


def _clock(hour_text: str, minute_text: str | None, meridiem: str | None) -> set[tuple[int, int]]:
    hour, minute = int(hour_text), int(minute_text or 0)
    if minute > 59 or hour > 23:
        return set()
    if meridiem:
        if not 1 <= hour <= 12:
            return set()
        base = hour % 12
        return {(base + 12 if meridiem.lower() == "pm" else base, minute)}
    if 1 <= hour <= 11:
        return {(hour, minute), (hour + 12, minute)}
    return {(hour, minute)}


def _matching(mentions: _Mentions, live: dict[int, Slot], count: int, where: ZoneInfo) -> set[int]:
    matched: set[int] = set()
    wanted = {count if option == -1 else option for option in mentions.options}
    for index, slot in live.items():
        start = slot.start.astimezone(where)
        if wanted and index not in wanted:
            continue
        if mentions.weekdays and start.weekday() not in mentions.weekdays:
            continue
        if mentions.dates and not any(
            day == start.day and month in (None, start.month) for day, month in mentions.dates
        ):
            continue
        if mentions.times and (start.hour, start.minute) not in mentions.times:
            continue
        matched.add(index)
    return matched
