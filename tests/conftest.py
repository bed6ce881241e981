"""Shared fixtures: the local stack once per session, a clean slate for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings, get_settings
from tests.query_shapes import QueryRecorder, load_inventory, write_inventory

ROOT = Path(__file__).resolve().parent.parent
_SETTING_VARS = {name.upper() for name in Settings.model_fields}
_OTHER_VARS = {
    "PUBSUB_EMULATOR_HOST",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "OPENAI_API_KEY",
}


_QUERIES = QueryRecorder()


def pytest_configure(config: pytest.Config) -> None:
    _QUERIES.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the code ran a Firestore query shape nobody listed (and indexed).

    `RECORD_FIRESTORE_QUERIES=1 make test` adds the new shapes to the list instead; then
    declare their indexes in terraform/firestore.tf (tests/terraform checks them).
    """
    _QUERIES.uninstall()
    known = load_inventory()
    new = _QUERIES.shapes - known
    if not new:
        return
    if os.environ.get("RECORD_FIRESTORE_QUERIES") == "1":
        write_inventory(known | _QUERIES.shapes)
        print(f"\nfirestore queries: {len(new)} new shape(s) recorded in the inventory")
        return
    print("\nFirestore query shapes the code ran that tests/terraform/firestore_queries.json")
    print("does not list (record them with RECORD_FIRESTORE_QUERIES=1, then index them):")
    for shape in sorted(new):
        print("  ", shape)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def isolated_env() -> Iterator[None]:
    """Each test starts from the session's environment minus every sales-agent setting."""
    saved = dict(os.environ)
    for name in _SETTING_VARS | _OTHER_VARS:
        if name not in {"FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"}:
            os.environ.pop(name, None)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """The local Google Cloud stack (emulators, Tasks, Secret Manager, fakes, issuer)."""
    from devstack.stack import DevStack

    dev = DevStack(project="demo-test", queue_min_backoff=0.2, queue_max_attempts=5)
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


@pytest.fixture
def local(stack: Any) -> Iterator[Any]:
    """The stack, reset to empty, with this process's environment pointing at it."""
    stack.reset()
    os.environ.update(stack.env())
    get_settings.cache_clear()
    return stack


def serve_function(name: str, source: Path, env: dict[str, str], port: int = 0) -> Any:
    """A function's app (functions-framework's own) served over HTTP from this process."""
    import functions_framework

    from devstack.serving import ThreadedServer

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = functions_framework.create_app(target=name, source=str(source))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return ThreadedServer(app, port).start()


@pytest.fixture(scope="session")
def echo_function(stack: Any) -> Iterator[Any]:
    server = serve_function("echo", ROOT / "tests/fixtures/functions/echo/main.py", stack.env())
    yield server
    server.stop()
