"""Operations on the running system: one workflow's log lines share its id and trace across
functions; the send path logs what the alerts count; the health report tells a person what
needs them."""

from __future__ import annotations

import pytest

from shared.logs import workflow_trace
from tests.functions.conftest import events
from tests.functions.team_support import Team

pytestmark = pytest.mark.stack


def test_every_log_line_of_a_workflow_shares_its_id_and_trace(team: Team, cloud_logs):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    team.send_settled(workflow_id)

    lines = [line for line in cloud_logs() if line.get("workflow_id") == workflow_id]
    trace = f"projects/{team.stack.project}/traces/{workflow_trace(workflow_id)}"

    assert {line.get("function") for line in lines} >= {"hubspot_webhook", "draft", "send"}
    assert {line.get("logging.googleapis.com/trace") for line in lines} == {trace}
    assert workflow_trace("wf-other") != workflow_trace(workflow_id)


def test_held_and_deferred_sends_are_logged_for_the_alerts(team: Team, cloud_logs):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0, kill_switch=True)
    held = team.lead()
    team.drafted(held)
    team.approve(held)

    assert team.send_settled(held)["send"]["status"] == "suppressed"
    (line,) = events(cloud_logs, "send_suppressed_kill_switch")
    assert line["workflow_id"] == held
    assert events(cloud_logs, "send_deferred_quota") == []
