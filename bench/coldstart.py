"""Cold start: each function as a fresh `functions-framework` process with the stack's
environment, from process start to its first answer, beside a functions-framework hello world
started the same way in the same run (runs taking turns, so background load falls on all alike).

Two measures: (a) to the first answered `GET /health`; (b) for the intake functions, to the
first answered *real* request: a signed HubSpot form submission that opens a workflow
(Secret Manager read, Firestore transaction, Cloud Tasks create) and a signed Pub/Sub push
for Maya's connected mailbox with one new message from a prospect (OIDC check, the mailbox's
sync task created). The hello world's real request is its single GET. Goal: the intake
functions' real-request cold start within 3x the hello world's. For `gmail_push`, also the
time to its first *sync* in the same fresh process (the task its push queued, delivered as
Cloud Tasks does: token refresh, `history.list`, `messages.get`, HubSpot contact lookup,
routed message and workflow written, draft task created), shown beside the goal, not in it.

Also, per function, the modules imported at start (and, for the intake functions, after their
first real request), from a probe process that loads the function as functions-framework does;
the intake functions must import none of the LLM, PDF, DOCX, Drive, YouTube or model libraries.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import requests
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from bench.common import Figure, Result, table
from bench.gmail_intake import pause_draft_queue
from devstack import seed
from devstack.fakes import make_message
from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
from devstack.serving import LOCALHOST, free_port
from devstack.stack import FUNCTIONS, LOCATION, PUSH_INVOKER, ROOT, DevStack

RUNS = 7
POLL_SECONDS = 0.005
START_TIMEOUT = 60.0
GOAL_RATIO = 3.0
INTAKE = ("hubspot_webhook", "gmail_push")
HELLO = "hello"
# What an intake function must not load: the LLM, PDF, DOCX, YouTube and model libraries, and
# our Drive, YouTube and embedding adapters (googleapiclient.discovery itself is how the Gmail
# client is built, so gmail_push may load it on its first push; hubspot_webhook never).
HEAVY = (
    "openai", "pypdf", "docx", "youtube_transcript_api", "numpy", "tokenizers", "safetensors",
    "fpdf", "reportlab", "shared.adapters.drive", "shared.adapters.youtube",
    "shared.adapters.embeddings", "shared.adapters.llm_draft", "shared.adapters.llm_voice",
    "googleapiclient.discovery",
)  # fmt: skip
NEEDED = {"gmail_push": frozenset({"googleapiclient.discovery"})}
MARK = "@@bench-probe@@"

# Loads a function exactly as the functions-framework CLI does (create_app), lists sys.modules,
# then, if the parent hands it a request on stdin, answers it in-process and lists them again.
PROBE = f"""
import base64, json, sys, time
started = time.perf_counter()
import functions_framework
app = functions_framework.create_app(target=sys.argv[1], source=sys.argv[2])
seconds = time.perf_counter() - started
at_start = sorted(sys.modules)
spec = json.loads(sys.stdin.read() or "null")
after = None
if spec:
    sys.stderr.write({MARK!r} + "\\n")
    sys.stderr.flush()
    began = time.perf_counter()
    answer = app.test_client().open(spec["path"], method=spec["method"], headers=spec["headers"],
                                    data=base64.b64decode(spec["body"]))
    after = {{"status": answer.status_code, "modules": sorted(sys.modules),
             "seconds": time.perf_counter() - began,
             "answer": answer.get_data(as_text=True)[:500]}}
