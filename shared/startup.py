"""A function instance's start, made shorter: each function's `main.py` calls `begin_startup()`
before its imports, and `shared.web.entrypoint` calls `end_startup()` once the first real
request (not `/health`) is answered.

- The garbage collector waits until then. Starting an instance allocates hundreds of thousands
  of objects that live as long as it does (modules, classes, the Google Cloud clients its first
  request imports), and the collector would walk them over and over while they are made:
  about a seventh of the import time measured here (`bench/coldstart.py`). At the end, what
  start-up made is frozen out of later collections (CPython's `gc.freeze`, made for long-lived
  start-up state) and the collector resumes; a timer resumes it anyway if no request comes.
- pydantic skips its plugin discovery (`PYDANTIC_DISABLE_PLUGINS`): we use no plugin, and the
  discovery reads every installed package's entry points when the first model is built, about
  20 ms of each start.
"""

from __future__ import annotations

import gc
import os
import threading

RESUME_AFTER_SECONDS = 60.0
_paused = threading.Event()


def begin_startup() -> None:
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if gc.isenabled():
        gc.disable()
        _paused.set()
        timer = threading.Timer(RESUME_AFTER_SECONDS, end_startup)
        timer.daemon = True
        timer.start()


def end_startup() -> None:
    if _paused.is_set():
        _paused.clear()
        gc.freeze()
        gc.enable()
