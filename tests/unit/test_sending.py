"""Send policy: flags and their audited changes, approvals, the last check before a send,
quota windows in the team's time zone, and nurture schedules on working days."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.sending import (
    GMAIL_DAILY_CEILING,
    AutoApprove,
    BadFlags,
    FlagChange,
    Quotas,
    SendCheck,
    SendFlags,
    SendMode,
    Window,
    add_working_days,
    auto_approval,
    change_flags,
    content_hash,
    full_windows,
    holds,
    next_nurture_at,
    quota_report,
    quota_windows,
    reopens_at,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
MAILBOX = "dana@ourco.com"
TEAM = "acme"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# SendFlags


def test_send_flags_defaults_are_safe() -> None:
    flags = SendFlags()
    assert flags.mode is SendMode.DRAFT_ONLY
    assert flags.kill_switch is False
    assert flags.auto_approve.enabled is False
    assert flags.auto_approve.max_risk == 10
    assert flags.auto_approve.sources == ()
    assert flags.auto_approve.lifecycle_stages == ()
    assert flags.auto_approve.nurture_only is False
    assert flags.quotas == Quotas(mailbox_day=50, mailbox_week=200, team_day=200)
    assert flags.undo_seconds == 60
    assert flags.nurture_days == (3, 7)


def test_to_doc_is_plain_json() -> None:
    assert SendFlags().to_doc() == {
        "mode": "DRAFT_ONLY",
        "kill_switch": False,
        "auto_approve": {
            "enabled": False,
            "max_risk": 10,
            "sources": [],
            "lifecycle_stages": [],
            "nurture_only": False,
        },
        "quotas": {"mailbox_day": 50, "mailbox_week": 200, "team_day": 200},
        "undo_seconds": 60,
        "nurture_days": [3, 7],
    }


def test_to_doc_from_doc_round_trip() -> None:
    flags = SendFlags(
        mode=SendMode.SEND_ALLOWED,
        kill_switch=True,
        auto_approve=AutoApprove(enabled=True, max_risk=25, sources=("form",), nurture_only=True),
        quotas=Quotas(mailbox_day=10, mailbox_week=40, team_day=90),
        undo_seconds=15,
        nurture_days=(2, 4, 9),
    )
    # Stored values win over any defaults, whatever they are.
    assert SendFlags.from_doc(flags.to_doc(), SendFlags()) == flags
    assert SendFlags.from_doc(flags.to_doc(), SendFlags(undo_seconds=900)) == flags


@pytest.mark.parametrize("stored", [None, {}])
def test_from_doc_without_a_stored_document_gives_the_defaults(
    stored: dict[str, Any] | None,
) -> None:
    defaults = SendFlags(undo_seconds=120, quotas=Quotas(mailbox_day=30), nurture_days=(2, 5))
    assert SendFlags.from_doc(stored, defaults) == defaults


def test_from_doc_stored_values_over_defaults() -> None:
    defaults = SendFlags(undo_seconds=120, nurture_days=(2, 5))
    flags = SendFlags.from_doc({"kill_switch": True, "mode": "SEND_ALLOWED"}, defaults)
    assert flags.kill_switch is True
    assert flags.mode is SendMode.SEND_ALLOWED
    # Not stored: the deployment's defaults, not the class defaults.
    assert flags.undo_seconds == 120
    assert flags.nurture_days == (2, 5)


def test_from_doc_ignores_unknown_stored_keys() -> None:
    stored = {"kill_switch": True, "revision": 7, "updated_by": "ops@ourco.com", "legacy": 1}
    flags = SendFlags.from_doc(stored, SendFlags())
    assert flags == SendFlags(kill_switch=True)


def test_from_doc_partial_nested_object_keeps_deployment_defaults() -> None:
    defaults = SendFlags(quotas=Quotas(mailbox_day=30, mailbox_week=120, team_day=500))
    flags = SendFlags.from_doc({"quotas": {"team_day": 100}}, defaults)
    assert flags.quotas == Quotas(mailbox_day=30, mailbox_week=120, team_day=100)


def test_auto_approve_filters_are_normalised() -> None:
    policy = AutoApprove(sources=[" Form ", "REPLY", "  "], lifecycle_stages=["Lead"])
    assert policy.sources == ("form", "reply")
    assert policy.lifecycle_stages == ("lead",)


# --------------------------------------------------------------------------------------------
# change_flags


def test_change_flags_top_level_field() -> None:
    updated, changes = change_flags(SendFlags(), {"mode": "SEND_ALLOWED"})
    assert updated.mode is SendMode.SEND_ALLOWED
    assert changes == [FlagChange("mode", "DRAFT_ONLY", "SEND_ALLOWED")]


def test_change_flags_nested_fields_merge_and_are_reported_by_path() -> None:
    current = SendFlags(quotas=Quotas(mailbox_day=50, mailbox_week=300, team_day=400))
    updated, changes = change_flags(
        current, {"quotas": {"mailbox_day": 40}, "auto_approve": {"enabled": True}}
    )
    # Nested objects merge: the untouched keys keep their current values.
    assert updated.quotas == Quotas(mailbox_day=40, mailbox_week=300, team_day=400)
    assert updated.auto_approve == AutoApprove(enabled=True)
    assert changes == [
        FlagChange("auto_approve.enabled", False, True),
        FlagChange("quotas.mailbox_day", 50, 40),
    ]


def test_change_flags_several_fields_sorted_by_name() -> None:
    _, changes = change_flags(
        SendFlags(),
        {
            "undo_seconds": 0,
            "kill_switch": True,
            "nurture_days": [2, 5, 9],
            "auto_approve": {"sources": ["Form"]},
        },
    )
    assert changes == [
        FlagChange("auto_approve.sources", [], ["form"]),
        FlagChange("kill_switch", False, True),
        FlagChange("nurture_days", [3, 7], [2, 5, 9]),
        FlagChange("undo_seconds", 60, 0),
    ]


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"mode": "DRAFT_ONLY"},
        {"kill_switch": False, "undo_seconds": 60},
        {"quotas": {}},
        {"quotas": {"mailbox_day": 50}},
        {"nurture_days": [3, 7]},
    ],
)
def test_change_flags_no_op_patch_gives_no_changes(patch: dict[str, Any]) -> None:
    updated, changes = change_flags(SendFlags(), patch)
    assert changes == []
    assert updated == SendFlags()


def test_change_flags_does_not_touch_current() -> None:
    current = SendFlags(undo_seconds=30)
    change_flags(current, {"undo_seconds": 90, "quotas": {"team_day": 10}})
    assert current == SendFlags(undo_seconds=30)


def test_change_flags_unknown_flag_is_named() -> None:
    with pytest.raises(BadFlags, match=r"^unknown flag: send_everything$"):
        change_flags(SendFlags(), {"mode": "SEND_ALLOWED", "send_everything": True})


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"mode": "SEND_EVERYTHING"}, "mode"),
        ({"kill_switch": "maybe"}, "kill_switch"),
        ({"quotas": {"mailbox_day": -1}}, "quotas.mailbox_day"),
        ({"quotas": {"mailbox_day": GMAIL_DAILY_CEILING + 1}}, "quotas.mailbox_day"),
        ({"quotas": {"mailbox_week": -5}}, "quotas.mailbox_week"),
        ({"quotas": {"team_day": -1}}, "quotas.team_day"),
        ({"quotas": {"per_hour": 5}}, "quotas.per_hour"),
        ({"quotas": 5}, "quotas"),
        ({"auto_approve": {"max_risk": 101}}, "auto_approve.max_risk"),
        ({"undo_seconds": 3601}, "undo_seconds"),
        ({"undo_seconds": -1}, "undo_seconds"),
        ({"nurture_days": [7, 3]}, "nurture_days"),
        ({"nurture_days": [3, 3]}, "nurture_days"),
        ({"nurture_days": [0, 3]}, "nurture_days"),
        ({"nurture_days": [3, 61]}, "nurture_days"),
        ({"nurture_days": [1, 2, 3, 4, 5, 6, 7]}, "nurture_days"),
    ],
)
def test_change_flags_invalid_value_names_the_field(patch: dict[str, Any], field: str) -> None:
    current = SendFlags(undo_seconds=30)
    with pytest.raises(BadFlags) as raised:
        change_flags(current, patch)
    assert str(raised.value).startswith(f"{field}: ")
    assert current == SendFlags(undo_seconds=30)


def test_change_flags_quota_at_gmail_ceiling_is_allowed() -> None:
    updated, changes = change_flags(SendFlags(), {"quotas": {"mailbox_day": GMAIL_DAILY_CEILING}})
    assert updated.quotas.mailbox_day == 2_000
    assert changes == [FlagChange("quotas.mailbox_day", 50, 2_000)]


def test_change_flags_six_nurture_steps_are_allowed() -> None:
    updated, _ = change_flags(SendFlags(), {"nurture_days": [1, 2, 3, 5, 8, 60]})
    assert updated.nurture_days == (1, 2, 3, 5, 8, 60)


def test_change_flags_nurture_messages_say_what_is_wrong() -> None:
    with pytest.raises(BadFlags, match="at most 6 steps"):
        change_flags(SendFlags(), {"nurture_days": [1, 2, 3, 4, 5, 6, 7]})
    with pytest.raises(BadFlags, match="increasing working days between 1 and 60"):
        change_flags(SendFlags(), {"nurture_days": [5, 2]})


# --------------------------------------------------------------------------------------------
# content_hash

BODY = "Hi Lee,\nHere are the numbers."


def test_content_hash_known_value() -> None:
    # Pinned: a change here voids every approval already given.
    expected = hashlib.sha256(b"lee@client.com\nPricing question\n" + BODY.encode()).hexdigest()
    assert content_hash("lee@client.com", "Pricing question", BODY) == expected
    assert expected == "54517c311e06b7793dd8cb0c497ae33be964e823f70d81fdc623fd8da1f5ded9"


@pytest.mark.parametrize(
    ("to", "subject", "body"),
    [
        ("lee@client.com", "Pricing question", "Hi Lee,\r\nHere are the numbers."),
        ("lee@client.com", "Pricing question", BODY + "\n"),
        ("lee@client.com", "Pricing question", BODY + "  \r\n\r\n"),
        ("lee@client.com", "Pricing question", "\n" + BODY),
        ("lee@client.com", "  Pricing   question ", BODY),
        ("lee@client.com", "Pricing\tquestion", BODY),
        ("Lee@Client.COM", "Pricing question", BODY),
        (" lee@client.com ", "Pricing question", BODY),
    ],
)
def test_content_hash_ignores_transport_noise(to: str, subject: str, body: str) -> None:
    assert content_hash(to, subject, body) == content_hash(
        "lee@client.com", "Pricing question", BODY
    )


@pytest.mark.parametrize(
    ("to", "subject", "body"),
    [
        ("lee@client.com", "Pricing question", "Hi Lee,\nHere are the new numbers."),
        ("lee@client.com", "Pricing question", "Hi Lee,\n\nHere are the numbers."),
        ("lee@client.com", "Pricing questions", BODY),
        ("lee@client.com", "Re: Pricing question", BODY),
        ("lea@client.com", "Pricing question", BODY),
        ("lee@client.co", "Pricing question", BODY),
    ],
)
def test_content_hash_changes_with_content(to: str, subject: str, body: str) -> None:
    assert content_hash(to, subject, body) != content_hash(
        "lee@client.com", "Pricing question", BODY
    )


def test_content_hash_does_not_confuse_fields() -> None:
    # A line moved from the subject into the body is a different message.
    assert content_hash("a@x.com", "One", "Two\nThree") != content_hash(
        "a@x.com", "One Two", "Three"
    )


# --------------------------------------------------------------------------------------------
# auto_approval


def auto_flags(**policy: Any) -> SendFlags:
    """Flags where auto-approval may happen, with `policy` over an enabled AutoApprove."""
    return SendFlags(mode=SendMode.SEND_ALLOWED, auto_approve=AutoApprove(enabled=True, **policy))


def approve(flags: SendFlags, **facts: Any) -> str | None:
    args: dict[str, Any] = {
        "verdict": "ready",
        "risk": 3,
        "source": "form",
        "lifecycle_stage": "lead",
        "nurture_step": 0,
    }
    return auto_approval(flags, **{**args, **facts})


def test_auto_approval_approves_with_a_reason() -> None:
    assert approve(auto_flags()) == "auto-approved: gate ready, risk 3 < 10"
    assert approve(auto_flags(max_risk=40), risk=39) == "auto-approved: gate ready, risk 39 < 40"


@pytest.mark.parametrize(
    "flags",
    [
        SendFlags(mode=SendMode.SEND_ALLOWED),  # policy disabled
        SendFlags(auto_approve=AutoApprove(enabled=True)),  # DRAFT_ONLY
        SendFlags(
            mode=SendMode.SEND_ALLOWED, kill_switch=True, auto_approve=AutoApprove(enabled=True)
        ),
    ],
    ids=["disabled", "draft-only", "kill-switch"],
)
def test_auto_approval_needs_enabled_send_allowed_and_no_kill_switch(flags: SendFlags) -> None:
    assert approve(flags) is None


@pytest.mark.parametrize("verdict", ["review", "blocked", "READY", ""])
def test_auto_approval_needs_a_ready_verdict(verdict: str) -> None:
    assert approve(auto_flags(), verdict=verdict) is None


def test_auto_approval_risk_must_be_below_max_risk() -> None:
    flags = auto_flags(max_risk=10)
    assert approve(flags, risk=9) is not None
    assert approve(flags, risk=10) is None
    assert approve(flags, risk=11) is None
    assert approve(auto_flags(max_risk=0), risk=0) is None


def test_auto_approval_nurture_only_needs_a_follow_up() -> None:
    flags = auto_flags(nurture_only=True)
    assert approve(flags, nurture_step=0) is None
    assert approve(flags, nurture_step=1) is not None
    assert approve(flags, nurture_step=3) is not None
    # Without the restriction a first touch may be approved too.
    assert approve(auto_flags(), nurture_step=0) is not None


def test_auto_approval_sources_filter_is_case_insensitive() -> None:
    flags = auto_flags(sources=["Form", "contact"])
    assert approve(flags, source="form") is not None
    assert approve(flags, source="FORM") is not None
    assert approve(flags, source="Contact") is not None
    assert approve(flags, source="reply") is None
    assert approve(flags, source=None) is None
    # An empty filter means any source, even none.
    assert approve(auto_flags(), source=None) is not None
    assert approve(auto_flags(), source="anything") is not None


def test_auto_approval_lifecycle_filter_is_case_insensitive() -> None:
    flags = auto_flags(lifecycle_stages=["Lead", "marketingqualifiedlead"])
    assert approve(flags, lifecycle_stage="lead") is not None
    assert approve(flags, lifecycle_stage="MarketingQualifiedLead") is not None
    assert approve(flags, lifecycle_stage="customer") is None
    assert approve(flags, lifecycle_stage=None) is None
    assert approve(auto_flags(), lifecycle_stage=None) is not None


def test_auto_approval_all_filters_must_pass() -> None:
    flags = auto_flags(sources=["form"], lifecycle_stages=["lead"], nurture_only=True)
    assert approve(flags, nurture_step=1) is not None
    assert approve(flags, nurture_step=1, source="reply") is None
    assert approve(flags, nurture_step=1, lifecycle_stage="customer") is None
    assert approve(flags, nurture_step=0) is None


# --------------------------------------------------------------------------------------------
# holds

ALL_CLEAR = SendCheck(
    kill_switch=False,
    mode=SendMode.SEND_ALLOWED,
    approved_hash="a" * 64,
    current_hash="a" * 64,
    version_current=True,
    suppressed=False,
    unsubscribed=False,
    newer_in_thread=False,
)


def hold_codes(**changes: Any) -> list[str]:
    return [h.code for h in holds(dataclasses.replace(ALL_CLEAR, **changes))]


def test_holds_all_clear_is_empty() -> None:
    assert holds(ALL_CLEAR) == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"kill_switch": True}, "kill_switch"),
        ({"mode": SendMode.DRAFT_ONLY}, "mode"),
        ({"version_current": False}, "stale"),
        ({"current_hash": None}, "gone"),
        ({"current_hash": "b" * 64}, "edited"),
        ({"approved_hash": None}, "edited"),
        ({"suppressed": True}, "suppressed"),
        ({"unsubscribed": True}, "unsubscribed"),
        ({"newer_in_thread": True}, "answered"),
    ],
)
def test_holds_each_condition_gives_exactly_its_code(changes: dict[str, Any], code: str) -> None:
    assert hold_codes(**changes) == [code]


@pytest.mark.parametrize(
    ("code", "changes", "suppress"),
    [
        ("kill_switch", {"kill_switch": True}, True),
        ("mode", {"mode": SendMode.DRAFT_ONLY}, True),
        ("stale", {"version_current": False}, False),
        ("gone", {"current_hash": None}, False),
        ("edited", {"current_hash": "b" * 64}, False),
        ("suppressed", {"suppressed": True}, False),
        ("unsubscribed", {"unsubscribed": True}, False),
        ("answered", {"newer_in_thread": True}, False),
    ],
)
def test_holds_only_kill_switch_and_mode_keep_the_send(
    code: str, changes: dict[str, Any], suppress: bool
) -> None:
    (hold,) = holds(dataclasses.replace(ALL_CLEAR, **changes))
    assert hold.code == code
    assert hold.suppress is suppress
    assert hold.reason


def test_holds_mode_reason_names_the_mode() -> None:
    (hold,) = holds(dataclasses.replace(ALL_CLEAR, mode=SendMode.DRAFT_ONLY))
    assert hold.reason == "send mode is DRAFT_ONLY"


def test_holds_reports_every_reason_at_once() -> None:
    everything = SendCheck(
        kill_switch=True,
        mode=SendMode.DRAFT_ONLY,
        approved_hash="a" * 64,
        current_hash="b" * 64,
        version_current=False,
        suppressed=True,
        unsubscribed=True,
        newer_in_thread=True,
    )
    assert [h.code for h in holds(everything)] == [
        "kill_switch",
        "mode",
        "stale",
        "edited",
        "suppressed",
        "unsubscribed",
        "answered",
    ]


def test_holds_gone_draft_is_not_also_edited() -> None:
    assert hold_codes(current_hash=None, approved_hash="a" * 64) == ["gone"]
    assert hold_codes(current_hash=None, approved_hash=None) == ["gone"]


# --------------------------------------------------------------------------------------------
# quota windows


def windows_at(
    now: datetime,
    zone: str = "UTC",
    quotas: Quotas | None = None,
    mailbox: str = MAILBOX,
    **kwargs: Any,
) -> dict[str, Window]:
    found = quota_windows(
        mailbox=mailbox,
        team=TEAM,
        now=now,
        time_zone=zone,
        quotas=quotas or Quotas(),
        **kwargs,
    )
    assert [w.scope for w in found] == ["mailbox_day", "mailbox_week", "team_day"]
    return {w.scope: w for w in found}


def test_quota_windows_in_utc() -> None:
    # Wednesday 2026-06-10, ISO week 24.
    windows = windows_at(
        utc(2026, 6, 10, 15, 0), quotas=Quotas(mailbox_day=50, mailbox_week=200, team_day=300)
    )
    assert windows["mailbox_day"] == Window(
        "mailbox_day", "mailbox-day-dana@ourco.com-2026-06-10", 50, utc(2026, 6, 11)
    )
    assert windows["mailbox_week"] == Window(
        "mailbox_week", "mailbox-week-dana@ourco.com-2026-W24", 200, utc(2026, 6, 15)
    )
    assert windows["team_day"] == Window(
        "team_day", "team-day-acme-2026-06-10", 300, utc(2026, 6, 11)
    )


def test_quota_windows_ends_are_utc() -> None:
    for window in windows_at(utc(2026, 6, 10, 15), NEW_YORK).values():
        assert window.ends_at.tzinfo is UTC


def test_quota_windows_use_the_team_local_date() -> None:
    # 03:00 UTC on Wednesday is still Tuesday evening (23:00 EDT) in New York.
    windows = windows_at(utc(2026, 6, 10, 3, 0), NEW_YORK)
    assert windows["mailbox_day"].counter_id == "mailbox-day-dana@ourco.com-2026-06-09"
    assert windows["mailbox_day"].ends_at == utc(2026, 6, 10, 4, 0)  # midnight EDT
    assert windows["team_day"].counter_id == "team-day-acme-2026-06-09"
    assert windows["mailbox_week"].counter_id == "mailbox-week-dana@ourco.com-2026-W24"
    assert windows["mailbox_week"].ends_at == utc(2026, 6, 15, 4, 0)  # Monday 00:00 EDT


def test_quota_windows_local_day_starts_before_utc_midnight_in_berlin() -> None:
    # 23:30 UTC on Sunday is already Monday 01:30 CEST: a new day and a new week.
    windows = windows_at(utc(2026, 6, 14, 23, 30), BERLIN)
    assert windows["mailbox_day"].counter_id == "mailbox-day-dana@ourco.com-2026-06-15"
    assert windows["mailbox_day"].ends_at == utc(2026, 6, 15, 22, 0)
    assert windows["mailbox_week"].counter_id == "mailbox-week-dana@ourco.com-2026-W25"
    assert windows["mailbox_week"].ends_at == utc(2026, 6, 21, 22, 0)


def test_quota_windows_same_instant_in_any_input_zone() -> None:
    instant = utc(2026, 6, 10, 3, 0)
    assert windows_at(instant, NEW_YORK) == windows_at(
        instant.astimezone(ZoneInfo(BERLIN)), NEW_YORK
    )


def test_quota_windows_berlin_spring_forward_day() -> None:
    # Sunday 2026-03-29: clocks go 02:00 CET -> 03:00 CEST, a 23-hour day.
    windows = windows_at(utc(2026, 3, 29, 12, 0), BERLIN)
    assert windows["mailbox_day"].counter_id == "mailbox-day-dana@ourco.com-2026-03-29"
    assert windows["mailbox_day"].ends_at == utc(2026, 3, 29, 22, 0)  # Monday 00:00 CEST
    assert windows["mailbox_week"].counter_id == "mailbox-week-dana@ourco.com-2026-W13"
    assert windows["mailbox_week"].ends_at == utc(2026, 3, 29, 22, 0)
    assert windows["team_day"].ends_at == utc(2026, 3, 29, 22, 0)


def test_quota_windows_berlin_week_spanning_the_change() -> None:
    # Saturday before the change (CET): the day ends at CET midnight, the week in CEST.
    windows = windows_at(utc(2026, 3, 28, 12, 0), BERLIN)
    assert windows["mailbox_day"].ends_at == utc(2026, 3, 28, 23, 0)
    assert windows["mailbox_week"].ends_at == utc(2026, 3, 29, 22, 0)


def test_quota_windows_new_york_fall_back_day() -> None:
    # Sunday 2026-11-01: clocks go 02:00 EDT -> 01:00 EST, a 25-hour day.
    windows = windows_at(utc(2026, 11, 1, 12, 0), NEW_YORK)
    assert windows["mailbox_day"].counter_id == "mailbox-day-dana@ourco.com-2026-11-01"
    assert windows["mailbox_day"].ends_at == utc(2026, 11, 2, 5, 0)  # Monday 00:00 EST
    assert windows["mailbox_week"].counter_id == "mailbox-week-dana@ourco.com-2026-W44"
    assert windows["mailbox_week"].ends_at == utc(2026, 11, 2, 5, 0)
    # Early that day (00:30 EDT) is the same local day with the same end.
    early = windows_at(utc(2026, 11, 1, 4, 30), NEW_YORK)
    assert early["mailbox_day"].counter_id == "mailbox-day-dana@ourco.com-2026-11-01"
    assert early["mailbox_day"].ends_at == utc(2026, 11, 2, 5, 0)


def test_quota_windows_new_york_week_spanning_the_change() -> None:
    # Friday before the change (EDT): the day ends at EDT midnight, the week in EST.
    windows = windows_at(utc(2026, 10, 30, 12, 0), NEW_YORK)
    assert windows["mailbox_day"].ends_at == utc(2026, 10, 31, 4, 0)
    assert windows["mailbox_week"].ends_at == utc(2026, 11, 2, 5, 0)


@pytest.mark.parametrize(
    ("now", "week_id", "ends_at"),
    [
        (local(BERLIN, 2026, 6, 8, 0, 0), "2026-W24", utc(2026, 6, 14, 22)),  # Monday 00:00
        (local(BERLIN, 2026, 6, 12, 9, 0), "2026-W24", utc(2026, 6, 14, 22)),  # Friday
        (local(BERLIN, 2026, 6, 14, 23, 59), "2026-W24", utc(2026, 6, 14, 22)),  # Sunday
        (local(BERLIN, 2026, 6, 15, 0, 0), "2026-W25", utc(2026, 6, 21, 22)),  # next Monday
    ],
)
def test_quota_week_rolls_over_at_monday_local_midnight(
    now: datetime, week_id: str, ends_at: datetime
) -> None:
    week = windows_at(now, BERLIN)["mailbox_week"]
    assert week.counter_id == f"mailbox-week-dana@ourco.com-{week_id}"
    assert week.ends_at == ends_at


def test_quota_week_id_uses_the_iso_year_at_new_year() -> None:
    # Thursday 2026-12-31 and Friday 2027-01-01 are in the same ISO week, 2026-W53.
    before = windows_at(utc(2026, 12, 31, 12))["mailbox_week"]
    after = windows_at(utc(2027, 1, 1, 12))["mailbox_week"]
    assert before.counter_id == after.counter_id == "mailbox-week-dana@ourco.com-2026-W53"
    assert before.ends_at == after.ends_at == utc(2027, 1, 4)


def test_quota_windows_mailbox_is_lower_cased() -> None:
    windows = windows_at(utc(2026, 6, 10, 15), mailbox="Dana@OurCo.COM")
    assert windows["mailbox_day"].counter_id == "mailbox-day-dana@ourco.com-2026-06-10"
    assert windows["mailbox_week"].counter_id == "mailbox-week-dana@ourco.com-2026-W24"
    assert windows == windows_at(utc(2026, 6, 10, 15), mailbox="dana@ourco.com")


def test_quota_windows_mailbox_day_capped_by_gmail_ceiling() -> None:
    quotas = Quotas(mailbox_day=500, mailbox_week=3000, team_day=5000)
    capped = windows_at(utc(2026, 6, 10, 15), quotas=quotas, gmail_ceiling=100)
    assert capped["mailbox_day"].limit == 100
    # Only the per-mailbox day is Gmail's: the week and the team keep their limits.
    assert capped["mailbox_week"].limit == 3000
    assert capped["team_day"].limit == 5000
    under = windows_at(utc(2026, 6, 10, 15), quotas=Quotas(mailbox_day=50), gmail_ceiling=100)
    assert under["mailbox_day"].limit == 50
    default = windows_at(utc(2026, 6, 10, 15), quotas=Quotas(mailbox_day=2000))
    assert default["mailbox_day"].limit == GMAIL_DAILY_CEILING


# --------------------------------------------------------------------------------------------
# full windows, reopening, the gate's report

NOW = utc(2026, 6, 10, 15, 0)  # Wednesday
SMALL = Quotas(mailbox_day=2, mailbox_week=5, team_day=3)
DAY_ID = "mailbox-day-dana@ourco.com-2026-06-10"
WEEK_ID = "mailbox-week-dana@ourco.com-2026-W24"
TEAM_ID = "team-day-acme-2026-06-10"


def small_windows() -> list[Window]:
    return list(windows_at(NOW, quotas=SMALL).values())


def full_scopes(used: dict[str, int]) -> list[str]:
    return [w.scope for w in full_windows(small_windows(), used)]


def test_full_windows_none_when_below_limits() -> None:
    assert full_scopes({}) == []
    assert full_scopes({DAY_ID: 1, WEEK_ID: 4, TEAM_ID: 2}) == []


def test_full_windows_at_limit_means_one_more_does_not_fit() -> None:
    assert full_scopes({DAY_ID: 2}) == ["mailbox_day"]
    assert full_scopes({WEEK_ID: 5}) == ["mailbox_week"]
    assert full_scopes({TEAM_ID: 3}) == ["team_day"]


def test_full_windows_over_limit() -> None:
    assert full_scopes({DAY_ID: 9, WEEK_ID: 50, TEAM_ID: 4}) == [
        "mailbox_day",
        "mailbox_week",
        "team_day",
    ]


def test_full_windows_ignores_other_counters() -> None:
    stale = {
        "mailbox-day-dana@ourco.com-2026-06-09": 99,
        "mailbox-day-lee@ourco.com-2026-06-10": 99,
    }
    assert full_scopes(stale) == []


def test_full_windows_zero_limit_is_always_full() -> None:
    windows = list(windows_at(NOW, quotas=Quotas(mailbox_day=0)).values())
    assert [w.scope for w in full_windows(windows, {})] == ["mailbox_day"]


def test_reopens_at_the_end_of_a_full_day() -> None:
    full = full_windows(small_windows(), {DAY_ID: 2})
    assert reopens_at(full) == utc(2026, 6, 11)


def test_reopens_at_a_full_week_defers_to_monday_even_if_the_day_reopens_tomorrow() -> None:
    full = full_windows(small_windows(), {DAY_ID: 2, WEEK_ID: 5, TEAM_ID: 3})
    assert reopens_at(full) == utc(2026, 6, 15)
    assert reopens_at(reversed(full)) == utc(2026, 6, 15)


def test_reopens_at_in_the_team_zone() -> None:
    windows = list(windows_at(NOW, NEW_YORK, quotas=SMALL).values())
    day = next(w for w in windows if w.scope == "mailbox_day")
    assert reopens_at(full_windows(windows, {day.counter_id: 2})) == utc(2026, 6, 11, 4)


def test_quota_report_fits() -> None:
    report = quota_report(small_windows(), {DAY_ID: 1, TEAM_ID: 2})
    assert report == {
        "fits": True,
        "windows": [
            {"scope": "mailbox_day", "used": 1, "limit": 2},
            {"scope": "mailbox_week", "used": 0, "limit": 5},
            {"scope": "team_day", "used": 2, "limit": 3},
        ],
        "reopens_at": None,
    }


def test_quota_report_full() -> None:
    report = quota_report(small_windows(), {DAY_ID: 2, WEEK_ID: 5})
    assert report["fits"] is False
    assert report["windows"][0] == {"scope": "mailbox_day", "used": 2, "limit": 2}
    assert report["windows"][1] == {"scope": "mailbox_week", "used": 5, "limit": 5}
    assert report["reopens_at"] == "2026-06-15T00:00:00+00:00"


def test_quota_report_day_only_reopens_tomorrow() -> None:
    report = quota_report(small_windows(), {TEAM_ID: 3})
    assert report["fits"] is False
    assert report["reopens_at"] == "2026-06-11T00:00:00+00:00"


# --------------------------------------------------------------------------------------------
# working days and nurture


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (utc(2026, 6, 5, 9, 30), 1, utc(2026, 6, 8, 9, 30)),  # Friday + 1 -> Monday
        (utc(2026, 6, 10, 9, 30), 3, utc(2026, 6, 15, 9, 30)),  # Wednesday + 3 -> Monday
        (utc(2026, 6, 10, 9, 30), 1, utc(2026, 6, 11, 9, 30)),  # Wednesday + 1 -> Thursday
        (utc(2026, 6, 8, 9, 30), 5, utc(2026, 6, 15, 9, 30)),  # Monday + 5 -> next Monday
        (utc(2026, 6, 8, 9, 30), 10, utc(2026, 6, 22, 9, 30)),  # two full weeks
        (utc(2026, 6, 6, 9, 30), 1, utc(2026, 6, 8, 9, 30)),  # Saturday + 1 -> Monday
        (utc(2026, 6, 7, 9, 30), 1, utc(2026, 6, 8, 9, 30)),  # Sunday + 1 -> Monday
        (utc(2026, 6, 10, 9, 30), 0, utc(2026, 6, 10, 9, 30)),  # nothing to add
    ],
)
def test_add_working_days_skips_weekends(start: datetime, days: int, expected: datetime) -> None:
    assert add_working_days(start, days, "UTC") == expected


def test_add_working_days_counts_local_days() -> None:
    # Friday 22:00 in New York is already Saturday in UTC; the local Friday counts.
    start = local(NEW_YORK, 2026, 6, 5, 22, 0)
    assert start == utc(2026, 6, 6, 2, 0)
    assert add_working_days(start, 1, NEW_YORK) == local(NEW_YORK, 2026, 6, 8, 22, 0)


def test_add_working_days_result_is_utc_aware() -> None:
    result = add_working_days(local(BERLIN, 2026, 6, 10, 9), 2, BERLIN)
    assert result.tzinfo is UTC
    assert result == utc(2026, 6, 12, 7)


def test_add_working_days_keeps_local_time_across_spring_forward() -> None:
    # Friday 09:00 CET (08:00 UTC) + 1 -> Monday 09:00 CEST (07:00 UTC).
    result = add_working_days(local(BERLIN, 2026, 3, 27, 9, 0), 1, BERLIN)
    assert result == utc(2026, 3, 30, 7, 0)
    assert result.astimezone(ZoneInfo(BERLIN)).hour == 9


def test_add_working_days_keeps_local_time_across_fall_back() -> None:
    # Friday 09:00 EDT (13:00 UTC) + 1 -> Monday 09:00 EST (14:00 UTC).
    result = add_working_days(local(NEW_YORK, 2026, 10, 30, 9, 0), 1, NEW_YORK)
    assert result == utc(2026, 11, 2, 14, 0)
    assert result.astimezone(ZoneInfo(NEW_YORK)).hour == 9


FIRST_TOUCH = utc(2026, 6, 8, 10, 0)  # Monday


def test_next_nurture_at_counts_each_step_from_the_first_touch() -> None:
    assert next_nurture_at(FIRST_TOUCH, (3, 7), 1, "UTC") == utc(2026, 6, 11, 10, 0)  # Thursday
    assert next_nurture_at(FIRST_TOUCH, (3, 7), 2, "UTC") == utc(2026, 6, 17, 10, 0)  # Wednesday


def test_next_nurture_at_steps_are_not_cumulative() -> None:
    # Step 2 is 4 working days after the first touch, not 2 + 4.
    assert next_nurture_at(FIRST_TOUCH, (2, 4), 2, "UTC") == utc(2026, 6, 12, 10, 0)


def test_next_nurture_at_in_the_team_zone() -> None:
    touch = local(NEW_YORK, 2026, 10, 29, 16, 0)  # Thursday 16:00 EDT
    assert next_nurture_at(touch, (2,), 1, NEW_YORK) == local(NEW_YORK, 2026, 11, 2, 16, 0)
    assert next_nurture_at(touch, (2,), 1, NEW_YORK) == utc(2026, 11, 2, 21, 0)


@pytest.mark.parametrize("step", [0, -1, 3, 10])
def test_next_nurture_at_outside_the_steps_is_none(step: int) -> None:
    assert next_nurture_at(FIRST_TOUCH, (3, 7), step, "UTC") is None


def test_next_nurture_at_without_steps_is_none() -> None:
    assert next_nurture_at(FIRST_TOUCH, (), 1, "UTC") is None


def test_a_follow_up_never_lands_outside_working_hours() -> None:
    late = local(BERLIN, 2026, 11, 21, 22, 56)  # Saturday night
    early = local(BERLIN, 2026, 11, 23, 6, 30)  # Monday before work
    assert next_nurture_at(late, (3,), 1, BERLIN) == local(BERLIN, 2026, 11, 26, 9, 0)  # Thu
    assert next_nurture_at(early, (3,), 1, BERLIN) == local(BERLIN, 2026, 11, 26, 9, 0)  # Thu
