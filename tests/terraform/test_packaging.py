"""Each function's source zip: deterministic, named by its content, self-contained."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.terraform.hcl import ROOT, config

SCRIPT = ROOT / "terraform" / "package_functions.py"


def _packager() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_functions", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    """A copy of the repository's deployable parts (without the 88 MB model)."""
    root = tmp_path / "repo"
    shutil.copytree(
        ROOT / "functions", root / "functions", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "shared", root / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "requirements.txt", root / "requirements.txt")
    model = root / "models" / "all-MiniLM-L6-v2"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "tokenizer.json").write_text("{}")
    (model / "README.md").write_text("not shipped")
    (model / ".from-abc").write_text("")
    return root


def test_the_same_sources_give_the_same_bytes_and_name(small_root: Path, tmp_path: Path):
    packager = _packager()
    first = packager.package("send", with_model=False, out_dir=tmp_path / "a", root=small_root)
    # Same content, different file times and a stray bytecode cache: nothing changes.
    for path in (small_root / "shared").rglob("*.py"):
        os.utime(path, (1, 1))
    cache = small_root / "shared" / "__pycache__"
    cache.mkdir()
    (cache / "config.cpython-311.pyc").write_bytes(b"\0")
    second = packager.package("send", with_model=False, out_dir=tmp_path / "b", root=small_root)

    assert first["object"] == second["object"]
    assert Path(first["path"]).read_bytes() == Path(second["path"]).read_bytes()


def test_a_code_change_changes_the_name_of_every_zip_holding_it(small_root: Path, tmp_path: Path):
    packager = _packager()
    before = {
        name: packager.package(name, with_model=False, out_dir=tmp_path, root=small_root)["object"]
        for name in ("send", "draft")
    }
    (small_root / "functions" / "send" / "main.py").write_text(
        (small_root / "functions" / "send" / "main.py").read_text() + "\n# changed\n"
    )
    after_send = packager.package("send", with_model=False, out_dir=tmp_path, root=small_root)
    after_draft = packager.package("draft", with_model=False, out_dir=tmp_path, root=small_root)
    assert after_send["object"] != before["send"]
    assert after_draft["object"] == before["draft"], "an untouched function must not redeploy"

    with (small_root / "shared" / "errors.py").open("a") as handle:
        handle.write("\n# shared changed\n")
    assert (
        packager.package("draft", with_model=False, out_dir=tmp_path, root=small_root)["object"]
        != before["draft"]
    )


def test_entries_are_sorted_dated_and_plain_files(small_root: Path, tmp_path: Path):
    packager = _packager()
    built = packager.package("operator", with_model=True, out_dir=tmp_path, root=small_root)
    with zipfile.ZipFile(built["path"]) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in infos} == {0o100644}
        assert not [n for n in names if "/." in n or n.startswith(".")]
        # Bytecode only as compiled by the packager for the runtime: one per module, no other.
        sources = {n for n in names if n.endswith(".py")}
        compiled = {n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))}
        if sys.implementation.cache_tag == "cpython-311":
            assert compiled == {
                f"{Path(n).parent}/__pycache__/{Path(n).stem}.cpython-311.pyc".removeprefix("./")
                for n in sources
            }
        else:
            assert compiled == set()
        assert {"main.py", "requirements.txt", "shared/__init__.py", "shared/config.py"} <= set(
            names
        )
        assert "templates/base.html" in names
        assert "static/app.js" in names
        assert "models/all-MiniLM-L6-v2/model.safetensors" in names
        assert "models/all-MiniLM-L6-v2/README.md" not in names
        assert archive.read("requirements.txt") == (ROOT / "requirements.txt").read_bytes()
        assert archive.read("main.py") == (ROOT / "functions/operator/main.py").read_bytes()


def test_the_model_ships_only_when_asked(small_root: Path, tmp_path: Path):
    packager = _packager()
    built = packager.package("hubspot_webhook", with_model=False, out_dir=tmp_path, root=small_root)
    with zipfile.ZipFile(built["path"]) as archive:
        assert not [n for n in archive.namelist() if n.startswith("models/")]


def test_a_missing_model_is_a_clear_error(small_root: Path, tmp_path: Path):
    shutil.rmtree(small_root / "models")
    packager = _packager()
    with pytest.raises(packager.PackagingError, match="make model"):
        packager.package("draft", with_model=True, out_dir=tmp_path, root=small_root)


