"""Campaigns: one story pitched to a HubSpot segment, one personal draft per contact. Pure: no
I/O, the clock is an argument.

- A `Campaign` holds the story, the segment (a HubSpot list and/or property filters, ANDed like
  one HubSpot filter group), whose mailbox sends (the contact's owner or one rep), rate limits,
  a sending window in the team's time zone, and the compliance footer.
- `select` decides who gets a draft. Each excluded contact gets the first reason that applies,
  in a fixed order, with a short text for the operator; the outcome depends only on the input.
- `dispatch_times` spreads the drafts over the window: evenly within a minute, capped per local
  calendar day, skipping days off, with wall-clock hours kept across DST changes.
- The footer (opt-out line, postal address) is appended by code, never written by the LLM.
- Member and workflow ids derive from the campaign and the address, so a restart finds the
  records it made instead of making a second set.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.domain.mail import normalize_email

CAMPAIGN_ID_PATTERN = r"^[a-z0-9-]{3,40}$"
_CAMPAIGN_ID = re.compile(CAMPAIGN_ID_PATTERN)

FREE_MAIL_DOMAINS = frozenset(
    {
        "aol.com", "gmail.com", "googlemail.com", "gmx.com", "gmx.de", "gmx.net",
        "hotmail.co.uk", "hotmail.com", "hotmail.de", "hotmail.fr", "icloud.com", "live.com",
        "mac.com", "mail.com", "me.com", "msn.com", "outlook.com", "outlook.de", "proton.me",
        "protonmail.com", "t-online.de", "web.de", "yahoo.co.uk", "yahoo.com", "yahoo.de",
        "yahoo.fr", "yandex.ru", "ymail.com", "zoho.com",
    }
)  # fmt: skip
"""Personal mailboxes: two people at gmail.com are not colleagues, so no company cap groups them."""

POSTAL_ADDRESS_COUNTRIES = {"US": "CAN-SPAM", "CA": "CASL"}  # laws asking for a postal address


# --- states -----------------------------------------------------------------------------
class CampaignState(StrEnum):
    DRAFT = "draft"  # being set up; nothing queued
    RUNNING = "running"
    PAUSED = "paused"  # queued members wait; nothing new is drafted
    CANCELLED = "cancelled"
    DONE = "done"


class MemberStatus(StrEnum):
    """A member's part of the campaign; once dispatched, its workflow's state tells the rest
    (drafted, approved, sent...), so that is not copied here."""

    QUEUED = "queued"  # selected; waits for the pace to allow it
    DRAFTING = "drafting"  # dispatched: its workflow exists and its draft task is queued
    SKIPPED = "skipped"  # left out, with the reason
    CANCELLED = "cancelled"  # the campaign was cancelled before this member went out


# --- the campaign -----------------------------------------------------------------------
_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

AssetId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]
FilterValue = Annotated[str, StringConstraints(min_length=1, max_length=500)]
ObjectType = Literal["contact", "company"]
Operator = Literal[
    "EQ", "NEQ", "IN", "NOT_IN", "GT", "GTE", "LT", "LTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY"
]
_SET_OPERATORS = frozenset({"IN", "NOT_IN"})
_PRESENCE_OPERATORS = frozenset({"HAS_PROPERTY", "NOT_HAS_PROPERTY"})


class Story(BaseModel):
    """What the campaign pitches: a case study, a launch, an event."""

    model_config = _STRICT

    title: str = Field(min_length=1, max_length=120)
    brief: str = Field(min_length=1, max_length=2_000)
    asset_ids: list[AssetId] = Field(default_factory=list, max_length=5)


class SegmentFilter(BaseModel):
    """One condition on a HubSpot property, as the CRM search API spells it."""

    model_config = _STRICT

    object: ObjectType
    property: str = Field(pattern=r"^[a-z0-9_]{1,100}$")  # HubSpot's internal name
    operator: Operator
    value: FilterValue | None = None  # EQ, NEQ, GT, GTE, LT, LTE
    values: list[FilterValue] = Field(default_factory=list, max_length=100)  # IN, NOT_IN

    @model_validator(mode="after")
    def _operands_fit_operator(self) -> SegmentFilter:
        if self.operator in _SET_OPERATORS:
            if not self.values or self.value is not None:
                raise ValueError(f"{self.operator} takes `values` (a non-empty list), not `value`")
        elif self.operator in _PRESENCE_OPERATORS:
            if self.value is not None or self.values:
                raise ValueError(f"{self.operator} takes neither `value` nor `values`")
        elif self.value is None or self.values:
            raise ValueError(f"{self.operator} takes `value`, not `values`")
        return self


class Segment(BaseModel):
    """Who the campaign is for: members of a HubSpot list, matching every filter."""

    model_config = _STRICT

    list_id: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    filters: list[SegmentFilter] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _not_everyone(self) -> Segment:
        if self.list_id is None and not self.filters:
            raise ValueError("a segment needs a list_id or at least one filter")
        return self


class OwnerRule(BaseModel):
    """Whose mailbox and voice each draft uses: the contact's HubSpot owner, or one rep."""

    model_config = _STRICT

    kind: Literal["contact_owner", "rep"] = "contact_owner"
    rep_email: str | None = None

    @field_validator("rep_email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = normalize_email(value)
        if address is None:
            raise ValueError("rep_email is not a valid address")
        return address

    @model_validator(mode="after")
    def _rep_email_iff_rep(self) -> OwnerRule:
        if (self.kind == "rep") != (self.rep_email is not None):
            raise ValueError("rep_email is required for kind rep, and only for it")
        return self


class Limits(BaseModel):
    model_config = _STRICT

    per_minute: int = Field(6, ge=1, le=60)
    per_day: int = Field(100, ge=1, le=2_000)
    per_company: int = Field(2, ge=1, le=20)  # contacts of one company in the whole campaign


class Schedule(BaseModel):
    """When drafts may be made: on these weekdays, between these local hours."""

    model_config = _STRICT

    start_at: datetime | None = None
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday is 0
    start_hour: int = Field(9, ge=0, le=23)
    end_hour: int = Field(17, ge=1, le=24)  # exclusive: 17 means until 16:59:59
    time_zone: str = Field(min_length=1, max_length=64)  # IANA name, e.g. Europe/Berlin

    @field_validator("start_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("start_at must carry a time zone")
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value:
            raise ValueError("days: at least one weekday")
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("days: weekdays 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(value)))

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {value}") from None
        return value

    @model_validator(mode="after")
    def _window_not_empty(self) -> Schedule:
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour")
        return self


class Compliance(BaseModel):
    """What every campaign mail carries, and on what legal basis it is sent."""

    model_config = _STRICT

    opt_out_line: str = Field(min_length=10, max_length=300)
    postal_address: str | None = Field(None, max_length=300)
    subscription_type_id: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    consent_basis: Literal["legitimate_interest", "consent", "contract"] = "legitimate_interest"

    @field_validator("opt_out_line")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("opt_out_line must be a single line")
        return value

    @field_validator("postal_address")
    @classmethod
    def _tidy_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lines = [line.strip() for line in value.replace("\r\n", "\n").split("\n")]
        return "\n".join(line for line in lines if line) or None


class Campaign(BaseModel):
    model_config = _STRICT

    id: str = Field(pattern=CAMPAIGN_ID_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    story: Story
    segment: Segment
    owner_rule: OwnerRule = OwnerRule()
    limits: Limits = Limits()
    schedule: Schedule
    compliance: Compliance
    state: CampaignState = CampaignState.DRAFT


# --- segments ---------------------------------------------------------------------------
def contact_filters(segment: Segment) -> list[SegmentFilter]:
    return [rule for rule in segment.filters if rule.object == "contact"]


def company_filters(segment: Segment) -> list[SegmentFilter]:
    return [rule for rule in segment.filters if rule.object == "company"]


_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_INTEGER = re.compile(r"^[+-]?\d{1,16}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_number(text: str) -> Decimal | None:
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        return None


def _as_instant(text: str) -> datetime | None:
    """An ISO date or date-time (naive: UTC, as HubSpot stores dates) or epoch milliseconds."""
    if _INTEGER.match(text):
        try:
            return _EPOCH + timedelta(milliseconds=int(text))
        except OverflowError:
            return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)


def _order(left: str, right: str) -> int:
    """-1, 0 or 1: as numbers when both are, else as instants when both are, else as text
    ignoring case."""
    numbers = _as_number(left), _as_number(right)
    if numbers[0] is not None and numbers[1] is not None:
        return (numbers[0] > numbers[1]) - (numbers[0] < numbers[1])
    instants = _as_instant(left), _as_instant(right)
    if instants[0] is not None and instants[1] is not None:
        return (instants[0] > instants[1]) - (instants[0] < instants[1])
    a, b = left.casefold(), right.casefold()
    return (a > b) - (a < b)


_COMPARISONS: dict[str, Callable[[int], bool]] = {
    "EQ": lambda order: order == 0,
    "NEQ": lambda order: order != 0,
    "GT": lambda order: order > 0,
    "GTE": lambda order: order >= 0,
    "LT": lambda order: order < 0,
    "LTE": lambda order: order <= 0,
}


def _value_of(properties: Mapping[str, str | None], name: str) -> str | None:
    """HubSpot sends an unset property as null or as an empty string."""
    value = properties.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def matches(rule: SegmentFilter, properties: Mapping[str, str | None]) -> bool:
    """Whether a record's properties satisfy one filter. An unset property satisfies only
    NOT_HAS_PROPERTY: nobody is pitched because of a value we do not know."""
    actual = _value_of(properties, rule.property)
    if rule.operator == "HAS_PROPERTY":
        return actual is not None
    if rule.operator == "NOT_HAS_PROPERTY":
        return actual is None
    if actual is None:
        return False
    if rule.operator in _SET_OPERATORS:
        found = any(_order(actual, wanted) == 0 for wanted in rule.values)
        return found if rule.operator == "IN" else not found
    assert rule.value is not None  # the model guarantees it for comparisons
    return _COMPARISONS[rule.operator](_order(actual, rule.value))


def _properties_for(
    rule: SegmentFilter,
    contact_props: Mapping[str, str | None],
    company_props: Mapping[str, str | None],
) -> Mapping[str, str | None]:
    return contact_props if rule.object == "contact" else company_props


def in_segment(
    segment: Segment,
    contact_props: Mapping[str, str | None],
    company_props: Mapping[str, str | None],
) -> bool:
    """Whether a contact passes every filter. List membership is the caller's to know."""
    return all(
        matches(rule, _properties_for(rule, contact_props, company_props))
        for rule in segment.filters
    )


_SYMBOLS = {"NEQ": "≠", "GT": ">", "GTE": "≥", "LT": "<", "LTE": "≤"}


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(rule: SegmentFilter, actual: str | None) -> str:
    label = rule.property if rule.object == "contact" else f"company {rule.property}"
    if rule.operator == "HAS_PROPERTY":
        return f"{label} is set"
    if rule.operator == "NOT_HAS_PROPERTY":
        return f"{label} is not set"
    shown = _short(actual or "")
    if rule.operator in ("EQ", "IN"):
        return f"{label} = {shown}"
    if rule.operator == "NOT_IN":
        return f"{label} not in {_short(', '.join(rule.values))} ({shown})"
    return f"{label} {_SYMBOLS[rule.operator]} {_short(rule.value or '')} ({shown})"


def why_in(
    segment: Segment,
    contact_props: Mapping[str, str | None],
    company_props: Mapping[str, str | None],
) -> list[str]:
    """Why a contact is in the segment, for the operator: the list, then each filter it meets,
    e.g. ["in list 42", "company industry = Software", "numberofemployees ≥ 50 (120)"]."""
    reasons = [f"in list {segment.list_id}"] if segment.list_id else []
    for rule in segment.filters:
        props = _properties_for(rule, contact_props, company_props)
        if matches(rule, props):
            reasons.append(_reason(rule, _value_of(props, rule.property)))
    return reasons


# --- selection --------------------------------------------------------------------------
_COUNTRY_ALIASES = {
    "us": "US",
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "canada": "CA",
    "ca": "CA",
}


def normalize_country(value: str | None) -> str | None:
    """The few countries whose law matters here as ISO codes; two-letter codes upper-cased;
    anything else as HubSpot has it (spaces tidied)."""
    text = " ".join((value or "").split())
    if not text:
        return None
    alias = _COUNTRY_ALIASES.get(text.casefold().replace(".", ""))
    if alias:
        return alias
    return text.upper() if len(text) == 2 and text.isalpha() else text


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A contact of the segment with everything `select` needs to judge it."""

    contact_id: str
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    company_id: str | None = None
    company_name: str | None = None
    country: str | None = None  # normalised on creation: "USA" -> "US", "Canada" -> "CA"
    owner_email: str | None = None  # the HubSpot owner's address
    open_workflow: bool = False  # a conversation with this contact is under way
    other_campaign: str | None = None  # another running campaign holding the contact
    suppressed: bool = False  # our own record: bounced or unsubscribed
    opted_out: bool = False  # HubSpot hs_email_optout: no marketing or sales email at all
    subscription: Literal["subscribed", "not_subscribed", "unknown"] = "unknown"
    internal: bool = False  # one of our own people
    properties: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    company_properties: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    reasons_in: tuple[str, ...] = ()  # from `why_in`
    guardrail: str | None = None  # why the team's guardrails refuse this contact, if they do

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", normalize_country(self.country))


class ExclusionCode(StrEnum):
    NO_EMAIL = "no_email"
    DUPLICATE = "duplicate"
    INTERNAL = "internal"
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"
    GUARDRAILS = "guardrails"
    POSTAL_ADDRESS_REQUIRED = "postal_address_required"
    NO_OWNER = "no_owner"
    OPEN_WORKFLOW = "open_workflow"
    OTHER_CAMPAIGN = "other_campaign"
    COMPANY_CAP = "company_cap"


@dataclass(frozen=True)
class Exclusion:
    candidate: Candidate
    code: ExclusionCode
    text: str  # short, for the operator


@dataclass(frozen=True)
class Selection:
    included: list[Candidate]
    excluded: list[Exclusion]


def _email_key(candidate: Candidate) -> str | None:
    address = normalize_email(candidate.email or "")
    return address.lower() if address else None


def _unsubscribed(candidate: Candidate, compliance: Compliance) -> str | None:
    if candidate.opted_out:
        return "opted out of all email in HubSpot"
    type_id = compliance.subscription_type_id
    if type_id and candidate.subscription == "not_subscribed":
        return f"unsubscribed from subscription type {type_id}"
    if compliance.consent_basis == "consent" and candidate.subscription != "subscribed":
        return "no recorded consent"  # consent needs a recorded yes
    return None


def _early_exclusion(
    candidate: Candidate, campaign: Campaign, first_with_email: Mapping[str, str]
) -> tuple[ExclusionCode, str] | None:
    """The first reason, company cap aside, why this candidate gets no draft."""
    email = _email_key(candidate)
    if email is None:
        given = (candidate.email or "").strip()
        if given:
            return ExclusionCode.NO_EMAIL, f"not a valid email address: {_short(given)}"
        return ExclusionCode.NO_EMAIL, "no email address"
    if email in first_with_email:
        return ExclusionCode.DUPLICATE, f"same email as contact {first_with_email[email]}"
    if candidate.internal:
        return ExclusionCode.INTERNAL, "one of our own people"
    if candidate.suppressed:
        return ExclusionCode.SUPPRESSED, "bounced or unsubscribed before"
    unsubscribed = _unsubscribed(candidate, campaign.compliance)
    if unsubscribed:
        return ExclusionCode.UNSUBSCRIBED, unsubscribed
    if candidate.guardrail:
        return ExclusionCode.GUARDRAILS, candidate.guardrail
    law = POSTAL_ADDRESS_COUNTRIES.get(candidate.country or "")
    if law and not campaign.compliance.postal_address:
        return (
            ExclusionCode.POSTAL_ADDRESS_REQUIRED,
            f"postal address needed for {candidate.country} ({law})",
        )
    if campaign.owner_rule.kind == "contact_owner" and not (candidate.owner_email or "").strip():
        return ExclusionCode.NO_OWNER, "contact has no owner"
    if candidate.open_workflow:
        return ExclusionCode.OPEN_WORKFLOW, "already in an open conversation"
    if candidate.other_campaign and candidate.other_campaign != campaign.id:
        return ExclusionCode.OTHER_CAMPAIGN, f"already in campaign {candidate.other_campaign}"
    return None


def company_key(candidate: Candidate) -> tuple[str, str] | None:
    """What the company cap counts by, and how to name it: the HubSpot company, else the
    address's domain, except personal mailboxes, which are nobody's company."""
    if candidate.company_id:
        name = candidate.company_name or f"company {candidate.company_id}"
        return f"company:{candidate.company_id}", name
    email = _email_key(candidate)
    domain = email.rpartition("@")[2] if email else ""
    if not domain or domain in FREE_MAIL_DOMAINS:
        return None
    return f"domain:{domain}", domain


def select(candidates: Iterable[Candidate], campaign: Campaign) -> Selection:
    """Who gets a draft, in input order; everyone else with the first reason that applies:
    no_email, duplicate, internal, suppressed, unsubscribed, guardrails, postal_address_required,
    no_owner, open_workflow, other_campaign, company_cap."""
    included: list[Candidate] = []
    excluded: list[Exclusion] = []
    first_with_email: dict[str, str] = {}
    per_company: dict[str, int] = {}
    cap = campaign.limits.per_company
    for candidate in candidates:
        found = _early_exclusion(candidate, campaign, first_with_email)
        email = _email_key(candidate)
        if email is not None:
            first_with_email.setdefault(email, candidate.contact_id)
        company = company_key(candidate) if found is None else None
        if company is not None:
            key, name = company
            if per_company.get(key, 0) >= cap:
                found = ExclusionCode.COMPANY_CAP, f"company cap of {cap} reached at {name}"
            else:
                per_company[key] = per_company.get(key, 0) + 1
        if found is None:
            included.append(candidate)
        else:
            excluded.append(Exclusion(candidate, *found))
    return Selection(included, excluded)


# --- pacing -----------------------------------------------------------------------------
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def dispatch_times(
    count: int,
    *,
    start: datetime,
    limits: Limits,
    schedule: Schedule,
    already_today: int = 0,
) -> list[datetime]:
    """When each of `count` drafts may be enqueued (UTC, non-decreasing).

    Not before `start` (or `schedule.start_at` when later); only on `schedule.days` between
    its hours in its time zone, as wall-clock hours (a DST day's window is an hour shorter or
    longer; an hour skipped when clocks go forward opens just after the gap); `60 /
    per_minute` seconds apart (rounded up to the microsecond, so no 60 seconds ever hold more
    than `per_minute`); at most `per_day` per local calendar day, where `already_today` are
    already spent on the local day of `start`.
    """
    if count < 0 or already_today < 0:
        raise ValueError("count and already_today cannot be negative")
    if start.utcoffset() is None:
        raise ValueError("start must carry a time zone")
    zone = ZoneInfo(schedule.time_zone)
    earliest = start.astimezone(UTC)
    if schedule.start_at is not None and schedule.start_at > earliest:
        earliest = schedule.start_at.astimezone(UTC)
    today = start.astimezone(zone).date()
    # Naive arithmetic from here (UTC for instants, local for wall-clock): tz-aware
    # datetimes are several times slower, and a 10,000-day schedule must stay quick.
    cursor = earliest.replace(tzinfo=None)
    midnight = datetime.combine(earliest.astimezone(zone).date(), time(0))
    opens_after = timedelta(hours=schedule.start_hour)
    closes_after = timedelta(hours=schedule.end_hour)
    weekdays = frozenset(schedule.days)
    step_us = -(-60_000_000 // limits.per_minute)
    step = timedelta(microseconds=step_us)
    times: list[datetime] = []
    left = count
    while left > 0:
        if midnight.weekday() in weekdays:
            room = limits.per_day - (already_today if midnight.date() == today else 0)
            local_open, local_close = midnight + opens_after, midnight + closes_after
            opens = local_open - (zone.utcoffset(local_open) or timedelta(0))
            closes = local_close - (zone.utcoffset(local_close) or timedelta(0))
            begin = cursor if cursor > opens else opens
            if begin < closes and room > 0:
                fits = -(-((closes - begin) // _MICROSECOND) // step_us)
                batch = min(left, room, fits)
                first = _EPOCH + (begin - _NAIVE_EPOCH)  # aware; quicker than .replace
                times.extend([first + step * k for k in range(batch)])
                cursor = begin + step * batch
                left -= batch
        midnight += _ONE_DAY
    return times


# --- footer -----------------------------------------------------------------------------
def compliance_footer(compliance: Compliance) -> str:
    """What code appends under the body: a blank line, the opt-out line, the postal address.
    Starts with a line break so `body + "\\n" + footer` leaves one blank line between."""
    lines = ["", compliance.opt_out_line]
    if compliance.postal_address:
        lines.append(compliance.postal_address)
    return "\n".join(lines)


def with_footer(body: str, compliance: Compliance) -> str:
    """The body with the footer under it, once: a body already ending in it comes back as is.
    Trailing blank lines of the body are dropped and line breaks become `\\n`."""
    footer = compliance_footer(compliance)
    text = body.replace("\r\n", "\n").rstrip()
    if text.endswith(footer.strip()):
        return body
    return f"{text}\n{footer}"


# --- ids --------------------------------------------------------------------------------
def _member_digest(campaign_id: str, email: str) -> str:
    if not _CAMPAIGN_ID.match(campaign_id):
        raise ValueError(f"not a campaign id: {campaign_id!r}")
    address = email.strip().lower()
    if not address:
        raise ValueError("a member needs an email address")
    return hashlib.sha256(f"{campaign_id}\x00{address}".encode()).hexdigest()


def member_id(campaign_id: str, email: str) -> str:
    """The member's document id: 24 hex characters, the same for the same campaign and
    address whatever its case."""
    return _member_digest(campaign_id, email)[:24]


def workflow_id_for(campaign_id: str, email: str) -> str:
    """The member's workflow id, so a restart finds the workflow instead of opening another."""
    return f"cmp-{campaign_id}-{_member_digest(campaign_id, email)[:12]}"
