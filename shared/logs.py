"""Structured logs in Cloud Logging's shape: one JSON object a line on stdout.

Each line carries `severity`, `message`, the request's trace (from `X-Cloud-Trace-Context` or
`traceparent`) as `logging.googleapis.com/trace`, and the workflow id when one is bound. Inside
`workflow_scope(id)` the trace is the workflow's own (`workflow_trace`), and Cloud Tasks for a
workflow carry it as their trace header, so every line of one workflow shares id and trace.
Never log a token or a whole email body: pass ids and counts in `extra={"fields": {...}}`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
_span: contextvars.ContextVar[str | None] = contextvars.ContextVar("span", default=None)
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "fields", default=_NO_FIELDS
)

_CLOUD_TRACE = re.compile(r"^(?P<trace>[0-9a-fA-F]{32})(?:/(?P<span>\d+))?")
_TRACEPARENT = re.compile(
    r"^[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-[0-9a-f]{2}$"
)


class Headers(Protocol):
    """Anything with `get` like a dict or werkzeug's Headers."""

    def get(self, key: str, /) -> str | None: ...


_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def parse_trace_header(headers: Headers) -> tuple[str | None, str | None]:
    """(trace id, span id) from `X-Cloud-Trace-Context` or W3C `traceparent`, if well formed."""
    cloud = headers.get("X-Cloud-Trace-Context")
    if cloud and (match := _CLOUD_TRACE.match(cloud.strip())):
        return match["trace"].lower(), match["span"]
    parent = headers.get("traceparent")
    if parent and (match := _TRACEPARENT.match(parent.strip().lower())):
        return match["trace"], match["span"]
    return None, None


class CloudJsonFormatter(logging.Formatter):
    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        entry.update(_fields.get())
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            entry.update(extra)
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self.project}/traces/{trace}" if self.project else trace
            )
            span = _span.get()
            if span:
                entry["logging.googleapis.com/spanId"] = span
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


_configured = False


def configure_logging(project: str | None = None, level: str = "INFO") -> None:
    """Send every log record to stdout as one JSON line (idempotent)."""
    global _configured
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudJsonFormatter(project))
        handler.set_name("cloud-json")
        root.handlers = [h for h in root.handlers if h.get_name() != "cloud-json"]
        root.addHandler(handler)
        _configured = True
    else:
        for existing in root.handlers:
            if existing.get_name() == "cloud-json":
                existing.setFormatter(CloudJsonFormatter(project))
    root.setLevel(level.upper())


@contextmanager
def request_context(headers: Headers) -> Iterator[None]:
    """Bind the request's trace to every log line written while handling it."""
    trace, span = parse_trace_header(headers)
    tokens = (_trace.set(trace), _span.set(span), _fields.set(_NO_FIELDS))
    try:
        yield
    finally:
        _trace.reset(tokens[0])
        _span.reset(tokens[1])
        _fields.reset(tokens[2])


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields (e.g. `workflow_id`) to every log line written inside the block."""
    token = _fields.set({**_fields.get(), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def current_trace() -> str | None:
    return _trace.get()


def workflow_trace(workflow_id: str) -> str:
    """The trace id every step of one workflow shares (32 hex digits, derived from its id), so
    Logs Explorer shows a workflow's whole life, across functions and days, as one trace."""
    import hashlib

    return hashlib.sha256(f"workflow:{workflow_id}".encode()).hexdigest()[:32]


def trace_header(workflow_id: str) -> dict[str, str]:
    """The header a Cloud Task carries so its request joins the workflow's trace (Cloud Run
    logs the request under it, and `request_context` binds it to our lines)."""
    return {"X-Cloud-Trace-Context": f"{workflow_trace(workflow_id)}/1;o=1"}


@contextmanager
def workflow_scope(workflow_id: str | None) -> Iterator[None]:
    """Lines written inside carry `workflow_id` and the workflow's trace (the request's own
    trace stays as `request_trace`)."""
    if not workflow_id:
        yield
        return
    request_trace = _trace.get()
    extra: dict[str, Any] = {"workflow_id": workflow_id}
    if request_trace and request_trace != workflow_trace(workflow_id):
        extra["request_trace"] = request_trace
    tokens = (_trace.set(workflow_trace(workflow_id)), _fields.set({**_fields.get(), **extra}))
    try:
        yield
    finally:
        _trace.reset(tokens[0])
        _fields.reset(tokens[1])
