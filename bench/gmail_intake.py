"""Gmail intake cost: Gmail API quota units spent per new inbound message, read from the Gmail
fake's request log while the running `gmail_push` syncs Maya's seeded mailbox, beside a hello
world in the same run. Goal: at most 7 units a message (a share of one `history.list` page plus
one `messages.get`).

A push only queues the mailbox's sync; Cloud Tasks (our server) delivers it to the same
`gmail_push` process at `/sync`. A push is timed from its request until its sync task is done
(gone from the queue: answered 2xx), so the latency is push → routed message stored."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
import requests
from google.cloud import firestore, tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from bench.common import Burst, Figure, FunctionProcess, Result, table
from devstack import seed
from devstack.fakes import make_message
from devstack.stack import LOCATION, PUSH_INVOKER, ROOT, DevStack

REP = seed.REP_EMAIL
SINGLES = 50
BURST = 100
DUPLICATE_PUSHES = 5
GOAL_UNITS = 7
MIN_LATENCY_SAMPLES = 20  # fewer pushes are listed one by one instead of as p50/p99

# Units per method as Google documents them (developers.google.com/gmail/api/reference/quota),
# keyed by HTTP method and the path under /gmail/v1/users/<user>.
QUOTA: tuple[tuple[str, str, str, int], ...] = (
    ("GET", r"/history", "history.list", 2),
    ("GET", r"/profile", "getProfile", 1),
    ("POST", r"/watch", "watch", 100),
    ("POST", r"/stop", "stop", 50),
    ("GET", r"/labels", "labels.list", 1),
    ("POST", r"/labels", "labels.create", 5),
    ("GET", r"/labels/[^/]+", "labels.get", 1),
    ("DELETE", r"/labels/[^/]+", "labels.delete", 5),
    ("GET", r"/messages", "messages.list", 5),
    ("POST", r"/messages", "messages.insert", 25),
    ("POST", r"/messages/import", "messages.import", 25),
    ("POST", r"/messages/send", "messages.send", 100),
    ("POST", r"/messages/batchModify", "messages.batchModify", 50),
    ("GET", r"/messages/[^/]+/attachments/[^/]+", "messages.attachments.get", 5),
    ("POST", r"/messages/[^/]+/modify", "messages.modify", 5),
    ("POST", r"/messages/[^/]+/trash", "messages.trash", 5),
    ("POST", r"/messages/[^/]+/untrash", "messages.untrash", 5),
    ("GET", r"/messages/[^/]+", "messages.get", 5),
    ("DELETE", r"/messages/[^/]+", "messages.delete", 10),
    ("GET", r"/threads", "threads.list", 10),
    ("GET", r"/threads/[^/]+", "threads.get", 10),
    ("POST", r"/threads/[^/]+/modify", "threads.modify", 10),
    ("GET", r"/drafts", "drafts.list", 5),
    ("POST", r"/drafts", "drafts.create", 10),
    ("POST", r"/drafts/send", "drafts.send", 100),
    ("GET", r"/drafts/[^/]+", "drafts.get", 5),
    ("PUT", r"/drafts/[^/]+", "drafts.update", 15),
    ("DELETE", r"/drafts/[^/]+", "drafts.delete", 10),
)
USER_PATH = re.compile(r"^/gmail/v1/users/[^/]+(?P<rest>/.*)$")


def gmail_method(entry: dict[str, Any]) -> tuple[str, int | None]:
    """The documented method and its units for one logged request (units None: not in the
    table, so the total is a floor)."""
    found = USER_PATH.match(entry["path"])
    if found is None:
        return f"{entry['method']} {entry['path']}", None
    rest = found["rest"]
    for method, pattern, name, units in QUOTA:
        if entry["method"] == method and re.fullmatch(pattern, rest):
            return name, units
    return f"{entry['method']} {rest}", None


@dataclass
class Scenario:
    name: str
    messages: int
    seconds: float
    gmail: Counter[str] = field(default_factory=Counter)
    units: int = 0
    unpriced: int = 0
    hubspot_searches: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    stored_once: str = ""

    @property
    def units_per_message(self) -> float:
        return self.units / self.messages

    def breakdown(self) -> str:
        calls = ", ".join(f"{name} ×{count}" for name, count in sorted(self.gmail.items()))
        answers = ", ".join(f"{name} ×{count}" for name, count in sorted(self.answers.items()))
        parts = [calls, f"outcomes: {answers}"]
        if len(self.latencies_ms) < MIN_LATENCY_SAMPLES:
            parts.append("push ms: " + ", ".join(f"{ms:.0f}" for ms in sorted(self.latencies_ms)))
        parts.append(
            f"HubSpot contact searches: {self.hubspot_searches} "
            f"({self.hubspot_searches / self.seconds:.1f}/s)"
        )
        if self.stored_once:
            parts.append(f"stored once: {self.stored_once}")
        return f"- **{self.name}**: " + "; ".join(parts)


class Intake:
    """Maya's seeded mailbox, the running `gmail_push`, and the fakes' request logs."""

    def __init__(self, stack: DevStack, server: FunctionProcess) -> None:
        self.stack = stack
        self.url = server.url + "/"
        self.gmail = stack.fakes["gmail"][0]
        self.hubspot = stack.fakes["hubspot"][0]
        self.db = firestore.Client(project=stack.project)
        self.session = requests.Session()
        self.tasks = tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(stack.tasks.address))
        )
        self.sequence = 0

    def deliver(self, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            self.sequence += 1
            prospect = seed.PROSPECTS[self.sequence % len(seed.PROSPECTS)]
            message = make_message(
                f"{prospect.first} {prospect.last} <{prospect.email}>",
                REP,
                f"Forecasting question {self.sequence}",
                f"Hi Maya, what would 20 seats cost us? We'd start next month. ({self.sequence})",
            )
            ids.append(self.gmail.deliver(REP, message))
        return ids

    def push(self, session: requests.Session | None = None) -> tuple[float, str]:
        """One signed Pub/Sub push naming the mailbox's current historyId: (ms, answer)."""
        notice = {"emailAddress": REP, "historyId": self.gmail.history_id(REP)}
        body = {
            "message": {
                "data": base64.b64encode(json.dumps(notice).encode()).decode(),
                "messageId": str(time.time_ns()),
            },
            "subscription": f"projects/{self.stack.project}/subscriptions/gmail-push",
        }
        token = self.stack.issuer.sign(self.stack.push_audience, PUSH_INVOKER)
        started = time.perf_counter()
        answer = (session or self.session).post(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            timeout=120,
        )
        if answer.status_code != 200:
            return (time.perf_counter() - started) * 1000, f"HTTP {answer.status_code}"
        found = answer.json()
        if found.get("status") != "queued":
            return (time.perf_counter() - started) * 1000, str(found.get("status"))
        outcome = self.wait_for_sync(str(found["task"]))
        return (time.perf_counter() - started) * 1000, outcome

    def wait_for_sync(self, name: str, timeout: float = 120.0) -> str:
        """ "synced" once the sync task is gone (answered 2xx); else how its attempt failed."""
        from google.api_core import exceptions

        deadline = time.monotonic() + timeout
        pause = 0.002
        while time.monotonic() < deadline:
            try:
                task = self.tasks.get_task(name=name)
            except exceptions.NotFound:
                return "synced"
            if task.last_attempt.response_status.code:
                return f"sync failed: {task.last_attempt.response_status.message[:60]}"
            # Backing off: the fakes answer the function from this process, so a tight loop
            # here would slow the very sync it waits for.
            time.sleep(pause)
            pause = min(pause * 1.5, 0.05)
        return "sync not run"

    def forget_requests(self) -> None:
        self.gmail.clear_requests()
        self.hubspot.clear_requests()

    def measured(self, name: str, messages: int, seconds: float) -> Scenario:
        scenario = Scenario(name, messages, seconds)
        for entry in self.gmail.requests:
            method, units = gmail_method(entry)
            scenario.gmail[method] += 1
            if units is None:
                scenario.unpriced += 1
            else:
                scenario.units += units
        scenario.hubspot_searches = len(
            self.hubspot.requests_to("/crm/v3/objects/contacts/search", "POST")
        )
        return scenario

    def stored(self) -> Counter[str]:
        return Counter(
            str(snap.get("gmail_id")) for snap in self.db.collection("gmail_messages").stream()
        )


