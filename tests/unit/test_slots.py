"""Meeting slots: what free_slots proposes, how a slot reads, which slot a reply accepts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.slots import (
    Slot,
    WorkingHours,
    describe,
    free_slots,
    known_time_zone,
    match_acceptance,
)

LONDON = ZoneInfo("Europe/London")
LONDON_HOURS = WorkingHours()
MONDAY_8AM = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # London is on UTC in November


def _london(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


def _read(slots: list[Slot], tz: str = "Europe/London") -> list[str]:
    return [describe(slot, tz) for slot in slots]


# ---------------------------------------------------------------------- free_slots


def test_three_slots_on_three_days_taking_turns_early_and_later():
    slots = free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS)

    assert _read(slots) == [
        "Monday 23 November, 12:00\u201312:30 (Europe/London)",  # 4 hours' notice
        "Tuesday 24 November, 13:00\u201313:30 (Europe/London)",
        "Wednesday 25 November, 09:00\u201309:30 (Europe/London)",
    ]
    assert all(slot.start.tzinfo is UTC for slot in slots)


def test_a_busy_day_is_skipped():
    busy = [
        (_london(23, 0), _london(24, 0)),
        (_london(24, 8), _london(24, 18)),
    ]

    slots = free_slots(busy, now=MONDAY_8AM, hours=LONDON_HOURS)

    assert [s.start.astimezone(LONDON).day for s in slots] == [25, 26, 27]


def test_busy_times_push_the_slot_to_the_next_free_start():
    busy = [(_london(25, 9), _london(25, 10, 15))]
    now = _london(24, 18)

    slots = free_slots(busy, now=now, hours=LONDON_HOURS, max_slots=1)

    assert _read(slots) == ["Wednesday 25 November, 10:30\u201311:00 (Europe/London)"]


def test_the_weekend_is_skipped():
    friday_evening = _london(27, 17)

    slots = free_slots([], now=friday_evening, hours=LONDON_HOURS)

    assert [s.start.astimezone(LONDON).strftime("%a %d") for s in slots] == [
        "Mon 30",
        "Tue 01",
        "Wed 02",
    ]


def test_minimum_notice_is_respected():
    now = _london(23, 10, 7)

    first = free_slots([], now=now, hours=LONDON_HOURS, max_slots=1)[0]

    assert first.start == _london(23, 14, 30)
    late = free_slots([], now=_london(23, 14), hours=LONDON_HOURS, max_slots=1)[0]
    assert late.start == _london(24, 9)  # 18:00 is past the working day


def test_a_prospect_in_new_york_narrows_a_london_reps_day():
    slots = free_slots(
        [], now=MONDAY_8AM, hours=LONDON_HOURS, prospect_tz="America/New_York", max_slots=6
    )

    for slot in slots:
        there = slot.start.astimezone(ZoneInfo("America/New_York"))
        here = slot.start.astimezone(LONDON)
        assert there.time() >= time(8)
        assert here.time() >= time(13)
        assert slot.end.astimezone(LONDON).time() <= time(17, 30)
    assert _read(slots[:2], "America/New_York") == [
        "Monday 23 November, 08:00\u201308:30 (America/New_York)",
        "Monday 23 November, 12:00\u201312:30 (America/New_York)",
    ]


def test_a_prospect_zone_with_no_overlap_gets_no_slots():
    slots = free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS, prospect_tz="Pacific/Auckland")
    assert slots == []


def test_the_prospects_weekend_is_not_offered():
    """A Friday evening in London is already Saturday morning in Auckland: never offered; a
    Thursday evening there is their Friday morning: fine."""
    hours = WorkingHours(start=time(6), end=time(22))
    auckland = ZoneInfo("Pacific/Auckland")

    slots = free_slots(
        [],
        now=_london(26, 0),
        hours=hours,
        prospect_tz="Pacific/Auckland",
        days_ahead=2,
        max_slots=10,
    )

    assert slots
    assert {s.start.astimezone(LONDON).strftime("%A") for s in slots} == {"Thursday"}
    assert {s.start.astimezone(auckland).strftime("%A") for s in slots} == {"Friday"}


def test_hubspot_time_zone_values_are_understood():
    assert known_time_zone("america_slash_new_york") == "America/New_York"
    assert known_time_zone("europe_slash_london") == "Europe/London"
    assert known_time_zone("America/Argentina/Buenos_Aires") == "America/Argentina/Buenos_Aires"
    assert known_time_zone("america/new_york") == "America/New_York"
    assert known_time_zone("") is None
    assert known_time_zone(None) is None
    assert known_time_zone("GMT+2") is None
    assert known_time_zone("../../etc/passwd") is None
    from_hubspot = free_slots(
        [], now=MONDAY_8AM, hours=LONDON_HOURS, prospect_tz="america_slash_new_york"
    )
    assert from_hubspot == free_slots(
        [], now=MONDAY_8AM, hours=LONDON_HOURS, prospect_tz="America/New_York"
    )
    unknown = free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS, prospect_tz="Nowhere/Land")
    assert unknown == free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS)


def test_the_dst_week_when_europe_has_changed_and_the_us_has_not():
    """London leaves summer time on 25 October 2026, New York on 1 November: that week New
    York is 4 hours behind London, not 5, so the prospect's 08:00 is the rep's 12:00."""
    odd_week = free_slots(
        [],
        now=datetime(2026, 10, 26, 6, tzinfo=UTC),
        hours=LONDON_HOURS,
        prospect_tz="America/New_York",
        min_notice=timedelta(0),
        max_slots=1,
    )
    usual_week = free_slots(
        [],
        now=datetime(2026, 11, 2, 6, tzinfo=UTC),
        hours=LONDON_HOURS,
        prospect_tz="America/New_York",
        min_notice=timedelta(0),
        max_slots=1,
    )

    assert odd_week[0].start == datetime(2026, 10, 26, 12, tzinfo=UTC)
    assert usual_week[0].start == datetime(2026, 11, 2, 13, tzinfo=UTC)
    assert describe(odd_week[0], "America/New_York").startswith("Monday 26 October, 08:00")


def test_the_reps_nine_oclock_moves_in_utc_across_the_clock_change():
    def first_slot(now: datetime) -> Slot:
        return free_slots([], now=now, hours=LONDON_HOURS, min_notice=timedelta(0), max_slots=1)[0]

    friday = first_slot(datetime(2026, 10, 23, 0, tzinfo=UTC))
    monday = first_slot(datetime(2026, 10, 26, 0, tzinfo=UTC))

    assert friday.start == datetime(2026, 10, 23, 8, tzinfo=UTC)  # 09:00 BST
    assert monday.start == datetime(2026, 10, 26, 9, tzinfo=UTC)  # 09:00 GMT
    assert {s.start.astimezone(LONDON).hour for s in (friday, monday)} == {9}


def test_few_free_days_get_a_second_slot_well_apart():
    slots = free_slots([], now=_london(23, 18), hours=LONDON_HOURS, days_ahead=2, max_slots=3)

    assert _read(slots) == [
        "Tuesday 24 November, 09:00\u201309:30 (Europe/London)",
        "Tuesday 24 November, 17:00\u201317:30 (Europe/London)",
        "Wednesday 25 November, 13:00\u201313:30 (Europe/London)",
    ]


def test_a_day_with_only_back_to_back_times_gets_one_slot():
    busy = [(_london(24, 0), _london(24, 9)), (_london(24, 10), _london(25, 0))]

    slots = free_slots(busy, now=_london(23, 18), hours=LONDON_HOURS, days_ahead=1)

    assert _read(slots) == ["Tuesday 24 November, 09:00\u201309:30 (Europe/London)"]


def test_longer_meetings_and_custom_hours_and_days():
    hours = WorkingHours(
        start=time(10), end=time(16), days=frozenset({1, 3}), time_zone="Europe/Berlin"
    )

    slots = free_slots([], now=MONDAY_8AM, hours=hours, duration=timedelta(hours=1))

    assert _read(slots, "Europe/Berlin") == [
        "Tuesday 24 November, 10:00\u201311:00 (Europe/Berlin)",
        "Thursday 26 November, 12:30\u201313:30 (Europe/Berlin)",
        "Tuesday 1 December, 10:00\u201311:00 (Europe/Berlin)",
    ]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        free_slots([], now=datetime(2026, 11, 23, 8), hours=LONDON_HOURS)
    with pytest.raises(ValueError, match="time zone"):
        free_slots(
            [(datetime(2026, 11, 23), datetime(2026, 11, 24))], now=MONDAY_8AM, hours=LONDON_HOURS
        )
    with pytest.raises(ValueError, match="start before they end"):
        WorkingHours(start=time(18), end=time(9))
    with pytest.raises(ValueError, match="weekday numbers"):
        WorkingHours(days=frozenset({7}))
    with pytest.raises(ValueError, match="unknown time zone"):
        WorkingHours(time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="time zone"):
        Slot(datetime(2026, 11, 23, 9), datetime(2026, 11, 23, 10))
    with pytest.raises(ValueError, match="end after it starts"):
        Slot(_london(23, 10), _london(23, 9))
    assert free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS, max_slots=0) == []


# ---------------------------------------------------------------------- properties

_HOURS = st.builds(
    WorkingHours,
    start=st.sampled_from([time(7), time(8, 30), time(9)]),
    end=st.sampled_from([time(12), time(17, 30), time(20)]),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    time_zone=st.sampled_from(
        ["Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
    ),
)
_NOW = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def _now_and_busy(draw: st.DrawFn) -> tuple[datetime, list[tuple[datetime, datetime]]]:
    """A moment and busy times around it: over the next two weeks, some already running."""
    now = draw(_NOW)
    intervals = []
    for _ in range(draw(st.integers(0, 12))):
        start = now + timedelta(minutes=draw(st.integers(-600, 14 * 24 * 60)))
        length = timedelta(minutes=draw(st.integers(5, 600)))
        intervals.append((start, start + length))
    return now, intervals


@settings(max_examples=150, deadline=None)
@given(
    scenario=_now_and_busy(),
    hours=_HOURS,
    prospect=st.sampled_from([None, "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]),
    duration=st.sampled_from([timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1)]),
    max_slots=st.integers(1, 5),
)
def test_slots_never_overlap_busy_stay_in_hours_and_lie_ahead(
    scenario, hours, prospect, duration, max_slots
):
    now, busy = scenario
    slots = free_slots(
        busy, now=now, hours=hours, prospect_tz=prospect, duration=duration, max_slots=max_slots
    )

    assert len(slots) <= max_slots
    assert slots == sorted(slots, key=lambda s: s.start)
    per_day: dict[object, int] = {}
    for slot in slots:
        assert slot.end - slot.start == duration
        assert slot.start >= now + timedelta(hours=4)
        for start, end in busy:
            assert not (slot.start < end and start < slot.end)
        local_start, local_end = slot.start.astimezone(hours.zone), slot.end.astimezone(hours.zone)
        assert local_start.weekday() in hours.days
        assert local_start.date() == local_end.date()
        assert hours.start <= local_start.time()
        assert local_end.time() <= hours.end
        if prospect:
            there = slot.start.astimezone(ZoneInfo(prospect))
            assert there.weekday() < 5
            assert time(8) <= there.time()
            assert slot.end.astimezone(ZoneInfo(prospect)).time() <= time(18)
        per_day[local_start.date()] = per_day.get(local_start.date(), 0) + 1
    assert all(count <= 2 for count in per_day.values())
    assert len({s.start for s in slots}) == len(slots)


# ---------------------------------------------------------------------- acceptance

OFFERED = free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS)  # Mon 12:00, Tue 13:00, Wed 09:00
MON, TUE, WED = OFFERED


def _accepts(text: str, offered: list[Slot] = OFFERED, now: datetime = MONDAY_8AM) -> Slot | None:
    return match_acceptance(text, offered, "Europe/London", now)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tuesday at 1 works", TUE),
        ("Tuesday at 1pm works for me.", TUE),
        ("the 24th at 13:00 is fine", TUE),
        ("Option 2", TUE),
        ("option 2 please", TUE),
        ("Let's go with the second one.", TUE),
        ("I'll take the last one", WED),
        ("#3 works", WED),
        ("Wed 25 Nov 09:00 works.", WED),
        ("Nov. 25 at 9 a.m. is perfect", WED),
        ("Wednesday, 25 November, 09:00 suits me", WED),
        ("Let's do Wednesday 25 November, 09:00\u201309:30 (Europe/London)", WED),
        ("Monday at noon is great", MON),
        ("Great! Monday 12:00.", MON),
        ("Tuesday doesn't work, but Wednesday at 9 is fine", WED),
        ("Tuesday at 13:00 works, Wednesday doesn't.", TUE),
        ("Wednesday at 9 works. Could you send an invite?", WED),
        ("Tomorrow at 1pm then, sounds good", TUE),
        (
            "Wednesday works.\n\nOn Mon, 23 Nov 2026 at 08:00, Maya wrote:\n"
            "> Monday 23 November, 12:00\u201312:30\n> Tuesday 24 November, 13:00\u201313:30",
            WED,
        ),
        ("> Tuesday 24 November, 13:00\nMonday works for me", MON),
    ],
)
def test_a_clear_acceptance_picks_the_slot(text, expected):
    assert _accepts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Would Tuesday at 1 work?",  # a question
        "Either works for me",  # which?
        "Any of those is fine",
        "Monday or Tuesday both work",
        "Monday at 12pm or Tuesday at 1pm both work",
        "Monday at 1pm or Wednesday at 12 would work",  # pairs that match nothing offered
        "option 2 or 3 works",
        "Sorry, none of these work for me. How about Thursday at 10?",
        "Tuesday at 1 doesn't work",
        "Thursday at 10 works",  # not offered
        "Tuesday at 3 works",  # no slot then
        "Tuesday the 25th at 1pm works",  # Tuesday is the 24th
        "Thanks for the options, I'll check with my team and get back to you next week.",
        "Tuesday at 1pm. My colleague will also join if that's not a problem with you guys.",
        "",
    ],
)
def test_ambiguous_or_refusing_replies_pick_nothing(text):
    assert _accepts(text) is None


def test_a_slot_already_past_is_not_accepted():
    later = _london(24, 14)
    assert _accepts("Tuesday at 1pm works", now=later) is None
    assert _accepts("Wednesday at 9 works", now=later) == WED


def test_times_are_read_in_the_zone_the_slots_were_written_in():
    new_york = free_slots([], now=MONDAY_8AM, hours=LONDON_HOURS, prospect_tz="America/New_York")
    tuesday = new_york[1]
    assert describe(tuesday, "America/New_York").startswith("Tuesday 24 November, 10:00")

    assert match_acceptance("Tuesday at 10am works", new_york, "America/New_York", MONDAY_8AM) == (
        tuesday
    )
    assert match_acceptance("Tuesday at 10am works", new_york, "Europe/London", MONDAY_8AM) is None


def test_describe_uses_the_asked_zone():
    slot = Slot(datetime(2026, 11, 24, 9, tzinfo=UTC), datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    assert (
        describe(slot, "Europe/Berlin") == "Tuesday 24 November, 10:00\u201310:30 (Europe/Berlin)"
    )
    assert describe(slot, "Asia/Kolkata") == "Tuesday 24 November, 14:30\u201315:00 (Asia/Kolkata)"


_REPLY_WORDS = st.sampled_from(
    [
        "Tuesday",
        "Wed",
        "Nov.",
        "24th",
        "25 November",
        "at",
        "10",
        "1pm",
        "09:00",
        "13:00–13:30",
        "noon",
        "option",
        "2",
        "#3",
        "works",
        "doesn't",
        "not",
        "but",
        ",",
        ".",
        "?",
        "\n",
        "> ",
        "On Mon wrote:",
        "tomorrow",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(_REPLY_WORDS, max_size=25).map(" ".join)))
def test_any_reply_gives_an_offered_slot_or_nothing(text):
    assert _accepts(text) in (None, *OFFERED)
