# Cloud Monitoring: what wakes someone up, and where the runbook is.
#
# Built-in metrics cover the platform: each function's 5xx share (Cloud Run request_count),
# messages waiting on the Gmail dead-letter subscription, each Cloud Tasks queue's depth and
# how late its tasks run. Our own conditions come from structured log lines: the code writes
# `jsonPayload.event` (see `local.log_events`), a log-based metric counts each, and an alert
# fires on any. tests/terraform/test_monitoring.py checks that every alert's metric exists,
# every function has an error-rate alert, every event is written by the code, and every
# runbook named here exists in docs/runbooks/.

locals {
  runbooks = "https://github.com/${var.runbook_repository}/blob/main/docs/runbooks"

  # event => what it means, how long one occurrence keeps the alert open, the runbook
  log_events = {
    mailbox_watch_lapsed = {
      summary = "A mailbox's Gmail watch lapsed (pushes stopped; maintenance renews it)"
      window  = "3600s"
      runbook = "lapsed-watch.md"
    }
    mailbox_not_syncing = {
      summary = "A mailbox has not synced for 12 hours"
      window  = "3600s"
      runbook = "lapsed-watch.md"
    }
    mailbox_disconnected = {
      summary = "A mailbox is disconnected or needs attention (its Google grant was refused)"
      window  = "3600s"
      runbook = "revoked-token.md"
    }
    llm_budget_exceeded = {
      summary = "LLM spend passed today's budget"
      window  = "300s"
      runbook = "llm-spend.md"
    }
    send_suppressed_kill_switch = {
      summary = "The kill switch is holding sends"
      window  = "300s"
      runbook = "wrong-email-sent.md"
    }
    workflow_stuck = {
      summary = "A workflow sat between steps for over an hour (maintenance re-queued its draft)"
      window  = "3600s"
      runbook = "stuck-queue.md"
    }
    send_deferred_quota = {
      summary = "A send quota is exhausted: sends wait for the next window"
      window  = "300s"
      runbook = "quota-exhausted.md"
    }
  }

  alert_channels = [for channel in google_monitoring_notification_channel.email : channel.id]
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  display_name = "${var.prefix} on call"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.api]
}

# --- our own events --------------------------------------------------------------------------

resource "google_logging_metric" "event" {
  for_each = local.log_events

  name   = "${var.prefix}_${each.key}"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.event=\"${each.key}\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = each.value.summary
  }

  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "event" {
  for_each = local.log_events

  display_name          = "${var.prefix}: ${each.value.summary}"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = each.value.summary
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.event[each.key].name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = each.value.window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "${each.value.summary}. Logs: `jsonPayload.event=\"${each.key}\"`. Runbook: ${local.runbooks}/${each.value.runbook}"
  }
}

# --- the platform ----------------------------------------------------------------------------

# Every function: more than `alert_error_ratio` of its requests answered 5xx for 5 minutes.
resource "google_monitoring_alert_policy" "function_errors" {
  for_each = local.functions

  display_name          = "${var.prefix}: ${each.key} error rate"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "${each.key}: 5xx share of requests"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${local.function_names[each.key]}\" AND metric.label.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${local.function_names[each.key]}\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_error_ratio
      duration           = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "${each.key} answers 5xx. Logs: `resource.labels.service_name=\"${local.function_names[each.key]}\" severity>=ERROR`. Runbook: ${local.runbooks}/stuck-queue.md"
  }
}

# Gmail notifications that failed 10 deliveries wait on the dead-letter subscription.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "${var.prefix}: Gmail notifications dead-lettered"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "messages waiting on ${google_pubsub_subscription.gmail_dead_letter_keep.name}"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.gmail_dead_letter_keep.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Pushes for a mailbox failed 10 times. Nothing is lost (the history cursor re-reads them). Runbook: ${local.runbooks}/stuck-queue.md"
  }
}

# A queue holding more tasks than it should (follow-ups wait in `draft` for days, so its
# threshold is higher), or running its tasks late: the 99th percentile of the delay between a
# task's scheduled time and its attempt, our stand-in for "the oldest task's age".
resource "google_monitoring_alert_policy" "queue_backlog" {
  for_each = local.queues

  display_name          = "${var.prefix}: ${each.key} queue backlog"
  combiner              = "OR"
  notification_channels = local.alert_channels

  conditions {
    display_name = "${each.value}: tasks waiting"
    condition_threshold {
      filter          = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND resource.type=\"cloud_tasks_queue\" AND resource.label.queue_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_depth_alert[each.key]
      duration        = "900s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  conditions {
    display_name = "${each.value}: tasks run late"
    condition_threshold {
      filter          = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_delays\" AND resource.type=\"cloud_tasks_queue\" AND resource.label.queue_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.queue_late_alert_seconds * 1000
      duration        = "600s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Queue ${each.value} is backed up or late. Runbook: ${local.runbooks}/stuck-queue.md"
  }
}
