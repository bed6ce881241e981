"""A 1,000-contact campaign end to end: the operator API creates and launches it, Cloud Tasks
dispatches its `resolve` and `tick` steps and its drafts to the real `draft` function, the
HubSpot fake holds the segment (250 Software companies of 4 leads each, all owned by the demo
rep), the OpenAI fake writes every draft (a scripted answer, so the model's own latency is not
in the numbers).

The draft function's URL, as Cloud Tasks sees it, is a small router in this process: campaign
steps go to one `draft` process whose Firestore traffic passes a counting gRPC proxy (so every
Firestore operation of the orchestration is counted, and nothing else is), drafts to a second
`draft` process talking to the emulator directly (as timed in bench/draft.py). The operator
function's traffic is counted too (its `launch`); the bench's own polling is not.

Measured: resolve (launch → members written) and the HubSpot requests it took, for the
campaign's filter segment and, resolve only, for the same contacts as a HubSpot list with and
without a subscription-type check (the filter and list resolves also on a second orchestration
process without the counter, whose times are the ones to quote); drafts per minute from the
first draft dispatch to the last draft answered, beside Cloud Tasks dispatching as many tasks
to a hello world; Firestore reads and writes of the orchestration per contact, by collection.
A campaign's "minute" is one second here (CAMPAIGN_WINDOW_SECONDS), so 60 a minute lets 60
drafts a second go: the pace is far above what one drafting process does, and the figure is
the system's drafting throughput.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import urllib3
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.types import firestore as firestore_types
from werkzeug.wrappers import Request, Response

from bench.common import Figure, FunctionProcess, Result, launch_function, table
from bench.draft import FirestoreCounter, call_name, p50, p99
from devstack import seed
from devstack.fakes.base import MAX_LOG_ENTRIES
from devstack.serving import LOCALHOST, ThreadedServer, free_port
from devstack.stack import OPERATOR_ACCOUNT, ROOT, DevStack, wait_for_health
from devstack.tasks_server import DispatchRecord
from shared.adapters.secrets import SecretStore
from shared.adapters.tasks import TaskQueue

CONTACTS = 1_000
PER_COMPANY = 4  # contacts a company; the campaign's company cap keeps them all
FIRST_CONTACT_ID = 300_000
WINDOW_SECONDS = 1.0  # CAMPAIGN_WINDOW_SECONDS: a campaign's "minute"
PER_MINUTE = 60
PER_DAY = 2_000
SUBSCRIPTION_TYPE = "2891401"  # the HubSpot fake's "Marketing Information"
BASELINE_TASKS = 1_000
RESOLVE_TIMEOUT = 120.0
DRAFT_TIMEOUT = 240.0
POLL_SECONDS = 0.25
REP = seed.REP_EMAIL
OPEN = ("queued", "drafting")

COMPLIANCE = {
    "opt_out_line": "Not for you? Reply 'unsubscribe' and I won't write again.",
    "postal_address": "Brightline Analytics, 1 Harbour St, Leith EH6 6QL, UK",
    "consent_basis": "legitimate_interest",
}
SEGMENT_FILTERS = {
    "filters": [
        {"object": "contact", "property": "lifecyclestage", "operator": "EQ", "value": "lead"},
        {"object": "company", "property": "industry", "operator": "EQ", "value": "Software"},
    ]
}
ANSWER = {
    "content": {
        "subject": "How Northwind closes the month sooner",
        "body": "Hi there,\n\nNorthwind's finance team moved month-end reporting to Brightline "
        "and now closes the month days earlier. If month-end is a squeeze for your team too, "
        "would a short call next week be useful?\n\nCheers,\nMaya",
        "confidence": 0.86,
        "claims": [],
        "questions_for_rep": [],
        "slots_proposed": [],
    }
}


# --- Firestore operations by collection --------------------------------------------------
_COMMITS = {
    "Commit": firestore_types.CommitRequest.pb(),
    "BatchWrite": firestore_types.BatchWriteRequest.pb(),
}
_BATCH_GET = firestore_types.BatchGetDocumentsResponse.pb()
_QUERY = firestore_types.RunQueryResponse.pb()


def collection_of(name: str) -> str:
    """`campaigns/members` for `projects/p/databases/d/documents/campaigns/c/members/m`."""
    return "/".join(name.split("/documents/", 1)[-1].split("/")[0::2])


def _written(write: Any) -> str:
    operation = write.WhichOneof("operation")
    if operation == "update":
        return str(write.update.name)
    if operation == "delete":
        return str(write.delete)
    return str(write.transform.document)


@dataclass(frozen=True)
class Tally:
    """The counter at one moment; `later - earlier` is what happened in between."""

    rpcs: Counter[str]
    reads: int  # as billed: a document returned or asked for by name; an empty query 1
    writes: int
    reads_by: Counter[str]  # by collection; "x (missing)": asked for by name, not there
    writes_by: Counter[str]
    commits: tuple[int, ...]  # writes in each commit, in order

    def __sub__(self, earlier: Tally) -> Tally:
        return Tally(
            self.rpcs - earlier.rpcs,
            self.reads - earlier.reads,
            self.writes - earlier.writes,
            self.reads_by - earlier.reads_by,
            self.writes_by - earlier.writes_by,
            self.commits[len(earlier.commits) :],
        )


class CollectionCounter(FirestoreCounter):
    """bench/draft.py's counting proxy, also telling reads and writes apart by collection."""

    def __init__(self, emulator: str) -> None:
        super().__init__(emulator)
        self.reads_by: Counter[str] = Counter()
        self.writes_by: Counter[str] = Counter()
        self.commit_sizes: list[int] = []

    def tally(self) -> Tally:
        with self.lock:
            return Tally(
                Counter(self.rpcs),
                self.reads,
                self.writes,
                Counter(self.reads_by),
                Counter(self.writes_by),
                tuple(self.commit_sizes),
            )

    def _request(self, short: str, raw: bytes) -> None:
        if short not in _COMMITS:
            return
        writes = _COMMITS[short].FromString(raw).writes
        targets = Counter(collection_of(_written(write)) for write in writes)
        with self.lock:
            self.writes += len(writes)
            self.writes_by.update(targets)
            self.commit_sizes.append(len(writes))

    def _response(self, short: str, raw: bytes) -> int:  # type: ignore[override]
        if short == "BatchGetDocuments":
            got = _BATCH_GET.FromString(raw)
            kind = got.WhichOneof("result")
            if kind is None:
                return 0
            key = (
                collection_of(got.found.name)
                if kind == "found"
                else f"{collection_of(got.missing)} (missing)"
            )
        elif short == "RunQuery":
            found = _QUERY.FromString(raw)
            if not found.HasField("document"):
                return 0
            key = collection_of(found.document.name)
        else:
            return FirestoreCounter._response(short, raw)
        with self.lock:
            self.reads_by[key] += 1
        return 1


