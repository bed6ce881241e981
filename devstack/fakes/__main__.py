"""Run every fake until interrupted: ``python -m devstack.fakes --oauth 9101 --gmail 9102 ...``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading

from devstack.fakes import FAKE_NAMES, start_fakes, stop_fakes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in FAKE_NAMES:
        parser.add_argument(f"--{name}", type=int, default=0, help=f"port of the {name} fake")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--pubsub-emulator-host",
        default=os.environ.get("PUBSUB_EMULATOR_HOST"),
        help="where Gmail watch notifications are published (default: $PUBSUB_EMULATOR_HOST)",
    )
    args = parser.parse_args()
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = start_fakes({name: getattr(args, name) for name in FAKE_NAMES})
    if args.pubsub_emulator_host:
        started["gmail"][0].seed({"pubsub_emulator_host": args.pubsub_emulator_host})
    print(json.dumps({name: server.url for name, (_, server) in started.items()}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop_fakes(started)


if __name__ == "__main__":
    main()
