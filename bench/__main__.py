"""`make bench`: run every benchmark against one local stack and print one table."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import assets, campaigns, draft, gmail_intake, mail_parse, voice, webhook
from devstack.stack import ROOT, running_stack

# (name, run, needs the stack): the stack is started only when a selected bench needs it.
BENCHES: tuple[tuple[str, Callable[[Any], str], bool], ...] = (
    ("webhook", webhook.run, True),
    ("mail_parse", mail_parse.run, False),
    ("gmail_intake", gmail_intake.run, True),
    ("voice", voice.run, True),
    ("assets", assets.run, True),
    ("draft", draft.run, True),
    ("campaigns", campaigns.run, True),
)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    only = set(sys.argv[1:])
    unknown = only - {name for name, _, _ in BENCHES}
    if unknown:
        print(f"unknown bench: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    selected = [bench for bench in BENCHES if not only or bench[0] in only]
    sections = ["# sales-agent benchmarks", ""]
    needs_stack = any(uses_stack for _, _, uses_stack in selected)
    stack_context = (
        running_stack(project="bench-local", queue_min_backoff=1.0)
        if needs_stack
        else contextlib.nullcontext(None)
    )
    with stack_context as stack:
        for name, run, uses_stack in selected:
            if uses_stack and stack is not None:
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
