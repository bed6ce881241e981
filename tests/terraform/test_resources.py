"""Every queue, topic, secret and job the code names exists, wired to the right function."""

from __future__ import annotations

import re

from shared.config import Settings
from tests.terraform.hcl import ROOT, config, first

SECRET_SETTINGS = [
    name
    for name in Settings.model_fields
    if name.endswith("_secret_id") or name in {"hubspot_access_token_id", "openai_api_key_id"}
]


def test_every_queue_the_code_enqueues_into_exists_with_retries_and_limits():
    tf = config()
    queues = tf.locals["queues"]
    for setting in (name for name in Settings.model_fields if name.startswith("queue_")):
        key = setting.removeprefix("queue_")
        assert key in queues, f"{setting}: no queue {key} in local.queues"
        assert tf.locals["app_environment"][setting.upper()] == f"${{local.queues.{key}}}"
    queue = tf.resource("google_cloud_tasks_queue", "queue")
    assert queue["for_each"] == "${local.queues}"
    assert first(queue["rate_limits"])["max_dispatches_per_second"]
    assert first(queue["retry_config"])["max_attempts"]
    settings = tf.locals["queue_settings"]
    assert set(settings) == set(queues)
    for spec in settings.values():
        assert 0 < spec["per_second"] <= 5
        assert spec["max_attempts"] >= 5, "a transient fault must get several retries"


def test_each_function_may_enqueue_into_the_queues_its_code_uses():
    functions = config().locals["functions"]
    from tests.terraform.imports import closure

    uses = {
        "draft": "queue_draft",
        "send": "queue_send",
        "voice": "queue_voice",
        "campaign": "queue_campaign",
    }
    for name, spec in functions.items():
        reached = closure(name)
        sources = "\n".join(
            (ROOT / (module.replace(".", "/") + ".py")).read_text()
            for module in reached
            if module.startswith("shared") and (ROOT / (module.replace(".", "/") + ".py")).is_file()
        )
        sources += (ROOT / "functions" / name / "main.py").read_text()
        for queue, setting in uses.items():
            if f"settings.{setting}" in sources or f"SETTINGS.{setting}" in sources:
                assert queue in spec["queues"], f"{name} can enqueue into {queue}: grant it"


def test_the_gmail_topic_pushes_to_gmail_push_with_oidc_and_keeps_what_fails():
    tf = config()
    assert tf.locals["gmail_topic"] == "projects/${var.project_id}/topics/${var.prefix}-gmail"
    topic = tf.resource("google_pubsub_topic", "gmail")
    assert topic["name"] == "${var.prefix}-gmail"
    publisher = tf.resource("google_pubsub_topic_iam_member", "gmail_publishes")
    assert publisher["member"] == "serviceAccount:gmail-api-push@system.gserviceaccount.com"
    assert publisher["role"] == "roles/pubsub.publisher"

    subscription = tf.resource("google_pubsub_subscription", "gmail_push")
    push = first(subscription["push_config"])
    token = first(push["oidc_token"])
    env = tf.locals["app_environment"]
    assert push["push_endpoint"] == env["PUBSUB_PUSH_AUDIENCE"] == token["audience"]
    assert push["push_endpoint"] == "${local.function_urls.gmail_push}"
    assert token["service_account_email"] == "${google_service_account.gmail_push_invoker.email}"
    assert env["PUBSUB_PUSH_SERVICE_ACCOUNT"] == token["service_account_email"]

    dead = first(subscription["dead_letter_policy"])
    assert dead["dead_letter_topic"] == "${google_pubsub_topic.gmail_dead_letter.id}"
    keep = tf.resource("google_pubsub_subscription", "gmail_dead_letter_keep")
    assert keep["topic"] == "${google_pubsub_topic.gmail_dead_letter.id}"
    assert keep["retain_acked_messages"] is True
    assert first(keep["expiration_policy"])["ttl"] == ""
    # Pub/Sub's service agent must be able to move a message to the dead-letter topic.
    agent = tf.resource("google_pubsub_topic_iam_member", "agent_publishes_dead_letters")
    assert agent["member"] == "${local.pubsub_agent}"


def test_every_secret_the_code_reads_is_created():
    secrets = config().locals["secrets"]
    for name in SECRET_SETTINGS:
        default = Settings.model_fields[name].default
        assert default in secrets, f"{name} defaults to secret {default!r}: create it"
    for spec in config().locals["functions"].values():
        assert set(spec["secrets"]) <= set(secrets)
        assert set(spec["writes"]) <= set(spec["secrets"]), "a writer reads back what it wrote"


