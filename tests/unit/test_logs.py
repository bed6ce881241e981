import json
import logging

import pytest

from shared.logs import CloudJsonFormatter, bound, parse_trace_header, request_context


def _render(record_fn) -> dict:
    formatter = CloudJsonFormatter(project="proj")
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.logs")
    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        record_fn(logger)
    finally:
        logger.removeHandler(handler)
    return json.loads(formatter.format(records[-1]))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"},
            ("105445aa7843bc8bf206b12000100000", "1"),
        ),
        (
            {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
        ),
        ({"X-Cloud-Trace-Context": "not-a-trace"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_trace_header_parsing(headers: dict, expected: tuple) -> None:
    assert parse_trace_header(headers) == expected


def test_line_carries_severity_trace_and_workflow() -> None:
    headers = {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/7;o=1"}
    with request_context(headers), bound(workflow_id="wf-1"):
        entry = _render(lambda log: log.warning("hello %s", "there", extra={"fields": {"n": 2}}))
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hello there"
    assert entry["logging.googleapis.com/trace"] == (
        "projects/proj/traces/105445aa7843bc8bf206b12000100000"
    )
    assert entry["logging.googleapis.com/spanId"] == "7"
    assert entry["workflow_id"] == "wf-1"
    assert entry["n"] == 2


def test_context_does_not_leak_after_request() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with request_context({"traceparent": parent}), bound(workflow_id="wf-2"):
        pass
    entry = _render(lambda log: log.info("later"))
    assert "logging.googleapis.com/trace" not in entry
    assert "workflow_id" not in entry


def test_exceptions_are_summarised() -> None:
    def boom(log: logging.Logger) -> None:
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")

    entry = _render(boom)
    assert entry["severity"] == "ERROR"
    assert entry["exception"] == "ValueError: bad"


def test_a_workflow_scope_gives_every_line_the_workflow_id_and_its_own_trace() -> None:
    from shared.logs import trace_header, workflow_scope, workflow_trace

    formatter = CloudJsonFormatter("demo-test")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    with request_context({"X-Cloud-Trace-Context": "a" * 32 + "/1"}):
        with workflow_scope("wf-1"):
            inside = json.loads(formatter.format(record))
        after = json.loads(formatter.format(record))
    trace = workflow_trace("wf-1")
    assert len(trace) == 32
    assert int(trace, 16) >= 0
    assert trace == workflow_trace("wf-1") != workflow_trace("wf-2")
    assert inside["workflow_id"] == "wf-1"
    assert inside["logging.googleapis.com/trace"] == f"projects/demo-test/traces/{trace}"
    assert inside["request_trace"] == "a" * 32
    assert "workflow_id" not in after
    assert after["logging.googleapis.com/trace"] == f"projects/demo-test/traces/{'a' * 32}"
    # A task for the workflow carries the trace, and the function reads it back as its own.
    assert parse_trace_header(trace_header("wf-1")) == (trace, "1")
    with workflow_scope(None):
        assert "workflow_id" not in json.loads(formatter.format(record))
