"""Cloud Function `maintenance`.

Cloud Scheduler target: renews Gmail watches, polls silent mailboxes, reports lapsed
connections.

Entry point only: parse the request, call `shared`, map the result to an HTTP answer.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import BadRequest, NotImplementedYet
from shared.runtime import Runtime
from shared.web import entrypoint, verify_task_caller

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
_AUDIENCE = SETTINGS.function_url_maintenance


@functions_framework.http
@entrypoint("maintenance", SETTINGS)
def maintenance(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    verify_task_caller(request, SETTINGS, RUNTIME.verifier, audience=_AUDIENCE)
    raise NotImplementedYet("maintenance: this step lands with its own issue")
