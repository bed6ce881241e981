"""Mail parsing throughput over the test corpus: parsing alone, and what a Gmail push does with
each message before any I/O (parse, route, rules intent). Pure CPU; the stack is not used."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Figure, Result, table
from devstack.stack import ROOT
from shared.domain.intent import classify_intent_rules
from shared.domain.mail import parse_message
from shared.domain.routing import RoutingContext, route

CORPUS = ROOT / "tests/corpus/mail"
MIN_SECONDS = 1.0
CONTEXT = RoutingContext(
    mailbox_email="maya@brightline.example",
    internal_domains=frozenset({"brightline.example"}),
    labels=frozenset({"INBOX"}),
)


def parse_only(raw: bytes) -> None:
    parse_message(raw)


def parse_route_intent(raw: bytes) -> None:
    message = parse_message(raw)
    route(message, CONTEXT)
    classify_intent_rules(message.new_text, message.subject)


def _rounds(
    corpus: list[tuple[str, bytes]], step: Callable[[bytes], None]
) -> tuple[float, dict[str, list[float]]]:
    """Messages a second over whole rounds of the corpus, and each message's times in ms."""
    timings: dict[str, list[float]] = {name: [] for name, _ in corpus}
    for _, raw in corpus:
        step(raw)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < MIN_SECONDS:
        for name, raw in corpus:
            began = time.perf_counter()
            step(raw)
            timings[name].append((time.perf_counter() - began) * 1000)
        count += len(corpus)
    return count / (time.perf_counter() - started), timings


def run(stack: Any = None) -> Result:
    corpus = [(path.name, path.read_bytes()) for path in sorted(CORPUS.glob("*.eml"))]
    total_bytes = sum(len(raw) for _, raw in corpus)
    rows: list[tuple[str, ...]] = []
    rates: list[float] = []
    slowest: tuple[str, float] = ("", 0.0)
    for label, step in (
        ("parse_message", parse_only),
        ("parse + route + rules intent", parse_route_intent),
    ):
        rate, timings = _rounds(corpus, step)
        rates.append(rate)
        medians = {name: statistics.median(times) for name, times in timings.items()}
        per_message = statistics.median(medians.values())
        rows.append((label, f"{rate:,.0f}", f"{rate * total_bytes / len(corpus) / 1e6:.2f}",
                     f"{per_message:.3f}"))  # fmt: skip
        slowest = max(medians.items(), key=lambda item: item[1])
    rows.append((f"slowest message (full path): {slowest[0]}", "", "", f"{slowest[1]:.3f}"))
    section = table(
        f"Mail parsing ({len(corpus)} messages, {total_bytes:,} bytes, "
        f"{Path(CORPUS).relative_to(ROOT)}, one thread)",
        ("case", "messages/s", "MB/s", "median ms/message"),
        rows,
    )
    figure = Figure(
        "mail parsing (+ routing and intent rules), messages/s, one thread",
        f"{rates[0]:,.0f} ({rates[1]:,.0f})",
    )
    return Result(section, [figure])
