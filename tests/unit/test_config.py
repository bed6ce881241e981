import pytest

from shared.config import Environment, load_settings
from shared.errors import ConfigError


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
    from shared.config import Settings

    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []
