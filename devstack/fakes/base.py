"""What every HTTP fake shares: a Flask app, a request log, fault injection, control endpoints.

Control endpoints (on every fake, for the demo driver and for tests over HTTP):

- ``POST /_fake/faults``   JSON with the fields of :meth:`FakeService.inject_fault`
- ``GET  /_fake/requests`` the request log (``?path_prefix=`` filters)
- ``POST /_fake/reset``    forget all state, faults and the log
- ``POST /_fake/seed``     service-specific JSON, see each fake's ``seed``
- ``GET  /_fake/state``    service-specific JSON snapshot

Control requests are neither logged nor subject to faults.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

CONTROL_PREFIX = "/_fake/"
MAX_LOG_ENTRIES = 10_000
_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})
_SECRET_FIELDS = frozenset(
    {"client_secret", "code_verifier", "refresh_token", "code", "token", "assertion"}
)

JSON = dict[str, Any]
ViewResult = (
    Response | WerkzeugResponse | tuple[Any, int] | tuple[Any, int, dict[str, str]] | JSON | str
)


class FakeHTTPError(Exception):
    """Raised inside a view: the service answers `status` with its own error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.details = details


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: float | None = None
    delay: float = 0.0
    path_prefix: str = ""
    method: str = ""
    body: JSON | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path_prefix)

    def as_json(self) -> JSON:
        return {
            "status": self.status,
            "count": self.remaining,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "path_prefix": self.path_prefix,
            "method": self.method,
            "body": self.body,
        }


