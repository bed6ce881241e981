"""Every function folder is deployed, with the entry point, runtime, files, callers and
dependencies its code needs."""

from __future__ import annotations

import ast
import importlib.metadata
import re

from tests.terraform.hcl import ROOT, config, first
from tests.terraform.imports import closure, third_party

FUNCTION_FOLDERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/main.py"))


def _functions() -> dict[str, dict]:
    return config().locals["functions"]


def test_every_function_folder_is_deployed_and_nothing_else():
    assert FUNCTION_FOLDERS, "no functions/*/main.py found"
    assert sorted(_functions()) == FUNCTION_FOLDERS


def test_each_entry_point_is_an_http_function_in_its_main():
    resource = config().resource("google_cloudfunctions2_function", "function")
    assert resource["for_each"] == "${local.functions}"
    build = first(resource["build_config"])
    assert build["entry_point"] == "${each.key}"
    for name in FUNCTION_FOLDERS:
        tree = ast.parse((ROOT / "functions" / name / "main.py").read_text())
        entry = [
            node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name
        ]
        assert entry, f"functions/{name}/main.py has no top-level def {name}"
        decorators = [ast.unparse(d) for d in entry[0].decorator_list]
        assert "functions_framework.http" in decorators, f"{name} is not an HTTP function"


def test_functions_run_on_the_python_the_code_is_written_for():
    build = first(config().resource("google_cloudfunctions2_function", "function")["build_config"])
    assert build["runtime"] == "python311"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'python_version\s*=\s*"3\.11"', pyproject)


def test_the_offline_model_ships_exactly_with_the_functions_that_can_embed():
    for name, spec in _functions().items():
        embeds = any(m.startswith("shared.adapters.embeddings") for m in closure(name))
        assert spec["model"] is embeds, f"{name}: model = {spec['model']}, code embeds: {embeds}"


def test_callers_match_what_each_function_verifies():
    """run.invoker goes to exactly the identities the function's own check accepts."""
    for name, spec in _functions().items():
        source = (ROOT / "functions" / name / "main.py").read_text()
        invokers = set(spec["invokers"])
        expected: set[str] = set()
        if "verify_task_caller" in source or "tasks_invoker_email" in source:
            expected.add("tasks")
        if "scheduler_invoker_email" in source:
            expected.add("scheduler")
        if "pubsub_push_service_account" in source:
            expected.add("gmail_push")
        if "voice_api_callers" in source:
            expected.add("voice_api")
        public = {"hubspot_webhook", "operator"}
        if name in public:
            expected.add("public")
        assert invokers == expected, (
            f"{name}: invokers {sorted(invokers)}, code: {sorted(expected)}"
        )


def test_every_import_is_pinned_in_the_root_requirements():
    pinned = {
        re.split(r"[=<>\[ ]", line.strip())[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    assert all(
        "==" in line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    )
    distributions = importlib.metadata.packages_distributions()
    for name in FUNCTION_FOLDERS:
        for module in sorted(third_party(closure(name))):
            owners = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
            assert owners, f"{name} imports {module}, which no installed distribution provides"
            assert owners & pinned, f"{name} imports {module} ({sorted(owners)}): pin it"


def test_functions_that_only_take_intake_stay_light():
    """The intake functions must answer fast: no LLM, PDF, YouTube or model imports."""
    heavy = {"openai", "pypdf", "youtube_transcript_api", "numpy", "tokenizers", "safetensors"}
    reached = third_party(closure("hubspot_webhook"))
    assert reached & heavy == set()


def test_function_sizing_fits_cloud_run_limits():
    for name, spec in _functions().items():
        memory = spec["memory"]
        assert re.fullmatch(r"\d+(Mi|Gi)", memory), memory
        mebibytes = int(memory[:-2]) * (1024 if memory.endswith("Gi") else 1)
        if spec["model"]:
            assert mebibytes >= 1024, f"{name} loads the embedding model: give it 1Gi or more"
        assert 1 <= spec["timeout"] <= 3600
        assert spec["concurrency"] >= 1
        if spec["concurrency"] > 1:
            assert float(spec["cpu"]) >= 1, f"{name}: concurrency needs at least one CPU"
