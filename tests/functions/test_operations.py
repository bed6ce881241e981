"""Operations on the running system: one workflow's log lines share its id and trace across
functions; the send path logs what the alerts count; the health report tells a person what
needs them."""

from __future__ import annotations

import pytest
import requests

from shared.logs import workflow_trace
from tests.functions.conftest import events
from tests.functions.team_support import REP, Team

pytestmark = pytest.mark.stack


def test_every_log_line_of_a_workflow_shares_its_id_and_trace(team: Team, cloud_logs):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    team.send_settled(workflow_id)

    lines = [line for line in cloud_logs() if line.get("workflow_id") == workflow_id]
    trace = f"projects/{team.stack.project}/traces/{workflow_trace(workflow_id)}"

    assert {line.get("function") for line in lines} >= {"hubspot_webhook", "draft", "send"}
    assert {line.get("logging.googleapis.com/trace") for line in lines} == {trace}
    assert workflow_trace("wf-other") != workflow_trace(workflow_id)


def test_held_and_deferred_sends_are_logged_for_the_alerts(team: Team, cloud_logs):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0, kill_switch=True)
    held = team.lead()
    team.drafted(held)
    team.approve(held)

    assert team.send_settled(held)["send"]["status"] == "suppressed"
    (line,) = events(cloud_logs, "send_suppressed_kill_switch")
    assert line["workflow_id"] == held
    assert events(cloud_logs, "send_deferred_quota") == []


# --- the health report ---------------------------------------------------------------------
def test_the_health_report_says_what_needs_a_person(team: Team, browser):
    from datetime import UTC, datetime, timedelta

    from shared.adapters.secrets import SecretStore
    from shared.adapters.tasks import TaskQueue
    from shared.config import get_settings

    calm = team.api("GET", "/api/health")
    assert calm.status_code == 200, calm.text
    assert calm.json()["attention"] == []
    assert calm.json()["mailboxes"][0]["status"] == "connected"
    # A lapsed watch, an overdue task, a day over the LLM budget, a failing function:
    now = datetime.now(UTC)
    team.db.collection("mailboxes").document(REP).update(
        {"watch.expires_at": now - timedelta(hours=2)}
    )
    queue = TaskQueue.from_settings(get_settings())
    queue.client.pause_queue(name=queue.queue_path("voice"))
    queue.enqueue(
        "voice", "late-one", "http://127.0.0.1:9/x", {}, schedule_at=now - timedelta(hours=1)
    )
    team.db.collection("llm_spend").document(now.date().isoformat()).set({"cost_usd": 500.0})
    SecretStore(team.stack.project, team.stack.secrets.address).destroy("hubspot-client-secret")
    failed = requests.post(team.servers["webhook"].url + "/", data=b"[]", timeout=10)
    assert failed.status_code == 500

    report = team.api("GET", "/api/health").json()

    attention = "\n".join(report["attention"])
    assert f"mailbox {REP}: Gmail watch lapsed" in attention
    assert "1 task(s) overdue" in attention
    assert "LLM spend today 500.00 USD" in attention
    assert "hubspot_webhook: failed" in attention
    assert "client secret is not configured" in attention
    assert report["queues"]["voice"]["overdue"] == 1
    assert set(report["queues"]) == {"draft", "send", "voice", "campaign", "gmail_sync"}
    page = browser.get("/status")
    assert page.status_code == 200
    assert "Gmail watch lapsed" in page.text
    assert "client secret is not configured" in page.text


# --- the smoke check -------------------------------------------------------------------------
def _smoke_module():
    import importlib.util
    import sys

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("smoke", ROOT / "terraform" / "smoke.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["smoke"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def maintenance_server(stack):
    from tests.conftest import ROOT, serve_function

    server = serve_function("maintenance", ROOT / "functions/maintenance/main.py", stack.env())
    yield server
    server.stop()


def _local_urls(team: Team, maintenance) -> dict[str, str]:
    servers = team.servers
    return {
        "hubspot_webhook": servers["webhook"].url,
        "gmail_push": servers["push"].url,
        "draft": servers["draft"].url,
        "voice": servers["voice"].url,
        "send": servers["send"].url,
        "operator": servers["operator"].url,
        "maintenance": maintenance.url,
    }


def test_the_smoke_check_passes_on_a_healthy_stack_and_names_what_fails(team, maintenance_server):
    from devstack import seed
    from devstack.hubspot_webhooks import PUBLIC_URL

    smoke = _smoke_module()
    urls = _local_urls(team, maintenance_server)
    token = team.token  # an OPERATOR_API_CALLERS account's ID token for the operator

    healthy = smoke.run(
        urls,
        local=True,
        hubspot_secret=seed.HUBSPOT_CLIENT_SECRET,
        webhook_public_url=PUBLIC_URL,
        token=token,
    )

    assert healthy.failed == [], healthy.text()
    outcomes = {check: outcome for outcome, check, _ in healthy.lines}
    assert outcomes["webhook dry run"] == "PASS"
    assert outcomes["health report"] == "PASS"
    assert team.workflow("anything") == {}  # the dry run wrote nothing
    assert list(team.db.collection("hubspot_events").limit(1).stream()) == []

    # Without Cloud Run's IAM in front, a private function answers anyone: in production
    # that is a misconfiguration the check must name. A wrong secret fails the dry run.
    exposed = smoke.run(
        urls, hubspot_secret="not-the-secret", webhook_public_url=PUBLIC_URL, token=token
    )
    assert "draft refuses strangers" in exposed.failed
    assert "webhook dry run" in exposed.failed
    assert "operator health" not in exposed.failed
    assert exposed.text().splitlines()[-1].startswith("FAILED: ")
    skipped = smoke.run(urls, local=True)
    assert {c for o, c, _ in skipped.lines if o == "SKIP"} == {"webhook dry run", "health report"}


def test_the_smoke_check_derives_every_url_from_the_operators():
    smoke = _smoke_module()
    urls = smoke.urls_from_operator("https://sa-operator-123456789.europe-west1.run.app")
    assert urls["hubspot_webhook"] == "https://sa-hubspot-webhook-123456789.europe-west1.run.app"
    assert urls["maintenance"] == "https://sa-maintenance-123456789.europe-west1.run.app"
    with pytest.raises(SystemExit):
        smoke.urls_from_operator("https://example.com/operator")
