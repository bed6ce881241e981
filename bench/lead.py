"""One lead end to end, counted: a signed HubSpot form submission → `hubspot_webhook` → Cloud
Tasks → `draft` (LLM path against the OpenAI fake) → the operator API approves it → Cloud
Tasks → `send` sends it (SEND_ALLOWED, no undo window) and logs it. Per lead: Firestore
documents read and written by each function (a counting gRPC proxy in front of the emulator
for each process), Cloud Tasks and Secret Manager RPCs (a counting proxy in front of each
stand-in), and every request to the Gmail, HubSpot, OpenAI, OAuth and Calendar fakes.
The bench's own polling talks to the emulator directly and is not counted."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
from google.cloud import firestore

from bench.campaigns import CollectionCounter, Tally
from bench.common import Figure, Result, launch_function, table
from bench.draft import FirestoreCounter, answer_for, call_name, new_lead_contact
from bench.gmail_intake import QUOTA
from devstack import seed
from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
from devstack.serving import LOCALHOST, free_port
from devstack.stack import OPERATOR_ACCOUNT, DevStack, wait_for_health
from shared.adapters.secrets import SecretStore

LEADS = 3  # counted, after one warm-up lead on the fresh processes
FUNCTIONS = ("hubspot_webhook", "draft", "operator", "send")
POLL_SECONDS = 0.05
TIMEOUT = 60.0
LEAD_DOMAIN = "lifecycle.example"


@dataclass
class Lead:
    workflow_id: str
    seconds: float  # form POSTed → send effects done
    state: str
    firestore: dict[str, Tally]  # by function
    tasks: Counter[str]  # Cloud Tasks RPCs
    secrets: Counter[str]  # Secret Manager RPCs
    calls: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)  # phase → fake → call


class Lifecycle:
    def __init__(self, stack: DevStack) -> None:
        assert stack.firestore is not None
        self.stack = stack
        self.db = firestore.Client(project=stack.project)
        self.counters = {
            name: CollectionCounter(stack.firestore.host).start() for name in FUNCTIONS
        }
        self.tasks = FirestoreCounter(stack.tasks.address).start()
        self.secrets = FirestoreCounter(stack.secrets.address).start()
        self.ports = {name: free_port() for name in FUNCTIONS}
        self.urls = {name: f"http://{LOCALHOST}:{port}" for name, port in self.ports.items()}
        self.env = {
            **stack.env(),
            "TASKS_ENDPOINT": self.tasks.address,
            "SECRETS_ENDPOINT": self.secrets.address,
            **{f"FUNCTION_URL_{name.upper()}": url for name, url in self.urls.items()},
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.session = requests.Session()
        token = stack.issuer.sign(self.urls["operator"], OPERATOR_ACCOUNT)
        self.operator = requests.Session()
        self.operator.headers["Authorization"] = f"Bearer {token}"
        self.hubspot = stack.fakes["hubspot"][0]
        self.openai = stack.fakes["openai"][0]
        self.sign_uri = stack.env()["HUBSPOT_WEBHOOK_URL"]
        self.sequence = 0

    def start(self) -> None:
        for name in FUNCTIONS:
            env = {**self.env, "FIRESTORE_EMULATOR_HOST": self.counters[name].address}
            log = self.stack.state_dir / f"bench-lead-{name}.log"
            self.processes.append(launch_function(name, self.ports[name], env, log))
        for process, url in zip(self.processes, self.urls.values(), strict=True):
            wait_for_health(url, process, timeout=60)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
        for counter in (*self.counters.values(), self.tasks, self.secrets):
            counter.stop()

    def api(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = self.operator.request(method, self.urls["operator"] + path, json=body, timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return dict(answer.json())

    def _snapshot(self) -> dict[str, Any]:
        return {
            "firestore": {name: c.tally() for name, c in self.counters.items()},
            "tasks": self.tasks.snapshot()[0],
            "secrets": self.secrets.snapshot()[0],
            "fakes": {name: len(fake.requests) for name, (fake, _) in self.stack.fakes.items()},
        }

    def _until(self, workflow_id: str, done: Any) -> dict[str, Any]:
        ref = self.db.collection("workflows").document(workflow_id)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            data = ref.get().to_dict() or {}
            if done(data):
                return data
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"workflow {workflow_id} stuck: {ref.get().to_dict()}")

    def _task_finished(self, name: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(r.task.endswith(f"/{name}") and r.final for r in self.stack.tasks.history):
                return
            time.sleep(0.01)

    def lead(self) -> Lead:
        self.sequence += 1
        contact_id, email, first = new_lead_contact(
            self.hubspot, f"Lena{self.sequence}", self.sequence, LEAD_DOMAIN
        )
        self.openai.script_chat({"content": answer_for(first)})
        body = body_of(form_submission(contact_id, email, conversion_id=f"lc-{first}"))
        headers = signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET, uri=self.sign_uri)
        before = self._snapshot()
        started = time.perf_counter()
        answer = self.session.post(self.urls["hubspot_webhook"] + "/", data=body, headers=headers,
                                   timeout=30)  # fmt: skip
        answer.raise_for_status()
        (workflow_id,) = answer.json()["opened"]
        workflow_id = str(workflow_id)
        drafted = self._until(workflow_id, lambda d: d.get("state") not in ("queued", "drafting"))
        if drafted.get("state") != "awaiting_approval":
            raise RuntimeError(f"lead {workflow_id} not ready to approve: {drafted.get('state')}")
        self._task_finished(f"draft-{workflow_id}-1")
        middle = self._snapshot()
        shown = self.api("GET", f"/api/workflows/{workflow_id}")
        digest = shown["gmail_draft"]["content_hash"]
        self.api("POST", f"/api/workflows/{workflow_id}/approve", {"content_hash": digest})
        settled = self._until(
            workflow_id,
            lambda d: (
                bool((d.get("send") or {}).get("effects_done"))
                or (d.get("send") or {}).get("status") in ("failed", "held", "suppressed")
            ),
        )
        seconds = time.perf_counter() - started
        time.sleep(0.3)  # let the send task's answer reach the stand-in's history
        after = self._snapshot()
        return Lead(
            workflow_id=workflow_id,
            seconds=seconds,
            state=f"{settled.get('state')}, send {(settled.get('send') or {}).get('status')}",
            firestore={n: after["firestore"][n] - before["firestore"][n] for n in FUNCTIONS},
            tasks=after["tasks"] - before["tasks"],
            secrets=after["secrets"] - before["secrets"],
            calls={
                "webhook + draft": self._calls_between(before, middle),
                "approve + send": self._calls_between(middle, after),
            },
        )

    def _calls_between(
        self, since: dict[str, Any], until: dict[str, Any]
    ) -> dict[str, Counter[str]]:
        calls: dict[str, Counter[str]] = {}
        for name, (fake, _server) in self.stack.fakes.items():
            made = fake.requests[since["fakes"][name] : until["fakes"][name]]
            if made:
                calls[name] = Counter(call_name(name, entry) for entry in made)
        return calls


def run(stack: DevStack) -> Result:
    seed.seed(stack)
    SecretStore(stack.project, stack.secrets.address).write("openai-api-key", "sk-bench")
    life = Lifecycle(stack)
    try:
        life.start()
        life.api("PATCH", "/api/flags", {"changes": {"mode": "SEND_ALLOWED", "undo_seconds": 0},
                                         "reason": "bench: one lead end to end"})  # fmt: skip
        warm = life.lead()
        leads = [life.lead() for _ in range(LEADS)]
    finally:
        life.stop()
    return report(warm, leads)


def _mean(values: list[int] | list[float]) -> str:
    low, high = min(values), max(values)
    mean = statistics.mean(values)
    return f"{mean:g}" if low == high else f"{mean:.1f} ({low:g}–{high:g})"


def _ops(lead: Lead, function: str) -> int:
    return lead.firestore[function].reads + lead.firestore[function].writes


def _empty(leads: list[Lead], function: str) -> float:
    """Reads billed for queries that found nothing, per lead."""
    tallies = [lead.firestore[function] for lead in leads]
    return sum(t.reads - sum(t.reads_by.values()) for t in tallies) / len(leads)


def _total(lead: Lead, fake: str) -> int:
    return sum(sum(calls.get(fake, Counter()).values()) for calls in lead.calls.values())


def gmail_units(lead: Lead) -> int:
    """Gmail API quota units of every Gmail request the lead caused."""
    prices = {name: units for _method, _path, name, units in QUOTA}
    return sum(
        prices.get(name, 0) * count
        for calls in lead.calls.values()
        for name, count in calls.get("gmail", Counter()).items()
    )


def _per_lead(counts: Counter[str], leads: int) -> str:
    return ", ".join(f"{k} ×{v / leads:g}" for k, v in sorted(counts.items()))


def report(warm: Lead, leads: list[Lead]) -> Result:
    rows: list[tuple[str, ...]] = []
    for name in FUNCTIONS:
        reads = [lead.firestore[name].reads for lead in leads]
        writes = [lead.firestore[name].writes for lead in leads]
        rpcs = [sum(lead.firestore[name].rpcs.values()) for lead in leads]
        both = [r + w for r, w in zip(reads, writes, strict=True)]
        rows.append((f"`{name}`", _mean(reads), _mean(writes), _mean(both), _mean(rpcs)))
    total_reads = [sum(lead.firestore[n].reads for n in FUNCTIONS) for lead in leads]
    total_writes = [sum(lead.firestore[n].writes for n in FUNCTIONS) for lead in leads]
    totals = [r + w for r, w in zip(total_reads, total_writes, strict=True)]
    all_rpcs = [sum(sum(lead.firestore[n].rpcs.values()) for n in FUNCTIONS) for lead in leads]
    rows.append(("**one lead in all**", _mean(total_reads), _mean(total_writes), _mean(totals),
                 _mean(all_rpcs)))  # fmt: skip
    fs_table = table(
        f"One lead end to end, Firestore operations by function ({LEADS} leads after a warm-up "
        "lead; mean (range))",
        ("function", "reads", "writes", "reads + writes", "RPCs"),
        rows,
    )

    fakes = sorted({fake for lead in leads for calls in lead.calls.values() for fake in calls})
    n = len(leads)
    call_rows: list[tuple[str, ...]] = []
    for fake in fakes:
        for phase in ("webhook + draft", "approve + send"):
            merged: Counter[str] = Counter()
            for lead in leads:
                merged.update(lead.calls[phase].get(fake, Counter()))
            if merged:
                call_rows.append(
                    (fake, phase, f"{sum(merged.values()) / n:g}", _per_lead(merged, n))
                )
    tasks: Counter[str] = Counter()
    secrets: Counter[str] = Counter()
    for lead in leads:
        tasks.update(lead.tasks)
        secrets.update(lead.secrets)
    call_rows.append(
        ("Cloud Tasks (RPCs)", "all", f"{sum(tasks.values()) / n:g}", _per_lead(tasks, n))
    )
    call_rows.append(
        ("Secret Manager (RPCs)", "all", f"{sum(secrets.values()) / n:g}",
         _per_lead(secrets, n) or "none (cached by the warm processes)")
    )  # fmt: skip
    calls_table = table(
        "One lead end to end, calls to outside systems per lead (fakes' request logs)",
        ("system", "phase", "requests", "which"),
        call_rows,
    )
    external = [sum(_total(lead, fake) for fake in fakes) for lead in leads]
    units = [gmail_units(lead) for lead in leads]
    notes = [
        f"Each lead is a new HubSpot contact at Northwind (owner {seed.OWNER_ID}); the OpenAI "
        "fake answers at once with a scripted draft; flags: SEND_ALLOWED, undo window 0 s. "
        "Approving = what the operator page does: read the workflow with its Gmail draft "
        "(`GET /api/workflows/<id>`), then `POST .../approve` with the content hash shown. "
        "The lead ends when the send's effects are done (email sent, HubSpot email logged, "
        "follow-up scheduled). Firestore operations as billed: one read per document returned "
        "(an empty query 1), one write per document in a commit; each function's process has "
        "its own counting proxy, so the split by function is exact. Fake calls are split by "
        "time at the moment the workflow reached awaiting_approval.",
        f"Warm-up lead (fresh processes, first connections and token caches): "
        f"{sum(_ops(warm, n) for n in FUNCTIONS)} "
        f"Firestore operations, {sum(_total(warm, f) for f in fakes)} fake requests, "
        f"{warm.seconds:.2f} s. Counted leads: form → send effects done "
        f"{_mean([round(lead.seconds, 2) for lead in leads])} s; final states: "
        + ", ".join(sorted({lead.state for lead in leads}))
        + f"; Gmail quota units per lead {_mean(units)}.",
        "",
        *(
            f"- **`{name}`, per lead, by collection**: reads "
            + _per_lead(sum((lead.firestore[name].reads_by for lead in leads), Counter()), n)
            + f", empty queries ×{_empty(leads, name):g}; writes "
            + _per_lead(sum((lead.firestore[name].writes_by for lead in leads), Counter()), n)
            + "; RPCs "
            + _per_lead(sum((lead.firestore[name].rpcs for lead in leads), Counter()), n)
            for name in FUNCTIONS
        ),
        "",
    ]
    by_function = ", ".join(f"{n} {_mean([_ops(lead, n) for lead in leads])}" for n in FUNCTIONS)
    figures = [
        Figure(
            "Firestore operations per lead, webhook → draft → approve → send",
            f"{_mean(totals)} ({_mean(total_reads)} reads + {_mean(total_writes)} writes; "
            f"{by_function})",
        ),
        Figure(
            "external API requests per lead (Gmail, HubSpot, OpenAI, OAuth, Calendar fakes)",
            f"{_mean(external)}: "
            + ", ".join(
                f"{fake} {_mean([_total(lead, fake) for lead in leads])}" for fake in fakes
            ),
        ),
        Figure(
            "Cloud Tasks / Secret Manager RPCs per lead",
            f"{sum(tasks.values()) / len(leads):g} / {sum(secrets.values()) / len(leads):g}",
        ),
    ]
    return Result(fs_table + "\n" + calls_table + "\n" + "\n".join(notes), figures)
