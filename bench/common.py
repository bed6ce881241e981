"""Helpers shared by the benchmarks: a bounded burst of requests and its statistics, function
processes, Markdown tables, and the figures each bench hands to the summary table."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from devstack.serving import LOCALHOST, free_port
from devstack.stack import ROOT, wait_for_health


@dataclass(frozen=True)
class Figure:
    """One row of the summary table: a measure, its value, its goal and whether it was met
    (None: no goal set, or nothing to judge)."""

    name: str
    value: str
    goal: str = "—"
    met: bool | None = None


@dataclass
class Result:
    """What a bench returns: its detailed Markdown section and its rows for the summary."""

    section: str
    figures: list[Figure]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of fewer than 100 samples is their maximum)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def summary_table(figures: list[Figure]) -> str:
    rows = [
        (f.name, f.value, f.goal, {True: "yes", False: "**no**", None: "—"}[f.met]) for f in figures
    ]
    return table("Summary", ("measure", "value", "goal", "met"), rows)


@dataclass
class Burst:
    latencies_ms: list[float]
    seconds: float
    statuses: dict[int, int]
    units: int  # events, messages, ... processed

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def per_second(self) -> float:
        return self.units / self.seconds


def burst(
    send: Callable[[requests.Session, int], int],
    count: int,
    concurrency: int = 8,
    units_per_request: int = 1,
) -> Burst:
    """`count` requests from `concurrency` threads, each with its own session."""
    sessions = [requests.Session() for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    def one(index: int) -> None:
        session = sessions[index % concurrency]
        started = time.perf_counter()
        status = send(session, index)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return Burst(latencies, time.perf_counter() - started, statuses, count * units_per_request)


class FunctionProcess:
    """One function under functions-framework in its own process, as Cloud Functions runs it."""

    def __init__(
        self, target: str, source: Path, env: dict[str, str], port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        binary = str(Path(sys.executable).with_name("functions-framework"))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [binary, "--target", target, "--source", str(source), "--host", LOCALHOST,
             "--port", str(self.port)],
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def wait(self) -> float:
        wait_for_health(self.url, self.process, timeout=30)
        return time.perf_counter() - self.started

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def table(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    return "\n".join([f"### {title}", "", line, rule, *body, ""])


def launch_function(name: str, port: int, env: dict[str, str], log: Path) -> Any:
    """A function in its own functions-framework process on `port`, its output in `log`."""
    binary = str(Path(sys.executable).with_name("functions-framework"))
    return subprocess.Popen(
        [binary, "--target", name, "--source", str(ROOT / "functions" / name / "main.py"),
         "--host", LOCALHOST, "--port", str(port)],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
