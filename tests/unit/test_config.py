import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import PRODUCTION_REQUIRED, Environment, Settings, load_settings
from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_missing_project_fails_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="GCP_PROJECT"):
        load_settings()


def test_invalid_value_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCP_PROJECT", "p")
    monkeypatch.setenv("HTTP_MAX_ATTEMPTS", "many")
    with pytest.raises(ConfigError, match="HTTP_MAX_ATTEMPTS"):
        load_settings()


def test_production_refuses_local_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCP_PROJECT", "p")
    monkeypatch.setenv("TASKS_ENDPOINT", "127.0.0.1:9999")
    with pytest.raises(ConfigError, match="tasks_endpoint"):
        load_settings()


def test_every_outside_endpoint_is_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:1",
        "TASKS_ENDPOINT": "127.0.0.1:2",
        "SECRETS_ENDPOINT": "127.0.0.1:3",
        "GMAIL_API_ENDPOINT": "http://127.0.0.1:4",
        "HUBSPOT_API_BASE": "http://127.0.0.1:5",
        "OPENAI_BASE_URL": "http://127.0.0.1:6/v1",
        "YOUTUBE_BASE_URL": "http://127.0.0.1:7",
        "DRIVE_API_ENDPOINT": "http://127.0.0.1:8/drive/v3/",
        "CALENDAR_API_ENDPOINT": "http://127.0.0.1:9/calendar/v3/",
        "GOOGLE_OAUTH_TOKEN_URI": "http://127.0.0.1:10/token",
        "OIDC_ISSUERS": "https://a, https://b",
    }
    monkeypatch.setenv("GCP_PROJECT", "p")
    monkeypatch.setenv("ENVIRONMENT", "local")
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.environment is Environment.LOCAL
    for name, value in overrides.items():
        if name != "OIDC_ISSUERS":
            assert getattr(settings, name.lower()) == value
    assert settings.oidc_issuers == ("https://a", "https://b")


def test_every_setting_is_described() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


# --- how environment variables become settings (what pydantic-settings used to do) ----------


def _problems(error: ConfigError) -> list[str]:
    """The names a ConfigError blames, in order."""
    return re.findall(r"(?:^invalid configuration: |; )([A-Z0-9_.]+): ", str(error))


def test_variable_names_match_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("gcp_project", "p")
    monkeypatch.setenv("Environment", "local")
    monkeypatch.setenv("Http_Max_Attempts", "7")
    settings = load_settings()
    assert (settings.gcp_project, settings.environment, settings.http_max_attempts) == (
        "p",
        Environment.LOCAL,
        7,
    )


def test_values_are_coerced_from_their_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "GCP_PROJECT": "p",
        "ENVIRONMENT": "local",
        "HUBSPOT_ACCEPT_LEGACY_SIGNATURES": "true",
        "HUBSPOT_START_ON_FORM": "0",
        "HUBSPOT_START_ON_CONTACT_CREATION": "no",
        "SEND_UNDO_SECONDS": "5",
        "HTTP_TIMEOUT_SECONDS": "2.5",
        "GUARDRAIL_MIN_EMPLOYEES": "10",
        "SEND_MODE_DEFAULT": "SEND_ALLOWED",
        "TEAM_TIME_ZONE": "Europe/Berlin",
        "NURTURE_WORKING_DAYS": "2, 5,9",
        "INTERNAL_DOMAINS": " a.example,,b.example ",
        "OPERATOR_EMAILS": "maya@a.example",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.hubspot_accept_legacy_signatures is True
    assert settings.hubspot_start_on_form is False
    assert settings.hubspot_start_on_contact_creation is False
    assert settings.send_undo_seconds == 5
    assert settings.http_timeout_seconds == 2.5
    assert settings.guardrail_min_employees == 10
    assert settings.send_mode_default == "SEND_ALLOWED"
    assert settings.team_time_zone == "Europe/Berlin"
    assert settings.nurture_working_days == (2, 5, 9)
    assert settings.internal_domains == ("a.example", "b.example")
    assert settings.operator_emails == ("maya@a.example",)


def test_an_empty_variable_is_set_to_the_empty_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCP_PROJECT", "p")
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("OIDC_ISSUERS", "")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "")
    monkeypatch.setenv("TASKS_LOCATION", "")
    settings = load_settings()
    assert settings.oidc_issuers == ()  # not the default issuers
    assert settings.firestore_emulator_host == ""  # not None
    assert settings.queue_location == settings.gcp_region

    monkeypatch.setenv("HTTP_MAX_ATTEMPTS", "")  # not the default 5: an error
    monkeypatch.setenv("GUARDRAIL_MAX_EMPLOYEES", "")  # nor None
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert _problems(caught.value) == ["GUARDRAIL_MAX_EMPLOYEES", "HTTP_MAX_ATTEMPTS"]


def test_other_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCP_PROJECT", "p")
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("GCP_PROJECT_ID", "other")
    monkeypatch.setenv("SETTINGS", "{}")
    assert load_settings().gcp_project == "p"


def test_every_invalid_variable_is_named_in_upper_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCP_PROJECT", "")
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("HUBSPOT_START_ON_FORM", "maybe")
    monkeypatch.setenv("NURTURE_WORKING_DAYS", "3,x")
    monkeypatch.setenv("TEAM_TIME_ZONE", "Mars/Base")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert _problems(caught.value) == [
        "GCP_PROJECT",
        "HUBSPOT_START_ON_FORM",
        "NURTURE_WORKING_DAYS.1",
        "TEAM_TIME_ZONE",
    ]
    assert "unknown time zone 'Mars/Base'" in str(caught.value)


def test_production_names_every_setting_it_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GCP_PROJECT", "p")
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)  # (kept by the stack's tests)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    needed = ", ".join(name for name in PRODUCTION_REQUIRED if name != "gcp_project")
    assert str(caught.value) == (
        f"invalid configuration: SETTINGS: Value error, production needs these set: {needed}"
    )


def test_explicit_settings_take_only_what_they_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_MAX_ATTEMPTS", "7")
    settings = Settings(gcp_project="p", environment=Environment.LOCAL, http_max_attempts="3")
    assert settings.http_max_attempts == 3
    assert Settings(gcp_project="p", environment=Environment.LOCAL).http_max_attempts == 5
    with pytest.raises(ValidationError, match="frozen"):
        settings.gcp_project = "q"  # type: ignore[misc]


def test_reading_settings_does_not_import_pydantic_settings() -> None:
    """Its import alone costs every cold start tens of milliseconds."""
    code = "import sys, shared.config; print(sorted(m for m in sys.modules if 'settings' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
