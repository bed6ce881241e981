"""Alerts, log-based metrics and backups in terraform/monitoring.tf and firestore.tf: every
alert counts a metric that exists, every function has an error-rate alert, every log event an
alert waits for is written by the code, every runbook an alert names exists."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.terraform.hcl import ROOT, config

# Google's built-in metrics the alerts use (cloud.google.com/monitoring/api/metrics_gcp), with
# the monitored resource each belongs to.
BUILT_IN = {
    "run.googleapis.com/request_count": "cloud_run_revision",
    "pubsub.googleapis.com/subscription/num_undelivered_messages": "pubsub_subscription",
    "cloudtasks.googleapis.com/queue/depth": "cloud_tasks_queue",
    "cloudtasks.googleapis.com/queue/task_attempt_delays": "cloud_tasks_queue",
}
USER_METRIC = re.compile(
    r'metric\.type="logging\.googleapis\.com/user/\$\{google_logging_metric\.(\w+)(?:\[each\.key\])?\.name\}"'
)
METRIC = re.compile(r'metric\.type="([^"$]+)"')
RESOURCE = re.compile(r'resource\.type="([^"]+)"')


def _policies() -> dict[str, dict[str, Any]]:
    return config().of_type("google_monitoring_alert_policy")


def _filters(policy: dict[str, Any]) -> list[str]:
    found = []
    for condition in policy["conditions"]:
        for threshold in condition["condition_threshold"]:
            found.append(threshold["filter"])
            if "denominator_filter" in threshold:
                found.append(threshold["denominator_filter"])
    return found


def _python_sources() -> str:
    return "\n".join(
        path.read_text()
        for folder in ("shared", "functions")
        for path in (ROOT / folder).rglob("*.py")
    )


def test_there_are_alerts():
    assert set(_policies()) >= {"event", "function_errors", "dead_letters", "queue_backlog"}


@pytest.mark.parametrize("name", sorted(_policies()))
def test_every_alert_counts_a_metric_that_exists(name):
    metrics = config().of_type("google_logging_metric")
    for text in _filters(_policies()[name]):
        user = USER_METRIC.search(text)
        if user:
            assert user.group(1) in metrics, f"{name}: no google_logging_metric.{user.group(1)}"
            continue
        (metric,) = METRIC.findall(text)
        assert metric in BUILT_IN, f"{name}: {metric} is not a metric we know"
        assert RESOURCE.search(text).group(1) == BUILT_IN[metric], f"{name}: wrong resource"


def test_every_function_has_an_error_rate_alert():
    errors = _policies()["function_errors"]
    assert errors["for_each"] == "${local.functions}"
    (text, denominator) = _filters(errors)
    assert 'service_name="${local.function_names[each.key]}"' in text
    assert 'response_code_class="5xx"' in text
    assert "5xx" not in denominator  # a share of all requests, not a count
    functions = {p.name for p in (ROOT / "functions").iterdir() if (p / "main.py").exists()}
    assert set(config().locals["functions"]) == functions


def test_every_logged_event_an_alert_waits_for_is_written_by_the_code():
    metric = config().resource("google_logging_metric", "event")
    assert metric["for_each"] == "${local.log_events}"
    assert 'jsonPayload.event=\\"${each.key}\\"' in metric["filter"] or (
        'jsonPayload.event="${each.key}"' in metric["filter"]
    )
    sources = _python_sources()
    for event in config().locals["log_events"]:
        written = re.search(rf'(?:"event":\s*|_event\(\s*)"{event}"', sources)
        assert written, f"no code writes event {event!r}: its alert could never fire"


def test_every_runbook_an_alert_names_exists():
    named = {e["runbook"] for e in config().locals["log_events"].values()}
    for policy in _policies().values():
        for documentation in policy["documentation"]:
            named |= set(re.findall(r"runbooks\}/([\w.-]+\.md)", documentation["content"]))
    assert named
    missing = sorted(n for n in named if not (ROOT / "docs" / "runbooks" / n).exists())
    assert missing == []


def test_every_alert_notifies_the_channel_and_says_what_to_do():
    for name, policy in _policies().items():
        assert policy["notification_channels"] == "${local.alert_channels}", name
        assert policy["documentation"][0]["content"].strip(), name


def test_firestore_keeps_point_in_time_recovery_and_two_backup_schedules():
    database = config().resource("google_firestore_database", "main")
    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    schedules = config().of_type("google_firestore_backup_schedule")
    assert set(schedules) == {"daily", "weekly"}
    assert "daily_recurrence" in schedules["daily"]
    assert schedules["weekly"]["weekly_recurrence"][0]["day"] == "SUNDAY"
    for schedule in schedules.values():
        assert schedule["database"] == "${google_firestore_database.main.name}"
        assert schedule["retention"].endswith("s")
