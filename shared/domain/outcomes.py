"""Outcome metrics, counted as events happen. Pure: what an event adds to which counters.

Each event (a lead, a draft, an approval, a send, a reply...) adds to its ISO week's counters,
in total and per rep, per source (form, contact, lifecycle, reply, campaign) and per sequence
step (0 = the first touch, 1.. = follow-ups). Durations (speed to lead) and the draft-vs-sent
similarity (how much the rep changed the draft: our measure of voice fidelity) are kept as
sums and counts, so a week's average is one division and weeks add up.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

METRICS = (
    "leads",
    "drafted",
    "approved",
    "edited",
    "rejected",
    "sent",
    "replies",
    "positive",
    "meetings",
    "deal_moves",
    "unsubscribed",
    "bounced",
)
DIMENSIONS = ("rep", "source", "step")
DURATIONS = ("lead_to_draft", "lead_to_sent")
POSITIVE_INTENTS = frozenset({"interested", "meeting_request"})
SIMILARITY_CHARS = 1_500  # what a send record keeps of the body


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class OutcomeEvent:
    metric: str
    at: datetime
    rep: str = "unknown"
    source: str = "unknown"
    step: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)  # DURATIONS -> seconds
    similarity: float | None = None  # 0..1, sent body vs the body as drafted
    voice_source: str | None = None  # the rep's voice profile's main sample kind

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}")

    @property
    def week(self) -> str:
        return iso_week(self.at)


def _tally(value: float | int, event: OutcomeEvent) -> dict[str, Any]:
    return {
        "all": value,
        "rep": {event.rep: value},
        "source": {event.source: value},
        "step": {str(event.step): value},
    }


def increments(event: OutcomeEvent) -> dict[str, Any]:
    """The nested counter increments of one event (numbers: the caller wraps them in its
    store's atomic increment)."""
    update: dict[str, Any] = {"week": event.week, "counts": {event.metric: _tally(1, event)}}
    durations = {
        name: {"sum": _tally(float(seconds), event), "n": _tally(1, event)}
        for name, seconds in event.seconds.items()
        if name in DURATIONS and seconds >= 0
    }
    if durations:
        update["durations"] = durations
    if event.similarity is not None:
        voice = {"voice_source": {event.voice_source or "none": 1}}
        update["similarity"] = {
            "sum": {
                **_tally(float(event.similarity), event),
                "voice_source": {event.voice_source or "none": float(event.similarity)},
            },
            "n": {**_tally(1, event), **voice},
        }
    return update


def merged(*updates: Mapping[str, Any]) -> dict[str, Any]:
    """Several events' increments as one (numbers add up), for one write."""
    out: dict[str, Any] = {}
    for update in updates:
        for key, value in update.items():
            if isinstance(value, Mapping):
                out[key] = merged(out.get(key) or {}, value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = out.get(key, 0) + value
            else:
                out[key] = value
    return out


def similarity(drafted: str, sent: str) -> float:
    """How much of the draft went out as written: 1.0 untouched, 0.0 rewritten. Compared on
    the first `SIMILARITY_CHARS` characters of each, whitespace-normalised."""

    def norm(text: str) -> str:
        return " ".join((text or "").split())[:SIMILARITY_CHARS]

    a, b = norm(drafted), norm(sent)
    if not a and not b:
        return 1.0
    return round(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(), 4)


def average(sums: Mapping[str, Any], counts: Mapping[str, Any], *path: str) -> float | None:
    """sum / count at `path` (e.g. ("rep", "maya@x")), None without data."""
    total: Any = sums
    n: Any = counts
    for part in path:
        total = (total or {}).get(part) if isinstance(total, Mapping) else None
        n = (n or {}).get(part) if isinstance(n, Mapping) else None
    if not n:
        return None
    return round(float(total or 0) / float(n), 4)


def rows(week_doc: Mapping[str, Any]) -> list[tuple[str, str, str, str, float]]:
    """A week's counters as flat (week, metric, dimension, key, value) rows, for CSV."""
    week = str(week_doc.get("week") or "")
    out: list[tuple[str, str, str, str, float]] = []
    for metric, tally in sorted((week_doc.get("counts") or {}).items()):
        out.append((week, metric, "all", "", float(tally.get("all") or 0)))
        for dimension in DIMENSIONS:
            for key, value in sorted((tally.get(dimension) or {}).items()):
                out.append((week, metric, dimension, str(key), float(value or 0)))
    for name, parts in sorted((week_doc.get("durations") or {}).items()):
        sums, counts = parts.get("sum") or {}, parts.get("n") or {}
        mean = average(sums, counts, "all")
        if mean is not None:
            out.append((week, f"{name}_seconds_avg", "all", "", mean))
        for dimension in DIMENSIONS:
            for key in sorted(counts.get(dimension) or {}):
                mean = average(sums, counts, dimension, key)
                if mean is not None:
                    out.append((week, f"{name}_seconds_avg", dimension, str(key), mean))
    sim = week_doc.get("similarity") or {}
    sums, counts = sim.get("sum") or {}, sim.get("n") or {}
    mean = average(sums, counts, "all")
    if mean is not None:
        out.append((week, "draft_vs_sent_similarity", "all", "", mean))
    for dimension in (*DIMENSIONS, "voice_source"):
        for key in sorted(counts.get(dimension) or {}):
            mean = average(sums, counts, dimension, key)
            if mean is not None:
                out.append((week, "draft_vs_sent_similarity", dimension, str(key), mean))
    return out


SHOWN = (
    ("leads", "leads"),
    ("drafted", "drafts made"),
    ("approved", "approved"),
    ("edited", "edited"),
    ("rejected", "rejected"),
    ("sent", "sent"),
    ("replies", "replies"),
    ("positive", "positive replies"),
    ("meetings", "meetings booked"),
    ("deal_moves", "deals moved"),
    ("unsubscribed", "unsubscribed"),
    ("bounced", "bounced"),
)
CHARTED = ("sent", "replies", "meetings")


def _count(week: Mapping[str, Any], metric: str, dimension: str = "all", key: str = "") -> float:
    tally = ((week.get("counts") or {}).get(metric)) or {}
    if dimension == "all":
        return float(tally.get("all") or 0)
    return float((tally.get(dimension) or {}).get(key) or 0)


def _mean(part: Mapping[str, Any], dimension: str = "all", key: str = "") -> float | None:
    sums, counts = part.get("sum") or {}, part.get("n") or {}
    if dimension == "all":
        return average(sums, counts, "all")
    return average(sums, counts, dimension, key)


def report(weeks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Outcomes page's numbers from the weekly counters (oldest week first): each metric
    per week, reply rate, speed to lead, voice fidelity, the same per rep, source and step,
    and bar geometry for the charted metrics."""
    names = [str(w.get("week")) for w in weeks]
    table: list[dict[str, Any]] = []
    for metric, label in SHOWN:
        values = [int(_count(w, metric)) for w in weeks]
        table.append({"metric": metric, "label": label, "values": values, "total": sum(values)})
    sent = [_count(w, "sent") for w in weeks]
    replies = [_count(w, "replies") for w in weeks]

    def rate(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    def minutes(name: str, week: Mapping[str, Any]) -> float | None:
        mean = _mean((week.get("durations") or {}).get(name) or {})
        return None if mean is None else round(mean / 60, 1)

    derived = [
        {"label": "reply rate", "values": [rate(r, s) for r, s in zip(replies, sent, strict=True)]},
        {
            "label": "lead → draft ready, minutes (average)",
            "values": [minutes("lead_to_draft", w) for w in weeks],
        },
        {
            "label": "lead → sent, minutes (average)",
            "values": [minutes("lead_to_sent", w) for w in weeks],
        },
        {
            "label": "draft kept as written when sent (similarity, 1 = untouched)",
            "values": [_mean(w.get("similarity") or {}) for w in weeks],
        },
    ]
    breakdowns: dict[str, list[dict[str, Any]]] = {}
    for dimension in (*DIMENSIONS, "voice_source"):
        keys: set[str] = set()
        for week in weeks:
            for tally in (week.get("counts") or {}).values():
                keys.update((tally.get(dimension) or {}).keys())
            keys.update(((week.get("similarity") or {}).get("n") or {}).get(dimension) or {})
        rows_out = []
        for key in sorted(keys):
            totals = {m: int(sum(_count(w, m, dimension, key) for w in weeks)) for m, _ in SHOWN}
            sims = [
                (_mean(w.get("similarity") or {}, dimension, key), w.get("similarity") or {})
                for w in weeks
            ]
            weighted = [
                (mean, float(((part.get("n") or {}).get(dimension) or {}).get(key) or 0))
                for mean, part in sims
                if mean is not None
            ]
            n = sum(c for _, c in weighted)
            rows_out.append(
                {
                    "key": key,
                    **totals,
                    "reply_rate": rate(totals["replies"], totals["sent"]),
                    "similarity": round(sum(m * c for m, c in weighted) / n, 3) if n else None,
                }
            )
        if dimension == "voice_source":
            rows_out = [r for r in rows_out if r["similarity"] is not None]
        breakdowns[dimension] = rows_out
    charts = []
    for metric in CHARTED:
        series: list[int] = next(row["values"] for row in table if row["metric"] == metric)
        peak = max([1, *series])
        charts.append(
            {
                "metric": metric,
                "label": dict(SHOWN)[metric],
                "total": sum(series),
                "bars": [
                    {
                        "week": name,
                        "count": count,
                        "x": index * 36,
                        "height": round(100 * count / peak),
                        "y": 100 - round(100 * count / peak),
                    }
                    for index, (name, count) in enumerate(zip(names, series, strict=True))
                ],
            }
        )
    return {
        "weeks": names,
        "table": table,
        "derived": derived,
        "by": breakdowns,
        "charts": charts,
    }
