"""The role table: every route the operator function answers has a least role, a route nobody
listed needs admin, and a literal path wins over the pattern that would also match it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.domain.access import (
    HIDDEN,
    PUBLIC_ROUTES,
    ROUTES,
    Role,
    is_public,
    may_act_for,
    redact,
    refusal,
    required_role,
    route_of,
)

ROOT = Path(__file__).resolve().parents[2]
V, A, ADMIN = Role.VIEWER, Role.APPROVER, Role.ADMIN


def test_roles_are_ordered():
    assert V.allows(V)
    assert not V.allows(A)
    assert A.allows(V)
    assert not A.allows(ADMIN)
    assert ADMIN.allows(A)
    assert ADMIN.allows(V)


def _example(pattern: str) -> str:
    return re.sub(r"<\w+>", "x-1", pattern)


def test_every_route_resolves_to_its_own_entry():
    for route in ROUTES:
        assert route_of(route.method, _example(route.pattern)) == route, route


def test_no_route_is_listed_twice():
    keys = [(r.method, r.pattern) for r in ROUTES]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("DELETE", "/queue"),
        ("POST", "/queue/wf-1/delete"),  # not a draft action
        ("POST", "/api/workflows/wf-1/approve/now"),
        ("PUT", "/api/flags"),
        ("HEAD", "/"),
        ("GET", "/api/roles/x/y"),
    ],
)
def test_an_unknown_route_needs_admin(method: str, path: str):
    assert required_role(method, path) is ADMIN
    assert refusal(A, method, path) is not None


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/campaigns/new", ADMIN),  # not "one campaign called new"
        ("GET", "/campaigns/spring-push", V),
        ("POST", "/campaigns/spring-push/approve", A),
        ("POST", "/campaigns/spring-push/launch", ADMIN),
        ("POST", "/api/campaigns/preview", ADMIN),
        ("GET", "/api/campaigns/spring-push", V),
        ("POST", "/api/campaigns/spring-push/approve", A),
        ("POST", "/api/campaigns/spring-push/pause", ADMIN),
        ("GET", "/flags", V),
        ("POST", "/flags", ADMIN),
        ("POST", "/flags/overrides/ov-1/revoke", ADMIN),
        ("PATCH", "/api/flags", ADMIN),
        ("GET", "/api/flags", V),
        ("POST", "/queue/wf-1/approve", A),
        ("POST", "/api/workflows/wf-1/regenerate", A),
        ("GET", "/api/workflows/wf-1", V),
        ("POST", "/voice/samples/s-1/delete", A),
        ("GET", "/api/audit", V),
        ("PUT", "/api/roles/sam@brightline.example", ADMIN),
        ("GET", "/privacy/export", ADMIN),
        ("GET", "/queue/", V),  # a trailing slash is the same route
    ],
)
def test_least_roles(method: str, path: str, role: Role):
    assert required_role(method, path) is role


def test_public_routes_need_no_role_and_are_not_in_the_table():
    for method, pattern in PUBLIC_ROUTES:
        path = _example(pattern)
        assert is_public(method, path), pattern
        assert route_of(method, path) is None, pattern
    assert is_public("GET", "/ui/app.js")
    assert not is_public("GET", "/ui/a/b")
    assert not is_public("POST", "/api/connections/google/callback")
    assert not is_public("GET", "/")


def test_the_table_covers_every_path_the_entry_point_and_the_document_name():
    """A route added to main.py or openapi.json without a line in the table would need admin
    only by accident: name it in the table."""
    import json

    spec = json.loads((ROOT / "functions/operator/openapi.json").read_text())
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{\w+\}", "x-1", path)
        for method in operations:
            upper = method.upper()
            assert route_of(upper, concrete) or is_public(upper, concrete), (upper, path)
    source = (ROOT / "functions/operator/main.py").read_text()
    for literal in set(re.findall(r'path == "(/[^"]*)"', source)):
        assert any(
            route_of(m, literal) or is_public(m, literal)
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
        ), literal


def test_refusal_names_the_role_needed():
    assert refusal(V, "POST", "/flags") == "this needs the admin role; you are a viewer"
    assert refusal(ADMIN, "POST", "/flags") is None


def test_an_approver_acts_for_themselves_an_admin_for_anyone():
    assert may_act_for(A, "maya@x.example", "Maya@X.example ")
    assert not may_act_for(A, "maya@x.example", "sam@x.example")
    assert not may_act_for(A, "maya@x.example", None)
    assert not may_act_for(V, "maya@x.example", "")
    assert may_act_for(ADMIN, "lead@x.example", "sam@x.example")
    assert may_act_for(ADMIN, "lead@x.example", None)


def test_redact_drops_secret_names_and_values_keeps_flags_and_counts():
    names = ("hubspot-access-token", "openai-api-key")
    data = {
        "mailboxes": [
            {"email": "maya@x.example", "token_secret": "gmail-refresh-maya-x-example-1a2b3c"},
        ],
        "hubspot": {"token": True, "webhook_secret": False, "status": "connected"},
        "note": "stored in openai-api-key",
        "draft": {"usage": {"total_tokens": 512}, "subject": "Hi"},
        "access_token": "ya29.secret-value",
        "client_secret": b"raw",
        "error": "could not read gmail-refresh-sam-x-example-99",
    }

    shown = redact(data, names)

    text = repr(shown)
    assert "gmail-refresh" not in text
    assert "openai-api-key" not in text
    assert "ya29" not in text
    assert "raw" not in text
    assert shown["mailboxes"] == [{"email": "maya@x.example"}]
    assert shown["hubspot"] == {"token": True, "webhook_secret": False, "status": "connected"}
    assert shown["note"] == f"stored in {HIDDEN}"
    assert shown["error"] == f"could not read {HIDDEN}"
    assert shown["draft"] == {"usage": {"total_tokens": 512}, "subject": "Hi"}
    assert data["mailboxes"][0]["token_secret"].startswith("gmail-refresh-")  # not mutated
