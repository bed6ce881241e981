"""Fixtures the function tests share (a module's own fixture of the same name wins)."""

from __future__ import annotations

import pytest

from devstack import seed
from devstack.hubspot_webhooks import PUBLIC_URL
from devstack.stack import ROOT
from tests.conftest import serve_function
from tests.functions.gmail_support import SOURCE, Mail, queue_path, tasks_client
from tests.functions.team_support import Team


@pytest.fixture(scope="module")
def push_server(stack):
    """`gmail_push` served from this process: one instance per test module."""
    server = serve_function("gmail_push", SOURCE, stack.env())
    yield server
    server.stop()


@pytest.fixture
def mail(local, push_server):
    """The stack seeded like the demo, Maya's mailbox connected, draft and voice queues held
    so queued tasks stay visible instead of being dispatched."""
    seed.seed(local)
    for queue in ("draft", "voice"):
        tasks_client(local).pause_queue(name=queue_path(local, queue))
    return Mail(local, push_server)


@pytest.fixture(scope="module")
def team_servers(stack):
    env = {
        **stack.env(),
        "HUBSPOT_WEBHOOK_URL": PUBLIC_URL,
        "SECRET_CACHE_SECONDS": "0",
        "FLAGS_CACHE_SECONDS": "0",  # tests change flags between drafts
        "CAMPAIGN_WINDOW_SECONDS": "1",  # a campaign's "minute" lasts a second here
        "GUARDRAIL_BLOCKED_INDUSTRIES": "Gambling",
    }
    ports = stack.function_ports
    started = {
        name: serve_function(name, ROOT / f"functions/{name}/main.py", env, ports[name])
        for name in ("draft", "operator", "voice")
    }
    # A short Gmail timeout on the send step, so a send that times out is quick to test.
    send_env = {**env, "HTTP_TIMEOUT_SECONDS": "1.5"}
    started["send"] = serve_function(
        "send", ROOT / "functions/send/main.py", send_env, ports["send"]
    )
    started["webhook"] = serve_function(
        "hubspot_webhook", ROOT / "functions/hubspot_webhook/main.py", env
    )
    started["push"] = serve_function("gmail_push", ROOT / "functions/gmail_push/main.py", env)
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def team(local, team_servers):
    seed.seed(local)
    return Team(local, team_servers)


# --- the operator page: a signed-in HTTP client, and Debian's chromium through Playwright ----
@pytest.fixture
def browser(team):
    from tests.functions.test_operator_page import Browser, _cookie_jar_accepts_insecure

    b = Browser(team)
    answer = b.sign_in()
    assert answer.status_code == 303, answer.text
    _cookie_jar_accepts_insecure(b)
    return b


@pytest.fixture(scope="module")
def chromium():
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.functions.test_operator_browser import CHROMIUM, FLAGS

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make browser could not install it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(chromium, team):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


# --- what the functions log, as Cloud Logging would receive it -------------------------------
@pytest.fixture
def cloud_logs(stack):
    """Every log line the in-process functions write during the test, formatted by our JSON
    formatter at the moment it is written (so the trace and bound fields are the live ones),
    parsed back into dicts."""
    import json
    import logging

    from shared.logs import CloudJsonFormatter

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(level=logging.INFO)
    handler.setFormatter(CloudJsonFormatter(stack.project))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in list(lines)]
    finally:
        root.removeHandler(handler)


def events(logs, name: str) -> list[dict]:
    return [line for line in logs() if line.get("event") == name]
