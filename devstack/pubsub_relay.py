"""Delivers Pub/Sub push messages to a local function the way production does: signed.

The Pub/Sub emulator pushes without an OIDC token. Its push subscription points here instead;
the relay adds `Authorization: Bearer <ID token>` from the local issuer (audience and service
account as the real push subscription would set them), forwards the exact body, and answers
with the function's status, so the emulator's own retry-on-non-2xx behaviour is kept.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from devstack.issuer import LocalIssuer

log = logging.getLogger("devstack.relay")


@dataclass
class Route:
    target_url: str
    audience: str
    service_account: str


@dataclass
class PushRelay:
    issuer: LocalIssuer
    routes: dict[str, Route] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, name: str, target_url: str, audience: str, service_account: str) -> str:
        """Register `/push/<name>`; returns that path for the push subscription endpoint."""
        self.routes[name] = Route(target_url, audience, service_account)
        return f"/push/{name}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        name = request.path.removeprefix("/push/")
        route = self.routes.get(name)
        if request.method != "POST" or route is None:
            return Response("unknown route", status=404)(environ, start_response)
        token = self.issuer.sign(route.audience, route.service_account)
        try:
            answer = requests.post(
                route.target_url,
                data=request.get_data(),
                headers={
                    "Content-Type": request.headers.get("Content-Type", "application/json"),
                    "Authorization": f"Bearer {token}",
                },
                timeout=30,
            )
            status = answer.status_code
        except requests.RequestException as exc:
            log.warning("push to %s failed: %s", route.target_url, exc)
            status = 503
        with self._lock:
            self.deliveries.append({"route": name, "status": status})
        return Response(status=status)(environ, start_response)
