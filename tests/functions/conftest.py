"""Fixtures the Gmail intake tests share (a module's own fixture of the same name wins)."""

from __future__ import annotations

import pytest

from devstack import seed
from tests.conftest import serve_function
from tests.functions.gmail_support import SOURCE, Mail, queue_path, tasks_client


@pytest.fixture(scope="module")
def push_server(stack):
    """`gmail_push` served from this process: one instance per test module."""
    server = serve_function("gmail_push", SOURCE, stack.env())
    yield server
    server.stop()


@pytest.fixture
def mail(local, push_server):
    """The stack seeded like the demo, Maya's mailbox connected, draft and voice queues held
    so queued tasks stay visible instead of being dispatched."""
    seed.seed(local)
    for queue in ("draft", "voice"):
        tasks_client(local).pause_queue(name=queue_path(local, queue))
    return Mail(local, push_server)