def _format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class FakeService:
    """Base of every fake: subclasses add routes with :meth:`route` and override the hooks.

    Hooks: ``error_body(status, message, **details)`` (the real service's error JSON),
    ``_reset_state()``, ``_seed(data)``, ``_state()``.
    """

    name: ClassVar[str] = "fake"

    def __init__(self) -> None:
        self.app = Flask(f"fake-{self.name}")
        self.app.json.sort_keys = False  # type: ignore[attr-defined]
        self.lock = threading.RLock()
        self._log_lock = threading.Lock()
        self._log: list[JSON] = []
        self._faults: list[Fault] = []
        self._sequence = itertools.count(1)
        self.url: str = ""
        self.app.before_request(self._before)
        self.app.after_request(self._after)
        self.app.register_error_handler(FakeHTTPError, self._handle_fake_error)
        self.app.register_error_handler(HTTPException, self._handle_http_exception)
        self._add_control_routes()

    # ----------------------------------------------------------------- public Python API

    def inject_fault(
        self,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
        path_prefix: str = "",
        body: JSON | None = None,
        method: str = "",
    ) -> None:
        """The next `count` requests under `path_prefix` (and `method`, if given) fail.

        They answer `status` with the service's error JSON (or `body`), with a `Retry-After`
        header when `retry_after` is given, after sleeping `delay` seconds; nothing is done.
        ``status=0`` means: handle the request normally (state changes), then hold the answer
        back `delay` seconds, as when the server accepted it but the client timed out.
        """
        with self._log_lock:
            self._faults.append(Fault(status, count, retry_after, delay, path_prefix, method, body))

    def clear_faults(self) -> None:
        with self._log_lock:
            self._faults.clear()

    @property
    def requests(self) -> list[JSON]:
        """A copy of the request log, oldest first."""
        with self._log_lock:
            return [dict(entry) for entry in self._log]

    def requests_to(self, path_prefix: str, method: str = "") -> list[JSON]:
        return [
            r
            for r in self.requests
            if r["path"].startswith(path_prefix) and (not method or r["method"] == method.upper())
        ]

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget all state, faults and the request log."""
        with self._log_lock:
            self._log.clear()
            self._faults.clear()
        with self.lock:
            self._reset_state()

    def seed(self, data: JSON) -> None:
        with self.lock:
            self._seed(data)

    def state(self) -> JSON:
        with self.lock:
            return self._state()

    # ----------------------------------------------------------------- for subclasses

    def route(
        self, rule: str, methods: tuple[str, ...] = ("GET",), locked: bool = True
    ) -> Callable[[Callable[..., ViewResult]], Callable[..., ViewResult]]:
        """Register a view; it runs under the service lock unless `locked` is False.

        Injected faults and delays are applied outside the lock.
        """

        def decorator(view: Callable[..., ViewResult]) -> Callable[..., ViewResult]:
            @functools.wraps(view)
            def under_lock(**kwargs: Any) -> ViewResult:
                with self.lock:
                    return view(**kwargs)

            endpoint = f"{view.__name__}_{next(self._sequence)}"
            handler = under_lock if locked else view
            self.app.add_url_rule(rule, endpoint, handler, methods=list(methods))
            return view

        return decorator

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        return {"error": {"code": status, "message": message}}

    def default_error_message(self, status: int) -> str:
        return {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            429: "Too Many Requests",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }.get(status, "Error")

    def error_response(
        self, status: int, message: str = "", headers: dict[str, str] | None = None, **details: Any
    ) -> Response:
        response = jsonify(
            self.error_body(status, message or self.default_error_message(status), **details)
        )
        response.status_code = status
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def _reset_state(self) -> None:
        """Drop the service's state."""

    def _seed(self, data: JSON) -> None:
        raise FakeHTTPError(400, f"{self.name} fake takes no seed data")

    def _state(self) -> JSON:
        return {}

    # ----------------------------------------------------------------- internals

    def _before(self) -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            return None
        g.fake_entry = self._record()
        fault = self._take_fault(request.method, request.path)
        if fault is None:
            return None
        g.fake_entry["fault"] = fault.status or "delay"
        if fault.status == 0:
            g.fake_delay_after = fault.delay
            return None
        if fault.delay:
            time.sleep(fault.delay)
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = _format_retry_after(fault.retry_after)
        if fault.body is not None:
            response = jsonify(fault.body)
            response.status_code = fault.status
            response.headers.update(headers)
            return response
        return self.error_response(
            fault.status, headers=headers, injected=True, retry_after=fault.retry_after
        )

    def _after(self, response: Response) -> Response:
        entry = g.get("fake_entry")
        if entry is not None:
            entry["status"] = response.status_code
        delay = g.get("fake_delay_after")
        if delay:
            time.sleep(delay)
        return response

    def _record(self) -> JSON:
        query: JSON = {}
        for key in request.args:
            values = request.args.getlist(key)
            query[key] = values[0] if len(values) == 1 else values
        entry: JSON = {
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "query": query,
            "headers": {
                k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS
            },
            "status": None,
        }
        raw = request.get_data(cache=True)
        parsed = request.get_json(silent=True, cache=True) if raw else None
        if parsed is not None:
            entry["json"] = parsed
        elif request.form:
            entry["form"] = {
                k: (f"...{v[-4:]}" if k in _SECRET_FIELDS else v) for k, v in request.form.items()
            }
        else:
            entry["body_length"] = len(raw)
        with self._log_lock:
            self._log.append(entry)
            if len(self._log) > MAX_LOG_ENTRIES:
                del self._log[: len(self._log) - MAX_LOG_ENTRIES]
        return entry

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._log_lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle_fake_error(self, error: FakeHTTPError) -> Response:
        return self.error_response(error.status, error.message, error.headers, **error.details)

    def _handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        return self.error_response(status, error.description or self.default_error_message(status))

    def _add_control_routes(self) -> None:
        def faults() -> ViewResult:
            if request.method == "GET":
                with self._log_lock:
                    return jsonify([f.as_json() for f in self._faults])
            data = request.get_json(force=True) or {}
            if "status" not in data:
                raise FakeHTTPError(400, "status is required")
            self.inject_fault(
                status=int(data["status"]),
                count=int(data.get("count", 1)),
                retry_after=data.get("retry_after"),
                delay=float(data.get("delay", 0.0)),
                path_prefix=str(data.get("path_prefix", "")),
                body=data.get("body"),
                method=str(data.get("method", "")),
            )
            return jsonify({"ok": True}), 201

        def requests_log() -> ViewResult:
            prefix = request.args.get("path_prefix", "")
            return jsonify({"requests": self.requests_to(prefix) if prefix else self.requests})

        def reset() -> ViewResult:
            self.reset()
            return jsonify({"ok": True})

        def seed() -> ViewResult:
            self.seed(request.get_json(force=True) or {})
            return jsonify({"ok": True})

        def state() -> ViewResult:
            return jsonify(self.state())

        self.app.add_url_rule("/_fake/faults", "fake_faults", faults, methods=["GET", "POST"])
        self.app.add_url_rule("/_fake/requests", "fake_requests", requests_log)
        self.app.add_url_rule("/_fake/reset", "fake_reset", reset, methods=["POST"])
        self.app.add_url_rule("/_fake/seed", "fake_seed", seed, methods=["POST"])
        self.app.add_url_rule("/_fake/state", "fake_state", state)


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def bearer_token() -> str | None:
    """The bearer token of the current request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
