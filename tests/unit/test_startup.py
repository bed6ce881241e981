"""A function instance's start (shared/startup.py), in a fresh interpreter: the garbage
collector waits from the function's import to its first real answer, and pydantic's plugin
discovery is off."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

FUNCTION = textwrap.dedent(
    """
    import gc, json, sys, time
    import shared.startup as startup
    startup.RESUME_AFTER_SECONDS = float(sys.argv[1])
    startup.begin_startup()
    import flask
    from shared.config import Environment, Settings
    from shared.web import entrypoint

    @entrypoint("probe", Settings(gcp_project="p", environment=Environment.LOCAL))
    def handler(request):
        return {"ok": True}

    app = flask.Flask("probe")
    app.add_url_rule("/<path:path>", "any", lambda path: handler(flask.request),
                     methods=["GET", "POST"])
    app.add_url_rule("/", "root", lambda: handler(flask.request), methods=["GET", "POST"])
    client = app.test_client()
    import os
    seen = {"imported": gc.isenabled(), "plugins": os.environ.get("PYDANTIC_DISABLE_PLUGINS")}
    client.get("/health")
    seen["after_health"] = gc.isenabled()
    if sys.argv[2] == "request":
        client.post("/")
        seen["after_request"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()
    else:
        time.sleep(float(sys.argv[1]) + 0.5)
        seen["after_timer"] = gc.isenabled()
    print(json.dumps(seen))
    """
)


def run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", FUNCTION, *args], cwd=ROOT, capture_output=True, text=True,
        check=True, timeout=60, env={"PATH": "", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_collector_resumes_after_the_first_real_request_not_a_health_check() -> None:
    seen = run("60", "request")
    assert seen["imported"] is False
    assert seen["plugins"] == "__all__"  # pydantic reads no package's entry points
    assert seen["after_health"] is False  # /health is not the start-up's end
    assert seen["after_request"] is True
    assert int(str(seen["frozen"])) > 10_000  # start-up's objects left out of collections


def test_the_collector_resumes_by_itself_when_no_request_comes() -> None:
    seen = run("2", "timer")
    assert seen["after_health"] is False
    assert seen["after_timer"] is True
