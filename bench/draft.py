"""Lead to draft: a signed HubSpot form submission to the running `hubspot_webhook`, through
real Cloud Tasks dispatch to the running `draft`, until the workflow leaves queued/drafting
with a Gmail draft in the fake (offline drafter, then the LLM path against the OpenAI fake, so
the model's own latency is not in the number). Per draft: Firestore document reads and writes
(counted by a gRPC proxy in front of the emulator), Gmail, HubSpot and other fake requests,
LLM calls and prompt tokens. Goals: under 2 s, at most 25 Firestore operations, one LLM call,
prompt under 3,000 tokens."""

from __future__ import annotations

import re
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import requests
from google.cloud import firestore
from google.cloud.firestore_v1.types import firestore as firestore_types

from bench.common import Figure, Result, launch_function, table
from bench.gmail_intake import QUOTA, gmail_method
from devstack import seed
from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
from devstack.serving import LOCALHOST, free_port
from devstack.stack import DevStack, wait_for_health
from shared.adapters.secrets import SecretStore

TIMED_LEADS = 20  # per mode, through the directly connected pair (lead-to-draft time)
COUNTED_LEADS = 5  # per mode, through the pair behind the Firestore counter
POLL_SECONDS = 0.02
SETTLE_TIMEOUT = 60.0
GOAL_MS = 2000
GOAL_FIRESTORE_OPS = 25
GOAL_LLM_CALLS = 1
GOAL_PROMPT_TOKENS = 3000
LEAD_DOMAIN = "bench-leads.example"
COMPANY_ID = seed.PROSPECTS[0].company_id
REP = seed.REP_EMAIL
DRAFTING = ("queued", "drafting")


# --- Firestore operations: a counting gRPC proxy in front of the emulator -------------------
_PB = {name: getattr(firestore_types, name).pb() for name in (
    "CommitRequest", "BatchWriteRequest", "BatchGetDocumentsResponse", "RunQueryResponse",
    "ListDocumentsResponse",
)}  # fmt: skip


def new_lead_contact(
    hubspot: Any, first: str, n: int, domain: str = LEAD_DOMAIN
) -> tuple[int, str, str]:
    """A HubSpot lead at Northwind owned by the seed's rep: (contact id, email, first name)."""
    email = f"lead{n}@{domain}"
    created = hubspot.create(
        "contacts",
        {"email": email, "firstname": first, "lastname": "Bench", "jobtitle": "Head of Ops",
         "company": "Northwind Traders", "lifecyclestage": "lead",
         "hubspot_owner_id": seed.OWNER_ID},
        associations=[("companies", COMPANY_ID)],
    )  # fmt: skip
    return int(created["id"]), email, first


