"""Cloud Function `send`.

Cloud Tasks target (`send-<workflow>-<version>-<hash>-<approval>`, scheduled after the undo
window): sends an approved draft exactly once, unless the kill switch, the mode, the quota or
the last re-check stops it (recorded on the workflow and in the audit log either way). Only
Cloud Tasks may call it.

Entry point only: parse the request, call `shared`, map the result to an HTTP answer.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import json
import re
from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import BadRequest
from shared.logs import workflow_scope
from shared.runtime import Runtime
from shared.services.send_wiring import SendWiring
from shared.web import entrypoint, read_body, verify_task_caller

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
WIRING = SendWiring(RUNTIME)
_AUDIENCE = SETTINGS.function_url_send
_HASH = re.compile(r"[0-9a-f]{64}")


@functions_framework.http
@entrypoint("send", SETTINGS)
def send(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    verify_task_caller(request, SETTINGS, RUNTIME.verifier, audience=_AUDIENCE)
    try:
        body = json.loads(read_body(request, 16 * 1024) or b"{}")
        if isinstance(body, dict) and body.get("gmail_id"):
            # The rep sent our draft from Gmail: record it like ours (from the Gmail intake).
            with workflow_scope(str(body["workflow_id"])):
                return WIRING.service.record_from_gmail(
                    str(body["workflow_id"]),
                    int(body["version"]),
                    str(body["gmail_id"]),
                    str(body["thread_id"]) if body.get("thread_id") else None,
                )
        workflow_id = str(body["workflow_id"])
        version = int(body["version"])
        approved_hash = str(body["hash"])
        seq = int(body["seq"])
    except (ValueError, KeyError, TypeError):
        raise BadRequest('body must be {"workflow_id", "version", "hash", "seq"}') from None
    if not _HASH.fullmatch(approved_hash) or version < 1 or seq < 1:
        raise BadRequest("hash, version or seq out of shape")
    with workflow_scope(workflow_id):
        return WIRING.service.run(workflow_id, version, approved_hash, seq)
