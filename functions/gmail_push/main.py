"""Cloud Function `gmail_push`.

Two doors:
- `POST /`: Gmail's Pub/Sub push. Verifies the push subscription's OIDC token (audience and
  service account), reads which mailbox changed and queues that mailbox's sync as a Cloud
  Task (named after the mailbox and historyId, so a redelivered push queues nothing new).
  Answers 2xx whenever redelivery could not help (an undecodable body) and 503 when the task
  cannot be queued yet, so Pub/Sub delivers the push again.
- `POST /sync`: that task, from Cloud Tasks (the tasks invoker's token for this function's
  URL). Syncs the mailbox from its stored history cursor and routes each new message; a fault
  outside us answers 503 and Cloud Tasks retries with backoff.

The push path loads only the Cloud Tasks client; the Gmail, Firestore and HubSpot clients are
loaded by the first sync, and the LLM only when a message needs it.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import json
import logging
from functools import cache
from typing import TYPE_CHECKING, Any

import flask
import functions_framework

from shared.config import load_settings
from shared.domain.addresses import normalize_email
from shared.domain.gmail_history import MAX_PUSH_BYTES, UndecodablePush, decode_push
from shared.errors import BadRequest
from shared.logs import bound
from shared.runtime import Runtime
from shared.services.mail_push import SYNC_PATH, SyncRequests, SyncTarget
from shared.web import entrypoint, read_body, verify_task_caller

if TYPE_CHECKING:
    from shared.services.mail_wiring import GmailServices

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
SYNCS = SyncRequests(
    RUNTIME.tasks, SyncTarget(SETTINGS.queue_gmail_sync, SETTINGS.function_url_gmail_push)
)
MAX_TASK_BYTES = 4 * 1024
log = logging.getLogger("sales_agent.gmail_push")


@cache
def _services() -> GmailServices:
    from shared.services.mail_wiring import GmailServices

    return GmailServices(RUNTIME)


@functions_framework.http
@entrypoint("gmail_push", SETTINGS)
def gmail_push(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    if request.path.rstrip("/") == SYNC_PATH:
        return _sync(request)
    return _push(request)


def _push(request: flask.Request) -> Any:
    RUNTIME.verifier.verify(
        request.headers.get("Authorization"),
        audience=SETTINGS.pubsub_push_audience,
        allowed_emails=(SETTINGS.pubsub_push_service_account,),
    )
    body = read_body(request, MAX_PUSH_BYTES)
    try:
        notice = decode_push(body)
    except UndecodablePush as exc:
        log.error("push acknowledged unread: %s", exc, extra={"fields": {"bytes": len(body)}})
        return {"status": "ignored", "reason": str(exc)}
    with bound(mailbox=notice.email, pubsub_message_id=notice.message_id):
        queued = SYNCS.request(notice)
        log.info(
            "mailbox sync queued",
            extra={"fields": {"history_id": notice.history_id, "created": queued.created}},
        )
        return {
            "status": "queued",
            "mailbox": notice.email,
            "history_id": notice.history_id,
            "task": queued.name,
            "created": queued.created,
        }


def _sync(request: flask.Request) -> Any:
    verify_task_caller(request, SETTINGS, RUNTIME.verifier, SETTINGS.function_url_gmail_push)
    try:
        task = json.loads(read_body(request, MAX_TASK_BYTES))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    mailbox = normalize_email(str(task.get("mailbox") or "")) if isinstance(task, dict) else None
    if mailbox is None:
        raise BadRequest("mailbox missing or invalid")
    with bound(mailbox=mailbox, history_id=task.get("history_id")):
        result = _services().sync.sync(mailbox, trigger="push")
        if result.status == "unknown_mailbox":
            log.warning("sync for a mailbox that is not connected; dropped")
        return result.as_json()