class FirestoreCounter(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Forwards every Firestore RPC to the emulator unchanged (bytes in, bytes out) and counts
    what Firestore bills: a read per document returned (a query with no result: one), a write
    per document in a commit, besides the RPCs themselves."""

    def __init__(self, emulator: str) -> None:
        self.channel = grpc.insecure_channel(emulator)
        self.lock = threading.Lock()
        self.rpcs: Counter[str] = Counter()
        self.reads = 0
        self.writes = 0
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="fs-proxy"),
            handlers=[self],
        )
        self.address = f"{LOCALHOST}:{self.server.add_insecure_port(f'{LOCALHOST}:0')}"

    def start(self) -> FirestoreCounter:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=1).wait()
        self.channel.close()

    def snapshot(self) -> tuple[Counter[str], int, int]:
        with self.lock:
            return Counter(self.rpcs), self.reads, self.writes

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method

        def forward(request_iterator: Iterator[bytes], context: grpc.ServicerContext) -> Any:
            metadata = tuple(
                (key, value)
                for key, value in context.invocation_metadata()
                if not key.startswith((":", "grpc-")) and key != "user-agent"
            )
            short = method.rsplit("/", 1)[-1]
            with self.lock:
                self.rpcs[short] += 1

            def upstream() -> Iterator[bytes]:
                for raw in request_iterator:
                    self._request(short, raw)
                    yield raw

            call = self.channel.stream_stream(method)(
                upstream(), metadata=metadata, timeout=context.time_remaining()
            )
            documents = 0
            try:
                for raw in call:
                    documents += self._response(short, raw)
                    yield raw
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details() or "")
            finally:
                reads = documents
                if short in ("RunQuery", "ListDocuments", "RunAggregationQuery"):
                    reads = max(documents, 1)
                with self.lock:
                    self.reads += reads

        return grpc.stream_stream_rpc_method_handler(forward)

    def _request(self, short: str, raw: bytes) -> None:
        if short in ("Commit", "BatchWrite"):
            writes = len(_PB[f"{short}Request"].FromString(raw).writes)
            with self.lock:
                self.writes += writes

    @staticmethod
    def _response(short: str, raw: bytes) -> int:
        if short == "BatchGetDocuments":
            return int(
                _PB["BatchGetDocumentsResponse"].FromString(raw).WhichOneof("result") is not None
            )
        if short == "RunQuery":
            return int(_PB["RunQueryResponse"].FromString(raw).HasField("document"))
        if short == "ListDocuments":
            return len(_PB["ListDocumentsResponse"].FromString(raw).documents)
        if short == "GetDocument":
            return 1
        return 0


# --- the pipeline --------------------------------------------------------------------------
def launch(name: str, port: int, env: dict[str, str], log_dir: Path) -> Any:
    return launch_function(name, port, env, log_dir / f"bench-draft-{name}.log")


@dataclass
class Lead:
    workflow_id: str
    ms: float  # form POSTed → workflow left queued/drafting (polled every 20 ms)
    webhook_ms: float
    queue_ms: float | None  # draft task created → first dispatch
    draft_ms: float | None  # draft function's answer time (first attempt)
    attempts: int
    state: str
    drafter: str
    verdict: str
    prompt_estimate: int
    prompt_usage: int | None
    calls: dict[str, Counter[str]]  # fake → "METHOD /path" counts
    firestore: tuple[Counter[str], int, int] | None = None  # rpcs, reads, writes
    drafted: bool = False


@dataclass
class Mode:
    name: str
    cold: list[Lead] = field(default_factory=list)
    timed: list[Lead] = field(default_factory=list)
    counted: list[Lead] = field(default_factory=list)


class Pipeline:
    def __init__(self, stack: DevStack, counter: FirestoreCounter) -> None:
        self.stack = stack
        self.counter = counter
        self.db = firestore.Client(project=stack.project)
        self.session = requests.Session()
        self.sign_uri = stack.env()["HUBSPOT_WEBHOOK_URL"]
        self.hubspot = stack.fakes["hubspot"][0]
        self.gmail = stack.fakes["gmail"][0]
        self.openai = stack.fakes["openai"][0]
        self.sequence = 0

    def new_contact(self) -> tuple[int, str, str]:
        self.sequence += 1
        return new_lead_contact(self.hubspot, f"Lee{self.sequence}", self.sequence)

    def lead(self, webhook_url: str, llm: bool, firestore_counted: bool) -> Lead:
        contact_id, email, first = self.new_contact()
        if llm:
            self.openai.script_chat({"content": answer_for(first)})
        before = {name: len(fake.requests) for name, (fake, _server) in self.stack.fakes.items()}
        counted_before = self.counter.snapshot() if firestore_counted else None
        drafts_before = len(self.gmail.drafts(REP))
        body = body_of(form_submission(contact_id, email, conversion_id=f"bench-{self.sequence}"))
        headers = signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET, uri=self.sign_uri)
        started = time.perf_counter()
        answer = self.session.post(webhook_url, data=body, headers=headers, timeout=30)
        webhook_ms = (time.perf_counter() - started) * 1000
        answer.raise_for_status()
        (workflow_id,) = answer.json()["opened"]
        workflow_id = str(workflow_id)
        data = self._settled(workflow_id)
        ms = (time.perf_counter() - started) * 1000
        record = self._final_dispatch(workflow_id)
        first_record = next(
            (r for r in self.stack.tasks.history if r.task.endswith(f"/draft-{workflow_id}-1")),
            None,
        )
        queue_ms = draft_ms = None
        if first_record is not None:
            eta = float(first_record.headers.get("X-CloudTasks-TaskETA", "nan"))
            queue_ms = (first_record.dispatched_at - eta) * 1000
            draft_ms = (first_record.time - first_record.dispatched_at) * 1000
        calls: dict[str, Counter[str]] = {}
        for name, (fake, _server) in self.stack.fakes.items():
            made = fake.requests[before[name] :]
            if made:
                calls[name] = Counter(call_name(name, entry) for entry in made)
        draft = data.get("draft") or {}
        lead = Lead(
            workflow_id=workflow_id,
            ms=ms,
            webhook_ms=webhook_ms,
            queue_ms=queue_ms,
            draft_ms=draft_ms,
            attempts=record.attempt if record is not None else 0,
            state=str(data.get("state")),
            drafter=str(draft.get("drafter")),
            verdict=str((draft.get("gate") or {}).get("verdict")),
            prompt_estimate=int(draft.get("prompt_tokens_estimate") or 0),
            prompt_usage=(draft.get("usage") or {}).get("prompt_tokens"),
            calls=calls,
            drafted=len(self.gmail.drafts(REP)) == drafts_before + 1,
        )
        if counted_before is not None:
            rpcs, reads, writes = self.counter.snapshot()
            lead.firestore = (
                rpcs - counted_before[0],
                reads - counted_before[1],
                writes - counted_before[2],
            )
        return lead

    def _settled(self, workflow_id: str) -> dict[str, Any]:
        ref = self.db.collection("workflows").document(workflow_id)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            data = ref.get().to_dict() or {}
            if data.get("state") not in DRAFTING:
                return data
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"workflow {workflow_id} not drafted within {SETTLE_TIMEOUT:.0f}s")

    def _final_dispatch(self, workflow_id: str) -> Any:
        """The draft task's last attempt, once it has answered (so every call it made is in the
        logs and counters before they are read)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for record in reversed(self.stack.tasks.history):
                if record.task.endswith(f"/draft-{workflow_id}-1") and record.final:
                    return record
            time.sleep(0.005)
        return None