def test_terraform_external_data_protocol(tmp_path: Path):
    """Terraform sends a JSON object of strings on stdin and wants one back on stdout."""
    query = {"function": "hubspot_webhook", "with_model": "false", "out_dir": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        input=json.dumps(query),
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(result.stdout)
    assert all(isinstance(value, str) for value in answer.values())
    assert answer["object"].startswith("hubspot_webhook-")
    assert answer["object"].endswith(".zip")
    assert Path(answer["path"]).is_file()

    refused = subprocess.run(
        [sys.executable, str(SCRIPT)],
        input=json.dumps({"function": "nope", "out_dir": str(tmp_path)}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1
    assert "functions/nope/main.py does not exist" in refused.stderr


def test_terraform_passes_each_function_its_model_flag():
    source = config().data[("external", "source")]
    assert source["for_each"] == "${local.functions}"
    assert source["query"]["with_model"] == "${tostring(each.value.model)}"
    assert source["program"] == ["${var.python}", "${path.module}/package_functions.py"]
    obj = config().resource("google_storage_bucket_object", "source")
    assert obj["name"] == "functions/${data.external.source[each.key].result.object}"


@pytest.mark.parametrize("function", ["hubspot_webhook", "gmail_push", "send"])
def test_an_unpacked_zip_imports_on_its_own(function: str, small_root: Path, tmp_path: Path):
    """The zip is all the runtime gets: its main must import from the zip alone."""
    packager = _packager()
    built = packager.package(function, with_model=False, out_dir=tmp_path, root=small_root)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(built["path"]) as archive:
        archive.extractall(unpacked)
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in {"pythonpath"} and not key.startswith(("FIRESTORE", "PUBSUB"))
    }
    env.update({"GCP_PROJECT": "p", "ENVIRONMENT": "local"})
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import main, shared; assert callable(main.{function}); print(shared.__file__)",
        ],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith(str(unpacked))


@pytest.mark.skipif(sys.implementation.cache_tag != "cpython-311", reason="bytecode for 3.11")
def test_an_unpacked_zip_loads_its_modules_from_the_shipped_bytecode(
    small_root: Path, tmp_path: Path
):
    """A cold start loads our modules instead of compiling them; an edited source is never
    served from stale bytecode (the bytecode is checked against the source's hash)."""
    packager = _packager()
    built = packager.package("hubspot_webhook", with_model=False, out_dir=tmp_path, root=small_root)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(built["path"]) as archive:
        archive.extractall(unpacked)
    env = {k: v for k, v in os.environ.items() if k.lower() != "pythonpath"}
    env.update({"GCP_PROJECT": "p", "ENVIRONMENT": "local", "PYTHONDONTWRITEBYTECODE": "1"})

    def loaded_from_bytecode() -> set[str]:
        done = subprocess.run(
            [sys.executable, "-v", "-c", "import main"], cwd=unpacked, env=env,
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        prefix = f"# code object from '{unpacked}/"
        return {
            line.removeprefix(prefix).rstrip("'")
            for line in done.stderr.splitlines()
            if line.startswith(prefix)
        }

    shipped = loaded_from_bytecode()
    assert "__pycache__/main.cpython-311.pyc" in shipped
    assert "shared/__pycache__/config.cpython-311.pyc" in shipped
    (unpacked / "shared" / "errors.py").write_text(
        (unpacked / "shared" / "errors.py").read_text() + "\n# edited\n"
    )
    assert "shared/__pycache__/errors.cpython-311.pyc" not in loaded_from_bytecode()


def test_zips_stay_under_the_cloud_functions_source_limit():
    """Cloud Functions takes at most 100 MB of compressed source per function."""
    packager = _packager()
    model_bytes = (
        sum(
            p.stat().st_size
            for p in (ROOT / "models" / "all-MiniLM-L6-v2").rglob("*")
            if p.is_file() and p.name not in packager.MODEL_FILES_SKIPPED
        )
        if (ROOT / "models" / "all-MiniLM-L6-v2").is_dir()
        else 0
    )
    code_bytes = sum(p.stat().st_size for p in (ROOT / "shared").rglob("*.py"))
    code_bytes += sum(p.stat().st_size for p in (ROOT / "functions").rglob("*") if p.is_file())
    assert model_bytes + code_bytes < 100 * 1024 * 1024
