"""What every function entry point does the same way: logging context, error mapping, health,
and verifying the OIDC token of Cloud Tasks calls."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.errors import AppError, PayloadTooLarge
from shared.logs import bound, configure_logging, request_context
from shared.startup import end_startup

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
    errors = LastError(function_name, settings)

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
                    if exc.http_status >= 500:
                        errors.remember(exc.public_message, exc.http_status)
                    return error_response(exc)
                except Exception as exc:
                    log.exception("unexpected failure")
                    errors.remember(f"unexpected {type(exc).__name__}", 500)
                    return json_response({"error": "internal error"}, 500)
                finally:
                    end_startup()  # (shared/startup.py)

        return wrapper

    return decorate


class LastError:
    """The function's last failure (a 5xx) in `health/{function}`, for the health report: what
    went wrong and when, never a secret (the public message only). At most one write per
    instance every 10 seconds, so an error storm cannot turn into a write storm; a failure to
    record is only logged."""

    INTERVAL = 10.0

    def __init__(self, function_name: str, settings: Settings) -> None:
        self.function_name = function_name
        self.settings = settings
        self._last = 0.0
        self._store: Any = None

    def remember(self, message: str, status: int) -> None:
        import time
        from datetime import UTC, datetime

        if time.monotonic() - self._last < self.INTERVAL:
            return
        self._last = time.monotonic()
        try:
            if self._store is None:
                from shared.adapters.store import Store

                self._store = Store.from_settings(self.settings)
            self._store.db.collection("health").document(self.function_name).set(
                {
                    "function": self.function_name,
                    "last_error": {"at": datetime.now(UTC), "message": message, "status": status},
                },
                merge=True,
            )
        except Exception as exc:  # the answer to the caller matters more than the record
            log.warning("last error not recorded: %s", type(exc).__name__)


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