def answer_for(first: str) -> dict[str, Any]:
    return {
        "subject": "Re: Your request",
        "body": f"Hi {first},\n\nThanks for reaching out. Happy to show you how it works.\n\n"
        "Cheers,\nMaya",
        "confidence": 0.86,
        "claims": [],
        "questions_for_rep": [],
        "slots_proposed": [],
    }


_IDS = re.compile(r"/(?:\d+|[A-Za-z0-9_-]{16,}|[^/]*@[^/]*)(?=/|$)")


def call_name(fake: str, entry: dict[str, Any]) -> str:
    if fake == "gmail":
        return gmail_method(entry)[0]
    return f"{entry['method']} {_IDS.sub('/{id}', entry['path'])}"


# --- statistics and the report -------------------------------------------------------------
def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


def per_lead(leads: list[Lead], fake: str) -> list[int]:
    return [sum(lead.calls.get(fake, Counter()).values()) for lead in leads]


def gmail_units(lead: Lead) -> int:
    units = 0
    for name, count in lead.calls.get("gmail", Counter()).items():
        priced = next((u for _m, _p, n, u in QUOTA if n == name), None)
        units += (priced or 0) * count
    return units


def spread(values: list[int] | list[float]) -> str:
    if not values:
        return "—"
    low, high = min(values), max(values)
    mean = sum(values) / len(values)
    return f"{low:g}" if low == high else f"{mean:.1f} ({low:g}–{high:g})"


def breakdown(leads: list[Lead], fake: str) -> str:
    total: Counter[str] = Counter()
    for lead in leads:
        total.update(lead.calls.get(fake, Counter()))
    if not total:
        return "none"
    return ", ".join(f"{name} ×{count / len(leads):g}" for name, count in sorted(total.items()))


def run(stack: DevStack) -> Result:
    assert stack.firestore is not None
    seed.seed(stack)
    counter = FirestoreCounter(stack.firestore.host).start()
    counted_ports = {"hubspot_webhook": free_port(), "draft": free_port()}
    counted_env = {
        **stack.env(),
        "FIRESTORE_EMULATOR_HOST": counter.address,
        "FUNCTION_URL_DRAFT": f"http://{LOCALHOST}:{counted_ports['draft']}",
    }
    processes: list[subprocess.Popen[bytes]] = []
    modes = [Mode("offline drafter (no key)"), Mode("LLM (OpenAI fake, scripted answer)")]
    try:
        stack.start_functions(("hubspot_webhook", "draft"))
        for name, port in counted_ports.items():
            processes.append(launch(name, port, counted_env, stack.state_dir))
        for process, port in zip(processes, counted_ports.values(), strict=True):
            wait_for_health(f"http://{LOCALHOST}:{port}", process, timeout=60)
        pipeline = Pipeline(stack, counter)
        timed_url = stack.function_url("hubspot_webhook") + "/"
        counted_url = f"http://{LOCALHOST}:{counted_ports['hubspot_webhook']}/"
        for mode in modes:
            llm = mode is modes[1]
            if llm:
                SecretStore(stack.project, stack.secrets.address).write("openai-api-key", "sk-x")
            # First lead on each pair (in each mode): cold caches, connections and imports.
            mode.cold.append(pipeline.lead(timed_url, llm, firestore_counted=False))
            mode.cold.append(pipeline.lead(counted_url, llm, firestore_counted=True))
            mode.timed = [pipeline.lead(timed_url, llm, False) for _ in range(TIMED_LEADS)]
            mode.counted = [pipeline.lead(counted_url, llm, True) for _ in range(COUNTED_LEADS)]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        stack.stop_functions()
        counter.stop()
    return report(modes)


