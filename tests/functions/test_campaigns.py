"""Campaigns end to end: the operator API, the real draft function fanning out through Cloud
Tasks, HubSpot's fake with a 300-contact segment, Maya's Gmail drafts."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from devstack import seed
from shared.services.suppressions import suppression_ref
from tests.functions.team_support import REP, Team

pytestmark = pytest.mark.stack

COMPLIANCE = {
    "opt_out_line": "Not for you? Reply 'unsubscribe' and I won't write again.",
    "postal_address": "Brightline Analytics, 1 Harbour St, Leith EH6 6QL, UK",
    "consent_basis": "legitimate_interest",
}
ALWAYS = {"days": [0, 1, 2, 3, 4, 5, 6], "start_hour": 0, "end_hour": 24, "time_zone": "UTC"}


def _spec(campaign_id: str, **changes: Any) -> dict[str, Any]:
    spec = {
        "id": campaign_id,
        "name": "Northwind case study",
        "story": {
            "title": "How Northwind closes the month three days sooner",
            "brief": "Northwind's finance team moved month-end reporting to Brightline and "
            "closes three days earlier. Useful for finance-heavy software companies.",
            "asset_ids": [],
        },
        "segment": {
            "filters": [
                {
                    "object": "contact",
                    "property": "lifecyclestage",
                    "operator": "EQ",
                    "value": "lead",
                },
                {
                    "object": "company",
                    "property": "industry",
                    "operator": "EQ",
                    "value": "Software",
                },
            ]
        },
        "owner_rule": {"kind": "contact_owner"},
        "limits": {"per_minute": 60, "per_day": 2000, "per_company": 3},
        "schedule": ALWAYS,
        "compliance": COMPLIANCE,
    }
    spec.update(changes)
    return spec


class Segment:
    """Contacts seeded in the HubSpot fake, with what each should become."""

    def __init__(self) -> None:
        self.eligible: set[str] = set()
        self.excluded: dict[str, str] = {}  # email -> reason code


def _seed_segment(team: Team, size: int, first_id: int = 50_000) -> Segment:
    """`size` leads at Software companies of five contacts each (the cap keeps three), some
    of whom the campaign must leave out for a reason of their own, plus two people outside
    the segment."""
    hubspot, db = team.hubspot, team.db
    segment = Segment()
    companies: dict[int, int] = {}
    kept: dict[int, int] = {}
    for index in range(size):
        company_index = index // 5
        if company_index not in companies:
            company = hubspot.create(
                "companies",
                {
                    "name": f"Acme {company_index}",
                    "domain": f"acme{company_index}.example",
                    "industry": "Software",
                    "country": "United Kingdom",
                },
            )
            companies[company_index] = int(company["id"])
        email = f"lead{index}@acme{company_index}.example"
        contact_id = first_id + index
        properties = {
            "email": email,
            "firstname": f"Lead{index}",
            "lifecyclestage": "lead",
            "hubspot_owner_id": seed.OWNER_ID,
        }
        reason = None
        if index % 50 == 1:
            properties["hs_email_optout"] = "true"
            reason = "unsubscribed"
        elif index % 50 == 2:
            suppression_ref(db, email).set({"active": True, "reason": "bounce"})
            reason = "suppressed"
        elif index % 50 == 10:
            db.collection("workflows").document(f"open-{contact_id}").set(
                {"contact_id": contact_id, "state": "awaiting_approval", "contact_email": email}
            )
            reason = "open_workflow"
        elif kept.get(company_index, 0) >= 3:
            reason = "company_cap"  # three kept at this company already: the cap
        else:
            kept[company_index] = kept.get(company_index, 0) + 1
        hubspot.create(
            "contacts",
            properties,
            associations=[("companies", companies[company_index])],
            object_id=contact_id,
        )
        if reason:
            segment.excluded[email] = reason
        else:
            segment.eligible.add(email)
    # Outside the segment: another industry, and a customer.
    other = hubspot.create("companies", {"name": "Bank", "industry": "Banking"})
    hubspot.create(
        "contacts",
        {"email": "cfo@bank.example", "lifecyclestage": "lead", "hubspot_owner_id": seed.OWNER_ID},
        associations=[("companies", other["id"])],
    )
    hubspot.create(
        "contacts",
        {"email": "happy@acme0.example", "lifecyclestage": "customer"},
        associations=[("companies", companies[0])],
    )
    return segment


def _drafts_by_recipient(team: Team) -> Counter[str]:
    found: Counter[str] = Counter()
    for draft in team.gmail.drafts(REP):
        message = draft["message"]
        headers = {
            h["name"].lower(): h["value"] for h in message.get("payload", {}).get("headers", [])
        }
        to = headers.get("to") or message.get("to") or ""
        found[str(to).split("<")[-1].rstrip(">").strip().lower()] += 1
    return found


def _wait(check: Any, timeout: float = 240.0, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def _campaign(team: Team, campaign_id: str) -> dict[str, Any]:
    answer = team.api("GET", f"/api/campaigns/{campaign_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _members(team: Team, campaign_id: str) -> list[dict[str, Any]]:
    members = team.db.collection("campaigns").document(campaign_id).collection("members")
    return [snap.to_dict() or {} for snap in members.stream()]


def _settled(team: Team, campaign_id: str, expected: int) -> bool:
    workflows = _campaign(team, campaign_id)["progress"]["workflows"]
    return sum(v for k, v in workflows.items() if k != "drafting") >= expected


def test_a_300_contact_campaign_drafts_each_eligible_contact_once(team: Team):
    segment = _seed_segment(team, 300)
    spec = _spec("northwind-300")

    preview = team.api("POST", "/api/campaigns/preview", spec)
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert shown["count"] == len(segment.eligible)
    assert shown["excluded_by_reason"] == dict(Counter(segment.excluded.values()))
    assert "lifecyclestage = lead" in " ".join(shown["included"][0]["why_in"])
    assert team.db.collection("campaigns").document("northwind-300").get().exists is False

    created = team.api("POST", "/api/campaigns", spec)
    assert created.status_code == 200, created.text
    assert team.api("POST", "/api/campaigns", spec).status_code == 409
    launched = team.api("POST", "/api/campaigns/northwind-300/launch")
    assert launched.status_code == 200, launched.text

    assert _wait(lambda: _settled(team, "northwind-300", len(segment.eligible)))
    drafts = _drafts_by_recipient(team)
    assert set(drafts) == segment.eligible
    assert set(drafts.values()) == {1}

    members = _members(team, "northwind-300")
    skipped = {m["email"]: m["reason"] for m in members if m["status"] == "skipped"}
    assert skipped == segment.excluded
    assert all(m.get("why_not") for m in members if m["status"] == "skipped")
    # The pace: no window of the campaign's minute (one second here) holds more than 60.
    times = sorted(m["dispatched_at"].timestamp() for m in members if m.get("dispatched_at"))
    assert len(times) == len(segment.eligible)
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 60

    one = next(m for m in members if m["status"] == "drafting")
    workflow = team.workflow(one["workflow_id"])
    assert workflow["state"] == "awaiting_approval"
    assert workflow["draft"]["body"].rstrip().endswith(COMPLIANCE["postal_address"])
    assert COMPLIANCE["opt_out_line"] in workflow["draft"]["body"]
    assert _campaign(team, "northwind-300")["state"] == "done"


def test_pause_holds_the_campaign_and_resume_finishes_it_without_a_second_draft(team: Team):
    segment = _seed_segment(team, 40, first_id=60_000)
    spec = _spec("pause-me", limits={"per_minute": 5, "per_day": 2000, "per_company": 3})
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    assert team.api("POST", "/api/campaigns/pause-me/launch").status_code == 200

    assert _wait(lambda: _campaign(team, "pause-me")["progress"]["dispatched"] >= 5, 30)
    assert team.api("POST", "/api/campaigns/pause-me/pause").status_code == 200
    held = _campaign(team, "pause-me")["progress"]["dispatched"]
    time.sleep(3)  # three of the campaign's minutes: nothing more goes out
    assert _campaign(team, "pause-me")["progress"]["dispatched"] == held
    assert held < len(segment.eligible)

    assert team.api("POST", "/api/campaigns/pause-me/resume").status_code == 200
    assert team.api("POST", "/api/campaigns/pause-me/resume").status_code == 409
    assert _wait(lambda: _settled(team, "pause-me", len(segment.eligible)), 120)
    drafts = _drafts_by_recipient(team)
    assert set(drafts) == segment.eligible
    assert set(drafts.values()) == {1}


def test_a_tick_that_dies_before_queueing_its_drafts_is_repaired_by_the_next(team: Team):
    """The crash: members claimed and workflows created, then the process died before the
    draft tasks were queued. The next tick queues them; nobody is drafted twice."""
    from shared.config import get_settings
    from shared.runtime import Runtime
    from shared.services.campaigns import CampaignService

    segment = _seed_segment(team, 10, first_id=70_000)
    spec = _spec("crash", limits={"per_minute": 60, "per_day": 2000, "per_company": 3})
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    service = CampaignService.for_runtime(Runtime(get_settings()))
    # The API made the campaign; the service below plays a tick that crashes.
    team.db.collection("campaigns").document("crash").update({"state": "running"})
    campaign = service.parse({**spec, "state": "running"})
    service._write_members(campaign, service._select(campaign))
    claimed = service._dispatch(campaign, 4, service.clock())  # ... and the process dies here
    assert len(claimed) == 4
    assert not _drafts_by_recipient(team)

    service.resolve("crash")  # the chain starts; its first tick repairs the four

    assert _wait(lambda: _settled(team, "crash", len(segment.eligible)), 60)
    drafts = _drafts_by_recipient(team)
    assert set(drafts) == segment.eligible
    assert set(drafts.values()) == {1}


def test_cancel_stops_the_campaign_and_closes_what_was_not_drafted(team: Team):
    _seed_segment(team, 30, first_id=80_000)
    spec = _spec("cancel-me", limits={"per_minute": 3, "per_day": 2000, "per_company": 3})
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    assert team.api("POST", "/api/campaigns/cancel-me/launch").status_code == 200
    assert _wait(lambda: _campaign(team, "cancel-me")["progress"]["dispatched"] >= 3, 30)

    cancelled = team.api("POST", "/api/campaigns/cancel-me/cancel")
    assert cancelled.status_code == 200, cancelled.text
    time.sleep(3)
    progress = _campaign(team, "cancel-me")["progress"]
    assert progress["queued"] == 0
    assert progress["cancelled"] > 0
    dispatched = progress["dispatched"]
    assert dispatched < 18
    assert team.api("POST", "/api/campaigns/cancel-me/resume").status_code == 409


def test_bad_campaigns_are_refused_and_nothing_is_written(team: Team):
    bad = _spec("bad-one", compliance={**COMPLIANCE, "opt_out_line": ""})
    answer = team.api("POST", "/api/campaigns", bad)
    assert answer.status_code == 400
    assert "opt_out_line" in answer.text
    assert team.api("POST", "/api/campaigns", _spec("Bad Id!")).status_code == 400
    assert team.api("GET", "/api/campaigns/..%2F..").status_code == 404
    assert not list(team.db.collection("campaigns").stream())
    stranger = team.api("GET", "/api/campaigns", token="not-a-token")
    assert stranger.status_code == 401


def test_bulk_approval_needs_a_sample_read_first(team: Team):
    segment = _seed_segment(team, 10, first_id=90_000)
    assert team.api("POST", "/api/campaigns", _spec("bulk")).status_code == 200
    assert team.api("POST", "/api/campaigns/bulk/launch").status_code == 200
    assert _wait(lambda: _settled(team, "bulk", len(segment.eligible)), 60)
    members = [m for m in _members(team, "bulk") if m["status"] == "drafting"]

    refused = team.api("POST", "/api/campaigns/bulk/approve", {"sampled": []})
    assert refused.status_code == 400
    sample = [m["workflow_id"] for m in members[:3]]
    approved = team.api("POST", "/api/campaigns/bulk/approve", {"sampled": sample})
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved"] == len(segment.eligible)
    states = {team.workflow(m["workflow_id"])["state"] for m in members}
    assert states == {"approved"}


def test_replies_count_per_campaign_and_an_unsubscribe_suppresses_everywhere(team: Team):
    from shared.config import get_settings
    from shared.runtime import Runtime
    from shared.services.operator_api import OperatorApi
    from shared.services.send_wiring import SendWiring

    segment = _seed_segment(team, 5, first_id=95_000)
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    assert team.api("POST", "/api/campaigns", _spec("launch-story")).status_code == 200
    assert team.api("POST", "/api/campaigns/launch-story/launch").status_code == 200
    assert _wait(lambda: _settled(team, "launch-story", len(segment.eligible)), 60)
    members = [m for m in _members(team, "launch-story") if m["status"] == "drafting"]
    sample = [m["workflow_id"] for m in members]
    answer = team.api("POST", "/api/campaigns/launch-story/approve", {"sampled": sample})
    assert answer.status_code == 200, answer.text
    for member in members:
        team.send_settled(member["workflow_id"])
    assert {_address(s["to"]) for s in team.sent()} == segment.eligible
    assert all(COMPLIANCE["opt_out_line"] in s["body"] for s in team.sent())

    interested, leaving = sorted(segment.eligible)[:2]
    team.mail.inbound(interested, "Re: Northwind", "Sounds interesting, tell me more please.")
    team.mail.inbound(leaving, "Re: Northwind", "Please unsubscribe me from these emails.")
    assert team.mail.push().status_code == 200
    assert _wait(lambda: suppression_ref(team.db, leaving).get().exists, 30)

    outcomes = OperatorApi(SendWiring(Runtime(get_settings()))).campaign_outcomes()
    (row,) = outcomes["campaigns"]
    assert row["sent"] == len(segment.eligible)
    assert row["replies"] == 2
    assert row["positive"] == 1
    assert row["unsubscribed"] == 1
    (story,) = outcomes["stories"]
    assert story["story"] == row["story"]
    assert story["sent"] == row["sent"]

    again = team.api("POST", "/api/campaigns/preview", _spec("second-story"))
    reasons = {p["email"]: p["reason"] for p in again.json()["excluded"]}
    assert reasons[leaving] == "suppressed"


def _address(header: str) -> str:
    return header.split("<")[-1].rstrip(">").strip().lower()


def test_a_subscription_type_is_honoured_at_selection_and_again_at_send(team: Team):
    segment = _seed_segment(team, 5, first_id=97_000)
    marketing = "2891401"
    subscribed = sorted(segment.eligible)
    for email in subscribed[1:]:
        team.hubspot.set_subscription(email, marketing, status="SUBSCRIBED")
    team.hubspot.set_subscription(subscribed[0], marketing, status="NOT_SUBSCRIBED")
    spec = _spec("subscribed-only", compliance={**COMPLIANCE, "subscription_type_id": marketing})

    shown = team.api("POST", "/api/campaigns/preview", spec).json()
    reasons = {p["email"]: p["reason"] for p in shown["excluded"]}
    assert reasons[subscribed[0]] == "unsubscribed"
    assert shown["count"] == len(subscribed) - 1

    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    assert team.api("POST", "/api/campaigns/subscribed-only/launch").status_code == 200
    assert _wait(lambda: _settled(team, "subscribed-only", len(subscribed) - 1), 60)
    # Between the draft and the send, one of them leaves the subscription.
    team.hubspot.set_subscription(subscribed[1], marketing, status="NOT_SUBSCRIBED")
    members = [m for m in _members(team, "subscribed-only") if m["status"] == "drafting"]
    sample = [m["workflow_id"] for m in members]
    assert team.api("POST", "/api/campaigns/subscribed-only/approve", {"sampled": sample}).ok
    for member in members:
        team.send_settled(member["workflow_id"])

    sent_to = {_address(s["to"]) for s in team.sent()}
    assert sent_to == set(subscribed[2:])
    held = next(m for m in members if m["email"] == subscribed[1])
    assert team.workflow(held["workflow_id"])["send"]["status"] != "sent"


def test_contacts_outside_the_guardrails_are_left_out_with_the_reason(team: Team):
    casino = team.hubspot.create("companies", {"name": "Lucky Casino", "industry": "Gambling"})
    team.hubspot.create(
        "contacts",
        {
            "email": "boss@lucky.example",
            "lifecyclestage": "lead",
            "hubspot_owner_id": seed.OWNER_ID,
        },
        associations=[("companies", casino["id"])],
    )
    spec = _spec(
        "guarded",
        segment={
            "filters": [
                {
                    "object": "contact",
                    "property": "lifecyclestage",
                    "operator": "EQ",
                    "value": "lead",
                }
            ]
        },
    )
    shown = team.api("POST", "/api/campaigns/preview", spec).json()
    out = {p["email"]: (p["reason"], p["why_not"]) for p in shown["excluded"]}
    reason, why = out["boss@lucky.example"]
    assert reason == "guardrails"
    assert "Gambling" in why


def test_a_segment_that_cannot_be_read_pauses_the_campaign_with_the_reason(team: Team):
    spec = _spec("gone-list", segment={"list_id": "987654"})
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    assert team.api("POST", "/api/campaigns/gone-list/launch").status_code == 200

    held = _wait(lambda: _campaign(team, "gone-list")["state"] == "paused", 30)

    assert held
    campaign = _campaign(team, "gone-list")
    assert "987654" in campaign["error"]["reason"] or "list" in campaign["error"]["reason"]
    assert not _members(team, "gone-list")
    team.hubspot.create_list("Retail leads", list_id=987654)
    assert team.api("POST", "/api/campaigns/gone-list/resume").status_code == 200
    assert _wait(lambda: _campaign(team, "gone-list")["state"] == "done", 30)


def test_a_daily_limit_stops_the_day_and_a_contact_in_a_running_campaign_is_left_out(
    team: Team,
):
    segment = _seed_segment(team, 10, first_id=98_000)
    spec = _spec("daily-three", limits={"per_minute": 60, "per_day": 3, "per_company": 3})
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    assert team.api("POST", "/api/campaigns/daily-three/launch").status_code == 200
    assert _wait(lambda: _campaign(team, "daily-three")["progress"]["dispatched"] == 3, 30)
    time.sleep(3)  # three more of the campaign's minutes: the day's three are all it gets

    progress = _campaign(team, "daily-three")["progress"]
    assert progress["dispatched"] == 3
    assert progress["queued"] == len(segment.eligible) - 3
    assert _campaign(team, "daily-three")["state"] == "running"
    waiting = [t for t in team.tasks("campaign") if "-tick-" in t.name]
    assert len(waiting) == 1  # the chain waits for tomorrow, one tick long
    dispatched_on = {
        m["dispatched_at"].date() for m in _members(team, "daily-three") if m.get("dispatched_at")
    }
    (day,) = dispatched_on
    assert waiting[0].schedule_time.date() == day + timedelta(days=1)  # tomorrow, 00:00 UTC

    # A second campaign over the same people leaves out those the first still holds.
    shown = team.api("POST", "/api/campaigns/preview", _spec("same-people")).json()
    reasons = {p["email"]: p["reason"] for p in shown["excluded"]}
    queued = {m["email"] for m in _members(team, "daily-three") if m["status"] == "queued"}
    dispatched = {m["email"] for m in _members(team, "daily-three") if m["status"] == "drafting"}
    assert {reasons[e] for e in queued} == {"other_campaign"}
    assert {reasons[e] for e in dispatched} == {"open_workflow"}
    # Only people the first campaign's company cap left out are free for the second.
    capped = {e for e, reason in segment.excluded.items() if reason == "company_cap"}
    assert {p["email"] for p in shown["included"]} == capped


def test_one_rep_can_write_the_whole_campaign(team: Team):
    colleague = "sam@brightline.example"
    segment = _seed_segment(team, 5, first_id=99_000)
    spec = _spec("one-rep", owner_rule={"kind": "rep", "rep_email": colleague})
    assert team.api("POST", "/api/campaigns", spec).status_code == 200
    assert team.api("POST", "/api/campaigns/one-rep/launch").status_code == 200
    assert _wait(lambda: _settled(team, "one-rep", len(segment.eligible)), 60)

    members = [m for m in _members(team, "one-rep") if m["status"] == "drafting"]
    assert {m["mailbox"] for m in members} == {colleague}
    assert {team.workflow(m["workflow_id"])["mailbox"] for m in members} == {colleague}


def test_a_segment_too_big_to_check_subscriptions_for_is_refused_before_it_starts(
    team: Team, monkeypatch: pytest.MonkeyPatch
):
    from shared.services import campaigns

    monkeypatch.setattr(campaigns, "SUBSCRIPTION_CHECK_LIMIT", 3)
    _seed_segment(team, 5, first_id=99_500)
    spec = _spec("too-many", compliance={**COMPLIANCE, "subscription_type_id": "2891401"})

    answer = team.api("POST", "/api/campaigns/preview", spec)

    assert answer.status_code == 400
    assert "at most 3" in answer.json()["error"]
    assert not list(team.db.collection("campaigns").stream())
