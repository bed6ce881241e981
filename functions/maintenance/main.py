"""Cloud Function `maintenance`.

Cloud Scheduler's target (hourly): renews each mailbox's Gmail watch once a day, polls any
mailbox whose pushes went quiet, and records lapsed or failing watches for the operator page.
Only the scheduler's service account (or Cloud Tasks') may call it.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import BadRequest
from shared.runtime import Runtime
from shared.services.mail_wiring import GmailServices
from shared.web import entrypoint

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
SERVICES = GmailServices(RUNTIME)
_AUDIENCE = SETTINGS.function_url_maintenance


@functions_framework.http
@entrypoint("maintenance", SETTINGS)
def maintenance(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    RUNTIME.verifier.verify(
        request.headers.get("Authorization"),
        audience=_AUDIENCE,
        allowed_emails=(SETTINGS.scheduler_invoker_email, SETTINGS.tasks_invoker_email),
    )
    return SERVICES.mailboxes.run_maintenance().as_json()
