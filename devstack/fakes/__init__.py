"""Stateful HTTP fakes of Google OAuth, Gmail, Drive, Calendar, HubSpot, OpenAI and YouTube for the
real client libraries.

Start them all (each on 127.0.0.1, in a thread) with :func:`start_fakes`; the Google fakes share
one :class:`GoogleAccounts` registry, so a token issued by the OAuth fake opens the Gmail, Drive and
Calendar fakes.
"""

from __future__ import annotations

import threading

from devstack.fakes.base import FakeHTTPError, FakeService
from devstack.fakes.calendar import FakeCalendar
from devstack.fakes.drive import FakeDrive
from devstack.fakes.gmail import FakeGmail, make_message
from devstack.fakes.google import DEFAULT_SCOPES, GoogleAccounts, google_error_body
from devstack.fakes.hubspot import DEFAULT_TOKEN, FakeHubSpot
from devstack.fakes.oauth import FakeGoogleOAuth
from devstack.fakes.openai import FakeOpenAI
from devstack.fakes.youtube import FakeYouTube
from devstack.serving import ThreadedServer

FAKE_NAMES = ("oauth", "gmail", "drive", "calendar", "hubspot", "openai", "youtube")

__all__ = [
    "DEFAULT_SCOPES",
    "DEFAULT_TOKEN",
    "FAKE_NAMES",
    "FakeCalendar",
    "FakeDrive",
    "FakeGmail",
    "FakeGoogleOAuth",
    "FakeHTTPError",
    "FakeHubSpot",
    "FakeOpenAI",
    "FakeService",
    "FakeYouTube",
    "GoogleAccounts",
    "google_error_body",
    "make_message",
    "start_fakes",
    "stop_fakes",
]


def build_fakes(accounts: GoogleAccounts | None = None) -> dict[str, FakeService]:
    """One of each fake, not yet serving; the Google ones share `accounts`."""
    shared = accounts if accounts is not None else GoogleAccounts()
    return {
        "oauth": FakeGoogleOAuth(shared),
        "gmail": FakeGmail(shared),
        "drive": FakeDrive(shared),
        "calendar": FakeCalendar(shared),
        "hubspot": FakeHubSpot(),
        "openai": FakeOpenAI(),
        "youtube": FakeYouTube(),
    }


def start_fakes(
    ports: dict[str, int] | None = None,
    accounts: GoogleAccounts | None = None,
) -> dict[str, tuple[FakeService, ThreadedServer]]:
    """Start every fake on 127.0.0.1 (port 0 or missing: a free port); sets each `fake.url`."""
    ports = ports or {}
    started: dict[str, tuple[FakeService, ThreadedServer]] = {}
    try:
        for name, fake in build_fakes(accounts).items():
            server = ThreadedServer(fake.app, port=ports.get(name, 0)).start()
            fake.url = server.url
            started[name] = (fake, server)
    except BaseException:
        stop_fakes(started)
        raise
    return started


def stop_fakes(started: dict[str, tuple[FakeService, ThreadedServer]]) -> None:
    """Stop the servers in parallel (each shutdown waits out werkzeug's 0.5 s poll)."""
    threads = [
        threading.Thread(target=server.stop, name=f"stop-{name}")
        for name, (_, server) in started.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