def test_each_function_may_read_every_secret_its_code_names():
    """A missing grant is a PermissionDenied (a 500) in production only: check it here."""
    from tests.terraform.imports import closure

    functions = config().locals["functions"]
    for name, spec in functions.items():
        sources = _sources(closure(name)) + (ROOT / "functions" / name / "main.py").read_text()
        for setting in SECRET_SETTINGS:
            if re.search(rf"settings\.{setting}\b", sources, re.IGNORECASE):
                secret = Settings.model_fields[setting].default
                assert secret in spec["secrets"], f"{name} reads {secret}: grant it"


def _sources(modules: frozenset[str]) -> str:
    texts = []
    for module in modules:
        path = ROOT / (module.replace(".", "/") + ".py")
        if module.startswith("shared") and path.is_file():
            texts.append(path.read_text())
    return "\n".join(texts)


def test_mailbox_tokens_are_granted_by_the_prefix_the_code_names_them_with():
    from shared.services.mailboxes import token_secret_name

    name = token_secret_name("maya@brightline.example")
    prefix = config().locals["mailbox_token_prefix"]
    assert prefix == "projects/${local.project_number}/secrets/gmail-refresh-"
    assert name.startswith("gmail-refresh-")
    reader = config().resource("google_project_iam_member", "mailbox_token_reader")
    assert "startsWith" in first(reader["condition"])["expression"]


def test_task_audiences_are_the_urls_the_functions_verify():
    """Cloud Tasks' token audience is the target URL; each function verifies its own URL."""
    env = config().locals["app_environment"]
    for name in ("draft", "send", "voice", "maintenance", "operator"):
        assert env[f"FUNCTION_URL_{name.upper()}"] == f"${{local.function_urls.{name}}}"
        source = (ROOT / "functions" / name / "main.py").read_text()
        assert f"SETTINGS.function_url_{name}" in source
    urls = config().locals["function_urls"]
    assert ".run.app" in urls
    assert "local.project_number" in urls


def test_the_scheduler_calls_maintenance_as_the_identity_it_accepts():
    job = config().resource("google_cloud_scheduler_job", "job")
    assert job["for_each"] == "${local.scheduler_jobs}"
    jobs = config().locals["scheduler_jobs"]
    assert jobs["maintenance"]["body"] == "{}"
    assert jobs["weekly-digest"]["body"] == '{"job": "weekly_digest"}'
    target = first(job["http_target"])
    token = first(target["oidc_token"])
    assert target["uri"] == token["audience"] == "${local.function_urls.maintenance}"
    assert token["service_account_email"] == "${google_service_account.scheduler_invoker.email}"
    assert target["http_method"] == "POST"
    env = config().locals["app_environment"]
    assert env["SCHEDULER_INVOKER_EMAIL"] == "${google_service_account.scheduler_invoker.email}"


def test_the_team_gets_the_urls_it_must_paste():
    outputs = config().outputs
    for name in (
        "hubspot_webhook_url",
        "operator_url",
        "gmail_topic",
        "google_oauth_redirect_uris",
    ):
        assert outputs.get(name, {}).get("description"), f"output {name} is missing"
    redirect = outputs["google_oauth_redirect_uris"]["value"]
    env = config().locals["app_environment"]
    assert env["GOOGLE_OAUTH_REDIRECT_URI"] in redirect
    assert "${local.function_urls.operator}/login/callback" in redirect


def test_providers_are_pinned():
    required = first(config().terraform[0]["required_providers"])
    assert set(required) >= {"google", "external"}
    for name, spec in required.items():
        assert re.fullmatch(r"~> \d+\.\d+", spec["version"]), f"{name}: pin a minor series"


def test_no_service_account_gets_a_broad_role():
    broad = {
        "roles/owner",
        "roles/editor",
        "roles/secretmanager.admin",
        "roles/iam.serviceAccountAdmin",
    }
    for (kind, name), body in config().resources.items():
        if "iam_member" in kind:
            assert body.get("role") not in broad, f"{kind}.{name} grants {body.get('role')}"


def test_every_resource_that_can_depends_on_its_api():
    """A fresh project has no APIs enabled: everything first waits for them."""
    for kind in (
        "google_firestore_database",
        "google_storage_bucket",
        "google_pubsub_topic",
        "google_cloud_tasks_queue",
        "google_secret_manager_secret",
        "google_service_account",
    ):
        for name, body in config().of_type(kind).items():
            assert "${google_project_service.api}" in body.get("depends_on", []), f"{kind}.{name}"


def test_only_the_functions_that_store_credentials_may_write_secrets():
    from tests.terraform.imports import closure

    storing = {"shared.services.connections", "shared.services.google_connect"}
    for name, spec in config().locals["functions"].items():
        stores = bool(storing & closure(name))
        assert bool(spec["writes"]) is stores, f"{name}: writes {spec['writes']}"
        assert spec["mailbox_tokens"]["write"] is stores, name
