"""Cloud Function `operator`.

The operator page: dashboard, approval queue, workflows, flags, voice training, connections,
outcomes.

Entry point only: parse the request, call `shared`, map the result to an HTTP answer.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import NotImplementedYet
from shared.runtime import Runtime
from shared.web import entrypoint

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)


@functions_framework.http
@entrypoint("operator", SETTINGS)
def operator(request: flask.Request) -> Any:
    raise NotImplementedYet("operator: this step lands with its own issue")
