"""Every setting in one place, typed, described and validated when a function starts.

Settings come from environment variables (Terraform sets them in production; the devstack sets
them locally). Every outside service's endpoint can be overridden, so the same code runs
against the local stack and against Google, HubSpot and OpenAI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.errors import ConfigError


class Environment(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


# Settings whose defaults only suit the local stack: a production deployment must set each
# (Terraform does; tests/terraform checks that it does).
PRODUCTION_REQUIRED = (
    "gcp_project",
    "function_url_draft",
    "function_url_send",
    "function_url_voice",
    "function_url_maintenance",
    "function_url_operator",
    "function_url_gmail_push",
    "tasks_invoker_email",
    "scheduler_invoker_email",
    "pubsub_push_audience",
    "pubsub_push_service_account",
    "hubspot_webhook_url",
    "gmail_topic",
    "google_oauth_redirect_uri",
    "operator_emails",
    "operator_login_audience",
)


def _local_only(value: object) -> bool:
    if isinstance(value, tuple):
        return not value
    text = str(value or "")
    return not text or "127.0.0.1" in text or text.endswith(".invalid")


class Settings(BaseModel):
    """Runtime settings. Environment variable = field name in upper case.

    `load_settings()` reads them from the environment; `Settings(...)` takes only what it is
    given (the rest are defaults). A plain model rather than pydantic-settings, whose import
    alone costs each cold start tens of milliseconds: every value arrives as a string and
    pydantic's lax mode coerces it ("true" -> True, "5" -> 5); the tuple settings are
    comma-separated, split by `_split_issuers`, never JSON.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    # --- where we run -------------------------------------------------------------------
    environment: Environment = Field(
        Environment.PRODUCTION,
        description="`local` enables development conveniences; `production` refuses them.",
    )
    gcp_project: str = Field(
        ..., min_length=1, description="Google Cloud project id holding Firestore, Tasks, secrets."
    )
    gcp_region: str = Field("europe-west1", description="Region of the functions and queues.")
    log_level: str = Field("INFO", description="Python logging level name.")

    # --- Firestore ----------------------------------------------------------------------
    firestore_database: str = Field("(default)", description="Firestore database id.")
    firestore_emulator_host: str | None = Field(
        None, description="host:port of the Firestore emulator; unset in production."
    )

    # --- Cloud Tasks --------------------------------------------------------------------
    tasks_endpoint: str | None = Field(
        None, description="host:port of a Cloud Tasks gRPC stand-in; unset in production."
    )
    tasks_location: str | None = Field(
        None, description="Cloud Tasks location; defaults to gcp_region."
    )
    tasks_invoker_email: str = Field(
        "tasks-invoker@local.invalid",
        description="Service account whose OIDC token Cloud Tasks attaches to each task.",
    )
    queue_draft: str = Field("draft", description="Queue for draft generation tasks.")
    queue_send: str = Field("send", description="Queue for send tasks.")
    queue_voice: str = Field("voice", description="Queue for voice-sample extraction tasks.")
    queue_campaign: str = Field(
        "campaign",
        description="Queue for a campaign's steps and drafts (its own pace, so a campaign "
        "never holds up the drafts for inbound leads).",
    )
    queue_gmail_sync: str = Field(
        "gmail-sync",
        description="Queue for mailbox syncs: a Gmail push only enqueues one, named after the "
        "mailbox and historyId, and `gmail_push` runs it at `/sync`.",
    )
    function_url_draft: str = Field(
        "http://127.0.0.1:8083", description="Public URL of the `draft` function."
    )
    function_url_send: str = Field(
        "http://127.0.0.1:8085", description="Public URL of the `send` function."
    )
    function_url_voice: str = Field(
        "http://127.0.0.1:8084", description="Public URL of the `voice` function."
    )
    function_url_maintenance: str = Field(
        "http://127.0.0.1:8087", description="Public URL of the `maintenance` function."
    )
    function_url_operator: str = Field(
        "http://127.0.0.1:8086", description="Public URL of the `operator` function."
    )
    function_url_gmail_push: str = Field(
        "http://127.0.0.1:8082",
        description="Public URL of the `gmail_push` function (its mailbox syncs are tasks).",
    )

    # --- Secret Manager -----------------------------------------------------------------
    secrets_endpoint: str | None = Field(
        None, description="host:port of a Secret Manager gRPC stand-in; unset in production."
    )
    secret_cache_seconds: float = Field(
        300.0, ge=0, description="How long a read secret is reused by one instance."
    )

    # --- incoming token verification (Cloud Tasks and Pub/Sub push OIDC tokens) ---------
    oidc_certs_url: str = Field(
        "https://www.googleapis.com/oauth2/v1/certs",
        description="Certificates that sign trusted OIDC tokens (Google's in production).",
    )
    oidc_issuers: tuple[str, ...] = Field(
        ("https://accounts.google.com", "accounts.google.com"),
        description="Accepted `iss` values of incoming OIDC tokens.",
    )
    pubsub_push_audience: str = Field(
        "", description="Audience the Gmail push subscription puts in its OIDC token."
    )
    pubsub_push_service_account: str = Field(
        "", description="Service account email the Gmail push subscription signs as."
    )

    # --- HubSpot intake -----------------------------------------------------------------
    hubspot_webhook_url: str = Field(
        "",
        description="Public URL HubSpot calls (signatures cover it; the function sits behind "
        "Google's front end, so it cannot be read from the request).",
    )
    hubspot_client_secret_id: str = Field(
        "hubspot-client-secret",
        description="Secret Manager secret holding the HubSpot app's client secret.",
    )
    hubspot_client_secret_file: str = Field(
        "",
        description="Where the webhook reads that secret as a file: a Secret Manager volume "
        "Cloud Run mounts (each read fetches the latest version), so the webhook needs no "
        "Secret Manager client. Unset or unreadable: read through the Secret Manager API.",
    )
    hubspot_accept_legacy_signatures: bool = Field(
        False, description="Also accept v1/v2 signatures (older workflow webhooks)."
    )
    hubspot_signature_max_age_seconds: int = Field(
        300, ge=1, le=3600, description="Oldest accepted X-HubSpot-Request-Timestamp."
    )
    hubspot_signature_future_skew_seconds: int = Field(
        30, ge=0, le=300, description="How far in the future a timestamp may be (clock skew)."
    )
    hubspot_start_on_form: bool = Field(True, description="A form submission opens a workflow.")
    hubspot_start_on_contact_creation: bool = Field(
        True, description="`contact.creation` opens a workflow."
    )
    hubspot_start_lifecycle_stages: tuple[str, ...] = Field(
        ("salesqualifiedlead",),
        description="Lifecycle stages whose `contact.propertyChange` opens a workflow "
        "(comma-separated; empty for none).",
    )

    # --- Gmail intake and maintenance --------------------------------------------------
    google_oauth_client_secret_id: str = Field(
        "google-oauth-client",
        description="Secret Manager secret holding the Google OAuth client as JSON "
        '`{"client_id", "client_secret"}` (used to refresh each mailbox\'s token).',
    )
    gmail_topic: str = Field(
        "",
        description="Pub/Sub topic `projects/P/topics/T` that `users.watch` publishes to.",
    )
    internal_domains: tuple[str, ...] = Field(
        (),
        description="The team's own mail domains (comma-separated); each mailbox's domain "
        "counts as internal too.",
    )
    gmail_resync_max_messages: int = Field(
        500, ge=1, le=5000, description="Most messages one 404 resync reads back."
    )
    gmail_resync_max_days: int = Field(
        30, ge=1, le=60, description="Longest span a 404 resync looks back over."
    )
    gmail_sync_lease_seconds: int = Field(
        120,
        ge=10,
        le=900,
        description="How long one sync may hold a mailbox before another "
        "may take over (a crashed sync's lease simply expires).",
    )
    gmail_poll_after_hours: float = Field(
        6.0, gt=0, description="Maintenance polls a mailbox that had no push for this long."
    )
    gmail_watch_renew_after_hours: float = Field(
        20.0, gt=0, description="Maintenance renews a watch older than this (Gmail: 7 days)."
    )
    auto_reply_defer_days: int = Field(
        5, ge=1, le=60, description="How far an out-of-office reply pushes the next follow-up."
    )
    scheduler_invoker_email: str = Field(
        "scheduler-invoker@local.invalid",
        description="Service account whose OIDC token Cloud Scheduler sends to `maintenance`.",
    )
    hubspot_access_token_id: str = Field(
        "hubspot-access-token",
        description="Secret Manager secret holding the HubSpot private-app access token.",
    )
    openai_api_key_id: str = Field(
        "openai-api-key",
        description="Secret Manager secret holding the OpenAI API key; absent or empty means "
        "offline (rules instead of the LLM).",
    )
    openai_intent_model: str = Field(
        "gpt-4.1-mini", description="Model that reads the intent of a prospect's reply."
    )

    # --- voice training -----------------------------------------------------------------
    voice_upload_max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest file accepted by upload or download."
    )
    voice_max_sample_chars: int = Field(
        400_000, ge=1000, description="Extracted text kept per sample (the rest is cut)."
    )
    voice_language: str = Field(
        "en", description="Preferred transcript language(s) for YouTube, comma-separated."
    )
    link_fetch_timeout_seconds: float = Field(
        30.0, gt=0, le=300, description="Whole-download time limit for a share link."
    )
    link_fetch_max_redirects: int = Field(5, ge=0, le=10, description="Redirects followed.")
    link_fetch_allow_hosts: tuple[str, ...] = Field(
        (),
        description="host:port pairs a share link may reach although they are local or plain "
        "http (tests and the devstack only; empty in production).",
    )
    openai_embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model when an OpenAI key is stored."
    )
    embedding_dimensions: int = Field(
        384,
        ge=64,
        le=3072,
        description="Vector size of every stored embedding (the offline model's is 384).",
    )
    voice_profile_debounce_seconds: int = Field(
        30,
        ge=1,
        le=3600,
        description="Samples finishing within this window share one profile rebuild.",
    )
    voice_api_callers: tuple[str, ...] = Field(
        (),
        description="Service accounts (comma-separated) allowed to call the voice API: the "
        "operator page's, and any service that submits samples.",
    )
    team_id: str = Field(
        "default", min_length=1, max_length=60, description="The team this deployment serves."
    )
    asset_link_allow_list: tuple[str, ...] = Field(
        (),
        description="Links a draft may contain besides retrieved assets (comma-separated), "
        "e.g. the booking page.",
    )
    guardrail_blocked_industries: tuple[str, ...] = Field(
        (), description="Industries never written to (comma-separated HubSpot values)."
    )
    guardrail_allowed_industries: tuple[str, ...] = Field(
        (), description="When set, the only industries written to (comma-separated)."
    )
    guardrail_blocked_stages: tuple[str, ...] = Field(
        (), description="Company lifecycle stages never written to (comma-separated)."
    )
    guardrail_min_employees: int | None = Field(
        None, ge=0, description="Smallest company size written to (employees)."
    )
    guardrail_max_employees: int | None = Field(
        None, ge=0, description="Largest company size written to (employees)."
    )
    flags_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How old the send flags may be where they only report or guard softly "
        "(a draft's quota report, guardrail overrides); sends always read them fresh.",
    )
    team_lead_email: str = Field(
        "",
        description="Whose mailbox gets the weekly digest as a draft (default: the first of "
        "OPERATOR_EMAILS); it must be a connected mailbox.",
    )
    llm_daily_budget_usd: float = Field(
        20.0,
        ge=0,
        description="LLM spend a day (UTC) above which an alert fires (drafting goes on).",
    )
    llm_usd_per_1k_prompt: float = Field(
        0.0004, ge=0, description="USD per 1,000 prompt tokens (the models' list price)."
    )
    llm_usd_per_1k_completion: float = Field(
        0.0016, ge=0, description="USD per 1,000 completion tokens (the models' list price)."
    )
    retention_message_text_days: int = Field(
        90,
        ge=1,
        le=3_650,
        description="Days a stored Gmail message keeps its text (the record itself lapses "
        "after 180 days).",
    )
    retention_sample_text_days: int = Field(
        365,
        ge=1,
        le=3_650,
        description="Days a voice sample keeps its full extracted text (its chunks stay until "
        "the rep deletes it).",
    )
    retention_workflow_body_days: int = Field(
        180,
        ge=1,
        le=3_650,
        description="Days without activity after which a workflow's draft and sent bodies "
        "are removed (its outcome stays).",
    )
    openai_draft_model: str = Field("gpt-4.1-mini", description="Model that writes drafts.")
    draft_prompt_budget_tokens: int = Field(
        3_000, ge=500, le=100_000, description="Most prompt tokens one draft may use."
    )
    openai_profile_model: str = Field(
        "gpt-4.1-mini", description="Model that writes a rep's style guide."
    )

    # --- sending (defaults until an operator changes the flags) ----------------------------
    send_mode_default: Literal["DRAFT_ONLY", "SEND_ALLOWED"] = Field(
        "DRAFT_ONLY", description="Send mode until an operator sets one: DRAFT_ONLY never sends."
    )
    send_quota_mailbox_day: int = Field(50, ge=0, le=2000, description="Sends per mailbox a day.")
    send_quota_mailbox_week: int = Field(
        200, ge=0, le=14000, description="Sends per mailbox a week (Monday to Sunday)."
    )
    send_quota_team_day: int = Field(200, ge=0, description="Sends for the whole team a day.")
    send_undo_seconds: int = Field(
        60, ge=0, le=3600, description="An approved send waits this long; cancel stops it."
    )
    send_lease_seconds: int = Field(
        120, ge=30, le=3600, description="How long a send claim holds before another may retry."
    )
    nurture_working_days: tuple[int, ...] = Field(
        (3, 7), description="Follow-ups: working days after the first touch (comma-separated)."
    )
    team_time_zone: str = Field(
        "UTC", description="Where the team's days and weeks start (quota windows, follow-ups)."
    )
    campaign_window_seconds: float = Field(
        60.0,
        ge=0.5,
        le=3600,
        description="The window a campaign's per-minute limit counts in: a minute (shorter "
        "only to run a test campaign quickly).",
    )
    operator_emails: tuple[str, ...] = Field(
        (),
        description="People (comma-separated Google account emails) who may sign in to the "
        "operator page.",
    )
    operator_login_audience: str = Field(
        "",
        description="Audience of the Google ID token the page's sign-in sends (the OAuth "
        "client id of Google Sign-In, or IAP's audience).",
    )
    operator_session_secret_id: str = Field(
        "operator-session-key",
        description="Secret Manager secret holding the key that signs the page's sessions.",
    )
    operator_session_hours: int = Field(12, ge=1, le=168, description="A sign-in lasts this long.")
    operator_api_callers: tuple[str, ...] = Field(
        (),
        description="Identities (comma-separated e-mails) allowed to call the operator API "
        "until the operator page's own sign-in lands.",
    )

    # --- outside services' endpoints ----------------------------------------------------
    google_oauth_token_uri: str = Field(
        "https://oauth2.googleapis.com/token", description="Google OAuth token endpoint."
    )
    gmail_api_endpoint: str | None = Field(
        None, description="Gmail API base URL override (e.g. a local fake)."
    )
    drive_api_endpoint: str | None = Field(
        None, description="Drive API base URL override, ending in /drive/v3/."
    )
    calendar_api_endpoint: str | None = Field(
        None, description="Calendar API base URL override, ending in /calendar/v3/."
    )
    hubspot_api_base: str = Field("https://api.hubapi.com", description="HubSpot API host.")
    openai_base_url: str | None = Field(
        None, description="OpenAI API base URL override (e.g. http://127.0.0.1:P/v1)."
    )
    youtube_base_url: str = Field(
        "https://www.youtube.com", description="YouTube origin (rewritten to a fake locally)."
    )
    # connecting a Google account (the operator page's OAuth web flow)
    google_oauth_auth_uri: str = Field(
        "https://accounts.google.com/o/oauth2/v2/auth",
        description="Google OAuth authorization (consent) endpoint.",
    )
    google_oauth_revoke_uri: str = Field(
        "https://oauth2.googleapis.com/revoke", description="Google OAuth revocation endpoint."
    )
    google_oauth_redirect_uri: str = Field(
        "",
        description="The operator function's OAuth callback URL "
        "(`.../api/connections/google/callback`), registered on the OAuth client.",
    )
    google_oauth_userinfo_uri: str = Field(
        "https://openidconnect.googleapis.com/v1/userinfo",
        description="OpenID Connect userinfo endpoint (the connected account's address).",
    )

    # --- outbound call behaviour --------------------------------------------------------
    http_max_attempts: int = Field(
        5, ge=1, le=10, description="Attempts for a retryable call to an outside API."
    )
    http_timeout_seconds: float = Field(
        30.0, gt=0, le=300, description="Longest wait for one answer from Gmail, Drive, Calendar."
    )
    http_backoff_max_seconds: float = Field(
        30.0, gt=0, description="Longest wait between two attempts (Retry-After is capped)."
    )

    @field_validator(
        "oidc_issuers",
        "hubspot_start_lifecycle_stages",
        "internal_domains",
        "link_fetch_allow_hosts",
        "voice_api_callers",
        "asset_link_allow_list",
        "nurture_working_days",
        "operator_api_callers",
        "operator_emails",
        "guardrail_blocked_industries",
        "guardrail_allowed_industries",
        "guardrail_blocked_stages",
        mode="before",
    )
    @classmethod
    def _split_issuers(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("team_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _production_uses_real_services(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            local = [
                name
                for name in (
                    "firestore_emulator_host",
                    "tasks_endpoint",
                    "secrets_endpoint",
                    "link_fetch_allow_hosts",
                )
                if getattr(self, name)
            ]
            unset = [name for name in PRODUCTION_REQUIRED if _local_only(getattr(self, name))]
            problems = []
            if local:
                problems.append("production must not point at local stand-ins: " + ", ".join(local))
            if unset:
                problems.append("production needs these set: " + ", ".join(unset))
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def queue_location(self) -> str:
        return self.tasks_location or self.gcp_region


def _environment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """Each setting's value in `environ`: the variable named like the field, in any case.

    Other variables are ignored; an empty value counts as set (and is validated as it is).
    If one name is present in several cases, the last one wins.
    """
    by_name = {key.lower(): value for key, value in environ.items()}
    return {name: by_name[name] for name in Settings.model_fields if name in by_name}


def load_settings() -> Settings:
    """Read and validate settings, naming each missing or invalid environment variable."""
    try:
        return Settings.model_validate(_environment_values(os.environ))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{field.upper()}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