# --- the draft function's URL: campaign steps and drafts to separate processes -------------
@dataclass
class Step:
    kind: str  # resolve, tick
    campaign: str
    seq: int | None
    sent: float  # wall clock, when forwarded
    before: Tally  # the orchestration's Firestore counter then
    answered: float = math.nan
    status: int | None = None
    answer: str = ""


_HOP_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class Router:
    """What Cloud Tasks calls at `FUNCTION_URL_DRAFT`: a campaign's resolve and tick steps go
    to the counted orchestration process (or, for the campaigns in `uncounted`, to the one
    talking to the emulator directly), everything else (the drafts) to the drafting process."""

    def __init__(
        self, orchestration: str, uncounted: str, drafting: str, counter: CollectionCounter
    ) -> None:
        self.orchestration = orchestration
        self.uncounted_url = uncounted
        self.drafting = drafting
        self.counter = counter
        self.uncounted: set[str] = set()  # campaign ids
        self.steps: list[Step] = []
        self.lock = threading.Lock()
        self.pool = urllib3.PoolManager(maxsize=32, retries=False)
        self.server = ThreadedServer(self)
        self.url = self.server.url

    def start(self) -> Router:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def steps_of(self, campaign_id: str, kind: str) -> list[Step]:
        with self.lock:
            return [s for s in self.steps if s.campaign == campaign_id and s.kind == kind]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = request.get_data()
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        step = None
        if isinstance(payload, dict) and payload.get("campaign") is not None:
            seq = payload.get("seq")
            step = Step(
                str(payload.get("step")),
                str(payload["campaign"]),
                int(seq) if seq is not None else None,
                time.time(),
                self.counter.tally(),
            )
            with self.lock:
                self.steps.append(step)
        target = self.drafting
        if step is not None:
            target = self.uncounted_url if step.campaign in self.uncounted else self.orchestration
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        answer = self.pool.request(
            request.method, target + request.path, body=body, headers=headers, timeout=600.0
        )
        if step is not None:
            step.answered = time.time()
            step.status = answer.status
            step.answer = answer.data.decode(errors="replace")[:200]
        response = Response(
            answer.data,
            status=answer.status,
            content_type=answer.headers.get("Content-Type", "application/json"),
        )
        return response(environ, start_response)


