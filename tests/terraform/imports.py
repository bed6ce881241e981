"""What a function's code can import, read from the source (every import statement, also the
ones inside functions, so lazily imported modules count)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.terraform.hcl import ROOT


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    candidate = ROOT.joinpath(*parts)
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


@cache
def closure(function: str) -> frozenset[str]:
    """Every module name `functions/<function>/main.py` can reach, ours and third-party."""
    seen: set[str] = set()
    reached: set[str] = set()
    pending = [ROOT / "functions" / function / "main.py"]
    while pending:
        path = pending.pop()
        if str(path) in seen:
            continue
        seen.add(str(path))
        for name in _imports(path):
            reached.add(name)
            if name.split(".")[0] == "shared":
                parts = name.split(".")
                for end in range(1, len(parts) + 1):  # a package's __init__ runs too
                    found = _module_file(".".join(parts[:end]))
                    if found is not None:
                        pending.append(found)
    return frozenset(reached)


def third_party(names: frozenset[str] | set[str]) -> set[str]:
    import sys

    tops = {name.split(".")[0] for name in names}
    return {
        top
        for top in tops
        if top not in sys.stdlib_module_names and top not in {"shared", "__future__"}
    }
