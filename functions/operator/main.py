"""Cloud Function `operator`.

The operator page (dashboard, approval queue, workflows, flags, voice training, connections,
outcomes) lands with its own issue. Its JSON API comes first, for the actions the send step
needs; every caller is a verified Google identity named in OPERATOR_API_CALLERS (the page's
own sign-in and roles replace that list later), and every change records who made it:

    GET   /api/flags                          send mode, kill switch, auto-approve, quotas...
    PATCH /api/flags                          {"changes": {...}, "reason"}: audited per field
    GET   /api/audit?kind=&limit=             the audit log, newest first
    GET   /api/queue                          drafts waiting for a person
    GET   /api/workflows/<id>                 a workflow with its Gmail draft as it is now
    POST  /api/workflows/<id>/approve         {"content_hash"}: the version you reviewed
    POST  /api/workflows/<id>/cancel          stop a send within the undo window
    POST  /api/workflows/<id>/reject          {"reason"}
    POST  /api/workflows/<id>/edit            {"content_hash", "subject", "body", "approve"?}
    POST  /api/workflows/<id>/regenerate      {"instruction"}
    GET   /api/connections                    mailboxes, HubSpot, OpenAI: status, never a value
    PUT   /api/connections/openai             {"key"}; DELETE: back to the offline drafter
    PUT   /api/connections/hubspot            {"token"?, "webhook_secret"?}
    POST  /api/connections/google/start       {"login_hint"?}: Google's consent URL, and a
                                              binding cookie for this browser
    GET   /api/connections/google/callback    Google's redirect (state + cookie, no bearer)
    POST  /api/connections/google/<email>/disconnect   revoke, destroy the secret, stop watch

Entry point only: parse the request, call `shared`, map the result to an HTTP answer.
"""

from __future__ import annotations

import json
from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import BadRequest, NotFound
from shared.runtime import Runtime
from shared.services.operator_api import OperatorApi, plain
from shared.services.send_wiring import SendWiring
from shared.web import entrypoint, read_body

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
API = OperatorApi(SendWiring(RUNTIME))
_AUDIENCE = SETTINGS.function_url_operator
_BINDING_COOKIE = "sa_oauth_binding"  # HttpOnly, Secure, SameSite=Lax, 10 minutes
_BINDING_PATH = "/api/connections/google"


def _json_body(request: flask.Request) -> dict[str, Any]:
    try:
        body = json.loads(read_body(request, 64 * 1024) or b"{}")
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


@functions_framework.http
@entrypoint("operator", SETTINGS)
def operator(request: flask.Request) -> Any:
    path = "/" + request.path.strip("/")
    if not path.startswith("/api/"):
        raise NotFound("the operator page lands with its own issue; the API is under /api/")
    if path == "/api/connections/google/callback" and request.method == "GET":
        # Google sends the person's browser here: no bearer token, but the state (single use,
        # bound at start to the operator) and the browser's binding cookie must both match.
        result = API.google.callback(
            request.args.get("state"),
            request.args.get("code"),
            request.cookies.get(_BINDING_COOKIE),
            error=request.args.get("error"),
        )
        response = flask.make_response(flask.jsonify(result))
        response.delete_cookie(_BINDING_COOKIE, path=_BINDING_PATH)
        return response
    caller = RUNTIME.verifier.verify(
        request.headers.get("Authorization"),
        audience=_AUDIENCE,
        allowed_emails=SETTINGS.operator_api_callers,
    )
    who = caller.email
    method = request.method
    if path == "/api/flags" and method == "GET":
        return API.flags()
    if path == "/api/flags" and method == "PATCH":
        body = _json_body(request)
        changes = body.get("changes")
        if not isinstance(changes, dict) or not changes:
            raise BadRequest('body must be {"changes": {...}, "reason": "..."}')
        return API.change_flags(changes, who=who, reason=str(body.get("reason") or ""))
    if path == "/api/audit" and method == "GET":
        return API.audit(request.args.get("kind"), request.args.get("limit"))
    if path == "/api/queue" and method == "GET":
        return API.queue()
    if path == "/api/connections/google/start" and method == "POST":
        hint = _json_body(request).get("login_hint")
        url, binding = API.google.start(who, login_hint=str(hint) if hint else None)
        response = flask.make_response(flask.jsonify({"authorization_url": url}))
        response.set_cookie(
            _BINDING_COOKIE,
            binding,
            max_age=600,
            path=_BINDING_PATH,
            secure=True,
            httponly=True,
            samesite="Lax",
        )
        return response
    if (
        path.startswith("/api/connections/google/")
        and path.endswith("/disconnect")
        and method == "POST"
    ):
        email = path.removeprefix("/api/connections/google/").removesuffix("/disconnect")
        return API.google.disconnect(email, who)
    if path == "/api/connections" and method == "GET":
        return {"connections": plain(API.connections.overview())}
    if path == "/api/connections/openai" and method == "PUT":
        return API.connections.set_openai_key(_json_body(request).get("key"), who=who)
    if path == "/api/connections/openai" and method == "DELETE":
        return API.connections.remove_openai_key(who=who)
    if path == "/api/connections/hubspot" and method == "PUT":
        return API.connections.set_hubspot(_json_body(request), who=who)
    if path.startswith("/api/workflows/"):
        parts = path.removeprefix("/api/workflows/").split("/")
        workflow_id = parts[0]
        if len(parts) == 1 and method == "GET":
            return API.workflow(workflow_id)
        if len(parts) == 2 and method == "POST":
            return API.act(workflow_id, parts[1], _json_body(request), who=who)
    raise NotFound("no such route")
