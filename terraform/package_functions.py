#!/usr/bin/env python3
"""Build one function's source zip, deterministically, named by the hash of what it holds.

Terraform runs this through its `external` data source (JSON on stdin, JSON on stdout) for
each function, so `terraform plan` knows every object name before anything is uploaded: a code
change gives a new name and redeploys that function; an unchanged function keeps its name and
is left alone. Standard library only (it runs with whatever `python3` deploys).

A zip holds, at its root: the function's folder (`main.py`, templates, static files),
the root `requirements.txt` (one pinned set for every function), the `shared/` package and,
for the functions that embed text offline, `models/all-MiniLM-L6-v2/`. Entries are sorted,
dated 1980-01-01, mode 0644, and `__pycache__`, `*.pyc` and dotfiles are left out.

Run by hand: `python3 terraform/package_functions.py draft [--with-model]` prints the same JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path("models") / "all-MiniLM-L6-v2"
EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
MODEL_FILES_SKIPPED = {"README.md"}


class PackagingError(Exception):
    pass


def _wanted(relative: Path) -> bool:
    """Not bytecode, not a cache, not a dotfile (judged on the path inside the zip)."""
    return (
        "__pycache__" not in relative.parts
        and relative.suffix not in {".pyc", ".pyo"}
        and not any(part.startswith(".") for part in relative.parts)
    )


def entries(function: str, *, with_model: bool, root: Path = ROOT) -> list[tuple[str, Path]]:
    """(name in the zip, file on disk), sorted by name."""
    folder = root / "functions" / function
    if not (folder / "main.py").is_file():
        raise PackagingError(f"functions/{function}/main.py does not exist")
    found: dict[str, Path] = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if _wanted(relative) and path.is_file():
            found[relative.as_posix()] = path
    found["requirements.txt"] = root / "requirements.txt"
    for path in (root / "shared").rglob("*"):
        relative = path.relative_to(root)
        if _wanted(relative) and path.is_file():
            found[relative.as_posix()] = path
    if with_model:
        model = root / MODEL
        files = [
            p
            for p in model.rglob("*")
            if p.is_file() and _wanted(p.relative_to(root)) and p.name not in MODEL_FILES_SKIPPED
        ]
        if not any(p.name == "model.safetensors" for p in files):
            raise PackagingError(f"{MODEL} is missing: run `make model` first")
        for path in files:
            found[path.relative_to(root).as_posix()] = path
    return sorted(found.items())


def content_hash(items: list[tuple[str, Path]]) -> str:
    """Hash of names and bytes (not of zip bytes, which a zlib upgrade could change)."""
    digest = hashlib.sha256()
    for name, path in items:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_zip(items: list[tuple[str, Path]], target: Path) -> None:
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in items:
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = FILE_MODE
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(target)


def package(function: str, *, with_model: bool, out_dir: Path, root: Path = ROOT) -> dict[str, str]:
    items = entries(function, with_model=with_model, root=root)
    digest = content_hash(items)
    name = f"{function}-{digest[:20]}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    if not target.exists():
        write_zip(items, target)
    return {"path": str(target), "object": name, "hash": digest, "files": str(len(items))}


def main(argv: list[str]) -> int:
    try:
        if argv:
            parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
            parser.add_argument("function")
            parser.add_argument("--with-model", action="store_true")
            parser.add_argument("--out-dir", default=str(ROOT / "terraform" / ".build"))
            args = parser.parse_args(argv)
            function, with_model, out_dir = args.function, args.with_model, args.out_dir
        else:  # Terraform's external data source
            query = json.load(sys.stdin)
            function = query["function"]
            with_model = query.get("with_model") == "true"
            out_dir = query.get("out_dir") or str(ROOT / "terraform" / ".build")
        result = package(function, with_model=with_model, out_dir=Path(out_dir))
    except (PackagingError, KeyError, ValueError, OSError) as exc:
        print(f"package_functions: {exc}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