def report(modes: list[Mode]) -> Result:
    timing_rows: list[tuple[str, ...]] = []
    for mode in modes:
        leads = mode.timed
        ms = [lead.ms for lead in leads]
        ok = p99(ms) < GOAL_MS
        states = Counter(lead.state for lead in leads)
        timing_rows.append(
            (mode.name, str(len(leads)),
             f"{p50(ms):.0f}", f"{p99(ms):.0f} {'ok' if ok else 'OVER'}",
             f"{p50([lead.webhook_ms for lead in leads]):.0f}",
             f"{p50([lead.queue_ms for lead in leads if lead.queue_ms is not None]):.0f}",
             f"{p99([lead.queue_ms for lead in leads if lead.queue_ms is not None]):.0f}",
             f"{p50([lead.draft_ms for lead in leads if lead.draft_ms is not None]):.0f}",
             f"{mode.cold[0].ms:.0f}",
             ", ".join(f"{s} ×{n}" for s, n in sorted(states.items())),
             f"{sum(lead.drafted for lead in leads)}/{len(leads)}")
        )  # fmt: skip
    timing = table(
        f"Lead to draft (form submission → `hubspot_webhook` → Cloud Tasks → `draft` → Gmail "
        f"draft; processes, emulators, fakes; goal < {GOAL_MS} ms)",
        ("mode", "leads", "p50 ms", "p99 ms", "webhook answer p50 ms",
         "task queued→dispatched p50 ms", "p99 ms", "draft function p50 ms",
         "first lead of mode ms", "states", "Gmail drafts"),
        timing_rows,
    )  # fmt: skip

    cost_rows: list[tuple[str, ...]] = []
    for mode in modes:
        counted, timed = mode.counted, mode.timed
        ops = [lead.firestore[1] + lead.firestore[2] for lead in counted if lead.firestore]
        reads = [lead.firestore[1] for lead in counted if lead.firestore]
        writes = [lead.firestore[2] for lead in counted if lead.firestore]
        rpcs = [sum(lead.firestore[0].values()) for lead in counted if lead.firestore]
        llm_calls = [
            sum(n for name, n in lead.calls.get("openai", Counter()).items() if "/chat/" in name)
            for lead in timed
        ]
        usage = [lead.prompt_usage for lead in timed if lead.prompt_usage is not None]
        estimate = [lead.prompt_estimate for lead in timed]
        prompt = max(usage or estimate)
        llm_ok = max(llm_calls) <= GOAL_LLM_CALLS
        cost_rows.append(
            (mode.name,
             f"{spread(ops)} {'ok' if max(ops) <= GOAL_FIRESTORE_OPS else 'OVER'}",
             f"{spread(reads)} / {spread(writes)}", spread(rpcs),
             spread(per_lead(timed, "gmail")), spread([gmail_units(lead) for lead in timed]),
             spread(per_lead(timed, "hubspot")),
             f"{spread(llm_calls)} {'ok' if llm_ok else 'OVER'}",
             f"{max(usage)}" if usage else "— (no call)",
             f"{max(estimate)}",
             "ok" if prompt < GOAL_PROMPT_TOKENS else "OVER")
        )  # fmt: skip
    costs = table(
        f"Per draft (goals: ≤ {GOAL_FIRESTORE_OPS} Firestore operations, ≤ {GOAL_LLM_CALLS} LLM "
        f"call, prompt < {GOAL_PROMPT_TOKENS:,} tokens)",
        ("mode", "Firestore reads+writes", "reads / writes", "Firestore RPCs",
         "Gmail requests", "Gmail quota units", "HubSpot requests", "LLM calls",
         "prompt tokens (usage, max)", "prompt estimate (max)", "prompt goal"),
        cost_rows,
    )  # fmt: skip

    notes = [
        f"Lead-to-draft = from the signed form POST to the first 20 ms Firestore poll that sees "
        f"the workflow leave queued/drafting (its draft written, Gmail draft placed, HubSpot "
        f"task and note logged), over {TIMED_LEADS} leads per mode one after another, each a "
        f"new HubSpot contact (owner {seed.OWNER_ID}); p99 of {TIMED_LEADS} samples is their "
        "maximum. It includes the Cloud Tasks stand-in's dispatch (task created → first "
        "attempt, from its X-CloudTasks-TaskETA header and dispatch time) and excludes the "
        "model's own latency (the OpenAI fake answers at once). The first lead of each mode "
        "on each process pair is left out of the percentiles (offline: fresh processes, "
        "imports, connections, token caches; LLM: the first model client).",
        f"Firestore operations = documents read (one per document returned; a query with no "
        f"result counts one, as billed) + documents written (one per write in a commit), "
        f"counted by a gRPC proxy in front of the emulator for both functions (webhook + draft) "
        f"on a second, identical pair of processes over {COUNTED_LEADS} leads per mode, so the "
        f"proxy's overhead is not in the times. The bench's own polling is not counted. "
        f"Request counts and prompt tokens come from the {TIMED_LEADS} timed leads.",
        "Prompt tokens: `usage.prompt_tokens` is what the OpenAI fake reports (≈ 4 characters a "
        "token, plus 4 a message: not OpenAI's tokenizer); the estimate is the drafter's own "
        "(`prompt_tokens_estimate`, also computed by the offline drafter, which calls no model). "
        "The seed has no trained voice profile and no team assets, so those context items are "
        "absent; the prompt is capped at the draft budget by construction in any case (by the "
        "drafter's estimate, which leaves out the response's JSON schema).",
        "",
    ]
    for mode in modes:
        counted = [lead for lead in mode.counted if lead.firestore]
        fs_total: Counter[str] = Counter()
        for lead in counted:
            assert lead.firestore is not None
            fs_total.update(lead.firestore[0])
        cold = mode.cold[1].firestore
        cold_ops = f"{cold[1] + cold[2]} ({cold[1]} reads, {cold[2]} writes)" if cold else "?"
        others = sorted({name for lead in mode.timed for name in lead.calls} - {"gmail", "hubspot"})
        parts = [
            "Firestore RPCs: "
            + ", ".join(f"{m} ×{n / len(counted):g}" for m, n in sorted(fs_total.items())),
            f"first lead of this mode: {cold_ops} Firestore operations, "
            f"{mode.cold[0].ms:.0f} ms lead to draft",
            "Gmail: " + breakdown(mode.timed, "gmail"),
            "HubSpot: " + breakdown(mode.timed, "hubspot"),
            *(f"{name}: {breakdown(mode.timed, name)}" for name in others),
            "drafter: "
            + ", ".join(
                f"{d} ×{n}" for d, n in sorted(Counter(x.drafter for x in mode.timed).items())
            ),
            "gate: "
            + ", ".join(
                f"{v} ×{n}" for v, n in sorted(Counter(x.verdict for x in mode.timed).items())
            ),
            f"task attempts: max {max(lead.attempts for lead in mode.timed)}",
        ]
        notes.append(f"- **{mode.name}** (per draft): " + "; ".join(parts))
    notes.append("")
    return Result(timing + "\n" + costs + "\n" + "\n".join(notes), figures(modes))


