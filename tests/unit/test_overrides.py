"""Temporary overrides of quotas, guardrails and campaign limits: checked values, expiry, and
the flags in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from shared.domain.sending import (
    BadFlags,
    Override,
    SendFlags,
    active_overrides,
    overridden,
    override_value,
    with_quota_overrides,
)
from shared.services.draft_wiring import gate_policy

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _override(target: str, value: object, *, hours: int = 24, at: datetime = NOW) -> dict:
    return Override(
        id=target,
        target=target,
        value=value,
        reason="launch day",
        by="admin@x",
        at=at,
        expires_at=at + timedelta(hours=hours),
    ).model_dump()


@pytest.mark.parametrize(
    ("target", "value", "expected"),
    [
        ("quotas.mailbox_day", "80", 80),
        ("quotas.team_day", 0, 0),
        ("guardrails.blocked_industries", "Gambling, Tobacco,", ["Gambling", "Tobacco"]),
        ("guardrails.allowed_industries", ["RETAIL"], ["RETAIL"]),
        ("guardrails.max_employees", "", None),
        ("guardrails.min_employees", "20", 20),
        ("campaign.spring-retail.per_day", "300", 300),
        ("campaign.spring-retail.per_minute", 12, 12),
    ],
)
def test_a_value_is_checked_for_its_target(target, value, expected):
    assert override_value(target, value) == expected


@pytest.mark.parametrize(
    ("target", "value"),
    [
        ("quotas.mailbox_day", 5_000),  # above Gmail's own daily ceiling
        ("quotas.mailbox_day", "lots"),
        ("kill_switch", False),  # the kill switch is a flag, never a lapsing override
        ("mode", "SEND_ALLOWED"),
        ("campaign.spring-retail.per_day", 0),
        ("campaign.spring-retail.per_minute", 61),
        ("campaign.Bad_Id.per_day", 10),
        ("guardrails.min_employees", "-3"),
    ],
)
def test_a_wrong_target_or_value_is_refused_by_name(target, value):
    with pytest.raises(BadFlags):
        override_value(target, value)


def test_only_overrides_in_force_count_and_the_latest_per_target_wins():
    stored = [
        _override("quotas.mailbox_day", 80, at=NOW - timedelta(hours=2)),
        {**_override("quotas.mailbox_day", 120, at=NOW - timedelta(hours=1)), "id": "later"},
        _override("quotas.team_day", 500, hours=1, at=NOW - timedelta(hours=3)),  # lapsed
        {"broken": True},
    ]
    active = active_overrides(stored, NOW)
    assert [o.id for o in active] == ["quotas.mailbox_day", "later"]
    assert overridden(active) == {"quotas.mailbox_day": 120}
    flags = with_quota_overrides(SendFlags(), active)
    assert flags.quotas.mailbox_day == 120
    assert flags.quotas.team_day == SendFlags().quotas.team_day
    assert active_overrides(stored, NOW + timedelta(days=2)) == []
    assert active_overrides(None, NOW) == []


def test_guardrail_overrides_change_the_gate_policy_and_nothing_else():
    settings = SimpleNamespace(
        internal_domains=("brightline.example",),
        asset_link_allow_list=(),
        guardrail_blocked_industries=("Gambling",),
        guardrail_allowed_industries=(),
        guardrail_blocked_stages=(),
        guardrail_min_employees=None,
        guardrail_max_employees=500,
    )
    plain = gate_policy(settings)
    assert plain.blocked_industries == frozenset({"Gambling"})
    raised = gate_policy(
        settings,
        {
            "guardrails.max_employees": None,
            "guardrails.blocked_industries": ["RETAIL"],
            "quotas.mailbox_day": 3,
        },
    )
    assert raised.employee_range == (None, None)
    assert raised.blocked_industries == frozenset({"RETAIL"})
    assert raised.internal_domains == plain.internal_domains


def test_a_campaign_limit_override_raises_that_campaign_only():
    from shared.services.campaigns import CampaignService
    from tests.unit.test_campaigns import make_campaign

    campaign = make_campaign(
        limits={"per_minute": 6, "per_day": 10},
        schedule={
            "time_zone": "UTC",
            "days": [0, 1, 2, 3, 4, 5, 6],
            "start_hour": 0,
            "end_hour": 24,
        },
    )
    in_force: dict = {}
    service = CampaignService(None, None, None, None, overrides=lambda: in_force)  # type: ignore[arg-type]
    data = {"dispatched": {NOW.date().isoformat(): 10}}  # today's 10 are out

    assert service._budget(campaign, data, NOW)[0] == 0  # waits for tomorrow
    in_force["campaign.other-campaign.per_day"] = 500
    assert service._budget(campaign, data, NOW)[0] == 0
    in_force[f"campaign.{campaign.id}.per_day"] = 30
    in_force[f"campaign.{campaign.id}.per_minute"] = 12
    assert service._budget(campaign, data, NOW)[0] == 12
