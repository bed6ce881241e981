"""The restore drill against the test session's own Firestore emulator: workflows with Gmail
drafts, the audit log and a voice profile are exported, wiped, imported at a restart, and the
running functions serve them again; the comparison names any document that did not come back
the same.

The drill restarts the session's emulator on its own port (the functions' gRPC clients
reconnect by themselves), so the last part of the first test proves the system still drafts
a new lead afterwards, and the tests after this module run on the restarted emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud.firestore_v1.vector import Vector

from devstack import seed
from devstack.restore_drill import canonical, compare, fingerprint, run_drill
from tests.functions.team_support import REP, Team, wait_until

pytestmark = pytest.mark.stack

PRIYA = seed.PROSPECTS[1]
SAMPLE = (
    "Thanks for the call today. As promised, here is a short summary: we looked at how your "
    "team plans the weekly order across twelve warehouses, and where the forecast misses "
    "seasonal peaks. I will send our regional view next week. Best, Maya"
)


def _audit(team: Team) -> list[dict[str, Any]]:
    answer = team.api("GET", "/api/audit?limit=100")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["entries"])


def _a_team_at_work(team: Team) -> dict[str, Any]:
    """Two leads drafted (one approved), a flag changed, a voice profile built from a sample;
    then nothing left to run, as the drill needs."""
    team.set_flags(undo_seconds=30)
    dana = team.lead()
    priya = team.lead(PRIYA.contact_id, PRIYA.email)
    team.drafted(dana)
    team.drafted(priya)
    team.approve(dana)
    sample = team.voice(
        "POST",
        "/samples",
        files={"file": ("follow-up.txt", SAMPLE.encode(), "text/plain")},
        data={"rep": REP},
    )
    assert sample.status_code in (200, 202), sample.text
    profile_ref = team.db.collection("voice_profiles").document(REP)
    wait_until(lambda: profile_ref.get().exists)
    assert team.stack.tasks.wait_idle(40), "tasks still running: the drill needs a quiet system"
    return {"workflows": [dana, priya], "profile": profile_ref.get().to_dict()}


def test_a_restore_brings_back_workflows_drafts_audit_and_voice(team, tmp_path):
    history = _a_team_at_work(team)
    drafts = {w: team.api("GET", f"/api/workflows/{w}").json() for w in history["workflows"]}
    audit = _audit(team)
    emulator = team.stack.firestore
    host = emulator.host

    report = run_drill(emulator, team.stack.project, tmp_path)

    print(report.narrate())
    assert report.passed, report.narrate()
    assert report.left_after_wipe == 0
    assert report.export_bytes > 0
    assert report.export_metadata is not None
    assert report.export_metadata.name.endswith(".overall_export_metadata")
    counts = report.counts()
    assert counts["workflows"] == 2
    assert counts["Gmail drafts referenced"] == 2
    assert counts["workflow events"] > 0
    assert counts["audit records"] >= 3  # a flag change, two drafts, an approval
    assert counts["voice profiles"] == 1
    assert counts["voice samples"] == 1
    assert set(report.seconds) == {
        "fingerprint",
        "export",
        "wipe",
        "restart with import",
        "fingerprint again",
    }
    assert emulator.host == host == team.stack.env()["FIRESTORE_EMULATOR_HOST"]

    # The running functions read the restored data through their own (reconnected) clients.
    for workflow_id, before in drafts.items():
        shown = team.api("GET", f"/api/workflows/{workflow_id}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["gmail_draft"]["content_hash"] == before["gmail_draft"]["content_hash"]
        assert shown.json()["workflow"] == before["workflow"]
    assert _audit(team) == audit
    assert team.db.collection("voice_profiles").document(REP).get().to_dict() == history["profile"]
    served = team.voice("GET", "/profile", params={"rep": REP})
    assert served.status_code == 200, served.text

    # ... and keep working: a new lead is drafted after the restart.
    tom = seed.PROSPECTS[2]
    assert team.drafted(team.lead(tom.contact_id, tom.email))["state"] in (
        "awaiting_approval",
        "needs_input",
    )

    # Damage after the import is caught, naming the paths.
    dana = history["workflows"][0]
    team.db.collection("workflows").document(dana).update({"state": "rejected"})
    team.db.collection("voice_profiles").document(REP).delete()
    found = compare(report.before, fingerprint(team.db))
    paths = {(d.kind, d.path) for d in found}
    assert ("changed", f"workflows/{dana}") in paths
    assert ("missing", f"voice_profiles/{REP}") in paths


def test_the_comparison_names_what_changed_went_missing_or_appeared(local):
    from google.cloud import firestore

    db = firestore.Client(project=local.project)
    at = datetime(2026, 11, 3, 9, 30, 15, 123456, tzinfo=UTC)
    db.document("workflows/w1").set(
        {
            "state": "awaiting_approval",
            "draft_id": "r-1",
            "draft": {"to": "dana@northwind.example", "at": at, "score": 0.5, "n": 1},
            "raw": b"\x00\xff",
            "embedding": Vector([0.25, -1.0]),
            "thread": db.document("threads/t1"),
            "tags": ["a", {"b": None, "c": True}],
        }
    )
    db.document("workflows/w1/events/e1").set({"type": "drafted", "recorded_at": at})
    db.document("orphans/only-a-parent/children/c1").set({"n": 1})
    db.document("audit/a1").set({"kind": "approved", "at": at})
    before = fingerprint(db)
    assert len(before) == 4
    assert before.counts() == {
        "audit": 1,
        "orphans/*/children": 1,
        "workflows": 1,
        "workflows/*/events": 1,
    }
    assert before.key_counts()["Gmail drafts referenced"] == 1
    assert compare(before, fingerprint(db)) == []  # the same data, the same fingerprint

    db.document("workflows/w1").update({"draft.at": at.replace(microsecond=123457)})
    db.document("orphans/only-a-parent/children/c1").delete()
    db.document("audit/a2").set({"kind": "extra"})
    found = compare(before, fingerprint(db))

    assert [(d.kind, d.path) for d in found] == [
        ("extra", "audit/a2"),
        ("missing", "orphans/only-a-parent/children/c1"),
        ("changed", "workflows/w1"),
    ]


def test_canonical_content_keeps_each_value_type():
    at = datetime(2026, 11, 3, 9, 30, 15, 5, tzinfo=UTC)
    assert canonical({"at": at}) == {"at": {"$timestamp": "2026-11-03T09:30:15.000005+00:00"}}
    assert canonical(b"\x01\xab") == {"$bytes": "01ab"}
    assert canonical(Vector([1.0, 2.5])) == {"$vector": [1.0, 2.5]}
    # A timestamp and its text, bytes and their hex, a vector and a list are different data.
    assert canonical(at) != canonical(at.isoformat(timespec="microseconds"))
    assert canonical(b"\x01") != canonical("01")
    assert canonical(Vector([1.0])) != canonical([1.0])


def test_a_drill_over_an_empty_database_fails(local, tmp_path):
    report = run_drill(local.firestore, local.project, tmp_path)

    assert not report.passed
    assert "empty" in report.narrate()
    assert report.narrate().rstrip().endswith("FAIL")


def test_an_import_needs_an_export_metadata_file(tmp_path):
    from devstack import emulators

    with pytest.raises(emulators.EmulatorError, match="no export metadata file"):
        emulators.firestore(import_data=tmp_path / "missing.overall_export_metadata")
