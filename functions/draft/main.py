"""Cloud Function `draft`.

Cloud Tasks target (`draft-<workflow>-<version>`, `nurture-<workflow>-<version>-<step>`
for a scheduled follow-up, and a campaign's `resolve` and `tick` steps): gathers the lead's
context, writes a reply in the owner's voice, runs the gate and puts the result in Gmail as a
draft in the thread, with a review task and note in HubSpot. Only Cloud Tasks may call it.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import json
from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import BadRequest
from shared.logs import workflow_scope
from shared.runtime import Runtime
from shared.services.draft_wiring import DraftWiring
from shared.web import entrypoint, read_body, verify_task_caller

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
WIRING = DraftWiring(RUNTIME)
_AUDIENCE = SETTINGS.function_url_draft


@functions_framework.http
@entrypoint("draft", SETTINGS)
def draft(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    verify_task_caller(request, SETTINGS, RUNTIME.verifier, audience=_AUDIENCE)
    try:
        body = json.loads(read_body(request, 16 * 1024) or b"{}")
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if isinstance(body, dict) and body.get("campaign") is not None:
        return _campaign_step(body)
    try:
        workflow_id = str(body["workflow_id"])
        version = int(body["version"])
        step = int(body["nurture_step"]) if body.get("nurture_step") is not None else None
    except (ValueError, KeyError, TypeError):
        raise BadRequest('body must be {"workflow_id", "version", "nurture_step"?}') from None
    if step is not None and step < 1:
        raise BadRequest("nurture_step counts from 1")
    with workflow_scope(workflow_id):
        if step is not None:
            return {"status": WIRING.service.run_nurture(workflow_id, version, step)}
        return {"status": WIRING.service.run(workflow_id, version)}


def _campaign_step(body: dict[str, Any]) -> Any:
    campaign_id, step = str(body["campaign"]), body.get("step")
    if step == "resolve":
        return {"status": WIRING.campaigns.resolve(campaign_id)}
    if step == "tick":
        try:
            seq = int(body["seq"])
        except (KeyError, TypeError, ValueError):
            raise BadRequest('a tick needs {"campaign", "step": "tick", "seq"}') from None
        return {"status": WIRING.campaigns.tick(campaign_id, seq)}
    raise BadRequest('step must be "resolve" or "tick"')