def launch(name: str, port: int, env: dict[str, str], label: str, log_dir: Path) -> Any:
    return launch_function(name, port, env, log_dir / f"bench-campaigns-{label}.log")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    spent: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        spent[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += spent.get(current, 0)
        todo.extend(children.get(current, ()))
    return total / os.sysconf("SC_CLK_TCK")


# --- the segment and the campaigns -------------------------------------------------------
def seed_segment(hubspot: Any) -> tuple[str, str]:
    """CONTACTS leads at Software companies of PER_COMPANY each, owned by the demo rep and
    subscribed to SUBSCRIPTION_TYPE; a HubSpot list of them, and one of the demo's three
    prospects (for the warm-up campaigns). Returns the two lists' ids."""
    warm = hubspot.create_list("Bench warm-up", members=[p.contact_id for p in seed.PROSPECTS])
    ids = []
    for company_index in range(CONTACTS // PER_COMPANY):
        domain = f"benchco{company_index}.example"
        company = hubspot.create(
            "companies",
            {"name": f"Bench Co {company_index}", "domain": domain, "industry": "Software",
             "country": "United Kingdom"},
        )  # fmt: skip
        for k in range(PER_COMPANY):
            index = company_index * PER_COMPANY + k
            email = f"lead{index}@{domain}"
            hubspot.create(
                "contacts",
                {"email": email, "firstname": f"Lead{index}", "lastname": "Bench",
                 "jobtitle": "Head of Finance", "lifecyclestage": "lead",
                 "hubspot_owner_id": seed.OWNER_ID},
                associations=[("companies", company["id"])],
                object_id=FIRST_CONTACT_ID + index,
            )  # fmt: skip
            hubspot.set_subscription(email, SUBSCRIPTION_TYPE, "SUBSCRIBED")
            ids.append(FIRST_CONTACT_ID + index)
    return str(hubspot.create_list("Bench campaign", members=ids)["listId"]), str(warm["listId"])


def campaign_spec(
    campaign_id: str,
    segment: dict[str, Any],
    *,
    start_at: datetime | None = None,
    subscription_type: str | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "days": [0, 1, 2, 3, 4, 5, 6], "start_hour": 0, "end_hour": 24, "time_zone": "UTC"
    }  # fmt: skip
    if start_at is not None:
        schedule["start_at"] = start_at.isoformat()
    compliance = dict(COMPLIANCE)
    if subscription_type is not None:
        compliance["subscription_type_id"] = subscription_type
    return {
        "id": campaign_id,
        "name": "Northwind case study",
        "story": {
            "title": "How Northwind closes the month sooner",
            "brief": "Northwind's finance team moved month-end reporting to Brightline and "
            "closes days earlier. Useful for finance-heavy software companies.",
            "asset_ids": [],
        },
        "segment": segment,
        "owner_rule": {"kind": "contact_owner"},
        "limits": {"per_minute": PER_MINUTE, "per_day": PER_DAY, "per_company": PER_COMPANY},
        "schedule": schedule,
        "compliance": compliance,
    }


class Operator:
    def __init__(self, stack: DevStack) -> None:
        self.url = stack.function_url("operator")
        token = stack.issuer.sign(self.url, OPERATOR_ACCOUNT)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = self.session.request(method, self.url + path, json=body, timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return dict(answer.json())


# --- measuring -----------------------------------------------------------------------------
@dataclass
class Resolve:
    label: str
    campaign_id: str
    included: int
    excluded: int
    seconds: float  # launch POSTed → members written (the campaign's `resolved.at`)
    launch_seconds: float  # the operator's answer to the launch
    step_seconds: float  # the resolve task's own time (forwarded → answered)
    hubspot: Counter[str]  # requests by endpoint
    hubspot_seconds: float  # first → last HubSpot request
    firestore: Tally  # launch + resolve (until the first tick is forwarded)
    counted: bool  # False: the orchestration talked to the emulator directly


@dataclass
class Drafting:
    records: list[DispatchRecord]  # every attempt of the campaign's draft tasks
    first: float  # the first draft dispatched
    last: float  # the last draft answered
    settled: int  # workflows out of queued/drafting at the end
    finished: bool
    states: Counter[str]
    drafters: Counter[str]
    verdicts: Counter[str]
    gmail_drafts: int
    fakes: dict[str, Counter[str]]  # requests during drafting, by fake and endpoint
    log_full: list[str]
    ticks: list[Step]
    tick_tally: Tally  # every tick (from the first forwarded to the end)
    dispatched_at: list[float]  # members' dispatch times
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds while drafting
    cpu_wall: float = math.nan

    @property
    def seconds(self) -> float:
        return self.last - self.first

    @property
    def finals(self) -> list[DispatchRecord]:
        return [r for r in self.records if r.final]

    @property
    def per_minute(self) -> float:
        return len(self.finals) / self.seconds * 60 if self.seconds > 0 else math.nan


class Bench:
    def __init__(
        self, stack: DevStack, operator: Operator, router: Router, counter: CollectionCounter
    ) -> None:
        self.stack = stack
        self.operator = operator
        self.router = router
        self.counter = counter
        self.db = firestore.Client(project=stack.project)
        self.hubspot = stack.fakes["hubspot"][0]

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        return self.db.collection("campaigns").document(campaign_id).get().to_dict() or {}

    def resolve(self, label: str, spec: dict[str, Any]) -> Resolve:
        campaign_id = spec["id"]
        self.operator.call("POST", "/api/campaigns", spec)
        before = self.counter.tally()
        started = time.time()
        self.operator.call("POST", f"/api/campaigns/{campaign_id}/launch")
        launch_seconds = time.time() - started
        data = _until(lambda: self._resolved(campaign_id), RESOLVE_TIMEOUT, 0.05)
        if not data:
            raise RuntimeError(f"{campaign_id}: not resolved within {RESOLVE_TIMEOUT:.0f}s")
        resolved = data["resolved"]
        resolved_at = resolved["at"].timestamp()
        first_tick = _until(lambda: self.router.steps_of(campaign_id, "tick"), 30, 0.02)
        if not first_tick:
            raise RuntimeError(f"{campaign_id}: no tick after the resolve")
        step = self.router.steps_of(campaign_id, "resolve")[0]
        _until(lambda: not math.isnan(step.answered), 30, 0.01)  # it queues the tick first
        calls = [e for e in self.hubspot.requests if started <= e["time"] <= resolved_at]
        return Resolve(
            label=label,
            campaign_id=campaign_id,
            included=int(resolved["included"]),
            excluded=int(resolved["excluded"]),
            seconds=resolved_at - started,
            launch_seconds=launch_seconds,
            step_seconds=step.answered - step.sent,
            hubspot=Counter(call_name("hubspot", e) for e in calls),
            hubspot_seconds=calls[-1]["time"] - calls[0]["time"] if calls else 0.0,
            firestore=first_tick[0].before - before,
            counted=campaign_id not in self.router.uncounted,
        )

    def _resolved(self, campaign_id: str) -> dict[str, Any] | None:
        data = self.campaign(campaign_id)
        return data if data.get("resolved") else None

    def open_workflows(self, campaign_id: str) -> int:
        query = (
            self.db.collection("workflows")
            .where(filter=FieldFilter("campaign_id", "==", campaign_id))
            .where(filter=FieldFilter("state", "in", list(OPEN)))
        )
        return int(query.count(alias="n").get()[0][0].value)

    def draft_all(self, campaign_id: str, included: int, drafts_before: int) -> Drafting:
        deadline = time.monotonic() + DRAFT_TIMEOUT
        finished = False
        while time.monotonic() < deadline:
            done = self.campaign(campaign_id).get("state") == "done"
            if done and self.open_workflows(campaign_id) == 0:
                finished = True
                break
            time.sleep(POLL_SECONDS)
        marker = f"/draft-cmp-{campaign_id}-"

        def records() -> list[DispatchRecord]:
            return [r for r in self.stack.tasks.history if marker in r.task]

        # Every draft task's last attempt answered, so each call it made is in the logs.
        _until(lambda: sum(r.final for r in records()) >= included, 30, 0.05)
        attempts = records()
        ticks = sorted(self.router.steps_of(campaign_id, "tick"), key=lambda s: s.seq or 0)
        _until(lambda: not math.isnan(ticks[-1].answered), 10, 0.02)
        end = self.counter.tally()
        workflows = [
            snap.to_dict() or {}
            for snap in self.db.collection("workflows")
            .where(filter=FieldFilter("campaign_id", "==", campaign_id))
            .select(["state", "draft.drafter", "draft.gate.verdict"])
            .stream()
        ]
        members = self.db.collection("campaigns").document(campaign_id).collection("members")
        dispatched = sorted(
            float(m["dispatched_at"].timestamp())
            for m in (snap.to_dict() or {} for snap in members.select(["dispatched_at"]).stream())
            if m.get("dispatched_at")
        )
        first = min((r.dispatched_at for r in attempts if r.attempt == 1), default=math.nan)
        last = max((r.time for r in attempts if r.final), default=math.nan)
        fakes: dict[str, Counter[str]] = {}
        full = []
        for name in ("hubspot", "gmail", "openai", "oauth", "calendar", "drive"):
            fake = self.stack.fakes[name][0]
            log = fake.requests
            if len(log) >= MAX_LOG_ENTRIES:
                full.append(name)
            made = [e for e in log if first <= e["time"] <= last]
            if made:
                fakes[name] = Counter(call_name(name, e) for e in made)
        return Drafting(
            records=attempts,
            first=first,
            last=last,
            settled=sum(1 for w in workflows if w.get("state") not in OPEN),
            finished=finished,
            states=Counter(str(w.get("state")) for w in workflows),
            drafters=Counter(str((w.get("draft") or {}).get("drafter")) for w in workflows),
            verdicts=Counter(
                str(((w.get("draft") or {}).get("gate") or {}).get("verdict")) for w in workflows
            ),
            gmail_drafts=len(self.stack.fakes["gmail"][0].drafts(REP)) - drafts_before,
            fakes=fakes,
            log_full=full,
            ticks=ticks,
            tick_tally=end - ticks[0].before,
            dispatched_at=dispatched,
        )


def _until(check: Callable[[], Any], timeout: float, every: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@dataclass
class Baseline:
    tasks: int
    seconds: float  # first dispatch → last answer
    task_ms: list[float]

    @property
    def per_minute(self) -> float:
        return self.tasks / self.seconds * 60


def tasks_baseline(stack: DevStack, url: str) -> Baseline:
    """BASELINE_TASKS tasks queued (queue paused) then dispatched to a hello world: what the
    Cloud Tasks stand-in and one functions-framework process do with nothing to compute."""
    queue = TaskQueue.from_settings(seed.settings_for(stack))
    path = queue.queue_path("voice")
    queue.client.pause_queue(name=path)
    for index in range(BASELINE_TASKS):
        queue.enqueue("voice", f"bench-hello-{index}", url + "/", {"n": index})
    queue.client.resume_queue(name=path)

    def done() -> list[DispatchRecord]:
        found = [r for r in stack.tasks.history if "/bench-hello-" in r.task and r.final]
        return found if len(found) >= BASELINE_TASKS else []

    records = _until(done, 120, 0.05)
    if not records:
        raise RuntimeError("the hello-world tasks did not all finish within 120s")
    first = min(r.dispatched_at for r in records)
    last = max(r.time for r in records)
    return Baseline(
        len(records), last - first, [(r.time - r.dispatched_at) * 1000 for r in records]
    )


# --- the run -------------------------------------------------------------------------------
def run(stack: DevStack) -> Result:
    assert stack.firestore is not None
    assert stack.firestore.process is not None
    seed.seed(stack)
    seeding = time.perf_counter()
    list_id, warm_list = seed_segment(stack.fakes["hubspot"][0])
    seeding = time.perf_counter() - seeding
    SecretStore(stack.project, stack.secrets.address).write("openai-api-key", "sk-bench")
    stack.fakes["openai"][0].script_chat(*([ANSWER] * (CONTACTS + 100)))
    counter = CollectionCounter(stack.firestore.host).start()
    ports = {name: free_port() for name in ("orchestration", "uncounted", "drafting")}
    ports["operator"] = stack.function_ports["operator"]
    urls = {name: f"http://{LOCALHOST}:{port}" for name, port in ports.items()}
    router = Router(urls["orchestration"], urls["uncounted"], urls["drafting"], counter).start()
    env = {
        **stack.env(),
        "CAMPAIGN_WINDOW_SECONDS": str(WINDOW_SECONDS),
        "FUNCTION_URL_DRAFT": router.url,
    }
    counted = {**env, "FIRESTORE_EMULATOR_HOST": counter.address}
    processes = {
        name: launch("operator" if name == "operator" else "draft", ports[name],
                     counted if name in ("orchestration", "operator") else env, name,
                     stack.state_dir)
        for name in ("orchestration", "uncounted", "drafting", "operator")
    }  # fmt: skip
    hello = FunctionProcess("hello", ROOT / "bench/hello/main.py", {})
    try:
        for name, process in processes.items():
            wait_for_health(urls[name], process, timeout=60)
        hello.wait()
        baseline = tasks_baseline(stack, hello.url)
        bench = Bench(stack, Operator(stack), router, counter)
        later = datetime.now(UTC) + timedelta(days=1)  # resolve only: nothing is drafted

        def resolve_only(label: str, campaign_id: str, spec: dict[str, Any]) -> Resolve:
            found = bench.resolve(label, spec)
            bench.operator.call("POST", f"/api/campaigns/{campaign_id}/cancel")
            return found

        # A process's first campaign step pays for imports and connections: a 3-contact
        # resolve (list, subscription check) on each orchestration process first.
        router.uncounted.update(
            {"bench-warm-uncounted", "bench-list-uncounted", "bench-filters-uncounted"}
        )
        for campaign_id in ("bench-warm", "bench-warm-uncounted"):
            resolve_only("warm-up", campaign_id, campaign_spec(
                campaign_id, {"list_id": warm_list}, start_at=later,
                subscription_type=SUBSCRIPTION_TYPE))  # fmt: skip
        # Alternating between the two orchestration processes, so each row with the counter
        # has a like row without it at the same point of its process's life.
        listed = {"list_id": list_id}
        resolves = [
            resolve_only(label, campaign_id, campaign_spec(
                campaign_id, segment, start_at=later, subscription_type=subscription))
            for label, campaign_id, segment, subscription in (
                ("HubSpot list", "bench-list", listed, None),
                ("HubSpot list, no counter", "bench-list-uncounted", listed, None),
                ("HubSpot list + subscription-type check", "bench-list-subscribed", listed,
                 SUBSCRIPTION_TYPE),
                ("filters, no counter", "bench-filters-uncounted", SEGMENT_FILTERS, None),
            )
        ]  # fmt: skip
        drafts_before = len(stack.fakes["gmail"][0].drafts(REP))
        main = bench.resolve("filters: lead, company industry (the campaign drafted below)",
                             campaign_spec("bench-1000", SEGMENT_FILTERS))  # fmt: skip
        pids = {name: process.pid for name, process in processes.items()}
        pids["Firestore emulator"] = stack.firestore.process.pid
        cpu_started = (time.perf_counter(), cpu_snapshot(pids))
        drafting = bench.draft_all(main.campaign_id, main.included, drafts_before)
        cpu_ended = (time.perf_counter(), cpu_snapshot(pids))
        drafting.cpu_wall = cpu_ended[0] - cpu_started[0]
        drafting.cpu = {k: v - cpu_started[1][k] for k, v in cpu_ended[1].items()}
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=10)
        hello.stop()
        router.stop()
        counter.stop()
    # Shown beside its like: each counted row above the same segment without the counter.
    shown = [main, resolves[3], resolves[0], resolves[1], resolves[2]]
    return report(shown, drafting, baseline, seeding)


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    found = {name: cpu_seconds(pid) for name, pid in pids.items()}
    found["bench process (fakes, Cloud Tasks, router, counter)"] = time.process_time()
    return found


# --- the report ----------------------------------------------------------------------------
def _by(counts: Counter[str], scale: float = 1.0) -> str:
    return ", ".join(f"{name} ×{n / scale:g}" for name, n in sorted(counts.items())) or "none"


def _per(value: float, contacts: int) -> str:
    return f"{value / contacts:.2f}" if contacts else "—"


def report(
    resolves: list[Resolve], drafting: Drafting, baseline: Baseline, seeding: float
) -> Result:
    main = resolves[0]
    resolve_rows = [
        (r.label, str(r.included), f"{r.seconds:.2f}", f"{r.launch_seconds * 1000:.0f}",
         f"{r.step_seconds:.2f}", f"{r.hubspot_seconds:.2f}",
         str(sum(r.hubspot.values())), _per(sum(r.hubspot.values()), r.included),
         f"{r.firestore.reads} / {r.firestore.writes}" if r.counted else "not counted",
         f"{_per(r.firestore.reads, r.included)} / {_per(r.firestore.writes, r.included)}"
         if r.counted else "—")
        for r in resolves
    ]  # fmt: skip
    resolve_table = table(
        f"Campaign resolve, {CONTACTS:,} contacts (launch → members written; HubSpot fake, "
        "emulator)",
        ("segment", "members queued", "launch → written s", "launch answer ms",
         "resolve task s", "HubSpot reading s", "HubSpot requests", "per contact",
         "Firestore reads / writes", "per contact"),
        resolve_rows,
    )  # fmt: skip

    finals = drafting.finals
    waits = [
        (r.dispatched_at - float(r.headers.get("X-CloudTasks-TaskETA", "nan"))) * 1000
        for r in drafting.records
        if r.attempt == 1
    ]
    task_ms = [(r.time - r.dispatched_at) * 1000 for r in finals]
    retried = sum(1 for r in drafting.records if not r.final)
    flow_rows = [
        ("hello world (baseline): Cloud Tasks → functions-framework hello", str(baseline.tasks),
         f"{baseline.seconds:.1f}", f"{baseline.per_minute:,.0f}", "—",
         f"{p50(baseline.task_ms):.0f} / {p99(baseline.task_ms):.0f}", "—"),
        (f"campaign drafts (LLM via the OpenAI fake), pace {PER_MINUTE} per "
         f"{WINDOW_SECONDS:g} s window", str(len(finals)),
         f"{drafting.seconds:.1f}", f"{drafting.per_minute:,.0f}",
         f"{p50(waits) / 1000:.1f} / {p99(waits) / 1000:.1f}",
         f"{p50(task_ms):.0f} / {p99(task_ms):.0f}",
         f"{drafting.settled}/{main.included}" + ("" if drafting.finished else " (TIMED OUT)")),
    ]  # fmt: skip
    flow_table = table(
        "Campaign drafting throughput (first draft dispatched → last draft answered; 8 dispatch "
        "workers, one drafting process)",
        ("case", "tasks", "seconds", "per minute", "queued → dispatched p50 / p99 s",
         "task answer p50 / p99 ms", "workflows settled"),
        flow_rows,
    )  # fmt: skip

    resolve_fs = main.firestore
    ticks = drafting.tick_tally
    total_reads = resolve_fs.reads + ticks.reads
    total_writes = resolve_fs.writes + ticks.writes
    n = main.included
    fs_rows = [
        ("launch + resolve", f"{resolve_fs.reads} / {resolve_fs.writes}",
         f"{_per(resolve_fs.reads, n)} / {_per(resolve_fs.writes, n)}",
         str(sum(resolve_fs.rpcs.values())), str(len(resolve_fs.commits)),
         str(max(resolve_fs.commits, default=0))),
        (f"{len(drafting.ticks)} ticks (dispatch, workflow creation, draft tasks)",
         f"{ticks.reads} / {ticks.writes}",
         f"{_per(ticks.reads, n)} / {_per(ticks.writes, n)}",
         str(sum(ticks.rpcs.values())), str(len(ticks.commits)),
         str(max(ticks.commits, default=0))),
        ("orchestration in all", f"{total_reads} / {total_writes}",
         f"{_per(total_reads, n)} / {_per(total_writes, n)} "
         f"(= {_per(total_reads + total_writes, n)} operations)",
         str(sum(resolve_fs.rpcs.values()) + sum(ticks.rpcs.values())),
         str(len(resolve_fs.commits) + len(ticks.commits)),
         str(max((*resolve_fs.commits, *ticks.commits), default=0))),
    ]  # fmt: skip
    fs_table = table(
        f"Campaign orchestration, Firestore operations ({n:,} members; counted by a gRPC proxy "
        "in front of the orchestration and operator processes only)",
        ("phase", "reads / writes", "per contact", "RPCs", "commits", "largest commit (writes)"),
        fs_rows,
    )  # fmt: skip

    tick_seconds = [s.answered - s.sent for s in drafting.ticks if not math.isnan(s.answered)]
    dispatched = drafting.dispatched_at
    window_max = max(
        (sum(1 for t in dispatched if start <= t < start + WINDOW_SECONDS) for start in dispatched),
        default=0,
    )
    dispatch_span = dispatched[-1] - dispatched[0] if dispatched else math.nan
    per_draft = len(finals) or 1
    cpu = ", ".join(
        f"{name} {spent / per_draft * 1000:.0f} ms ({spent / drafting.cpu_wall:.0%} of a core)"
        for name, spent in sorted(drafting.cpu.items(), key=lambda item: -item[1])
        if spent >= 0.5
    )
    notes = [
        f"Setup: the demo seed plus {CONTACTS:,} HubSpot leads at {CONTACTS // PER_COMPANY} "
        f"Software companies of {PER_COMPANY} (owner {seed.OWNER_ID}, {REP}; company cap "
        f"{PER_COMPANY}, so all are in); limits {PER_MINUTE} a minute, {PER_DAY:,} a day; "
        f"every day 0–24 UTC. CAMPAIGN_WINDOW_SECONDS={WINDOW_SECONDS:g}: the per-minute "
        f"limit counts in a {WINDOW_SECONDS:g}-second window, so the pace allows "
        f"{PER_MINUTE} drafts a second. That scales the pace only: drafts per minute here is "
        f"the system's drafting throughput, not a campaign's pace (at most {PER_MINUTE} a "
        f"minute in production). Members were dispatched over {dispatch_span:.0f} s, at most "
        f"{window_max} in any {WINDOW_SECONDS:g}-second window.",
        "Resolve = launch POST → the campaign's `resolved.at` (right after the last member "
        "batch); HubSpot requests = the fake's log in that span. Rows other than the first "
        "are resolve only (start tomorrow, cancelled after), run first, in the order list, "
        "list no counter, list + subscription check, filters no counter, after a 3-contact "
        'warm-up on each orchestration process. "No counter" rows ran on a second '
        "orchestration process talking to the emulator directly: quote their times; the "
        "counted rows' extra time (and the tick times) include the counting proxy.",
        f"Drafts: the OpenAI fake answers at once (scripted), so no model latency. Queued → "
        f"dispatched: the stand-in runs 8 tasks at a time and each tick queues up to "
        f"{PER_MINUTE}, so drafts wait in the queue; ticks took p50 "
        f"{p50(tick_seconds):.1f} s / max {max(tick_seconds, default=math.nan):.1f} s "
        f"({len(drafting.ticks)} ticks); retried attempts: {retried}. The draft step's own "
        'cost is bench/draft.py\'s (README "Lead to draft", LLM mode: 165 ms p50, 16 Firestore '
        "operations a draft), not re-measured.",
        f"CPU while drafting ({drafting.cpu_wall:.0f} s, {os.cpu_count()} cores), per draft: "
        f"{cpu}; {sum(drafting.cpu.values()) / per_draft * 1000:.0f} ms in all. One "
        "functions-framework process (one gunicorn worker, 8 threads) drafts; production "
        "runs `draft` at concurrency 1 on up to 10 instances, but its queue allows 1 dispatch "
        "a second, 5 at a time (terraform/tasks.tf), which the local stand-in does not "
        "enforce: there, 60 drafts a minute would be the whole draft queue.",
        "Firestore: reads as billed (a document returned or asked for by name, found or not; "
        "an empty query 1), writes one per document in a commit, counted by bench/draft.py's "
        "gRPC proxy in front of the orchestration `draft` process and the operator only (not "
        "the drafting process, not the bench's polling). Launch + resolve ends when the first "
        "tick is forwarded. Per contact = over the members queued.",
        "",
        "- **launch + resolve, by collection**: reads "
        + _by(resolve_fs.reads_by)
        + f", empty queries ×{resolve_fs.reads - sum(resolve_fs.reads_by.values())}; writes "
        + _by(resolve_fs.writes_by)
        + "; RPCs "
        + _by(resolve_fs.rpcs),
        "- **ticks, by collection**: reads "
        + _by(ticks.reads_by)
        + f", empty queries ×{ticks.reads - sum(ticks.reads_by.values())}; writes "
        + _by(ticks.writes_by)
        + "; RPCs "
        + _by(ticks.rpcs),
        *(
            f"- **resolve, HubSpot requests ({r.label})**: " + _by(r.hubspot)
            for r in resolves
            if r.counted
        ),
        "- **drafting, requests per draft**: "
        + "; ".join(f"{name}: {_by(calls, per_draft)}" for name, calls in drafting.fakes.items())
        + (
            f" (request log full for {', '.join(drafting.log_full)}: undercounted)"
            if drafting.log_full
            else ""
        ),
        f"- **drafting, outcome**: workflows {_by(drafting.states)}; drafter "
        f"{_by(drafting.drafters)}; gate {_by(drafting.verdicts)}; Gmail drafts "
        f"{drafting.gmail_drafts}",
        "",
    ]
    figures = [
        Figure(
            f"campaign of {CONTACTS:,} contacts: launch → members written (filters segment), s",
            f"{main.seconds:.1f} ({sum(main.hubspot.values())} HubSpot requests)",
        ),
        Figure(
            "campaign drafting throughput, one drafting process (LLM via the fake), drafts/min",
            f"{drafting.per_minute:,.0f} ({drafting.settled}/{main.included} settled)",
        ),
        Figure(
            "campaign orchestration Firestore operations per contact (resolve + ticks)",
            f"{_per(total_reads + total_writes, n)} ({_per(total_reads, n)} reads + "
            f"{_per(total_writes, n)} writes)",
        ),
    ]
    section = resolve_table + "\n" + flow_table + "\n" + fs_table + "\n" + "\n".join(notes)
    return Result(section, figures)
