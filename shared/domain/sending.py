"""What may be sent, when, and how much: send flags, approvals, quota windows, the last re-check
before a send, and nurture schedules. Pure: no I/O, the clock is an argument.

- Flags (`SendFlags`) live in one Firestore document, changed only through the operator API;
  each change is a list of `FlagChange`s for the append-only audit log.
- An approval binds to a content hash of exactly what would go out (recipient, subject, body):
  any edit after approval, in Gmail or on the page, changes the hash and voids it.
- Quotas count sends per mailbox per day and per week and per team per day, in the team's time
  zone, with Gmail's own daily limit as a ceiling. A full window defers the send to the moment
  every full window has rolled over; nothing is dropped.
- Nurture steps are working days after the first touch (Saturday and Sunday skipped), at the
  same local time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

GMAIL_DAILY_CEILING = 2_000  # Google Workspace: messages a user may send per rolling day


class SendMode(StrEnum):
    DRAFT_ONLY = "DRAFT_ONLY"  # the system never sends; the rep sends from Gmail
    SEND_ALLOWED = "SEND_ALLOWED"  # approved drafts are sent by the `send` task


class Quotas(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mailbox_day: int = Field(50, ge=0, le=GMAIL_DAILY_CEILING)
    mailbox_week: int = Field(200, ge=0, le=7 * GMAIL_DAILY_CEILING)
    team_day: int = Field(200, ge=0, le=100_000)


class AutoApprove(BaseModel):
    """Drafts the system may approve itself (only in SEND_ALLOWED mode, only gate-ready ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    max_risk: int = Field(10, ge=0, le=100)  # approve only when the gate's risk is below this
    sources: tuple[str, ...] = ()  # workflow sources (form, contact, reply...); empty: any
    lifecycle_stages: tuple[str, ...] = ()  # HubSpot lifecycle stages; empty: any
    nurture_only: bool = False  # only follow-ups of a nurture sequence

    @field_validator("sources", "lifecycle_stages", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().lower() for v in value if str(v).strip())
        return value


class SendFlags(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: SendMode = SendMode.DRAFT_ONLY
    kill_switch: bool = False
    auto_approve: AutoApprove = AutoApprove()
    quotas: Quotas = Quotas()
    undo_seconds: int = Field(60, ge=0, le=3_600)
    nurture_days: tuple[int, ...] = (3, 7)  # working days after the first touch

    @field_validator("nurture_days", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            days = tuple(int(v) for v in value)
            if any(d < 1 or d > 60 for d in days) or list(days) != sorted(set(days)):
                raise ValueError("nurture_days: increasing working days between 1 and 60")
            if len(days) > 6:
                raise ValueError("nurture_days: at most 6 steps")
            return days
        return value

    @classmethod
    def from_doc(cls, data: Mapping[str, Any] | None, defaults: SendFlags) -> SendFlags:
        """The stored flags over the deployment's defaults; unknown stored keys are ignored."""
        merged = defaults.model_dump(mode="json")
        for name in cls.model_fields:
            if data and name in data:
                stored = data[name]
                if isinstance(merged[name], dict) and isinstance(stored, Mapping):
                    # a field added later is missing from stored objects: the default holds
                    merged[name] = {**merged[name], **stored}
                else:
                    merged[name] = stored
        return cls.model_validate(merged)

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class FlagChange:
    field: str
    old: Any
    new: Any


class BadFlags(ValueError):
    pass


def change_flags(
    current: SendFlags, patch: Mapping[str, Any]
) -> tuple[SendFlags, list[FlagChange]]:
    """`current` with `patch` applied (nested objects merge), and what changed, field by field.

    Raises BadFlags naming the field for an unknown name or an invalid value.
    """
    unknown = set(patch) - set(SendFlags.model_fields)
    if unknown:
        raise BadFlags(f"unknown flag: {sorted(unknown)[0]}")
    merged = current.model_dump(mode="json")
    for name, value in patch.items():
        if isinstance(merged.get(name), dict) and isinstance(value, Mapping):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    try:
        updated = SendFlags.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "flags"
        raise BadFlags(f"{where}: {first['msg']}") from None
    before, after = _flatten(current.to_doc()), _flatten(updated.to_doc())
    changes = [
        FlagChange(key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return updated, changes


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


# --- overrides ---------------------------------------------------------------------------
MAX_OVERRIDE_HOURS = 720  # 30 days: a lasting change is a flag or setting change instead
_INT_TARGETS = ("quotas.mailbox_day", "quotas.mailbox_week", "quotas.team_day")
_LIST_TARGETS = (
    "guardrails.blocked_industries",
    "guardrails.allowed_industries",
    "guardrails.blocked_stages",
)
_SIZE_TARGETS = ("guardrails.min_employees", "guardrails.max_employees")
OVERRIDE_TARGETS = (*_INT_TARGETS, *_LIST_TARGETS, *_SIZE_TARGETS)
_CAMPAIGN_TARGET = re.compile(r"campaign\.([a-z0-9-]{3,40})\.(per_day|per_minute)")


class Override(BaseModel):
    """A temporary value for one quota, guardrail or campaign limit: an admin's decision with
    a reason, lapsing by itself at `expires_at`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    target: str
    value: Any
    reason: str
    by: str
    at: datetime
    expires_at: datetime

    def active(self, now: datetime) -> bool:
        return self.at <= now < self.expires_at


def override_value(target: str, value: Any) -> Any:
    """`value` checked for `target`; BadFlags naming what is wrong."""
    if target in _INT_TARGETS:
        field = target.split(".", 1)[1]
        try:
            Quotas.model_validate({field: value})
        except ValidationError as exc:
            raise BadFlags(f"{target}: {exc.errors()[0]['msg']}") from None
        return int(value)
    if target in _LIST_TARGETS:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or len(items) > 100:
            raise BadFlags(f"{target}: a list of HubSpot values (comma-separated)")
        return sorted({str(v).strip() for v in items if str(v).strip()})
    if target in _SIZE_TARGETS:
        if value in (None, ""):
            return None  # no limit
        if not str(value).isdigit() or int(value) > 10_000_000:
            raise BadFlags(f"{target}: a number of employees, or empty for no limit")
        return int(value)
    match = _CAMPAIGN_TARGET.fullmatch(target)
    if match:
        top = 2_000 if match.group(2) == "per_day" else 60  # the campaign limits' own caps
        if not str(value).isdigit() or not 1 <= int(value) <= top:
            raise BadFlags(f"{target}: a whole number from 1 to {top}")
        return int(value)
    raise BadFlags(
        f"target: one of {', '.join(OVERRIDE_TARGETS)}, or campaign.<id>.per_day|per_minute"
    )


def active_overrides(stored: Any, now: datetime) -> list[Override]:
    """The overrides in force, oldest first (a later one for the same target wins)."""
    found = []
    for item in stored if isinstance(stored, list) else []:
        try:
            override = Override.model_validate(item)
        except ValidationError:
            continue
        if override.active(now):
            found.append(override)
    return sorted(found, key=lambda o: o.at)


def overridden(overrides: Iterable[Override]) -> dict[str, Any]:
    """target → the value in force."""
    return {o.target: o.value for o in overrides}


def with_quota_overrides(flags: SendFlags, overrides: Iterable[Override]) -> SendFlags:
    values = {t.split(".", 1)[1]: v for t, v in overridden(overrides).items() if t in _INT_TARGETS}
    if not values:
        return flags
    return flags.model_copy(update={"quotas": flags.quotas.model_copy(update=values)})


# --- approval ---------------------------------------------------------------------------
def content_hash(to: str, subject: str, body: str) -> str:
    """What an approval binds to: the recipient, subject and body exactly as they would go."""
    normal = "\n".join(
        [
            to.strip().lower(),
            " ".join(subject.split()),
            body.replace("\r\n", "\n").replace("\r", "\n").strip(),
        ]
    )
    return hashlib.sha256(normal.encode()).hexdigest()


def auto_approval(
    flags: SendFlags,
    *,
    verdict: str,
    risk: int,
    source: str | None,
    lifecycle_stage: str | None,
    nurture_step: int,
) -> str | None:
    """Why the policy approves this draft by itself, or None when a person must."""
    policy = flags.auto_approve
    if not policy.enabled or flags.mode is not SendMode.SEND_ALLOWED or flags.kill_switch:
        return None
    if verdict != "ready" or risk >= policy.max_risk:
        return None
    if policy.nurture_only and nurture_step < 1:
        return None
    if policy.sources and (source or "").lower() not in policy.sources:
        return None
    if policy.lifecycle_stages and (lifecycle_stage or "").lower() not in policy.lifecycle_stages:
        return None
    return f"auto-approved: gate ready, risk {risk} < {policy.max_risk}"


# --- the last check ---------------------------------------------------------------------
@dataclass(frozen=True)
class SendCheck:
    """Everything known a moment before sending (read by the send step)."""

    kill_switch: bool
    mode: SendMode
    approved_hash: str | None
    current_hash: str | None  # the Gmail draft's content now; None if the draft is gone
    version_current: bool  # no newer input (a reply, an unsubscribe...) since the approval
    suppressed: bool  # our own record: bounced or unsubscribed
    unsubscribed: bool  # HubSpot's subscription status
    newer_in_thread: bool  # a message in the Gmail thread after the draft (theirs or the rep's)


@dataclass(frozen=True)
class Hold:
    code: str  # kill_switch, mode, edited, gone, stale, suppressed, unsubscribed, answered
    reason: str
    suppress: bool  # True: recorded as suppressed (kept for later), False: the send is void


def holds(check: SendCheck) -> list[Hold]:
    """Why this send must not happen now (empty: send)."""
    found: list[Hold] = []
    if check.kill_switch:
        found.append(Hold("kill_switch", "the kill switch is on", True))
    if check.mode is not SendMode.SEND_ALLOWED:
        found.append(Hold("mode", f"send mode is {check.mode.value}", True))
    if not check.version_current:
        found.append(Hold("stale", "newer input arrived after the approval", False))
    if check.current_hash is None:
        found.append(Hold("gone", "the Gmail draft no longer exists", False))
    elif check.approved_hash != check.current_hash:
        found.append(Hold("edited", "the draft changed after it was approved", False))
    if check.suppressed:
        found.append(Hold("suppressed", "the address bounced or unsubscribed", False))
    if check.unsubscribed:
        found.append(Hold("unsubscribed", "the contact is unsubscribed in HubSpot", False))
    if check.newer_in_thread:
        found.append(Hold("answered", "a newer message is in the thread", False))
    return found


# --- quotas -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """One quota window: its counter document, its limit and when it rolls over."""

    scope: str  # mailbox_day, mailbox_week, team_day
    counter_id: str
    limit: int
    ends_at: datetime  # UTC


def quota_windows(
    *,
    mailbox: str,
    team: str,
    now: datetime,
    time_zone: str,
    quotas: Quotas,
    gmail_ceiling: int = GMAIL_DAILY_CEILING,
) -> list[Window]:
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    today = local.date()
    monday = today - timedelta(days=today.weekday())
    year, week, _ = today.isocalendar()

    def start_of(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    box = mailbox.lower()
    return [
        Window(
            "mailbox_day",
            f"mailbox-day-{box}-{today.isoformat()}",
            min(quotas.mailbox_day, gmail_ceiling),
            start_of(today + timedelta(days=1)),
        ),
        Window(
            "mailbox_week",
            f"mailbox-week-{box}-{year}-W{week:02d}",
            quotas.mailbox_week,
            start_of(monday + timedelta(days=7)),
        ),
        Window(
            "team_day",
            f"team-day-{team}-{today.isoformat()}",
            quotas.team_day,
            start_of(today + timedelta(days=1)),
        ),
    ]


def full_windows(windows: Iterable[Window], used: Mapping[str, int]) -> list[Window]:
    """The windows where one more send would go over the limit."""
    return [w for w in windows if int(used.get(w.counter_id, 0)) + 1 > w.limit]


def reopens_at(full: Iterable[Window]) -> datetime:
    """When every full window has rolled over: the earliest moment the send may go."""
    return max(w.ends_at for w in full)


def quota_report(windows: list[Window], used: Mapping[str, int]) -> dict[str, Any]:
    """For the gate: would one more send fit now, and how full each window is."""
    full = full_windows(windows, used)
    return {
        "fits": not full,
        "windows": [
            {"scope": w.scope, "used": int(used.get(w.counter_id, 0)), "limit": w.limit}
            for w in windows
        ],
        "reopens_at": reopens_at(full).isoformat() if full else None,
    }


# --- nurture ----------------------------------------------------------------------------
def add_working_days(start: datetime, days: int, time_zone: str) -> datetime:
    """`days` working days (Monday to Friday) after `start`, at the same local time."""
    zone = ZoneInfo(time_zone)
    local = start.astimezone(zone)
    day = local.date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


def next_nurture_at(
    first_touch_at: datetime, nurture_days: tuple[int, ...], step: int, time_zone: str
) -> datetime | None:
    """When follow-up number `step` (1-based) is due, or None past the last step: that many
    working days after the first touch, at the same local time if it falls in working hours
    (09:00-17:00), else at 09:00 the next working morning, so nobody gets a follow-up at
    midnight because the first touch went out late."""
    if step < 1 or step > len(nurture_days):
        return None
    due = add_working_days(first_touch_at, nurture_days[step - 1], time_zone).astimezone(
        ZoneInfo(time_zone)
    )
    if due.hour < 9:
        due = due.replace(hour=9, minute=0, second=0, microsecond=0)
    elif due.hour >= 17:
        morning = add_working_days(due, 1, time_zone).astimezone(ZoneInfo(time_zone))
        due = morning.replace(hour=9, minute=0, second=0, microsecond=0)
    return due.astimezone(UTC)