def figures(modes: list[Mode]) -> list[Figure]:
    found: list[Figure] = []
    for mode in modes:
        ms = [lead.ms for lead in mode.timed]
        short = mode.name.split(" (")[0]
        found.append(
            Figure(
                f"lead to draft ({short}): signed webhook → awaiting approval with a Gmail "
                "draft, p50 / p99 ms",
                f"{p50(ms):.0f} / {p99(ms):.0f} ({len(ms)} leads)",
                f"p99 < {GOAL_MS:,} ms",
                p99(ms) < GOAL_MS and all(lead.drafted for lead in mode.timed),
            )
        )
    for mode in modes:
        ops = [lead.firestore[1] + lead.firestore[2] for lead in mode.counted if lead.firestore]
        short = mode.name.split(" (")[0]
        found.append(
            Figure(
                f"Firestore operations per draft ({short}; webhook + draft)",
                spread(ops),
                f"≤ {GOAL_FIRESTORE_OPS}",
                bool(ops) and max(ops) <= GOAL_FIRESTORE_OPS,
            )
        )
    llm = modes[-1]
    calls = [
        sum(n for name, n in lead.calls.get("openai", Counter()).items() if "/chat/" in name)
        for lead in llm.timed
    ]
    usage = [lead.prompt_usage for lead in llm.timed if lead.prompt_usage is not None]
    estimate = [lead.prompt_estimate for lead in llm.timed]
    prompt = max(usage or estimate)
    found.append(
        Figure(
            "prompt tokens per draft (LLM path: usage reported by the fake, max; drafter's "
            "estimate)",
            f"{prompt} (estimate {spread(estimate)})",
            f"< {GOAL_PROMPT_TOKENS:,}",
            prompt < GOAL_PROMPT_TOKENS,
        )
    )
    found.append(
        Figure("LLM calls per draft", spread(calls), f"≤ {GOAL_LLM_CALLS}",
               max(calls) <= GOAL_LLM_CALLS)
    )  # fmt: skip
    return found
