"""Webhook burst: 1,000 signed HubSpot events against the running `hubspot_webhook` (with the
Firestore emulator and the Cloud Tasks server), beside a hello world in the same run."""

from __future__ import annotations

import json
import time

import requests

from bench.common import Burst, Figure, FunctionProcess, Result, burst, table
from devstack.hubspot_webhooks import crm_event, signed_headers
from devstack.stack import ROOT, DevStack
from shared.adapters.secrets import SecretStore

EVENTS = 1_000
CONCURRENCY = 8


def run(stack: DevStack) -> Result:
    SecretStore(stack.project, stack.secrets.address).write("hubspot-client-secret", "bench")
    hello = FunctionProcess("hello", ROOT / "bench/hello/main.py", {})
    webhook = FunctionProcess(
        "hubspot_webhook", ROOT / "functions/hubspot_webhook/main.py", stack.env()
    )
    try:
        hello.wait()
        webhook.wait()
        url = webhook.url + "/"
        env_url = stack.env()["HUBSPOT_WEBHOOK_URL"]

        # The function verifies against its configured public URL.
        def send_event(session: requests.Session, index: int) -> int:
            body = json.dumps([crm_event("contact.creation", 100_000 + index)]).encode()
            headers = signed_headers(body, secret="bench", uri=env_url)
            return session.post(url, data=body, headers=headers, timeout=30).status_code

        def send_batch(session: requests.Session, index: int) -> int:
            events = [crm_event("contact.creation", 500_000 + index * 100 + i) for i in range(100)]
            body = json.dumps(events).encode()
            headers = signed_headers(body, secret="bench", uri=env_url)
            return session.post(url, data=body, headers=headers, timeout=60).status_code

        def send_hello(session: requests.Session, index: int) -> int:
            return session.get(hello.url + "/", timeout=30).status_code

        send_event(requests.Session(), -1)  # warm: first Firestore and Tasks connections
        send_hello(requests.Session(), -1)
        baseline = burst(send_hello, EVENTS, CONCURRENCY)
        singles = burst(send_event, EVENTS, CONCURRENCY)
        time.sleep(0.5)
        batches = burst(send_batch, 10, 1, units_per_request=100)
    finally:
        webhook.stop()
        hello.stop()

    def fmt(name: str, result: Burst, goal: str) -> tuple[str, ...]:
        ok = ", ".join(f"{k}×{v}" for k, v in sorted(result.statuses.items()))
        return (name, f"{result.p50:.1f}", f"{result.p99:.1f}", f"{result.per_second:.0f}",
                ok, goal)  # fmt: skip

    ratio = singles.per_second / baseline.per_second
    rows = [
        fmt("hello world (baseline)", baseline, "—"),
        fmt(f"webhook, {EVENTS} single-event requests", singles, "p99 < 200 ms"),
        fmt("webhook, 10 batches of 100 events, one at a time", batches, "answer < 1 s"),
    ]
    rows.append(("throughput vs hello world", "", "", f"{ratio:.2f}×", "", "≥ 0.33×"))
    section = table(
        f"Webhook burst ({CONCURRENCY} concurrent clients, emulators, one process per function)",
        ("case", "p50 ms", "p99 ms", "units/s", "statuses", "goal"),
        rows,
    )
    failed = sum(n for status, n in singles.statuses.items() if status != 200)
    figures = [
        Figure(
            f"webhook burst, {EVENTS} signed single-event requests, {CONCURRENCY} clients: "
            "p50 / p99 ms",
            f"{singles.p50:.0f} / {singles.p99:.0f}" + (f" ({failed} not 200)" if failed else ""),
            "p99 < 200 ms",
            singles.p99 < 200 and not failed,
        ),
        Figure(
            "webhook burst throughput, events/s (vs hello world's requests/s)",
            f"{singles.per_second:.0f} ({ratio:.2f}× hello's {baseline.per_second:.0f})",
            "≥ 0.33× hello",
            ratio >= 0.33,
        ),
        Figure(
            "webhook, a batch of 100 events: answer p50 / max ms",
            f"{batches.p50:.0f} / {max(batches.latencies_ms):.0f}",
            "< 1,000 ms",
            max(batches.latencies_ms) < 1000,
        ),
    ]
    return Result(section, figures)
