"""`make bench`: run every benchmark against one local stack and print one table."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from bench import webhook
from devstack.stack import ROOT, running_stack

BENCHES = (("webhook", webhook.run),)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    only = set(sys.argv[1:])
    sections = ["# sales-agent benchmarks", ""]
    with running_stack(project="bench-local", queue_min_backoff=1.0) as stack:
        for name, run in BENCHES:
            if only and name not in only:
                continue
            stack.reset()
            print(f"running {name}…", file=sys.stderr, flush=True)
            sections.append(run(stack))
    report = "\n".join(sections)
    print(report)
    out = Path(ROOT / "bench" / "RESULTS.md")
    out.write_text(report + "\n")
    print(f"(written to {out.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
