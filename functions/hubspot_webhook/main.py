"""Cloud Function `hubspot_webhook`.

HubSpot's front door: verifies the signature on the raw body, records each event once, opens
one workflow per lead and enqueues its `draft` task. Answers within a second; every HubSpot
lookup happens later, in the draft task. A signed delivery with `X-Sales-Agent-Dry-Run: true`
(the post-deploy smoke check) is verified and parsed, and nothing is written. Imports nothing
of the LLM, PDF or Drive libraries.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import logging
import time
from functools import cache
from typing import Any

import flask
import functions_framework

from shared.adapters.secrets import MountedSecret
from shared.config import load_settings
from shared.domain.hubspot_events import (
    MAX_BODY_BYTES,
    MalformedBody,
    SignatureProblem,
    StartPolicy,
    check_signature,
    parse_webhook,
)
from shared.errors import BadRequest, ConfigError, NotFound, Unauthorized
from shared.runtime import Runtime
from shared.services.hubspot_intake import DraftTarget, HubSpotIntake
from shared.web import entrypoint, read_body

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
POLICY = StartPolicy(
    form_submissions=SETTINGS.hubspot_start_on_form,
    contact_creation=SETTINGS.hubspot_start_on_contact_creation,
    lifecycle_stages=frozenset(SETTINGS.hubspot_start_lifecycle_stages),
)
# The client secret as Cloud Run mounts it; the Secret Manager API only when it is not there.
SECRET_FILE = (
    MountedSecret(SETTINGS.hubspot_client_secret_file, SETTINGS.secret_cache_seconds)
    if SETTINGS.hubspot_client_secret_file
    else None
)
log = logging.getLogger("sales_agent.hubspot_webhook")
DRY_RUN_HEADER = "X-Sales-Agent-Dry-Run"


@cache
def _intake() -> HubSpotIntake:
    return HubSpotIntake(
        RUNTIME.store,
        RUNTIME.tasks,
        DraftTarget(SETTINGS.queue_draft, SETTINGS.function_url_draft),
    )


def _client_secret() -> str:
    if not SETTINGS.hubspot_webhook_url:
        raise ConfigError("HUBSPOT_WEBHOOK_URL is not configured")
    mounted = SECRET_FILE.read() if SECRET_FILE is not None else None
    if mounted:
        return mounted
    try:
        secret = RUNTIME.secrets.read(SETTINGS.hubspot_client_secret_id)
    except NotFound:
        raise ConfigError("the HubSpot client secret is not configured") from None
    if not secret:
        raise ConfigError("the HubSpot client secret is empty")
    return secret


_REREAD_EVERY = 30.0  # seconds: bad signatures must not turn into Secret Manager reads
_last_reread = [0.0]


def _may_reread_secret() -> bool:
    now = time.monotonic()
    if now - _last_reread[0] < _REREAD_EVERY:
        return False
    _last_reread[0] = now
    return True


def _signature_problem(request: flask.Request, body: bytes) -> SignatureProblem | None:
    return check_signature(
        secret=_client_secret(),
        method=request.method,
        uri=_public_uri(request),
        body=body,
        headers=dict(request.headers),
        now_ms=int(time.time() * 1000),
        max_age_ms=SETTINGS.hubspot_signature_max_age_seconds * 1000,
        max_future_ms=SETTINGS.hubspot_signature_future_skew_seconds * 1000,
        accept_legacy=SETTINGS.hubspot_accept_legacy_signatures,
    )


def _public_uri(request: flask.Request) -> str:
    query = request.query_string.decode("latin-1")
    return SETTINGS.hubspot_webhook_url + (f"?{query}" if query else "")


@functions_framework.http
@entrypoint("hubspot_webhook", SETTINGS)
def hubspot_webhook(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    body = read_body(request, MAX_BODY_BYTES)
    problem = _signature_problem(request, body)
    if problem is SignatureProblem.MISMATCH and _may_reread_secret():
        # The secret may have been rotated since this instance cached it: read it once more
        # rather than refuse HubSpot's deliveries (form webhooks are not retried) until the
        # cache expires.
        if SECRET_FILE is not None:
            SECRET_FILE.forget()
        RUNTIME.secrets.forget(SETTINGS.hubspot_client_secret_id)
        problem = _signature_problem(request, body)
    if problem is not None:
        raise Unauthorized(f"invalid signature: {problem.value}")
    try:
        batch = parse_webhook(body, POLICY)
    except MalformedBody as exc:
        raise BadRequest(str(exc)) from None
    if request.headers.get(DRY_RUN_HEADER, "").lower() == "true":
        # The smoke check's probe: signature and body are checked as for HubSpot's own
        # deliveries; nothing is recorded, opened or queued.
        return {
            "dry_run": True,
            "received": len(batch.signals) + len(batch.rejected),
            "rejected": len(batch.rejected),
            "would_start": sum(1 for s in batch.signals if s.trigger is not None),
        }
    for rejected in batch.rejected:
        log.warning(
            "event rejected",
            extra={"fields": {"index": rejected.index, "reason": rejected.reason}},
        )
    result = _intake().ingest(batch.signals)
    log.info(
        "webhook processed",
        extra={
            "fields": {
                "events": len(batch.signals),
                "rejected": len(batch.rejected),
                **result.outcomes,
            }
        },
    )
    return {
        "received": len(batch.signals) + len(batch.rejected),
        "rejected": len(batch.rejected),
        "outcomes": result.outcomes,
        "opened": result.opened,
    }
