"""`make bench`: run every benchmark against one local stack and print one summary table (each
figure beside its goal), then each bench's detailed section; the same is written to
`bench/RESULTS.md`. `python -m bench NAME...` runs only the named benches."""

from __future__ import annotations

import compileall
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    assets,
    campaigns,
    coldstart,
    draft,
    gmail_intake,
    lead,
    mail_parse,
    operator_page,
    voice,
    webhook,
)
from bench.common import Figure, Result, summary_table
from devstack.stack import ROOT, running_stack

# (name, run, needs the stack), in the summary's order: the stack is started only when a
# selected bench needs it.
BENCHES: tuple[tuple[str, Callable[[Any], Result], bool], ...] = (
    ("coldstart", coldstart.run, True),
    ("webhook", webhook.run, True),
    ("gmail_intake", gmail_intake.run, True),
    ("mail_parse", mail_parse.run, False),
    ("draft", draft.run, True),
    ("lead", lead.run, True),
    ("voice", voice.run, True),
    ("operator_page", operator_page.run, True),
    ("assets", assets.run, True),
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
    # Deployed zips carry our modules' bytecode (terraform/package_functions.py), so the
    # functions measured here load it too, as does the hello world; without it every process
    # would compile the modules edited since the last import (PYTHONDONTWRITEBYTECODE).
    for folder in ("shared", "functions", "bench/hello"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    figures: list[Figure] = []
    sections: list[str] = []
    needs_stack = any(uses_stack for _, _, uses_stack in selected)
    stack_context = (
        running_stack(project="bench-local", queue_min_backoff=1.0)
        if needs_stack
        else contextlib.nullcontext(None)
    )
    started = time.perf_counter()
    load = os.getloadavg()[0]
    with stack_context as stack:
        for name, run, uses_stack in selected:
            if uses_stack and stack is not None:
                stack.reset()
            print(f"running {name}…", file=sys.stderr, flush=True)
            began = time.perf_counter()
            result = run(stack)
            print(f"  {name}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
            figures.extend(result.figures)
            sections.append(result.section)
    header = [
        "# sales-agent benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average "
        f"{load:.1f} at the start), {time.perf_counter() - started:.0f} s; benches: "
        f"{', '.join(name for name, _, _ in selected)}. Everything (client, functions, "
        "emulators, fakes) shares these cores: figures vary from run to run.",
        "",
    ]
    report = "\n".join([*header, summary_table(figures), *sections])
    print(report)
    out = Path(ROOT / "bench" / "RESULTS.md")
    out.write_text(report + "\n")
    print(f"(written to {out.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
