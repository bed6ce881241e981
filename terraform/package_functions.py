#!/usr/bin/env python3
"""Build one function's source zip, deterministically, named by the hash of what it holds.

Terraform runs this through its `external` data source (JSON on stdin, JSON on stdout) for
each function, so `terraform plan` knows every object name before anything is uploaded: a code
change gives a new name and redeploys that function; an unchanged function keeps its name and
is left alone. Standard library only (it runs with whatever `python3` deploys).

A zip holds, at its root: the function's folder (`main.py`, templates, static files),
the root `requirements.txt` (one pinned set for every function), the `shared/` package and,
for the functions that embed text offline, `models/all-MiniLM-L6-v2/`. Entries are sorted,
dated 1980-01-01, mode 0644, and local `__pycache__`, `*.pyc` and dotfiles are left out.

When this script runs on the runtime's Python (3.11, Terraform's `python311`), the zip also
carries bytecode for every module, compiled here (`__pycache__/*.cpython-311.pyc`, checked
against the source's hash, so it can never be stale): a new instance then loads our modules
instead of compiling them at every cold start. Compiling is deterministic, so the zip stays
byte-for-byte the same; on another Python the zip has sources only.

Run by hand: `python3 terraform/package_functions.py draft [--with-model]` prints the same JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path("models") / "all-MiniLM-L6-v2"
EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
MODEL_FILES_SKIPPED = {"README.md"}
RUNTIME_CACHE_TAG = "cpython-311"  # terraform/functions.tf: runtime = "python311"


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


def content_hash(items: list[tuple[str, Path]], cache_tag: str | None = None) -> str:
    """Hash of names and bytes (not of zip bytes, which a zlib upgrade could change), and of
    the bytecode's Python when the zip carries bytecode."""
    digest = hashlib.sha256()
    for name, path in items:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    if cache_tag:
        digest.update(b"bytecode:" + cache_tag.encode())
    return digest.hexdigest()


def bytecode(items: list[tuple[str, Path]]) -> list[tuple[str, bytes]]:
    """(name in the zip, .pyc bytes) for every module, checked against its source's hash;
    none unless this is the runtime's Python (another version's bytecode would be ignored)."""
    if sys.implementation.cache_tag != RUNTIME_CACHE_TAG:
        return []
    compiled = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "module.pyc"
        for name, path in items:
            if not name.endswith(".py"):
                continue
            folder, _, filename = name.rpartition("/")
            pyc = f"__pycache__/{filename[:-3]}.{RUNTIME_CACHE_TAG}.pyc"
            py_compile.compile(
                str(path), cfile=str(out), dfile=name, doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
            )  # fmt: skip
            compiled.append((f"{folder}/{pyc}" if folder else pyc, out.read_bytes()))
    return compiled


def write_zip(files: list[tuple[str, bytes]], target: Path) -> None:
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = FILE_MODE
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    partial.replace(target)


def package(function: str, *, with_model: bool, out_dir: Path, root: Path = ROOT) -> dict[str, str]:
    items = entries(function, with_model=with_model, root=root)
    compiled = bytecode(items)
    digest = content_hash(items, RUNTIME_CACHE_TAG if compiled else None)
    name = f"{function}-{digest[:20]}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    if not target.exists():
        write_zip([(n, p.read_bytes()) for n, p in items] + compiled, target)
    files = len(items) + len(compiled)
    return {"path": str(target), "object": name, "hash": digest, "files": str(files)}


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
