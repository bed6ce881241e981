"""Every function over HTTP through functions-framework: health, JSON errors, task auth."""

import pytest
import requests

from devstack.issuer import LocalIssuer
from devstack.serving import free_port
from devstack.stack import FUNCTIONS, ROOT, TASKS_INVOKER
from tests.conftest import serve_function

pytestmark = pytest.mark.stack
TASK_TARGETS = ("draft", "voice", "send", "maintenance")


@pytest.fixture(scope="module")
def servers(stack):
    env = stack.env()
    ports = {name: free_port() for name in FUNCTIONS}
    for name, port in ports.items():
        env[f"FUNCTION_URL_{name.upper()}"] = f"http://127.0.0.1:{port}"
    started = {}
    for name in FUNCTIONS:
        source = ROOT / "functions" / name / "main.py"
        started[name] = serve_function(name, source, env, ports[name])
    yield started
    for server in started.values():
        server.stop()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_answers_health(servers, name):
    answer = requests.get(f"{servers[name].url}/health", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"function": name, "status": "ok"}


def test_a_function_refuses_to_start_without_its_settings(stack):
    from shared.errors import ConfigError

    env = stack.env()
    del env["GCP_PROJECT"]
    with pytest.raises(ConfigError, match="GCP_PROJECT"):
        serve_function("draft", ROOT / "functions/draft/main.py", env)


@pytest.mark.parametrize("name", TASK_TARGETS)
def test_task_targets_refuse_callers_without_a_valid_token(stack, servers, name):
    url = servers[name].url
    audience = url
    forged = LocalIssuer().sign(audience, TASKS_INVOKER)
    wrong_audience = stack.issuer.sign("https://elsewhere", TASKS_INVOKER)
    wrong_caller = stack.issuer.sign(audience, "someone@example.com")
    expired = stack.issuer.sign(audience, TASKS_INVOKER, issued_at=1_000_000, lifetime=60)
    for header in (
        None,
        "Bearer not-a-jwt",
        f"Bearer {forged}",
        f"Bearer {wrong_audience}",
        f"Bearer {wrong_caller}",
        f"Bearer {expired}",
    ):
        headers = {"Authorization": header} if header else {}
        answer = requests.post(url, json={}, headers=headers, timeout=5)
        assert answer.status_code == 401, header
        assert "error" in answer.json()


@pytest.mark.parametrize("name", [n for n in TASK_TARGETS if n in ("draft", "send")])
def test_task_targets_accept_cloud_tasks_token(stack, servers, name):
    token = stack.issuer.sign(servers[name].url, TASKS_INVOKER)
    answer = requests.post(
        servers[name].url, json={}, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    # Authenticated, then refused for its empty body: a 4xx that Cloud Tasks does not retry.
    assert answer.status_code == 400
    assert "body must be" in answer.json()["error"]
