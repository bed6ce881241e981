"""Campaigns: the models and their validation, segment filters on HubSpot's string values, who
gets a draft and why not, pacing in the team's time zone across DST, the compliance footer,
stable ids."""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.campaigns import (
    FREE_MAIL_DOMAINS,
    Campaign,
    CampaignState,
    Candidate,
    Compliance,
    Exclusion,
    ExclusionCode,
    Limits,
    MemberStatus,
    OwnerRule,
    Schedule,
    Segment,
    SegmentFilter,
    Story,
    company_filters,
    company_key,
    compliance_footer,
    contact_filters,
    dispatch_times,
    in_segment,
    matches,
    member_id,
    normalize_country,
    select,
    why_in,
    with_footer,
    workflow_id_for,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
OPT_OUT = "Not interested? Reply STOP and I will not write again."
ADDRESS = "Acme Sales GmbH\nTorstraße 1, 10119 Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def make_campaign(**overrides: Any) -> Campaign:
    spec: dict[str, Any] = {
        "id": "spring-launch",
        "name": "Spring launch",
        "story": {"title": "Acme 2.0", "brief": "What changed and why it matters."},
        "segment": {"list_id": "42"},
        "schedule": {"time_zone": BERLIN},
        "compliance": {"opt_out_line": OPT_OUT, "postal_address": ADDRESS},
    }
    spec.update(overrides)
    return Campaign.model_validate(spec)


def person(contact_id: str, email: str | None = None, **fields: Any) -> Candidate:
    fields.setdefault("owner_email", "dana@ourco.com")
    address = email if email is not None else f"p{contact_id}@client{contact_id}.com"
    return Candidate(contact_id=contact_id, email=address, **fields)


def rule(operator: str, value: str | None = None, *values: str, **kw: Any) -> SegmentFilter:
    return SegmentFilter(
        object=kw.get("object", "contact"),
        property=kw.get("property", "industry"),
        operator=operator,  # type: ignore[arg-type]
        value=value,
        values=list(values),
    )


# --------------------------------------------------------------------------------------------
# States


def test_state_values() -> None:
    assert [s.value for s in CampaignState] == ["draft", "running", "paused", "cancelled", "done"]
    assert [s.value for s in MemberStatus] == ["queued", "drafting", "skipped", "cancelled"]


# --------------------------------------------------------------------------------------------
# Model validation


def test_story_strips_and_keeps_assets() -> None:
    story = Story(title="  Acme 2.0 ", brief=" Launch. ", asset_ids=["as-1", "as-2"])
    assert (story.title, story.brief, story.asset_ids) == ("Acme 2.0", "Launch.", ["as-1", "as-2"])
    assert Story(title="t", brief="b").asset_ids == []


@pytest.mark.parametrize(
    "spec",
    [
        {"title": "", "brief": "b"},
        {"title": "   ", "brief": "b"},
        {"title": "t" * 121, "brief": "b"},
        {"title": "t", "brief": ""},
        {"title": "t", "brief": "b" * 2001},
        {"title": "t", "brief": "b", "asset_ids": [f"as-{i}" for i in range(6)]},
        {"title": "t", "brief": "b", "asset_ids": ["has space"]},
        {"title": "t", "brief": "b", "asset_ids": [""]},
        {"title": "t", "brief": "b", "extra": 1},
    ],
)
def test_story_rejects(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Story.model_validate(spec)


def test_story_limits_are_inclusive() -> None:
    story = Story(title="t" * 120, brief="b" * 2000, asset_ids=[f"as-{i}" for i in range(5)])
    assert len(story.title) == 120
    assert len(story.asset_ids) == 5


@pytest.mark.parametrize(
    ("operator", "value", "values"),
    [
        ("EQ", "Software", []),
        ("NEQ", "Retail", []),
        ("GT", "10", []),
        ("GTE", "10", []),
        ("LT", "10", []),
        ("LTE", "10", []),
        ("IN", None, ["a", "b"]),
        ("NOT_IN", None, ["a"]),
        ("HAS_PROPERTY", None, []),
        ("NOT_HAS_PROPERTY", None, []),
    ],
)
def test_filter_accepts_the_operands_its_operator_takes(
    operator: str, value: str | None, values: list[str]
) -> None:
    made = SegmentFilter.model_validate(
        {"object": "contact", "property": "industry", "operator": operator, "value": value,
         "values": values}
    )  # fmt: skip
    assert (made.operator, made.value, made.values) == (operator, value, values)


@pytest.mark.parametrize(
    ("operator", "value", "values", "message"),
    [
        ("EQ", None, [], "EQ takes `value`"),
        ("GT", None, ["1"], "GT takes `value`"),
        ("LTE", "1", ["1"], "LTE takes `value`"),
        ("IN", None, [], "IN takes `values`"),
        ("IN", "a", ["a"], "IN takes `values`"),
        ("NOT_IN", "a", [], "NOT_IN takes `values`"),
        ("HAS_PROPERTY", "x", [], "HAS_PROPERTY takes neither"),
        ("NOT_HAS_PROPERTY", None, ["x"], "NOT_HAS_PROPERTY takes neither"),
    ],
)
def test_filter_rejects_operands_that_do_not_fit(
    operator: str, value: str | None, values: list[str], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SegmentFilter.model_validate(
            {"object": "contact", "property": "industry", "operator": operator, "value": value,
             "values": values}
        )  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [
        {"property": "Industry"},
        {"property": "annual-revenue"},
        {"property": ""},
        {"property": "a" * 101},
        {"object": "deal"},
        {"operator": "CONTAINS_TOKEN"},
        {"value": ""},
        {"value": "x" * 501},
    ],
)
def test_filter_rejects_bad_fields(changes: dict[str, Any]) -> None:
    spec = {"object": "company", "property": "industry", "operator": "EQ", "value": "Software"}
    with pytest.raises(ValidationError):
        SegmentFilter.model_validate({**spec, **changes})


def test_segment_needs_a_list_or_filters() -> None:
    with pytest.raises(ValidationError, match="list_id or at least one filter"):
        Segment()
    assert Segment(list_id="42").filters == []
    assert Segment(filters=[rule("HAS_PROPERTY")]).list_id is None


@pytest.mark.parametrize("list_id", ["", "abc", "42a", "1" * 21])
def test_segment_list_id_is_a_hubspot_list_number(list_id: str) -> None:
    with pytest.raises(ValidationError):
        Segment(list_id=list_id)


def test_segment_holds_at_most_ten_filters() -> None:
    assert len(Segment(filters=[rule("HAS_PROPERTY")] * 10).filters) == 10
    with pytest.raises(ValidationError):
        Segment(filters=[rule("HAS_PROPERTY")] * 11)


def test_owner_rule() -> None:
    assert OwnerRule() == OwnerRule(kind="contact_owner", rep_email=None)
    assert OwnerRule(kind="rep", rep_email="Dana@OurCo.COM").rep_email == "Dana@ourco.com"
    with pytest.raises(ValidationError, match="required for kind rep"):
        OwnerRule(kind="rep")
    with pytest.raises(ValidationError, match="required for kind rep"):
        OwnerRule(kind="contact_owner", rep_email="dana@ourco.com")
    with pytest.raises(ValidationError, match="not a valid address"):
        OwnerRule(kind="rep", rep_email="dana at ourco")


def test_limits_defaults_and_bounds() -> None:
    assert Limits() == Limits(per_minute=6, per_day=100, per_company=2)
    Limits(per_minute=60, per_day=2000, per_company=20)
    Limits(per_minute=1, per_day=1, per_company=1)
    for bad in ({"per_minute": 0}, {"per_minute": 61}, {"per_day": 0}, {"per_day": 2001},
                {"per_company": 0}, {"per_company": 21}):  # fmt: skip
        with pytest.raises(ValidationError):
            Limits.model_validate(bad)


def test_schedule_defaults_and_normalised_days() -> None:
    schedule = Schedule(time_zone=BERLIN)
    assert (schedule.start_at, schedule.days, schedule.start_hour, schedule.end_hour) == (
        None,
        (0, 1, 2, 3, 4),
        9,
        17,
    )
    assert Schedule(time_zone=BERLIN, days=[4, 0, 4, 2]).days == (0, 2, 4)
    assert Schedule(time_zone="UTC", start_hour=0, end_hour=24).end_hour == 24


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"time_zone": "../../etc/passwd"}, "unknown time zone"),
        ({"time_zone": ""}, "at least 1 character"),
        ({"days": []}, "at least one weekday"),
        ({"days": [0, 7]}, "weekdays 0 (Monday) to 6 (Sunday)"),
        ({"days": [-1]}, "weekdays 0"),
        ({"start_hour": 17, "end_hour": 17}, "end_hour must be after start_hour"),
        ({"start_hour": 18}, "end_hour must be after start_hour"),
        ({"start_hour": 24, "end_hour": 24}, "less than or equal to 23"),
        ({"end_hour": 25}, "less than or equal to 24"),
        ({"end_hour": 0}, "greater than or equal to 1"),
        ({"start_at": datetime(2024, 3, 4, 9)}, "start_at must carry a time zone"),
    ],
)
def test_schedule_rejects(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Schedule.model_validate({"time_zone": BERLIN, **changes})


def test_compliance_tidies_the_address() -> None:
    compliance = Compliance(opt_out_line=OPT_OUT, postal_address="  Acme \r\n\r\n 1 Main St  ")
    assert compliance.postal_address == "Acme\n1 Main St"
    assert Compliance(opt_out_line=OPT_OUT, postal_address="   ").postal_address is None
    assert Compliance(opt_out_line=OPT_OUT).consent_basis == "legitimate_interest"


@pytest.mark.parametrize(
    "changes",
    [
        {"opt_out_line": ""},
        {"opt_out_line": "Stop?"},
        {"opt_out_line": "x" * 301},
        {"opt_out_line": "Reply STOP\nto opt out of these"},
        {"postal_address": "x" * 301},
        {"subscription_type_id": "marketing"},
        {"subscription_type_id": ""},
        {"consent_basis": "vibes"},
    ],
)
def test_compliance_rejects(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Compliance.model_validate({"opt_out_line": OPT_OUT, **changes})


def test_campaign_defaults() -> None:
    campaign = make_campaign()
    assert campaign.state is CampaignState.DRAFT
    assert campaign.owner_rule.kind == "contact_owner"
    assert campaign.limits == Limits()
    assert campaign.segment.list_id == "42"


@pytest.mark.parametrize("campaign_id", ["ab", "Spring", "spring launch", "a/b-c", "x" * 41])
def test_campaign_id_shape(campaign_id: str) -> None:
    with pytest.raises(ValidationError):
        make_campaign(id=campaign_id)


def test_campaign_is_frozen_and_needs_its_parts() -> None:
    campaign = make_campaign()
    with pytest.raises(ValidationError):
        campaign.state = CampaignState.RUNNING  # type: ignore[misc]
    assert campaign.model_copy(update={"state": CampaignState.RUNNING}).state == "running"
    for part in ("story", "segment", "schedule", "compliance"):
        spec = make_campaign().model_dump()
        del spec[part]
        with pytest.raises(ValidationError):
            Campaign.model_validate(spec)


def test_campaign_round_trips_through_json() -> None:
    campaign = make_campaign(
        segment={"list_id": "42", "filters": [{"object": "company", "property": "industry",
                                               "operator": "IN", "values": ["Software"]}]},
        schedule={"time_zone": BERLIN, "start_at": "2024-03-04T09:00:00+01:00"},
    )  # fmt: skip
    assert Campaign.model_validate(campaign.model_dump(mode="json")) == campaign


# --------------------------------------------------------------------------------------------
# Segments


def test_filters_split_by_object() -> None:
    by_contact = rule("EQ", "CTO", property="jobtitle")
    by_company = rule("EQ", "Software", object="company")
    segment = Segment(filters=[by_company, by_contact])
    assert contact_filters(segment) == [by_contact]
    assert company_filters(segment) == [by_company]


@pytest.mark.parametrize(
    ("operator", "value", "actual", "expected"),
    [
        ("EQ", "Software", "software", True),
        ("EQ", "software", "  SOFTWARE ", True),
        ("EQ", "Software", "Hardware", False),
        ("EQ", "10", "10.0", True),  # numbers as numbers
        ("EQ", "2024-01-01", "1704067200000", True),  # an ISO date and epoch millis
        ("EQ", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", True),
        ("NEQ", "Retail", "retail", False),
        ("NEQ", "Retail", "Software", True),
        ("GT", "9", "10", True),  # as text "10" < "9"
        ("GT", "10", "10", False),
        ("GTE", "10", "10", True),
        ("GTE", "10.5", "10", False),
        ("LT", "-1", "-2.5", True),
        ("LT", "10", "10", False),
        ("LTE", "10", "10.00", True),
        ("LTE", "10", "11", False),
        ("GT", "2024-01-01", "2024-01-02", True),
        ("GT", "2024-01-01", "1704067200001", True),  # a millisecond later
        ("LT", "2024-06-01T00:00:00Z", "2024-06-01T01:00:00+02:00", True),
        ("GT", "apple", "Banana", True),  # text, ignoring case
        ("LT", "apple", "Banana", False),
        ("GT", "10", "ten", True),  # one side not a number: text ("t" > "1")
    ],
)
def test_matches_comparisons(operator: str, value: str, actual: str, expected: bool) -> None:
    assert matches(rule(operator, value), {"industry": actual}) is expected


@pytest.mark.parametrize(
    ("operator", "values", "actual", "expected"),
    [
        ("IN", ["Software", "SaaS"], "saas", True),
        ("IN", ["Software", "SaaS"], "Retail", False),
        ("IN", ["100", "200"], "200.0", True),
        ("NOT_IN", ["Software", "SaaS"], "SOFTWARE", False),
        ("NOT_IN", ["Software", "SaaS"], "Retail", True),
    ],
)
def test_matches_sets(operator: str, values: list[str], actual: str, expected: bool) -> None:
    assert matches(rule(operator, None, *values), {"industry": actual}) is expected


@pytest.mark.parametrize(
    ("properties", "has"),
    [
        ({"industry": "Software"}, True),
        ({"industry": "0"}, True),
        ({"industry": None}, False),
        ({"industry": ""}, False),
        ({"industry": "   "}, False),
        ({}, False),
    ],
)
def test_matches_presence(properties: dict[str, str | None], has: bool) -> None:
    assert matches(rule("HAS_PROPERTY"), properties) is has
    assert matches(rule("NOT_HAS_PROPERTY"), properties) is not has


@pytest.mark.parametrize(
    "unset_filter",
    [
        rule("EQ", "Software"),
        rule("NEQ", "Retail"),
        rule("GT", "0"),
        rule("LTE", "0"),
        rule("IN", None, "Software"),
        rule("NOT_IN", None, "Retail"),
    ],
)
def test_an_unset_property_meets_no_comparison(unset_filter: SegmentFilter) -> None:
    assert matches(unset_filter, {}) is False
    assert matches(unset_filter, {"industry": ""}) is False


def test_why_in_names_the_list_and_each_filter_met() -> None:
    segment = Segment(
        list_id="42",
        filters=[
            rule("EQ", "software", object="company"),
            rule("GTE", "50", property="numberofemployees", object="company"),
            rule("NEQ", "Student", property="jobtitle"),
            rule("IN", None, "DE", "AT", property="country"),
            rule("NOT_IN", None, "Retail", "Food"),
            rule("HAS_PROPERTY", property="phone"),
            rule("NOT_HAS_PROPERTY", property="hs_lead_status"),
            rule("LT", "2024-01-01", property="createdate"),
        ],
    )
    contact = {"jobtitle": "CTO", "country": "de", "industry": "Hardware", "phone": "+49 30 1",
               "createdate": "2023-05-01"}  # fmt: skip
    company = {"industry": "Software", "numberofemployees": "120"}
    assert why_in(segment, contact, company) == [
        "in list 42",
        "company industry = Software",
        "company numberofemployees ≥ 50 (120)",
        "jobtitle ≠ Student (CTO)",
        "country = de",
        "industry not in Retail, Food (Hardware)",
        "phone is set",
        "hs_lead_status is not set",
        "createdate < 2024-01-01 (2023-05-01)",
    ]
    assert in_segment(segment, contact, company) is True


def test_why_in_leaves_out_filters_not_met_and_in_segment_says_no() -> None:
    segment = Segment(filters=[rule("EQ", "Software", object="company"), rule("HAS_PROPERTY")])
    assert why_in(segment, {"industry": "x"}, {"industry": "Retail"}) == ["industry is set"]
    assert in_segment(segment, {"industry": "x"}, {"industry": "Retail"}) is False
    assert in_segment(segment, {"industry": "x"}, {"industry": "SOFTWARE"}) is True
    assert in_segment(Segment(list_id="7"), {}, {}) is True


def test_why_in_shortens_long_values() -> None:
    reasons = why_in(Segment(filters=[rule("HAS_PROPERTY")]), {"industry": "x" * 500}, {})
    assert reasons == ["industry is set"]
    long = why_in(Segment(filters=[rule("EQ", "a" * 80)]), {"industry": "A" * 80}, {})
    assert long == ["industry = " + "A" * 59 + "…"]


# --------------------------------------------------------------------------------------------
# Candidates


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("United States", "US"),
        ("united states of america", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("us", "US"),
        (" US ", "US"),
        ("Canada", "CA"),
        ("ca", "CA"),
        ("de", "DE"),
        ("Germany", "Germany"),
        ("  New   Zealand ", "New Zealand"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_country(given: str | None, expected: str | None) -> None:
    assert normalize_country(given) == expected
    assert person("1", country=given).country == expected


def test_candidate_is_hashable_despite_its_properties() -> None:
    one = person("1", properties={"industry": "Software"})
    assert hash(one) == hash(person("1", properties={"industry": "Software"}))
    assert one == person("1", properties={"industry": "Software"})
    assert one != person("1", properties={"industry": "Retail"})


# --------------------------------------------------------------------------------------------
# Selection


def only_exclusion(candidate: Candidate, campaign: Campaign | None = None) -> tuple[str, str]:
    selection = select([candidate], campaign or make_campaign())
    assert selection.included == []
    [exclusion] = selection.excluded
    assert exclusion.candidate is candidate
    return exclusion.code.value, exclusion.text


CONSENT = {"opt_out_line": OPT_OUT, "postal_address": ADDRESS, "consent_basis": "consent"}
TYPED = {"opt_out_line": OPT_OUT, "postal_address": ADDRESS, "subscription_type_id": "12345"}
NO_ADDRESS = {"opt_out_line": OPT_OUT}


@pytest.mark.parametrize(
    ("candidate", "compliance", "code", "text"),
    [
        (person("1", ""), None, "no_email", "no email address"),
        (Candidate(contact_id="1", email=None, owner_email="d@ourco.com"), None, "no_email",
         "no email address"),
        (person("1", "jane.doe"), None, "no_email", "not a valid email address: jane.doe"),
        (person("1", "jane@@acme.com"), None, "no_email",
         "not a valid email address: jane@@acme.com"),
        (person("1", internal=True), None, "internal", "one of our own people"),
        (person("1", suppressed=True), None, "suppressed", "bounced or unsubscribed before"),
        (person("1", opted_out=True), None, "unsubscribed", "opted out of all email in HubSpot"),
        (person("1", subscription="not_subscribed"), TYPED, "unsubscribed",
         "unsubscribed from subscription type 12345"),
        (person("1", subscription="unknown"), CONSENT, "unsubscribed", "no recorded consent"),
        (person("1", subscription="not_subscribed"), CONSENT, "unsubscribed",
         "no recorded consent"),
        (person("1", country="United States"), NO_ADDRESS, "postal_address_required",
         "postal address needed for US (CAN-SPAM)"),
        (person("1", country="Canada"), NO_ADDRESS, "postal_address_required",
         "postal address needed for CA (CASL)"),
        (person("1", owner_email=None), None, "no_owner", "contact has no owner"),
        (person("1", owner_email="  "), None, "no_owner", "contact has no owner"),
        (person("1", open_workflow=True), None, "open_workflow",
         "already in an open conversation"),
        (person("1", other_campaign="autumn-event"), None, "other_campaign",
         "already in campaign autumn-event"),
    ],
)  # fmt: skip
def test_each_exclusion_has_its_code_and_text(
    candidate: Candidate, compliance: dict[str, Any] | None, code: str, text: str
) -> None:
    campaign = make_campaign(compliance=compliance) if compliance else make_campaign()
    assert only_exclusion(candidate, campaign) == (code, text)


@pytest.mark.parametrize(
    ("candidate", "compliance"),
    [
        (person("1", subscription="not_subscribed"), None),  # no subscription type to check
        (person("1", subscription="unknown"), TYPED),
        (person("1", subscription="subscribed"), CONSENT),
        (person("1", country="US"), None),  # the campaign has an address
        (person("1", country="Germany"), NO_ADDRESS),
        (person("1", other_campaign="spring-launch"), None),  # its own campaign is no conflict
    ],
)
def test_these_are_included(candidate: Candidate, compliance: dict[str, Any] | None) -> None:
    campaign = make_campaign(compliance=compliance) if compliance else make_campaign()
    assert select([candidate], campaign).included == [candidate]


def test_a_rep_rule_needs_no_contact_owner() -> None:
    campaign = make_campaign(owner_rule={"kind": "rep", "rep_email": "dana@ourco.com"})
    candidate = person("1", owner_email=None)
    assert select([candidate], campaign).included == [candidate]


def test_the_first_reason_wins_in_order() -> None:
    campaign = make_campaign(compliance=NO_ADDRESS | {"consent_basis": "consent"})
    problems: dict[str, Any] = {
        "internal": True,
        "suppressed": True,
        "opted_out": True,
        "country": "USA",
        "owner_email": None,
        "open_workflow": True,
        "other_campaign": "autumn-event",
    }
    order = [
        "internal",
        "suppressed",
        "unsubscribed",
        "postal_address_required",
        "no_owner",
        "open_workflow",
        "other_campaign",
    ]
    fixes: dict[str, Any] = {
        "internal": False,
        "suppressed": False,
        "opted_out": False,
        "country": "DE",
        "owner_email": "dana@ourco.com",
        "open_workflow": False,
        "other_campaign": None,
    }
    seen = []
    fields = dict(problems)
    for name in fixes:
        code, _ = only_exclusion(person("1", **fields), campaign)
        seen.append(code)
        fields[name] = fixes[name]
        if name == "opted_out":
            fields["subscription"] = "subscribed"
    assert seen == order
    assert select([person("1", **fields)], campaign).included != []
    # a bad address outranks everything, a duplicate everything but that
    assert only_exclusion(person("1", "nope", **problems), campaign)[0] == "no_email"
    first, second = person("1", "a@acme.com"), person("2", "A@acme.com", **problems)
    assert select([first, second], make_campaign()).excluded[0].code == "duplicate"


def test_duplicates_keep_the_first_by_input_order() -> None:
    first = person("10", "Jane@Acme.com")
    again = person("11", "jane@ACME.COM")
    other = person("12", "john@acme.com")
    third = person("13", " jane@acme.com ")
    selection = select([first, other, again, third], make_campaign())
    assert selection.included == [first, other]
    assert selection.excluded == [
        Exclusion(again, ExclusionCode.DUPLICATE, "same email as contact 10"),
        Exclusion(third, ExclusionCode.DUPLICATE, "same email as contact 10"),
    ]
    reversed_order = select([again, other, first], make_campaign())
    assert reversed_order.included == [again, other]
    assert reversed_order.excluded[0].text == "same email as contact 11"


def test_a_duplicate_of_an_excluded_contact_is_still_a_duplicate() -> None:
    internal = person("1", "jane@acme.com", internal=True)
    again = person("2", "jane@acme.com")
    selection = select([internal, again], make_campaign())
    assert selection.included == []
    assert [(e.code.value, e.text) for e in selection.excluded] == [
        ("internal", "one of our own people"),
        ("duplicate", "same email as contact 1"),
    ]


def test_company_cap_counts_included_contacts_per_company() -> None:
    acme = {"company_id": "900", "company_name": "Acme"}
    suppressed = person("1", "a@acme.com", suppressed=True, **acme)
    first, second, third = (person(str(i), f"p{i}@acme.com", **acme) for i in (2, 3, 4))
    elsewhere = person("5", "x@globex.com", company_id="901", company_name="Globex")
    selection = select([suppressed, first, second, elsewhere, third], make_campaign())
    assert selection.included == [first, second, elsewhere]
    assert [(e.candidate.contact_id, e.code.value, e.text) for e in selection.excluded] == [
        ("1", "suppressed", "bounced or unsubscribed before"),
        ("4", "company_cap", "company cap of 2 reached at Acme"),
    ]


def test_company_cap_follows_the_limit_and_names_unnamed_companies() -> None:
    campaign = make_campaign(limits={"per_company": 1})
    first = person("1", "a@acme.com", company_id="900")
    second = person("2", "b@acme.com", company_id="900")
    assert select([second], campaign).included == [second]  # alone it is fine
    selection = select([first, second], campaign)
    assert selection.included == [first]
    assert selection.excluded[0].text == "company cap of 1 reached at company 900"


def test_without_a_company_the_domain_groups_except_free_mail() -> None:
    campaign = make_campaign(limits={"per_company": 1})
    corp_a = person("1", "a@initech.com")
    corp_b = person("2", "b@Initech.com")
    gmail = [person(str(i), f"user{i}@gmail.com") for i in range(3, 6)]
    outlook = [person("6", "x@outlook.com"), person("7", "y@outlook.com")]
    selection = select([corp_a, corp_b, *gmail, *outlook], campaign)
    assert selection.included == [corp_a, *gmail, *outlook]
    assert [(e.candidate.contact_id, e.text) for e in selection.excluded] == [
        ("2", "company cap of 1 reached at initech.com")
    ]


def test_company_key() -> None:
    assert company_key(person("1", "a@acme.com", company_id="9", company_name="Acme")) == (
        "company:9",
        "Acme",
    )
    assert company_key(person("1", "a@Acme.com")) == ("domain:acme.com", "acme.com")
    assert company_key(person("1", "a@yahoo.com")) is None
    assert company_key(person("1", "a@icloud.com")) is None
    assert {"gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com"} <= (
        FREE_MAIL_DOMAINS
    )


def test_selection_is_deterministic_and_keeps_input_order() -> None:
    people = [
        person(str(i), f"p{i % 7}@c{i % 3}.com", open_workflow=(i % 5 == 0)) for i in range(40)
    ]
    once, twice = select(people, make_campaign()), select(list(people), make_campaign())
    assert once == twice
    assert [c.contact_id for c in once.included] == ["1", "2", "3", "4", "6", "8"]
    everyone = [c.contact_id for c in once.included] + [
        e.candidate.contact_id for e in once.excluded
    ]
    assert sorted(everyone, key=int) == [str(i) for i in range(40)]


# --------------------------------------------------------------------------------------------
# Pacing


def berlin_schedule(**changes: Any) -> Schedule:
    return Schedule.model_validate({"time_zone": BERLIN, **changes})


def per_local_day(times: list[datetime], zone: str) -> dict[str, int]:
    return dict(Counter(t.astimezone(ZoneInfo(zone)).date().isoformat() for t in times))


def test_dispatch_spaces_evenly_from_a_start_inside_the_window() -> None:
    start = local(BERLIN, 2024, 3, 5, 13, 37, 15)  # a Tuesday
    times = dispatch_times(4, start=start, limits=Limits(), schedule=berlin_schedule())
    assert times == [utc(2024, 3, 5, 12, 37, 15), utc(2024, 3, 5, 12, 37, 25),
                     utc(2024, 3, 5, 12, 37, 35), utc(2024, 3, 5, 12, 37, 45)]  # fmt: skip
    assert all(t.tzinfo is UTC for t in times)


def test_dispatch_rate_never_exceeds_per_minute() -> None:
    start = local(BERLIN, 2024, 3, 5, 9, 0, 30)
    limits = Limits(per_minute=7, per_day=2000)
    times = dispatch_times(700, start=start, limits=limits, schedule=berlin_schedule())
    assert max(Counter(t.replace(second=0, microsecond=0) for t in times).values()) == 7
    assert all(b - a >= timedelta(seconds=60) for a, b in zip(times, times[7:], strict=False))
    assert times[1] - times[0] == timedelta(microseconds=8_571_429)  # 60/7 s, rounded up
    assert times[-1] - times[0] == timedelta(microseconds=8_571_429 * 699)


def test_dispatch_caps_each_local_day_and_opens_at_the_start_hour() -> None:
    start = local(BERLIN, 2024, 3, 4, 8, 0)  # Monday, before the window
    times = dispatch_times(12, start=start, limits=Limits(per_day=5), schedule=berlin_schedule())
    assert per_local_day(times, BERLIN) == {"2024-03-04": 5, "2024-03-05": 5, "2024-03-06": 2}
    assert times[0] == utc(2024, 3, 4, 8, 0)  # 09:00 CET
    assert times[4] == utc(2024, 3, 4, 8, 0, 40)
    assert times[5] == utc(2024, 3, 5, 8, 0)
    assert times[10] == utc(2024, 3, 6, 8, 0)


def test_dispatch_skips_the_weekend_and_keeps_to_working_hours() -> None:
    start = local(BERLIN, 2024, 3, 8, 16, 59, 30)  # Friday, 30 s before closing
    times = dispatch_times(5, start=start, limits=Limits(), schedule=berlin_schedule())
    assert times == [
        utc(2024, 3, 8, 15, 59, 30),
        utc(2024, 3, 8, 15, 59, 40),
        utc(2024, 3, 8, 15, 59, 50),
        utc(2024, 3, 11, 8, 0),  # Monday 09:00
        utc(2024, 3, 11, 8, 0, 10),
    ]


def test_dispatch_after_hours_waits_for_the_next_working_morning() -> None:
    evening = local(BERLIN, 2024, 3, 5, 17, 0)  # the window closed at 17:00
    assert dispatch_times(1, start=evening, limits=Limits(), schedule=berlin_schedule()) == [
        utc(2024, 3, 6, 8, 0)
    ]
    saturday = local(BERLIN, 2024, 3, 9, 11, 0)
    assert dispatch_times(1, start=saturday, limits=Limits(), schedule=berlin_schedule()) == [
        utc(2024, 3, 11, 8, 0)
    ]


def test_dispatch_keeps_wall_clock_hours_across_dst_in_berlin() -> None:
    schedule = berlin_schedule(days=(6,), start_hour=1, end_hour=5)  # Sundays 01:00-05:00
    limits = Limits(per_minute=1, per_day=2000)
    spring = dispatch_times(
        400, start=local(BERLIN, 2024, 3, 31, 0, 0), limits=limits, schedule=schedule
    )
    # 2024-03-31: 02:00 CET jumps to 03:00 CEST; the window holds three real hours
    assert per_local_day(spring, BERLIN)["2024-03-31"] == 180
    assert spring[0] == utc(2024, 3, 31, 0, 0)  # 01:00 CET
    assert spring[179] == utc(2024, 3, 31, 2, 59)  # 04:59 CEST
    assert spring[180] == utc(2024, 4, 6, 23, 0)  # next Sunday 01:00 CEST
    autumn = dispatch_times(
        400, start=local(BERLIN, 2024, 10, 27, 0, 0), limits=limits, schedule=schedule
    )
    # 2024-10-27: 03:00 CEST falls back to 02:00 CET; the window holds five real hours
    assert per_local_day(autumn, BERLIN)["2024-10-27"] == 300
    assert autumn[0] == utc(2024, 10, 26, 23, 0)  # 01:00 CEST
    assert autumn[299] == utc(2024, 10, 27, 3, 59)  # 04:59 CET


def test_dispatch_on_working_days_around_a_dst_change() -> None:
    schedule = berlin_schedule()
    friday = local(BERLIN, 2024, 3, 29, 16, 59, 50)  # CET, UTC+1
    times = dispatch_times(2, start=friday, limits=Limits(), schedule=schedule)
    assert times == [utc(2024, 3, 29, 15, 59, 50), utc(2024, 4, 1, 7, 0)]  # Monday 09:00 CEST


def test_dispatch_continues_evenly_across_midnight_when_open_all_day() -> None:
    schedule = Schedule(time_zone="UTC", days=tuple(range(7)), start_hour=0, end_hour=24)
    start = utc(2024, 3, 4, 23, 59, 50)
    times = dispatch_times(4, start=start, limits=Limits(per_minute=3), schedule=schedule)
    assert times == [utc(2024, 3, 4, 23, 59, 50), utc(2024, 3, 5, 0, 0, 10),
                     utc(2024, 3, 5, 0, 0, 30), utc(2024, 3, 5, 0, 0, 50)]  # fmt: skip


def test_dispatch_already_today_counts_against_the_first_day() -> None:
    start = local(BERLIN, 2024, 3, 4, 10, 0)
    limits = Limits(per_day=5)
    times = dispatch_times(6, start=start, limits=limits, schedule=berlin_schedule(),
                           already_today=3)  # fmt: skip
    assert per_local_day(times, BERLIN) == {"2024-03-04": 2, "2024-03-05": 4}
    full = dispatch_times(1, start=start, limits=limits, schedule=berlin_schedule(),
                          already_today=9)  # fmt: skip
    assert full == [utc(2024, 3, 5, 8, 0)]


def test_dispatch_already_today_does_not_touch_a_later_first_day() -> None:
    saturday = local(BERLIN, 2024, 3, 9, 10, 0)
    times = dispatch_times(5, start=saturday, limits=Limits(per_day=5),
                           schedule=berlin_schedule(), already_today=5)  # fmt: skip
    assert per_local_day(times, BERLIN) == {"2024-03-11": 5}


def test_dispatch_waits_for_the_schedule_start() -> None:
    start = local(BERLIN, 2024, 3, 4, 10, 0)
    later = berlin_schedule(start_at=local(BERLIN, 2024, 3, 6, 14, 30))
    assert dispatch_times(1, start=start, limits=Limits(), schedule=later) == [
        utc(2024, 3, 6, 13, 30)
    ]
    earlier = berlin_schedule(start_at=local(BERLIN, 2024, 3, 1, 9, 0))
    assert dispatch_times(1, start=start, limits=Limits(), schedule=earlier) == [
        utc(2024, 3, 4, 9, 0)
    ]


def test_dispatch_in_another_zone() -> None:
    schedule = Schedule(time_zone=NEW_YORK)
    start = utc(2024, 3, 11, 12, 0)  # 08:00 EDT, the Monday after the US change
    assert dispatch_times(1, start=start, limits=Limits(), schedule=schedule) == [
        utc(2024, 3, 11, 13, 0)
    ]


def test_dispatch_edge_arguments() -> None:
    start = local(BERLIN, 2024, 3, 4, 10, 0)
    assert dispatch_times(0, start=start, limits=Limits(), schedule=berlin_schedule()) == []
    with pytest.raises(ValueError, match="cannot be negative"):
        dispatch_times(-1, start=start, limits=Limits(), schedule=berlin_schedule())
    with pytest.raises(ValueError, match="cannot be negative"):
        dispatch_times(1, start=start, limits=Limits(), schedule=berlin_schedule(),
                       already_today=-1)  # fmt: skip
    with pytest.raises(ValueError, match="time zone"):
        dispatch_times(1, start=datetime(2024, 3, 4, 10), limits=Limits(),
                       schedule=berlin_schedule())  # fmt: skip


@pytest.mark.parametrize(
    ("limits", "last"),
    [
        (Limits(), utc(2024, 5, 17, 7, 16, 30)),  # 100 a day: the 100th working day, CEST
        (Limits(per_minute=60, per_day=2000), utc(2024, 1, 5, 8, 33, 19)),  # 2,000 a day
    ],
)
def test_dispatch_of_ten_thousand_is_fast(limits: Limits, last: datetime) -> None:
    start = local(BERLIN, 2024, 1, 1, 9, 0)
    began = time.perf_counter()
    times = dispatch_times(10_000, start=start, limits=limits, schedule=berlin_schedule())
    elapsed = time.perf_counter() - began
    assert len(times) == 10_000
    assert times[-1] == last
    assert elapsed < 0.05


def test_dispatch_of_ten_thousand_one_a_day_finishes() -> None:
    start = local(BERLIN, 2024, 1, 1, 9, 0)
    began = time.perf_counter()
    times = dispatch_times(10_000, start=start, limits=Limits(per_day=1),
                           schedule=berlin_schedule())  # fmt: skip
    assert time.perf_counter() - began < 0.5
    assert len(set(per_local_day(times, BERLIN).values())) == 1
    assert times[-1].astimezone(ZoneInfo(BERLIN)).weekday() < 5


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
         "Asia/Kolkata", "UTC"]  # fmt: skip


@st.composite
def pacing(draw: st.DrawFn) -> dict[str, Any]:
    start_hour = draw(st.integers(0, 23))
    schedule = Schedule(
        time_zone=draw(st.sampled_from(ZONES)),
        days=tuple(draw(st.sets(st.integers(0, 6), min_size=1))),
        start_hour=start_hour,
        end_hour=draw(st.integers(start_hour + 1, 24)),
        start_at=draw(st.none() | st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1),
                                               timezones=st.just(UTC))),
    )  # fmt: skip
    limits = Limits(per_minute=draw(st.integers(1, 60)), per_day=draw(st.integers(1, 120)))
    return {
        "count": draw(st.integers(0, 250)),
        "start": draw(
            st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
        ),
        "limits": limits,
        "schedule": schedule,
        "already_today": draw(st.integers(0, 150)),
    }


@settings(max_examples=300, deadline=None)
@given(pacing())
def test_dispatch_properties(case: dict[str, Any]) -> None:
    times = dispatch_times(**case)
    schedule: Schedule = case["schedule"]
    limits: Limits = case["limits"]
    zone = ZoneInfo(schedule.time_zone)
    earliest = max(case["start"], schedule.start_at or case["start"])
    assert len(times) == case["count"]
    assert times == sorted(times)
    assert all(t >= earliest for t in times)
    for moment in times:
        wall = moment.astimezone(zone)
        assert wall.weekday() in schedule.days
        assert schedule.start_hour <= wall.hour < schedule.end_hour
    today = case["start"].astimezone(zone).date()
    for day, sent in Counter(t.astimezone(zone).date() for t in times).items():
        cap = limits.per_day - (case["already_today"] if day == today else 0)
        assert sent <= cap
    window = limits.per_minute
    assert all(b - a >= timedelta(seconds=60) for a, b in zip(times, times[window:], strict=False))


# --------------------------------------------------------------------------------------------
# Footer


def test_compliance_footer_lines() -> None:
    with_address = Compliance(opt_out_line=OPT_OUT, postal_address=ADDRESS)
    assert compliance_footer(with_address) == f"\n{OPT_OUT}\n{ADDRESS}"
    assert compliance_footer(Compliance(opt_out_line=OPT_OUT)) == f"\n{OPT_OUT}"


def test_with_footer_appends_once() -> None:
    compliance = Compliance(opt_out_line=OPT_OUT, postal_address=ADDRESS)
    body = "Hi Jane,\n\nthought of you.\n\nDana\n\n  \n"
    expected = f"Hi Jane,\n\nthought of you.\n\nDana\n\n{OPT_OUT}\n{ADDRESS}"
    assert with_footer(body, compliance) == expected
    assert with_footer(expected, compliance) == expected
    assert with_footer(expected + "\n", compliance) == expected + "\n"  # returned as is
    crlf = "Hi Jane,\r\n\r\nDana\r\n"
    assert with_footer(crlf, compliance) == f"Hi Jane,\n\nDana\n\n{OPT_OUT}\n{ADDRESS}"


def test_with_footer_appends_when_the_line_is_only_quoted_above() -> None:
    compliance = Compliance(opt_out_line=OPT_OUT)
    body = f"Hi,\n> {OPT_OUT}\nsee below\nDana"
    assert with_footer(body, compliance) == f"{body}\n\n{OPT_OUT}"


def test_with_footer_appends_when_the_footer_is_not_at_the_end() -> None:
    compliance = Compliance(opt_out_line=OPT_OUT)
    body = f"Hi,\n\n{OPT_OUT}\n\nP.S. one more thing"
    assert with_footer(body, compliance) == f"{body}\n\n{OPT_OUT}"


def test_with_footer_notices_a_changed_address() -> None:
    old = Compliance(opt_out_line=OPT_OUT, postal_address="Old Street 1")
    new = Compliance(opt_out_line=OPT_OUT, postal_address="New Street 2")
    once = with_footer("Hi", old)
    assert with_footer(once, new) == f"{once}\n\n{OPT_OUT}\nNew Street 2"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.booleans())
def test_with_footer_is_idempotent(body: str, has_address: bool) -> None:
    compliance = Compliance(opt_out_line=OPT_OUT, postal_address=ADDRESS if has_address else None)
    once = with_footer(body, compliance)
    assert with_footer(once, compliance) == once
    assert once.rstrip().endswith(compliance_footer(compliance).strip())


# --------------------------------------------------------------------------------------------
# Ids


def test_member_id_is_stable_short_and_case_blind() -> None:
    digest = hashlib.sha256(b"spring-launch\x00jane@acme.com").hexdigest()
    assert member_id("spring-launch", "jane@acme.com") == digest[:24]
    assert member_id("spring-launch", " Jane@ACME.com ") == digest[:24]
    assert re.fullmatch(r"[0-9a-f]{24}", member_id("spring-launch", "x@y.com"))


def test_workflow_id_for_shape() -> None:
    digest = hashlib.sha256(b"spring-launch\x00jane@acme.com").hexdigest()
    assert workflow_id_for("spring-launch", "JANE@acme.com") == f"cmp-spring-launch-{digest[:12]}"


def test_ids_are_distinct_per_person_and_campaign() -> None:
    emails = [f"user{i}@acme.com" for i in range(2_000)]
    assert len({member_id("spring-launch", e) for e in emails}) == 2_000
    assert len({workflow_id_for("spring-launch", e) for e in emails}) == 2_000
    assert member_id("spring-launch", "a@acme.com") != member_id("autumn-event", "a@acme.com")
    assert workflow_id_for("spring-launch", "a@acme.com") != workflow_id_for(
        "autumn-event", "a@acme.com"
    )


def test_ids_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="not a campaign id"):
        member_id("Spring/Launch", "a@acme.com")
    with pytest.raises(ValueError, match="needs an email"):
        workflow_id_for("spring-launch", "  ")
