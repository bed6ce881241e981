"""Cloud Function `gmail_push`.

Gmail's Pub/Sub push intake: verifies the push subscription's OIDC token (audience and service
account), reads which mailbox changed, syncs that mailbox from its stored history cursor and
routes each new message. Answers 2xx whenever redelivery could not help (an undecodable body,
a mailbox we do not know, a mailbox whose authorization was refused) and 503 when a fault
outside us may pass, so Pub/Sub retries. Imports neither the LLM nor the HubSpot client until
a message needs them.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.domain.gmail_history import MAX_PUSH_BYTES, UndecodablePush, decode_push
from shared.errors import BadRequest
from shared.logs import bound
from shared.runtime import Runtime
from shared.services.mail_wiring import GmailServices
from shared.web import entrypoint, read_body

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
SERVICES = GmailServices(RUNTIME)
log = logging.getLogger("sales_agent.gmail_push")


@functions_framework.http
@entrypoint("gmail_push", SETTINGS)
def gmail_push(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
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
        result = SERVICES.sync.sync(notice.email, trigger="push")
        if result.status == "unknown_mailbox":
            log.warning("push for a mailbox that is not connected; acknowledged")
        return result.as_json()