def one_push_per_message(intake: Intake) -> Scenario:
    intake.forget_requests()
    latencies: list[float] = []
    answers: Counter[str] = Counter()
    started = time.perf_counter()
    for _ in range(SINGLES):
        intake.deliver(1)
        elapsed, answer = intake.push()
        latencies.append(elapsed)
        answers[answer] += 1
    seconds = time.perf_counter() - started
    scenario = intake.measured(f"a) {SINGLES} × (1 message, 1 push)", SINGLES, seconds)
    scenario.latencies_ms, scenario.answers = latencies, answers
    return scenario


def one_push_for_a_burst(intake: Intake) -> Scenario:
    intake.deliver(BURST)
    intake.forget_requests()
    started = time.perf_counter()
    elapsed, answer = intake.push()
    scenario = intake.measured(f"b) {BURST} messages, 1 push", BURST, time.perf_counter() - started)
    scenario.latencies_ms, scenario.answers = [elapsed], Counter([answer])
    return scenario


def duplicate_pushes(intake: Intake) -> Scenario:
    ids = intake.deliver(BURST)
    intake.forget_requests()
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def push() -> None:
        elapsed, answer = intake.push(requests.Session())
        with lock:
            answers[answer] += 1
            latencies.append(elapsed)

    threads = [threading.Thread(target=push) for _ in range(DUPLICATE_PUSHES)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    scenario = intake.measured(
        f"c) {BURST} messages, {DUPLICATE_PUSHES} concurrent pushes", BURST, seconds
    )
    scenario.latencies_ms, scenario.answers = latencies, answers
    stored = intake.stored()
    once = sum(1 for gmail_id in ids if stored[gmail_id] == 1)
    scenario.stored_once = f"{once}/{len(ids)}"
    return scenario


def hello_baseline(hello: FunctionProcess) -> Burst:
    session = requests.Session()
    session.get(hello.url + "/", timeout=30)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    for _ in range(SINGLES):
        began = time.perf_counter()
        statuses[session.get(hello.url + "/", timeout=30).status_code] += 1
        latencies.append((time.perf_counter() - began) * 1000)
    return Burst(latencies, time.perf_counter() - started, dict(statuses), SINGLES)


def pause_draft_queue(stack: DevStack) -> None:
    """Drafts would call the LLM and Gmail's drafts API: intake alone is measured here."""
    channel = grpc.insecure_channel(stack.tasks.address)
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    client.pause_queue(name=f"projects/{stack.project}/locations/{LOCATION}/queues/draft")


def run(stack: DevStack) -> Result:
    seed.seed(stack)
    pause_draft_queue(stack)
    hello = FunctionProcess("hello", ROOT / "bench/hello/main.py", {})
    # On the stack's gmail_push port, where the sync tasks are delivered.
    server = FunctionProcess(
        "gmail_push", ROOT / "functions/gmail_push/main.py", stack.env(),
        port=stack.function_ports["gmail_push"],
    )  # fmt: skip
    try:
        hello.wait()
        server.wait()
        intake = Intake(stack, server)
        intake.deliver(1)
        intake.push()  # warm: token refresh, first Firestore, Tasks and HubSpot connections
        baseline = hello_baseline(hello)
        scenarios = [one_push_per_message(intake), one_push_for_a_burst(intake)]
        scenarios.append(duplicate_pushes(intake))
    finally:
        server.stop()
        hello.stop()

    def latency(values: list[float]) -> tuple[str, str]:
        if len(values) < MIN_LATENCY_SAMPLES:
            return "", ""
        result = Burst(values, 1.0, {}, len(values))
        return f"{result.p50:.1f}", f"{result.p99:.1f}"

    rows = [
        ("hello world (baseline)", "", "", "", "", "", f"{baseline.seconds:.2f}",
         f"{baseline.per_second:.0f} req/s", *latency(baseline.latencies_ms)),
    ]  # fmt: skip
    for s in scenarios:
        units = f"{s.units}" + (f" (+{s.unpriced} unpriced)" if s.unpriced else "")
        verdict = "ok" if s.units_per_message <= GOAL_UNITS and not s.unpriced else "OVER"
        rows.append(
            (s.name, str(s.messages), str(sum(s.gmail.values())), units,
             f"{s.units_per_message:.2f} {verdict}", f"{s.hubspot_searches / s.messages:.2f}",
             f"{s.seconds:.2f}", f"{s.messages / s.seconds:.1f}", *latency(s.latencies_ms))
        )  # fmt: skip
    section = table(
        f"Gmail intake cost (`gmail_push` process, emulators, Gmail and HubSpot fakes; "
        f"goal ≤ {GOAL_UNITS} units/message)",
        ("scenario", "messages", "Gmail requests", "quota units", "units/message",
         "HubSpot lookups/message", "wall s", "messages/s", "push → synced p50 ms",
         "push → synced p99 ms"),
        rows,
    )  # fmt: skip
    notes = [
        "units/message = the sum over the Gmail requests the sync made of each method's "
        "documented quota units (history.list 2, messages.get 5, messages.list 5, getProfile 1, "
        "watch 100, ...), divided by the new messages. HubSpot lookups are contact searches "
        "(not Gmail quota; HubSpot's CRM search allows only a few requests a second per "
        "token). Draft tasks were held (queue paused), so only intake is counted.",
        "",
        *(s.breakdown() for s in scenarios),
        "",
    ]
    single, many = scenarios[0], scenarios[1]
    pushes = Burst(single.latencies_ms, 1.0, {}, len(single.latencies_ms))
    worst = max(scenarios, key=lambda s: s.units_per_message)
    figures = [
        Figure(
            "Gmail push → routed message stored (push answered, sync task run), 1 new message "
            "a push: p50 / p99 ms",
            f"{pushes.p50:.0f} / {pushes.p99:.0f} ({SINGLES} pushes; hello "
            f"{Burst(baseline.latencies_ms, 1.0, {}, 1).p50:.1f} ms)",
        ),
        Figure(
            f"Gmail intake, {BURST} new messages in one push: messages/s",
            f"{many.messages / many.seconds:.0f}",
        ),
        Figure(
            "Gmail quota units per new message (worst scenario)",
            f"{worst.units_per_message:.2f}"
            + (f" (+{worst.unpriced} unpriced)" if worst.unpriced else ""),
            f"≤ {GOAL_UNITS}",
            all(s.units_per_message <= GOAL_UNITS and not s.unpriced for s in scenarios),
        ),
    ]
    return Result(section + "\n" + "\n".join(notes), figures)
