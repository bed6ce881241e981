"""Temporary overrides through the operator API: an admin's decision with a reason and an
expiry, audited, and felt where it applies (the gate and the send quota)."""

from __future__ import annotations

import pytest

from devstack import seed
from tests.functions.conftest import events
from tests.functions.team_support import DANA, Team

pytestmark = pytest.mark.stack
TOM = seed.PROSPECTS[2]


def _override(team: Team, **body) -> dict:
    answer = team.api("POST", "/api/overrides", {"hours": 24, "reason": "launch week", **body})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["override"])


def _audit(team: Team, kind: str) -> list[dict]:
    return list(team.api("GET", f"/api/audit?kind={kind}").json()["entries"])


def test_a_guardrail_override_blocks_until_it_is_revoked(team):
    override = _override(
        team, target="guardrails.blocked_industries", value=f"{DANA.industry},{TOM.industry}"
    )
    blocked = team.drafted(team.lead())

    assert blocked["state"] == "blocked"
    assert DANA.industry.lower() in str(blocked).lower()
    shown = team.api("GET", "/api/flags").json()["flags"]["overrides"]
    assert [o["id"] for o in shown] == [override["id"]]
    (set_record,) = _audit(team, "override_set")
    assert set_record["reason"] == "launch week"
    assert set_record["field"] == "guardrails.blocked_industries"

    revoked = team.api("DELETE", f"/api/overrides/{override['id']}", {"reason": "done"})

    assert revoked.status_code == 200, revoked.text
    assert team.api("GET", "/api/flags").json()["flags"]["overrides"] == []
    drafted = team.drafted(team.lead(TOM.contact_id, TOM.email))
    assert drafted["state"] == "awaiting_approval"
    assert len(_audit(team, "override_revoked")) == 1
    again = team.api("DELETE", f"/api/overrides/{override['id']}", {"reason": "done"})
    assert again.status_code == 404


def test_a_quota_override_holds_a_send_and_bad_ones_change_nothing(team, cloud_logs):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    before = team.api("GET", "/api/flags").json()["flags"]
    for bad in (
        {"target": "kill_switch", "value": False},
        {"target": "quotas.mailbox_day", "value": 99_999},
        {"target": "quotas.mailbox_day", "value": 5, "hours": 0},
        {"target": "quotas.mailbox_day", "value": 5, "reason": " "},
    ):
        answer = team.api("POST", "/api/overrides", {"hours": 24, "reason": "x", **bad})
        assert answer.status_code == 400, (bad, answer.text)
    assert team.api("GET", "/api/flags").json()["flags"] == before
    assert _audit(team, "override_set") == []

    _override(team, target="quotas.mailbox_day", value=0)
    flags = team.api("GET", "/api/flags").json()["flags"]
    assert flags["quotas_in_force"]["mailbox_day"] == 0
    assert flags["quotas"]["mailbox_day"] == before["quotas"]["mailbox_day"]  # the flag stands
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)

    settled = team.send_settled(workflow_id)

    assert settled["send"]["status"] == "deferred"
    assert team.sent() == []
    (line,) = events(cloud_logs, "send_deferred_quota")  # what the quota alert counts
    assert line["workflow_id"] == workflow_id
