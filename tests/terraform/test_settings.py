"""Terraform gives every function the settings it reads, with values the code accepts."""

from __future__ import annotations

import os
from typing import Any

import pytest

from shared.config import PRODUCTION_REQUIRED, Settings, load_settings
from shared.errors import ConfigError
from tests.terraform.hcl import Evaluator, config, deployment_variables, first

PROJECT_NUMBER = "123456789012"
# Environment variables that are not settings but tune a library the functions load.
LIBRARY_VARIABLES = {"OPENBLAS_NUM_THREADS"}


def _attributes(variables: dict[str, Any]) -> dict[str, Any]:
    """What resources would report once created, for the example deployment."""
    prefix, project = variables["prefix"], variables["project_id"]
    accounts = {
        "tasks_invoker": "tasks",
        "scheduler_invoker": "sched",
        "gmail_push_invoker": "push",
        "build": "build",
    }
    domain = f"{project}.iam.gserviceaccount.com"
    attributes: dict[str, Any] = {
        f"google_service_account.{name}.email": f"{prefix}-{short}@{domain}"
        for name, short in accounts.items()
    }
    attributes["google_firestore_database.main.name"] = "(default)"
    attributes["data.google_project.this.number"] = PROJECT_NUMBER
    return attributes


def deployed_environment() -> dict[str, str]:
    """The functions' environment as `terraform apply` of the example tfvars would set it."""
    tf = config()
    variables = deployment_variables()
    evaluator = Evaluator(variables, tf.locals, _attributes(variables))
    environment = {**variables["extra_environment"]}
    for name, raw in tf.locals["app_environment"].items():
        value = evaluator.value(raw)
        assert isinstance(value, str), f"{name} must be a string, is {value!r}"
        environment[name] = value
    return environment


def test_every_function_gets_the_common_environment():
    function = first(config().resource("google_cloudfunctions2_function", "function"))
    service = first(function["service_config"])
    # Plus, for a function that reads a secret as a mounted file, where it is mounted.
    assert service["environment_variables"].startswith("${merge(local.common_environment, ")
    files = config().locals["secret_files"]
    for mounts in files.values():
        for mounted in mounts:
            assert mounted["env"].lower() in Settings.model_fields, mounted
            assert mounted["secret"] in config().locals["secrets"], mounted
    volumes = first(service["dynamic"])["secret_volumes"]
    assert first(volumes["content"])["versions"][0]["version"] == "latest"
    assert config().locals["common_environment"] == (
        "${merge(var.extra_environment, local.app_environment)}"
    ), "extra_environment must come first, so it can never replace a setting Terraform sets"


def test_every_variable_terraform_sets_is_a_setting():
    names = set(config().locals["app_environment"])
    known = {name.upper() for name in Settings.model_fields} | LIBRARY_VARIABLES
    assert sorted(names - known) == []


def test_every_setting_production_needs_is_set():
    names = set(config().locals["app_environment"])
    missing = [name for name in PRODUCTION_REQUIRED if name.upper() not in names]
    assert missing == []


def test_every_queue_setting_is_set():
    names = set(config().locals["app_environment"])
    queue_settings = [name.upper() for name in Settings.model_fields if name.startswith("queue_")]
    assert queue_settings
    assert [name for name in queue_settings if name not in names] == []


def test_the_deployed_environment_loads_as_production_settings(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    for name, value in deployed_environment().items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.environment.value == "production"
    assert settings.gcp_project == "acme-sales-agent"
    assert settings.function_url_draft == (
        f"https://sales-agent-draft-{PROJECT_NUMBER}.europe-west1.run.app"
    )
    assert settings.pubsub_push_audience.startswith("https://sales-agent-gmail-push-")
    assert settings.operator_emails == ("maya@acme.example", "lead@acme.example")
    assert settings.nurture_working_days == (3, 7)
    assert settings.team_time_zone == "Europe/Berlin"
    assert settings.google_oauth_redirect_uri == (
        settings.function_url_operator + "/api/connections/google/callback"
    )
    assert settings.gmail_topic == "projects/acme-sales-agent/topics/sales-agent-gmail"
    assert settings.embedding_dimensions == 384


def test_production_refuses_to_start_without_what_terraform_sets(
    monkeypatch: pytest.MonkeyPatch,
):
    environment = deployed_environment()
    for name in list(os.environ):
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    for name, value in environment.items():
        if name not in {"FUNCTION_URL_SEND", "OPERATOR_EMAILS"}:
            monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError, match=r"function_url_send, .*operator_emails"):
        load_settings()


def test_tfvars_example_sets_only_declared_variables_and_every_required_one():
    from tests.terraform.hcl import example_vars

    variables = config().variables
    example = example_vars()
    assert sorted(set(example) - set(variables)) == []
    required = [name for name, spec in variables.items() if "default" not in spec]
    assert sorted(required) == sorted(name for name in required if name in example)
    for name in example["extra_environment"]:
        assert name.lower() in Settings.model_fields, f"{name} is not a setting"


def test_every_variable_is_typed_and_described():
    for name, spec in config().variables.items():
        assert spec.get("type"), f"variable {name} has no type"
        assert len(str(spec.get("description", ""))) > 15, f"variable {name} is not described"


def test_embedding_dimensions_default_matches_the_settings_default():
    default = config().variables["embedding_dimensions"]["default"]
    assert default == Settings.model_fields["embedding_dimensions"].default
