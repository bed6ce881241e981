"""Operator page: time to first byte of the approval queue with 500 drafts waiting, as the page
(`GET /queue`, signed in with the development login) and as the API (`GET /api/queue`, bearer
token of the operator service account), beside a functions-framework hello world measured the
same way in the same run.

The 500 workflows are copies of one real drafted lead (webhook → Cloud Tasks → `draft`,
offline drafter), each with its own id, recipient, subject and update time, written straight
into Firestore in state awaiting_approval."""

from __future__ import annotations

import http.client
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from google.cloud import firestore

from bench.common import Figure, FunctionProcess, Result, percentile, table
from devstack import seed
from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
from devstack.serving import LOCALHOST
from devstack.stack import OPERATOR_ACCOUNT, ROOT, DevStack

DRAFTS = 500
REQUESTS = 20
WARMUP = 3
WRITE_BATCH = 250
DANA = seed.PROSPECTS[0]


def drafted_lead(stack: DevStack, db: firestore.Client) -> dict[str, Any]:
    body = body_of(form_submission(DANA.contact_id, DANA.email, conversion_id="bench-queue"))
    headers = signed_headers(
        body, secret=seed.HUBSPOT_CLIENT_SECRET, uri=stack.env()["HUBSPOT_WEBHOOK_URL"]
    )
    answer = requests.post(
        stack.function_url("hubspot_webhook") + "/", data=body, headers=headers, timeout=30
    )
    answer.raise_for_status()
    (workflow_id,) = answer.json()["opened"]
    ref = db.collection("workflows").document(str(workflow_id))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = ref.get().to_dict() or {}
        if data.get("state") == "awaiting_approval":
            return data
        if data.get("state") not in (None, "queued", "drafting"):
            raise RuntimeError(f"the template lead ended {data.get('state')}")
        time.sleep(0.1)
    raise RuntimeError("the template lead was not drafted within 60 s")


def fill_queue(db: firestore.Client, template: dict[str, Any]) -> float:
    """DRAFTS - 1 copies of `template` beside it: seconds taken."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch, pending = db.batch(), 0
    for index in range(1, DRAFTS):
        draft = dict(template.get("draft") or {})
        draft["to"] = f"buyer{index}@prospect{index % 97}.example"
        draft["subject"] = f"Re: Forecasting for site {index}"
        copy = {**template, "draft": draft, "updated_at": now - timedelta(seconds=index)}
        batch.set(db.collection("workflows").document(f"wf-bench-queue-{index:04d}"), copy)
        pending += 1
        if pending == WRITE_BATCH:
            batch.commit()
            batch, pending = db.batch(), 0
    if pending:
        batch.commit()
    return time.perf_counter() - started


def sign_in(base: str) -> str:
    """The session cookie of the development login, as `name=value`."""
    answer = requests.post(
        f"{base}/login/dev", data={"email": seed.REP_EMAIL}, allow_redirects=False, timeout=30
    )
    cookie = answer.headers.get("Set-Cookie", "").split(";", 1)[0]
    if answer.status_code not in (302, 303) or "=" not in cookie:
        raise RuntimeError(f"development login refused: {answer.status_code} {answer.text[:200]}")
    return cookie


class Timed:
    """Requests on one kept-alive connection: time to the status line and headers (first
    byte), and to the last byte."""

    def __init__(self, base: str, path: str, headers: dict[str, str]) -> None:
        port = int(base.rsplit(":", 1)[1])
        self.connection = http.client.HTTPConnection(LOCALHOST, port, timeout=60)
        self.path = path
        self.headers = headers
        self.ttfb_ms: list[float] = []
        self.total_ms: list[float] = []
        self.size = 0
        self.status = 0

    def once(self, keep: bool) -> None:
        started = time.perf_counter()
        self.connection.request("GET", self.path, headers=self.headers)
        answer = self.connection.getresponse()
        first = time.perf_counter()
        data = answer.read()
        done = time.perf_counter()
        self.status, self.size = answer.status, len(data)
        if keep:
            self.ttfb_ms.append((first - started) * 1000)
            self.total_ms.append((done - started) * 1000)

    def close(self) -> None:
        self.connection.close()


def run(stack: DevStack) -> Result:
    seed.seed(stack)
    db = firestore.Client(project=stack.project)
    hello = FunctionProcess("hello", ROOT / "bench/hello/main.py", {})
    cases: dict[str, Timed] = {}
    try:
        stack.start_functions(("hubspot_webhook", "draft", "operator"))
        hello.wait()
        template = drafted_lead(stack, db)
        seconds = fill_queue(db, template)
        base = stack.function_url("operator")
        token = stack.issuer.sign(base, OPERATOR_ACCOUNT)
        cases.update(
            {
                "hello world (baseline), GET /": Timed(hello.url, "/", {}),
                f"`GET /queue` (page, signed in), {DRAFTS} drafts": Timed(
                    base, "/queue", {"Cookie": sign_in(base)}
                ),
                f"`GET /api/queue` (API, bearer token), {DRAFTS} drafts": Timed(
                    base, "/api/queue", {"Authorization": f"Bearer {token}"}
                ),
            }
        )
        for index in range(-WARMUP, REQUESTS):  # taking turns
            for case in cases.values():
                case.once(keep=index >= 0)
        items = len(requests.get(f"{base}/api/queue", headers={"Authorization": f"Bearer {token}"},
                                 timeout=60).json()["items"])  # fmt: skip
    finally:
        for case in cases.values():
            case.close()
        stack.stop_functions()
        hello.stop()
    return report(cases, items, seconds)


def report(cases: dict[str, Timed], items: int, seconds: float) -> Result:
    rows = []
    for name, case in cases.items():
        rows.append(
            (name, str(case.status), f"{percentile(case.ttfb_ms, 0.5):.1f}",
             f"{percentile(case.ttfb_ms, 0.99):.1f}", f"{percentile(case.total_ms, 0.5):.1f}",
             f"{case.size:,}")
        )  # fmt: skip
    section = table(
        f"Operator page, approval queue with {DRAFTS} drafts awaiting approval ({REQUESTS} "
        f"requests each after {WARMUP} warm-up, taking turns, one kept-alive connection each)",
        ("case", "status", "TTFB p50 ms", "TTFB p99 ms", "last byte p50 ms", "bytes"),
        rows,
    )  # fmt: skip
    note = (
        f"The queue lists {items} of the {DRAFTS} (`OperatorApi.queue` reads at most 200 "
        "workflows in the queue states, newest first). TTFB = request written → status line and "
        "headers read (`http.client`); the page and the API answer are built whole before the "
        f"first byte. The {DRAFTS - 1} copies of the real draft were written in {seconds:.1f} s "
        "(not counted). p99 of 20 samples is their maximum.\n"
    )
    hello, page, api = cases.values()
    hello_p50 = percentile(hello.ttfb_ms, 0.5)
    figures = [
        Figure(
            f"operator `GET /queue` TTFB, {DRAFTS} drafts, p50 / p99 ms",
            f"{percentile(page.ttfb_ms, 0.5):.0f} / {percentile(page.ttfb_ms, 0.99):.0f} "
            f"(hello {hello_p50:.1f} / {percentile(hello.ttfb_ms, 0.99):.1f})",
        ),
        Figure(
            f"operator `GET /api/queue` TTFB, {DRAFTS} drafts, p50 / p99 ms",
            f"{percentile(api.ttfb_ms, 0.5):.0f} / {percentile(api.ttfb_ms, 0.99):.0f}",
        ),
    ]
    return Result(section + "\n" + note, figures)
