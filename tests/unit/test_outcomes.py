"""The outcome counters without I/O: what one event adds, how weeks read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.outcomes import OutcomeEvent, increments, iso_week, report, rows, similarity

MONDAY = datetime(2026, 11, 16, 9, tzinfo=UTC)


def test_an_event_counts_in_total_and_per_rep_source_and_step():
    event = OutcomeEvent("sent", MONDAY, rep="maya@x", source="form", step=0)
    update = increments(event)
    assert update["week"] == "2026-W47"
    assert update["counts"] == {
        "sent": {"all": 1, "rep": {"maya@x": 1}, "source": {"form": 1}, "step": {"0": 1}}
    }
    assert "durations" not in update
    assert "similarity" not in update


def test_durations_and_similarity_are_sums_and_counts():
    event = OutcomeEvent(
        "sent",
        MONDAY,
        rep="maya@x",
        source="reply",
        seconds={"lead_to_sent": 120.0, "nonsense": 5},
        similarity=0.9,
        voice_source="upload",
    )
    update = increments(event)
    assert update["durations"]["lead_to_sent"]["sum"]["rep"] == {"maya@x": 120.0}
    assert update["durations"]["lead_to_sent"]["n"]["all"] == 1
    assert set(update["durations"]) == {"lead_to_sent"}
    assert update["similarity"]["sum"]["voice_source"] == {"upload": 0.9}
    assert update["similarity"]["n"]["voice_source"] == {"upload": 1}


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        OutcomeEvent("opened", MONDAY)


def test_similarity_is_one_for_the_same_text_and_falls_with_edits():
    text = "Hi Dana,\n\nHappy to walk you through the forecast next week.\n\nMaya"
    assert similarity(text, text.replace("\n", "\n\n")) == 1.0
    light = similarity(text, text.replace("next week", "on Tuesday"))
    heavy = similarity(text, "Dana, call me. M.")
    assert 0.7 < light < 1.0
    assert heavy < 0.5
    assert similarity("", "") == 1.0


def _week(name: str, **metrics: int) -> dict:
    return {
        "week": name,
        "counts": {
            m: {"all": n, "rep": {"maya@x": n}, "source": {"form": n}, "step": {"0": n}}
            for m, n in metrics.items()
        },
        "durations": {
            "lead_to_draft": {
                "sum": {"all": 600.0, "rep": {"maya@x": 600.0}},
                "n": {"all": 2, "rep": {"maya@x": 2}},
            }
        },
        "similarity": {
            "sum": {"all": 1.6, "rep": {"maya@x": 1.6}, "voice_source": {"upload": 1.6}},
            "n": {"all": 2, "rep": {"maya@x": 2}, "voice_source": {"upload": 2}},
        },
    }


def test_the_report_reads_weeks_back_with_rates_and_averages():
    weeks = [_week("2026-W46", sent=4, replies=1), {"week": "2026-W47"}]
    shown = report(weeks)
    sent = next(r for r in shown["table"] if r["metric"] == "sent")
    assert sent["values"] == [4, 0]
    assert sent["total"] == 4
    derived = {r["label"]: r["values"] for r in shown["derived"]}
    assert derived["reply rate"] == [0.25, None]
    assert derived["lead → draft ready, minutes (average)"] == [5.0, None]
    (rep,) = shown["by"]["rep"]
    assert rep["key"] == "maya@x"
    assert rep["sent"] == 4
    assert rep["reply_rate"] == 0.25
    assert rep["similarity"] == 0.8
    (voice,) = shown["by"]["voice_source"]
    assert voice["key"] == "upload"
    assert [c["metric"] for c in shown["charts"]] == ["sent", "replies", "meetings"]
    assert shown["charts"][0]["bars"][0]["height"] == 100


def test_rows_flatten_a_week_for_csv():
    flat = rows(_week("2026-W46", sent=4))
    assert ("2026-W46", "sent", "all", "", 4.0) in flat
    assert ("2026-W46", "sent", "rep", "maya@x", 4.0) in flat
    assert ("2026-W46", "lead_to_draft_seconds_avg", "all", "", 300.0) in flat
    assert ("2026-W46", "draft_vs_sent_similarity", "voice_source", "upload", 0.8) in flat


def test_iso_weeks_cross_the_year_as_iso_says():
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"


def test_events_of_one_write_add_up():
    from shared.domain.outcomes import merged

    a = increments(OutcomeEvent("drafted", MONDAY, rep="maya@x", seconds={"lead_to_draft": 60}))
    b = increments(OutcomeEvent("leads", MONDAY, rep="maya@x"))
    both = merged(a, b, b)
    assert both["counts"]["leads"]["rep"] == {"maya@x": 2}
    assert both["counts"]["drafted"]["all"] == 1
    assert both["durations"]["lead_to_draft"]["n"]["all"] == 1
    assert both["week"] == "2026-W47"
