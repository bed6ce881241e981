"""Outcome counters on the running system: each event counted once, as it happens, in its
ISO week, per rep, source and step; the Outcomes API and CSV read them back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.outcomes import iso_week
from tests.functions.team_support import DANA, REP, Team

pytestmark = pytest.mark.stack


def _week(team: Team) -> dict:
    snap = team.db.collection("outcomes").document(iso_week(datetime.now(UTC))).get()
    return snap.to_dict() or {}


def _count(week: dict, metric: str) -> int:
    return int(((week.get("counts") or {}).get(metric) or {}).get("all") or 0)


def test_a_lead_is_counted_from_form_to_reply_once_each(team: Team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    drafted = team.drafted(workflow_id)
    shown = team.api("GET", f"/api/workflows/{workflow_id}").json()["gmail_draft"]
    edited = team.api(
        "POST",
        f"/api/workflows/{workflow_id}/edit",
        {
            "content_hash": shown["content_hash"],
            "subject": shown["subject"],
            "body": shown["body"].replace("Hi", "Hello", 1) + "\n\nP.S. Bring your numbers.",
            "approve": True,
        },
    )
    assert edited.status_code == 200, edited.text
    sent = team.send_settled(workflow_id)
    assert sent["state"] == "waiting_reply"
    reply = f"Interested! Could we meet next week?\n\n> {drafted['draft']['subject']}"
    message_id, _ = team.mail.inbound(
        DANA.email,
        "Re: " + drafted["draft"]["subject"],
        reply,
        in_reply_to=sent["send"]["message_id"],
        references=sent["send"]["message_id"],
    )
    assert team.mail.push().status_code == 200
    team.drafted(workflow_id, version=2)

    week = _week(team)

    for metric, expected in (
        ("leads", 1),
        ("drafted", 2),
        ("edited", 1),
        ("approved", 1),
        ("sent", 1),
        ("replies", 1),
        ("positive", 1),
        ("rejected", 0),
    ):
        assert _count(week, metric) == expected, metric
    assert week["counts"]["sent"]["rep"] == {REP: 1}
    assert week["counts"]["sent"]["source"] == {"form": 1}
    assert week["counts"]["drafted"]["step"] == {"0": 2}
    assert week["durations"]["lead_to_draft"]["n"]["all"] == 1
    assert week["durations"]["lead_to_sent"]["n"]["all"] == 1
    fidelity = week["similarity"]["sum"]["all"] / week["similarity"]["n"]["all"]
    assert 0.5 < fidelity < 1.0  # the rep changed a little of the draft

    # The same reply recorded again (a redelivered task, a resync): it counts once.
    from shared.adapters.store import Store
    from shared.config import get_settings
    from shared.services.outcomes import OutcomeLog

    again = OutcomeLog(Store.from_settings(get_settings()))
    assert again.record("replies", f"reply-{REP}:{message_id}", workflow_id) is False
    assert _count(_week(team), "replies") == 1
    report = team.api("GET", "/api/outcomes").json()
    sent_row = next(r for r in report["table"] if r["metric"] == "sent")
    assert sent_row["total"] == 1
    (rep_row,) = report["by"]["rep"]
    assert rep_row["key"] == REP
    assert rep_row["reply_rate"] == 1.0
    csv = team.api("GET", "/api/outcomes.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert f",replies,rep,{REP},1.0" in csv.text
