"""Who may do what on the operator page and its API. Pure.

Three roles, each with everything of the one before it:

- viewer: reads every page and every read-only API answer (the audit log included), with
  secret names stripped;
- approver: also approves, edits, rejects, regenerates and cancels drafts (their own mailbox's
  only), approves a campaign's drafts in bulk, and trains their own voice;
- admin: everything else: flags and the kill switch, overrides, connections, campaigns, roles,
  privacy requests.

`ROUTES` is the one table the entry point checks before it dispatches anything: a route
nobody listed needs admin (fail closed). `PUBLIC_ROUTES` are answered without a sign-in
(signing in itself, static files, the API's own document, and Google's redirect back, which
carries its own proof). What depends on the data, not the route (whose mailbox a draft is in,
whose voice is trained), is decided by `may_act_for`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    VIEWER = "viewer"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.APPROVER: 1, Role.ADMIN: 2}
ROLES: tuple[Role, ...] = (Role.VIEWER, Role.APPROVER, Role.ADMIN)


def parse_role(value: Any) -> Role | None:
    try:
        return Role(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # `/queue/<id>/approve`: a `<name>` is one path segment
    role: Role

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(<\w+>)", pattern)
    body = "".join("[^/]+" if p.startswith("<") else re.escape(p) for p in parts)
    return re.compile(body)


V, A, ADMIN = Role.VIEWER, Role.APPROVER, Role.ADMIN
_DRAFT_ACTIONS = ("approve", "edit", "reject", "regenerate", "cancel")
_CAMPAIGN_STEPS = ("launch", "pause", "resume", "cancel")

# First match wins: a literal path goes before the pattern that would also match it.
ROUTES: tuple[Route, ...] = (
    # --- pages ---
    Route("GET", "/", V),
    Route("POST", "/logout", V),
    Route("GET", "/queue", V),
    Route("GET", "/queue/<id>", V),
    *(Route("POST", f"/queue/<id>/{action}", A) for action in _DRAFT_ACTIONS),
    Route("GET", "/workflows", V),
    Route("GET", "/workflows/<id>", V),
    Route("GET", "/outcomes", V),
    Route("GET", "/outcomes.csv", V),
    Route("GET", "/status", V),
    Route("GET", "/flags", V),
    Route("POST", "/flags", ADMIN),
    Route("POST", "/flags/overrides", ADMIN),
    Route("POST", "/flags/overrides/<id>/revoke", ADMIN),
    Route("GET", "/connections", V),
    Route("POST", "/connections/google", ADMIN),
    Route("POST", "/connections/hubspot", ADMIN),
    Route("POST", "/connections/openai", ADMIN),
    Route("GET", "/voice", V),
    Route("POST", "/voice/upload", A),
    Route("POST", "/voice/links", A),
    Route("POST", "/voice/hubspot", A),
    Route("POST", "/voice/retrain", A),
    Route("POST", "/voice/samples/<id>/delete", A),
    Route("GET", "/campaigns", V),
    Route("GET", "/campaigns/new", ADMIN),
    Route("POST", "/campaigns/new", ADMIN),
    Route("GET", "/campaigns/<id>", V),
    Route("POST", "/campaigns/<id>/approve", A),
    *(Route("POST", f"/campaigns/<id>/{step}", ADMIN) for step in _CAMPAIGN_STEPS),
    Route("GET", "/access", ADMIN),
    Route("POST", "/access", ADMIN),
    Route("POST", "/access/<email>/remove", ADMIN),
    Route("GET", "/privacy", ADMIN),
    Route("GET", "/privacy/export", ADMIN),
    Route("POST", "/privacy/forget", ADMIN),
    Route("POST", "/privacy/suppress", ADMIN),
    Route("POST", "/privacy/unsuppress", ADMIN),
    # --- the JSON API ---
    Route("GET", "/api/flags", V),
    Route("PATCH", "/api/flags", ADMIN),
    Route("POST", "/api/overrides", ADMIN),
    Route("DELETE", "/api/overrides/<id>", ADMIN),
    Route("GET", "/api/audit", V),
    Route("GET", "/api/queue", V),
    Route("GET", "/api/health", V),
    Route("GET", "/api/outcomes", V),
    Route("GET", "/api/outcomes.csv", V),
    Route("GET", "/api/workflows/<id>", V),
    *(Route("POST", f"/api/workflows/<id>/{action}", A) for action in _DRAFT_ACTIONS),
    Route("GET", "/api/connections", V),
    Route("PUT", "/api/connections/openai", ADMIN),
    Route("DELETE", "/api/connections/openai", ADMIN),
    Route("PUT", "/api/connections/hubspot", ADMIN),
    Route("POST", "/api/connections/google/start", ADMIN),
    Route("POST", "/api/connections/google/<email>/disconnect", ADMIN),
    Route("GET", "/api/campaigns", V),
    Route("POST", "/api/campaigns", ADMIN),
    Route("POST", "/api/campaigns/preview", ADMIN),
    Route("GET", "/api/campaigns/<id>", V),
    Route("POST", "/api/campaigns/<id>/approve", A),
    *(Route("POST", f"/api/campaigns/<id>/{step}", ADMIN) for step in _CAMPAIGN_STEPS),
    Route("GET", "/api/roles", ADMIN),
    Route("PUT", "/api/roles/<email>", ADMIN),
    Route("DELETE", "/api/roles/<email>", ADMIN),
    Route("GET", "/api/privacy/export", ADMIN),
    Route("POST", "/api/privacy/forget", ADMIN),
    Route("POST", "/api/suppressions", ADMIN),
    Route("POST", "/api/suppressions/lift", ADMIN),
)

PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login/dev"),
    ("GET", "/login/google"),
    ("GET", "/login/callback"),
    ("GET", "/ui/<name>"),
    ("GET", "/api/openapi.json"),
    # Google's redirect after "connect a mailbox": the flow's single-use state (made by an
    # admin's start) and this browser's binding cookie are its proof.
    ("GET", "/api/connections/google/callback"),
)
_PUBLIC = tuple((method, _compile(pattern)) for method, pattern in PUBLIC_ROUTES)
_COMPILED = tuple((route, route.regex) for route in ROUTES)


def _normal(path: str) -> str:
    return "/" + path.strip("/")


def is_public(method: str, path: str) -> bool:
    method, path = method.upper(), _normal(path)
    return any(m == method and regex.fullmatch(path) for m, regex in _PUBLIC)


def route_of(method: str, path: str) -> Route | None:
    method, path = method.upper(), _normal(path)
    for route, regex in _COMPILED:
        if route.method == method and regex.fullmatch(path):
            return route
    return None


def required_role(method: str, path: str) -> Role:
    """The least role that may call `method path`; admin for a route nobody listed."""
    route = route_of(method, path)
    return route.role if route else Role.ADMIN


def refusal(role: Role, method: str, path: str) -> str | None:
    """Why `role` may not call `method path`, or None when it may."""
    needed = required_role(method, path)
    if role.allows(needed):
        return None
    return f"this needs the {needed.value} role; you are a {role.value}"


def may_act_for(role: Role, who: str, owner: str | None) -> bool:
    """An approver acts on their own things only (their mailbox's drafts, their voice);
    an admin on anyone's. Something without an owner is an admin's."""
    if role is Role.ADMIN:
        return True
    return bool(owner) and str(owner).strip().lower() == who.strip().lower()


# --- what a non-admin never sees --------------------------------------------------------
HIDDEN = "(hidden)"
_SECRETISH_KEY = re.compile(r"secret|token", re.IGNORECASE)
TOKEN_SECRET_PREFIX = "gmail-refresh-"  # noqa: S105  (every mailbox token secret's name starts so)


def redact(value: Any, secret_names: Iterable[str]) -> Any:
    """`value` without what only an admin may see: a string under a key naming a secret or a
    token (a stored secret's name, a credential) is dropped, and a Secret Manager secret's
    name is replaced wherever it appears in a text (an error message may quote one). Whether
    a credential is stored (a boolean) and token counts (numbers) stay."""
    names = sorted({re.escape(n) for n in secret_names if n}, key=len, reverse=True)
    pattern = re.compile("|".join([rf"{re.escape(TOKEN_SECRET_PREFIX)}[A-Za-z0-9_-]*", *names]))
    return _redact(value, pattern)


def _redact(value: Any, names: re.Pattern[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _redact(item, names)
            for key, item in value.items()
            if not (_SECRETISH_KEY.search(str(key)) and isinstance(item, str | bytes))
        }
    if isinstance(value, list | tuple):
        return [_redact(item, names) for item in value]
    if isinstance(value, str):
        return names.sub(HIDDEN, value)
    return value
