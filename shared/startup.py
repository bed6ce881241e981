"""A function instance's start: the garbage collector waits for the first answered request.

Starting an instance allocates hundreds of thousands of objects that live as long as it does
(modules, classes, the Google Cloud clients its first request imports), and the collector would
walk them over and over while they are made: about a seventh of the import time measured here
(`bench/coldstart.py`). So each function's `main.py` pauses the collector before its imports,
and `shared.web.entrypoint` resumes it once the first real request (not `/health`) is answered,
freezing what was made until then out of later collections (CPython's `gc.freeze`, made for
long-lived start-up state), so the collector never walks it again. A timer resumes it anyway
if no request comes.
"""

from __future__ import annotations

import gc
import threading

RESUME_AFTER_SECONDS = 60.0
_paused = threading.Event()


def pause_collector() -> None:
    if gc.isenabled():
        gc.disable()
        _paused.set()
        timer = threading.Timer(RESUME_AFTER_SECONDS, resume_collector)
        timer.daemon = True
        timer.start()


def resume_collector() -> None:
    if _paused.is_set():
        _paused.clear()
        gc.freeze()
        gc.enable()
