"""The operator API against its own OpenAPI document (schemathesis): whatever a caller sends,
the answer is never a 5xx, and every documented route exists."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from devstack import seed
from devstack.stack import OPERATOR_ACCOUNT, ROOT

pytestmark = pytest.mark.stack
SPEC = json.loads((ROOT / "functions/operator/openapi.json").read_text())
schema = schemathesis.openapi.from_dict(SPEC)


@pytest.fixture(scope="module")
def seeded(stack: Any, team_servers: dict[str, Any]) -> dict[str, str]:
    """One seeded stack for every generated case (a reset per case would take minutes)."""
    stack.reset()
    seed.seed(stack)
    url = team_servers["operator"].url
    token = stack.issuer.sign(stack.function_url("operator"), OPERATOR_ACCOUNT)
    return {"url": url, "token": token}


def test_the_document_is_served_and_names_every_api_route(seeded: dict[str, str]):
    import requests

    served = requests.get(f"{seeded['url']}/api/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == SPEC
    source = (ROOT / "functions/operator/main.py").read_text()
    for path in SPEC["paths"]:
        literal = path.split("{")[0].rstrip("/")
        assert literal in source, path


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_api_fail(case: Any, seeded: dict[str, str]) -> None:
    if case.path == "/api/connections/google/{email}/disconnect":
        case.path_parameters = {"email": "nobody@elsewhere.example"}  # keep Maya connected
    response = case.call(
        base_url=seeded["url"], headers={"Authorization": f"Bearer {seeded['token']}"}
    )
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
