"""Cloud Function `draft`.

Cloud Tasks target: gathers context, writes a grounded draft in the rep's voice, gates it and
puts it in Gmail.

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
_AUDIENCE = SETTINGS.function_url_draft


@functions_framework.http
@entrypoint("draft", SETTINGS)
def draft(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    verify_task_caller(request, SETTINGS, RUNTIME.verifier, audience=_AUDIENCE)
    raise NotImplementedYet("draft: this step lands with its own issue")
