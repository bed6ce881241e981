"""`make dev` (python -m devstack.stack): the whole stack comes up, answers, and Ctrl-C
stops every process it started."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from devstack.stack import FUNCTIONS, ROOT

pytestmark = pytest.mark.stack


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True)
    children: dict[int, list[int]] = {}
    for line in out.stdout.splitlines():
        child, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_dev_stack_comes_up_and_goes_down_cleanly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.stack", "--project", "dev-test"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        lines = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Local stack is up" in line:
                break
        assert any("Local stack is up" in line for line in lines), "".join(lines)
        described = json.loads((ROOT / ".devstack/stack.json").read_text())
        for name in FUNCTIONS:
            health = requests.get(f"{described['functions'][name]}/health", timeout=5)
            assert health.json()["status"] == "ok"
        started = _descendants(process.pid)
        assert len(started) >= len(FUNCTIONS) + 2  # functions + two emulators (java)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    time.sleep(0.5)
    still_running = [pid for pid in started if psutil_alive(pid)]
    assert still_running == []
    assert process.returncode == 0


def psutil_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent reaps it).
    status = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return bool(status.stdout.strip()) and not status.stdout.strip().startswith("Z")
