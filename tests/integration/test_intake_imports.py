"""The intake functions stay light at run time: loaded as functions-framework loads them, in a
fresh interpreter, `hubspot_webhook` and `gmail_push` import none of the LLM, PDF, DOCX,
YouTube, Drive or model libraries, neither at start nor while answering a real first request.
(tests/terraform checks what the webhook's source *can* import; this checks what a process
actually loads, lazy imports included.)"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from devstack import seed
from devstack.hubspot_webhooks import PUBLIC_URL, body_of, form_submission, signed_headers
from devstack.stack import ROOT, TASKS_INVOKER
from shared.adapters.secrets import SecretStore
from tests.functions.gmail_support import DANA, REP, Mail, queue_path, tasks_client

INTAKE = ("hubspot_webhook", "gmail_push")
HEAVY = (
    "openai",
    "pypdf",
    "docx",
    "youtube_transcript_api",
    "numpy",
    "tokenizers",
    "safetensors",
    "fpdf",
    "reportlab",
    "shared.adapters.drive",
    "shared.adapters.youtube",
    "shared.adapters.embeddings",
    "shared.adapters.llm_draft",
    "shared.adapters.llm_voice",
    "googleapiclient.discovery",
)
# The Gmail client is built with googleapiclient.discovery: a push's sync task may load it,
# neither the start nor the push.
NEEDED_BY_A_REQUEST = {"gmail_push": {"googleapiclient.discovery"}}

PROBE = """
import base64, json, sys
import functions_framework
app = functions_framework.create_app(target=sys.argv[1], source=sys.argv[2])
heavy = json.loads(sys.argv[3])
result = {"start": [m for m in heavy if m in sys.modules]}
specs = json.loads(sys.stdin.read() or "null")
for spec in ([specs] if isinstance(specs, dict) else specs or []):
    answer = app.test_client().open(spec.get("path", "/"), method="POST",
                                    headers=spec["headers"], data=base64.b64decode(spec["body"]))
    result["status"] = answer.status_code
    result["answer"] = answer.get_json(silent=True)
    result["after"] = [m for m in heavy if m in sys.modules]
    result["loaded"] = [m for m in ("google.cloud.firestore", "google.cloud.secretmanager_v1")
                        if m in sys.modules]
    result.setdefault("steps", []).append({k: result[k] for k in ("status", "after", "loaded")})
print("@@probe@@" + json.dumps(result))
"""


def probe(name: str, env: dict[str, str], request: Any = None) -> Any:
    """What `name` has loaded at start and after answering `request` (or each of a list of
    requests, in one process: `steps`)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, name, str(ROOT / f"functions/{name}/main.py"),
         json.dumps(HEAVY)],
        input=json.dumps(request), env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("@@probe@@"))
    return json.loads(line.removeprefix("@@probe@@"))


@pytest.mark.parametrize("name", INTAKE)
def test_an_intake_function_starts_without_the_heavy_libraries(name: str) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "ENVIRONMENT": "local", "GCP_PROJECT": "demo-test"}
    assert probe(name, env)["start"] == []


@pytest.mark.stack
def test_the_webhooks_first_real_request_loads_none_of_them(local: Any) -> None:
    SecretStore(local.project, local.secrets.address).write(
        "hubspot-client-secret", seed.HUBSPOT_CLIENT_SECRET
    )
    body = body_of(form_submission(DANA.contact_id, DANA.email, conversion_id="imports-1"))
    headers = signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET, uri=PUBLIC_URL)
    env = {**os.environ, **local.env(), "HUBSPOT_WEBHOOK_URL": PUBLIC_URL}

    found = probe(
        "hubspot_webhook", env, {"headers": headers, "body": base64.b64encode(body).decode()}
    )

    assert found["status"] == 200, found
    assert len(found["answer"]["opened"]) == 1  # a workflow written, its draft task queued
    assert found["start"] == []
    assert found["after"] == []
    # The client secret came from the file Cloud Run mounts, not the Secret Manager API.
    assert found["loaded"] == ["google.cloud.firestore"]


@pytest.mark.stack
def test_a_push_loads_only_the_tasks_client_and_its_sync_only_the_gmail_client(
    local: Any,
) -> None:
    seed.seed(local)
    tasks_client(local).pause_queue(name=queue_path(local, "draft"))
    mail = Mail(local, server=None)  # (holds the sync queue: the probe delivers the task)
    mail.inbound(f"{DANA.first} {DANA.last} <{DANA.email}>", "Seats", "What would 20 seats cost?")
    history_id = mail.gmail.history_id(REP)
    push = {"Content-Type": "application/json", "Authorization": f"Bearer {mail.token()}"}
    task_token = local.issuer.sign(local.function_url("gmail_push"), TASKS_INVOKER)
    task_body = json.dumps({"history_id": history_id, "mailbox": REP}).encode()
    requests = [
        {"headers": push, "body": base64.b64encode(mail.envelope(history_id)).decode()},
        {"path": "/sync", "headers": {"Authorization": f"Bearer {task_token}"},
         "body": base64.b64encode(task_body).decode()},
    ]  # fmt: skip

    found = probe("gmail_push", {**os.environ, **local.env()}, requests)

    pushed, synced = found["steps"]
    assert pushed["status"] == synced["status"] == 200, found
    assert len(mail.sync_tasks()) == 1
    assert found["answer"]["routes"] == {"prospect_reply": 1}
    assert found["start"] == []
    assert pushed["after"] == []
    assert pushed["loaded"] == []  # the push needs Cloud Tasks only
    assert set(synced["after"]) <= NEEDED_BY_A_REQUEST["gmail_push"]
