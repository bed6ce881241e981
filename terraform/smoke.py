"""Post-deploy smoke check: `make smoke URL=<operator URL>` (standard library only).

For each function it checks what a healthy deployment must show, prints one line per check
(PASS, FAIL or SKIP with the reason) and exits 1 when anything failed:

- the public functions (hubspot_webhook, operator) answer `GET /health` with their name;
- the private ones (gmail_push, draft, voice, send, maintenance) refuse a caller without a
  token (Cloud Run's IAM answers 403 before our code runs; with `--local`, where nothing stands
  in front of the functions, their own `/health` must answer instead);
- the webhook refuses an unsigned delivery, and accepts a signed one sent in dry-run mode
  (`X-Sales-Agent-Dry-Run: true`: verified and parsed, nothing written). Needs the HubSpot
  app's client secret in `HUBSPOT_CLIENT_SECRET` (else SKIP);
- the operator API refuses a caller without a token, and, with `SMOKE_TOKEN` (an ID token of an
  `OPERATOR_API_CALLERS` account for the operator URL, as the Google Cloud CLI's
  `auth print-identity-token --impersonate-service-account=SA --audiences=URL` prints it), serves
  the health report; each thing on it that needs a person is printed as a WARN line.

The other functions' URLs follow from the operator's (`https://<prefix>-operator-<project
number>.<region>.run.app`, Terraform's naming) unless `--urls` gives them as JSON.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FUNCTIONS = ("hubspot_webhook", "gmail_push", "draft", "voice", "send", "operator", "maintenance")
PUBLIC = frozenset({"hubspot_webhook", "operator"})
RUN_APP = re.compile(
    r"^https://(?P<prefix>[a-z0-9-]+)-operator-(?P<rest>\d+\.[a-z0-9-]+\.run\.app)/?$"
)
# One contact created, as HubSpot would send it; dry-run, so nothing is recorded.
PROBE = [
    {
        "eventId": 1,
        "subscriptionId": 1,
        "portalId": 1,
        "appId": 1,
        "occurredAt": 0,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": 1,
        "changeFlag": "CREATED",
        "changeSource": "CRM",
    }
]


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Report:
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, outcome: str, check: str, detail: str) -> None:
        self.lines.append((outcome, check, detail))

    @property
    def failed(self) -> list[str]:
        return [check for outcome, check, _ in self.lines if outcome == "FAIL"]

    def text(self) -> str:
        rows = [f"{outcome:<5} {check}: {detail}" for outcome, check, detail in self.lines]
        verdict = "FAILED: " + ", ".join(self.failed) if self.failed else "all checks passed"
        return "\n".join([*rows, verdict])


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> Answer:
    if not url.startswith(("https://", "http://")):
        return Answer(0, f"not an http(s) URL: {url}")
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (https or local)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        return Answer(0, f"unreachable: {getattr(exc, 'reason', exc)}")
    try:
        return Answer(status, json.loads(raw or b"null"))
    except ValueError:
        return Answer(status, raw[:200].decode("utf-8", "replace"))


def urls_from_operator(operator_url: str) -> dict[str, str]:
    match = RUN_APP.match(operator_url.strip())
    if not match:
        raise SystemExit(
            "URL is not a Terraform-named operator URL (https://<prefix>-operator-<number>."
            "<region>.run.app): give every function's URL with --urls '{\"draft\": ...}'"
        )
    return {
        name: f"https://{match['prefix']}-{name.replace('_', '-')}-{match['rest']}"
        for name in FUNCTIONS
    }


def sign_v3(secret: str, uri: str, body: bytes, stamp: int) -> str:
    message = b"POST" + uri.encode() + body + str(stamp).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def run(
    urls: dict[str, str],
    *,
    local: bool = False,
    hubspot_secret: str | None = None,
    webhook_public_url: str | None = None,
    token: str | None = None,
    send: Callable[..., Answer] = request,
) -> Report:
    report = Report()
    for name in FUNCTIONS:
        url = urls.get(name)
        if not url:
            report.add("FAIL", f"{name} health", "no URL for this function")
            continue
        answer = send("GET", url.rstrip("/") + "/health")
        if name in PUBLIC or local:
            named = isinstance(answer.body, dict) and answer.body.get("function") == name
            ok = answer.status == 200 and named
            report.add("PASS" if ok else "FAIL", f"{name} health", f"HTTP {answer.status}")
        else:
            ok = answer.status in (401, 403)
            detail = (
                f"refuses strangers (HTTP {answer.status})"
                if ok
                else f"HTTP {answer.status}: a private function must refuse callers without a token"
            )
            report.add("PASS" if ok else "FAIL", f"{name} refuses strangers", detail)
    _webhook(report, urls.get("hubspot_webhook"), hubspot_secret, webhook_public_url, send)
    _operator(report, urls.get("operator"), token, send)
    return report


def _webhook(
    report: Report,
    url: str | None,
    secret: str | None,
    public_url: str | None,
    send: Callable[..., Answer],
) -> None:
    if not url:
        return
    body = json.dumps([{**PROBE[0], "occurredAt": int(time.time() * 1000)}]).encode()
    unsigned = send("POST", url, body=body, headers={"Content-Type": "application/json"})
    ok = unsigned.status == 401
    report.add("PASS" if ok else "FAIL", "webhook refuses unsigned", f"HTTP {unsigned.status}")
    if not secret:
        report.add("SKIP", "webhook dry run", "set HUBSPOT_CLIENT_SECRET to send a signed probe")
        return
    stamp = int(time.time() * 1000)
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(secret, public_url or url, body, stamp),
        "X-HubSpot-Signature-Version": "v3",
        "X-HubSpot-Request-Timestamp": str(stamp),
        "X-Sales-Agent-Dry-Run": "true",
    }
    signed = send("POST", url, body=body, headers=headers)
    ok = signed.status == 200 and isinstance(signed.body, dict) and bool(signed.body.get("dry_run"))
    detail = (
        f"signature verified, {signed.body.get('received')} event parsed, nothing written"
        if ok
        else f"HTTP {signed.status}: {signed.body}"
    )
    report.add("PASS" if ok else "FAIL", "webhook dry run", detail)


def _operator(
    report: Report, url: str | None, token: str | None, send: Callable[..., Answer]
) -> None:
    if not url:
        return
    health_url = url.rstrip("/") + "/api/health"
    stranger = send("GET", health_url)
    ok = stranger.status == 401
    report.add(
        "PASS" if ok else "FAIL", "operator API refuses strangers", f"HTTP {stranger.status}"
    )
    if not token:
        report.add("SKIP", "health report", "set SMOKE_TOKEN to read /api/health")
        return
    answer = send("GET", health_url, headers={"Authorization": f"Bearer {token}"})
    if answer.status != 200 or not isinstance(answer.body, dict):
        report.add("FAIL", "health report", f"HTTP {answer.status}: {answer.body}")
        return
    attention = answer.body.get("attention") or []
    report.add("PASS", "health report", f"{len(attention)} thing(s) need a person")
    for item in attention:
        report.add("WARN", "health", str(item))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the operator function's URL (Terraform output)")
    parser.add_argument("--urls", help="JSON {function: URL} instead of deriving them")
    parser.add_argument("--local", action="store_true", help="no Cloud Run IAM in front")
    parser.add_argument("--webhook-public-url", help="the URL HubSpot signs (default: its URL)")
    args = parser.parse_args(argv)
    urls = json.loads(args.urls) if args.urls else urls_from_operator(args.url)
    urls.setdefault("operator", args.url)
    report = run(
        urls,
        local=args.local,
        hubspot_secret=os.environ.get("HUBSPOT_CLIENT_SECRET") or None,
        webhook_public_url=args.webhook_public_url,
        token=os.environ.get("SMOKE_TOKEN") or None,
    )
    print(report.text())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