print({MARK!r} + json.dumps({{"seconds": seconds, "modules": at_start, "after": after}}))
"""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    check: Callable[[requests.Response], str | None]  # None: a real answer; else what's wrong


@dataclass
class Target:
    name: str
    source: Path
    health_s: list[float] = field(default_factory=list)
    real_s: list[float] = field(default_factory=list)
    sync_s: list[float] = field(default_factory=list)  # gmail_push: to its first sync answered
    import_s: float = float("nan")
    modules: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    first_request_s: float = float("nan")  # answered in-process by the probe
    lazy_import_s: float = float("nan")  # of which imports (-X importtime, top level)
    slowest_lazy: list[tuple[str, float]] = field(default_factory=list)


def source_of(name: str) -> Path:
    return ROOT / "bench/hello/main.py" if name == HELLO else ROOT / f"functions/{name}/main.py"


class Lab:
    """Makes real first requests: fresh leads for the webhook, fresh mail for the push."""

    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.env = {**os.environ, **stack.env(), "PYTHONPATH": str(ROOT)}
        self.sign_uri = stack.env()["HUBSPOT_WEBHOOK_URL"]
        self.gmail = stack.fakes["gmail"][0]
        self.tasks = tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(stack.tasks.address))
        )
        self.sequence = 0

    def request_for(self, name: str) -> Request:
        self.sequence += 1
        if name == "hubspot_webhook":
            contact = 900_000 + self.sequence
            body = body_of(form_submission(contact, f"cold{self.sequence}@coldstart.example",
                                           conversion_id=f"cold-{self.sequence}"))  # fmt: skip
            headers = signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET, uri=self.sign_uri)
            return Request("POST", "/", headers, body, _opened)
        if name == "gmail_push":
            prospect = seed.PROSPECTS[self.sequence % len(seed.PROSPECTS)]
            message = make_message(
                f"{prospect.first} {prospect.last} <{prospect.email}>",
                seed.REP_EMAIL,
                f"Seats question {self.sequence}",
                f"Hi Maya, what would 20 seats cost us? ({self.sequence})",
            )
            self.gmail.deliver(seed.REP_EMAIL, message)
            rep = seed.REP_EMAIL
            notice = {"emailAddress": rep, "historyId": self.gmail.history_id(rep)}
            body = json.dumps({
                "message": {"data": base64.b64encode(json.dumps(notice).encode()).decode(),
                            "messageId": str(time.time_ns())},
                "subscription": f"projects/{self.stack.project}/subscriptions/gmail-push",
            }).encode()  # fmt: skip
            token = self.stack.issuer.sign(self.stack.push_audience, PUSH_INVOKER)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            return Request("POST", "/", headers, body, _queued)
        return Request("GET", "/", {}, b"", _hello)

    def start(self, name: str, request: Request, then_sync: list[float] | None = None) -> float:
        """Start the function, send `request` until the port takes it: seconds to the answer.
        With `then_sync`, also deliver the sync task the push queued to the same process and
        append the seconds from process start to the sync's answer."""
        port = free_port()
        binary = str(Path(sys.executable).with_name("functions-framework"))
        url = f"http://{LOCALHOST}:{port}{request.path}"
        log = (self.stack.state_dir / f"bench-coldstart-{name}.log").open("ab")
        started = time.perf_counter()
        process = subprocess.Popen(
            [binary, "--target", name, "--source", str(source_of(name)), "--host", LOCALHOST,
             "--port", str(port)],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            while True:
                try:
                    # A refused connection reached nothing: safe to send again.
                    answer = requests.request(
                        request.method, url, data=request.body, headers=request.headers,
                        timeout=START_TIMEOUT,
                    )  # fmt: skip
                    break
                except requests.ConnectionError:
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}") from None
                    if time.perf_counter() - started > START_TIMEOUT:
                        raise RuntimeError(f"{name}: no answer in {START_TIMEOUT:.0f}s") from None
                    time.sleep(POLL_SECONDS)
            elapsed = time.perf_counter() - started
            if then_sync is not None and answer.status_code == 200:
                # Delivered as Cloud Tasks would (its queue is paused here), to this process.
                synced = self.stack.deliver_task(
                    answer.json()["task"], f"http://{LOCALHOST}:{port}"
                )
                if synced is None or synced.status_code != 200 or not synced.json().get("routes"):
                    raise RuntimeError(f"{name}: sync {synced and synced.status_code}")
                then_sync.append(time.perf_counter() - started)
        finally:
            # Measured: no graceful shutdown needed (gunicorn's takes about 2 s).
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            log.close()
        problem = request.check(answer)
        if problem is not None:
            raise RuntimeError(f"{name}: {problem}")
        return elapsed

    def probe(self, name: str, request: Request | None) -> dict[str, Any]:
        spec = None
        if request is not None:
            spec = {"method": request.method, "path": request.path, "headers": request.headers,
                    "body": base64.b64encode(request.body).decode()}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", PROBE, name, str(source_of(name))],
            input=json.dumps(spec), env=self.env, cwd=ROOT, capture_output=True, text=True,
            timeout=120, check=True,
        )  # fmt: skip
        line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(MARK))
        found: dict[str, Any] = json.loads(line[len(MARK) :])
        before, _, during = done.stderr.partition(MARK)
        found["import_profile"] = (import_seconds(before), import_seconds(during))
        found["slowest_lazy"] = slowest_imports(during)
        return found


