"""What every function entry point does the same way: logging context, error mapping, health,
and verifying the OIDC token of Cloud Tasks calls."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.errors import AppError, PayloadTooLarge
from shared.logs import bound, configure_logging, request_context

if TYPE_CHECKING:
    import flask

    from shared.adapters.identity import Caller, OidcVerifier
    from shared.config import Settings

log = logging.getLogger("sales_agent.web")

Handler = Callable[["flask.Request"], Any]


def json_response(body: dict[str, Any], status: int = 200) -> tuple[dict[str, Any], int]:
    return body, status


def error_response(exc: AppError) -> tuple[dict[str, Any], int]:
    return {"error": exc.public_message}, exc.http_status


def entrypoint(function_name: str, settings: Settings) -> Callable[[Handler], Handler]:
    """Wrap a function's handler: JSON logs with the trace, `GET /health`, AppError → HTTP."""
    configure_logging(settings.gcp_project, settings.log_level)

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(request: flask.Request) -> Any:
            with request_context(request.headers), bound(function=function_name):
                if request.method == "GET" and request.path.rstrip("/") == "/health":
                    return json_response({"function": function_name, "status": "ok"})
                try:
                    return handler(request)
                except AppError as exc:
                    level = logging.ERROR if exc.http_status >= 500 else logging.WARNING
                    log.log(
                        level,
                        "request failed: %s",
                        exc.public_message,
                        extra={"fields": {"status": exc.http_status, "detail": exc.detail}},
                    )
                    return error_response(exc)
                except Exception:
                    log.exception("unexpected failure")
                    return json_response({"error": "internal error"}, 500)

        return wrapper

    return decorate


def verify_task_caller(
    request: flask.Request, settings: Settings, verifier: OidcVerifier, audience: str
) -> Caller:
    """Only Cloud Tasks (its invoker service account, for this function's URL) may call."""
    return verifier.verify(
        request.headers.get("Authorization"),
        audience=audience,
        allowed_emails=(settings.tasks_invoker_email,),
    )


def read_body(request: flask.Request, limit: int) -> bytes:
    """The raw body, refused with 413 before it is read whole when it exceeds `limit`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    return bytes(body)
