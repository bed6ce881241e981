"""Run a WSGI app (a fake, or a function's Flask app) on 127.0.0.1 in a background thread."""

from __future__ import annotations

import random
import socket
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

LOCALHOST = "127.0.0.1"


_handed_out: set[int] = set()
_handed_lock = threading.Lock()


# Below the kernel's ephemeral range (32768-60999 by default), so that an outgoing
# connection can never take a port between our probe and the server's bind.
_PORT_RANGE = (20_000, 32_000)


def _in_use(port: int) -> bool:
    """True if anything listens on the port (IPv4 or an IPv6-mapped Java socket) or it
    cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex((LOCALHOST, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """An unused TCP port on 127.0.0.1, never the same one twice in this process."""
    for _ in range(500):
        port = random.randrange(*_PORT_RANGE)
        with _handed_lock:
            if port in _handed_out:
                continue
        if _in_use(port):
            continue
        with _handed_lock:
            _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


class ThreadedServer:
    """A threaded werkzeug server for one WSGI app; `url` is where it answers."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._server: BaseWSGIServer = self._bind(app, port)
        self.port: int = self._server.server_port
        self.url = f"http://{LOCALHOST}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"wsgi-{self.port}", daemon=True
        )

    @staticmethod
    def _bind(app: Any, port: int) -> BaseWSGIServer:
        """Bind the given port, or (port 0) a free one, trying another if one was taken."""
        attempts = 1 if port else 5
        for attempt in range(attempts):
            try:
                return make_server(LOCALHOST, port or free_port(), app, threaded=True)
            except (OSError, SystemExit):
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def start(self) -> ThreadedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