def _top_level(stderr: str) -> list[tuple[str, float]]:
    """(module, cumulative seconds) of each top-level import in `-X importtime` output."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not name.startswith("  "):
            found.append((name.strip(), int(cumulative) / 1e6))
    return found


def import_seconds(stderr: str) -> float:
    return sum(seconds for _, seconds in _top_level(stderr))


def slowest_imports(stderr: str, count: int = 5) -> list[tuple[str, float]]:
    return sorted(_top_level(stderr), key=lambda item: -item[1])[:count]


def _hello(answer: requests.Response) -> str | None:
    return None if answer.status_code == 200 else f"HTTP {answer.status_code}"


def _health(answer: requests.Response) -> str | None:
    return None if answer.status_code == 200 else f"/health HTTP {answer.status_code}"


def _opened(answer: requests.Response) -> str | None:
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    return None if len(answer.json().get("opened") or []) == 1 else f"nothing opened: {answer.text}"


def _queued(answer: requests.Response) -> str | None:
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    found = answer.json()
    if found.get("status") != "queued" or found.get("created") is not True:
        return f"no sync queued: {answer.text[:300]}"
    return None


def heavy_in(modules: list[str] | set[str], name: str) -> list[str]:
    loaded = set(modules)
    return [m for m in HEAVY if m in loaded and m not in NEEDED.get(name, frozenset())]


def third_party(modules: list[str]) -> list[str]:
    tops = {m.split(".")[0] for m in modules}
    ours = {"shared", "main", "cython_runtime", "sitecustomize"}
    return sorted(
        t
        for t in tops
        if t not in sys.stdlib_module_names and t not in ours and not t.startswith("_")
    )


def run(stack: DevStack) -> Result:
    seed.seed(stack)
    pause_draft_queue(stack)  # the intake's draft tasks stay queued: intake alone is timed
    lab = Lab(stack)
    # The pushes' sync tasks wait for the lab to deliver them to the process that queued them.
    lab.tasks.pause_queue(name=f"projects/{stack.project}/locations/{LOCATION}/queues/gmail-sync")
    targets = {name: Target(name, source_of(name)) for name in (HELLO, *FUNCTIONS)}
    health = Request("GET", "/health", {}, b"", _health)

    # One untimed round first: every target's files in the page cache (not only the hello
    # world's), the bench's own imports, and the emulator's JIT past its first requests (the
    # managed Firestore has no cold JIT to pay for).
    for name in targets:
        lab.start(name, health if name != HELLO else lab.request_for(name))
        if name in INTAKE:
            lab.start(name, lab.request_for(name), [] if name == "gmail_push" else None)
    for _ in range(RUNS):  # taking turns: a burst of background load falls on every target
        for name, target in targets.items():
            if name == HELLO:
                target.health_s.append(lab.start(name, lab.request_for(name)))
                continue
            target.health_s.append(lab.start(name, health))
            if name in INTAKE:
                then_sync = target.sync_s if name == "gmail_push" else None
                target.real_s.append(lab.start(name, lab.request_for(name), then_sync))
    targets[HELLO].real_s = targets[HELLO].health_s

    for name, target in targets.items():
        found = lab.probe(name, lab.request_for(name) if name in INTAKE else None)
        target.import_s, target.modules = found["seconds"], found["modules"]
        if found["after"] is not None:
            if found["after"]["status"] != 200:
                raise RuntimeError(f"{name} probe: {found['after']}")
            target.after = found["after"]["modules"]
            target.first_request_s = found["after"]["seconds"]
            target.lazy_import_s = found["import_profile"][1]
            target.slowest_lazy = [(m, s) for m, s in found["slowest_lazy"]]
    return report(targets)


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} (max {max(values) * 1000:.0f})"


def report(targets: dict[str, Target]) -> Result:
    hello = targets[HELLO]
    hello_health = statistics.median(hello.health_s)
    hello_real = statistics.median(hello.real_s)
    rows: list[tuple[str, ...]] = []
    lazy_of: dict[str, str] = {}
    figures: list[Figure] = [
        Figure("cold start, hello world (process start → first answer), median (max) ms",
               _ms(hello.health_s), "baseline"),
    ]  # fmt: skip
    for name, target in targets.items():
        health = statistics.median(target.health_s)
        heavy = heavy_in(target.modules, name)
        real = ratio = ""
        if target.real_s:
            real_median = statistics.median(target.real_s)
            real, ratio = _ms(target.real_s), f"{real_median / hello_real:.1f}×"
        if target.after:
            new = sorted(set(third_party(target.after)) - set(third_party(target.modules)))
            heavy_after = heavy_in(target.after, name)
            lazy_of[name] = ", ".join(new) or "none"
            heavy = sorted(set(heavy) | set(heavy_after))
        rows.append(
            (name, _ms(target.health_s), f"{health / hello_health:.1f}×", real, ratio,
             f"{target.import_s * 1000:.0f}", str(len(target.modules)),
             "—" if name == HELLO else (", ".join(heavy) or "none"))
        )  # fmt: skip
        if name == HELLO:
            continue
        if name in INTAKE:
            real_median = statistics.median(target.real_s)
            figures.append(Figure(
                f"cold start, `{name}` to its first real request, median (max) ms",
                f"{_ms(target.real_s)} = {real_median / hello_real:.1f}× hello",
                f"≤ {GOAL_RATIO:g}× hello", real_median <= GOAL_RATIO * hello_real,
            ))  # fmt: skip
            if target.sync_s:
                sync_median = statistics.median(target.sync_s)
                figures.append(Figure(
                    f"cold start, `{name}` to its first sync task answered (after its push; "
                    "not an intake answer), median (max) ms",
                    f"{_ms(target.sync_s)} = {sync_median / hello_real:.1f}× hello",
                ))  # fmt: skip
            figures.append(Figure(
                f"`{name}` imports of LLM/PDF/DOCX/Drive/YouTube/model libraries "
                "(start + first request)",
                ", ".join(heavy) or "none", "none", not heavy,
            ))  # fmt: skip
        else:
            figures.append(Figure(
                f"cold start, `{name}` to first `/health`, median (max) ms",
                f"{_ms(target.health_s)} = {health / hello_health:.1f}× hello",
            ))  # fmt: skip
    section = table(
        f"Cold start (fresh functions-framework process, stack environment; {RUNS} runs each, "
        "taking turns; median and max)",
        ("function", "to first /health ms", "vs hello", "to first real request ms", "vs hello",
         "import at start ms", "modules at start", "heavy modules loaded"),
        rows,
    )  # fmt: skip
    first = table(
        "The intake functions' first real request, answered in-process by the probe (after "
        "`create_app`)",
        ("function", "first request ms", "of which imports ms", "slowest imports ms",
         "third-party packages first loaded by it"),
        [
            (name, f"{t.first_request_s * 1000:.0f}", f"{t.lazy_import_s * 1000:.0f}",
             ", ".join(f"{m} {sec * 1000:.0f}" for m, sec in t.slowest_lazy), lazy_of[name])
            for name, t in targets.items()
            if name in INTAKE
        ],
    )  # fmt: skip
    notes = [
        "After one untimed round of every target (page cache, the emulator's JIT), each is "
        f"started {RUNS} times, taking turns. "
        "Process start = just before `Popen` of `functions-framework --target NAME --source "
        "functions/NAME/main.py`; the request is sent every 5 ms until the port takes it (a "
        "refused connection reached nothing), so the time includes interpreter start, imports, "
        "settings, gunicorn's start and the answer. Real requests: `hubspot_webhook` a signed "
        "form submission for a new contact (secret read, dedupe + workflow in one Firestore "
        "transaction, draft task created: the answer names the workflow opened); `gmail_push` a "
        "signed push for Maya's mailbox with one new message from a prospect (OIDC token "
        "checked, the mailbox's sync task created: the answer names it). Then, in the same "
        "process, the bench delivers that sync task to `/sync` as Cloud Tasks would (OAuth "
        "token refresh, history.list, messages.get, HubSpot contact search, message routed and "
        "stored, workflow opened, draft task created: the answer lists the route): the "
        "'first sync' figure, from the same process start. The draft and sync queues are "
        "paused, so no task runs meanwhile. The hello world's real request is its GET.",
        "Import at start = `create_app` in a probe process (the CLI's own load), without "
        "interpreter start; modules = `sys.modules` then. Heavy = any of "
        + ", ".join(f"`{m}`" for m in HEAVY)
        + " (`googleapiclient.discovery` builds the Gmail client, so `gmail_push` may load it "
        "on its first push). The intake rows look at `sys.modules` again after the probe "
        "answered one real request in-process (a fresh lead or message, as above); its import "
        "time is the top-level imports that `-X importtime` logged during that request.",
        "",
    ]
    return Result(section + "\n" + first + "\n" + "\n".join(notes), figures)
