# Cloud Tasks queues. Task names are derived from what they do, so a duplicate enqueue is
# refused; the handlers are idempotent, so a retry is safe. Rates keep us inside the APIs
# behind each queue.

locals {
  queue_settings = {
    # One draft reads HubSpot about six times and calls the LLM once or twice: HubSpot's
    # private-app limit (100 requests / 10 s) and OpenAI's per-minute limits set the pace.
    draft = {
      per_second   = 1
      concurrent   = 5
      max_attempts = 8
      min_backoff  = "10s"
      max_backoff  = "600s"
      logging      = 0.1
    }
    # A campaign's resolve and tick steps and its drafts: its own queue, slower than the
    # draft queue, so a 1,000-contact pitch never holds up the drafts for inbound leads and
    # leaves HubSpot and OpenAI headroom (the campaign's own per-minute limit comes first).
    campaign = {
      per_second   = 0.5
      concurrent   = 3
      max_attempts = 8
      min_backoff  = "10s"
      max_backoff  = "600s"
      logging      = 0.1
    }
    # Gmail allows about 2.5 messages.send a second per user and 2,000 a day; our own quotas
    # are far below. Retries wait longer: a send retry first searches Sent (never twice).
    send = {
      per_second   = 1
      concurrent   = 5
      max_attempts = 12
      min_backoff  = "30s"
      max_backoff  = "1800s"
      logging      = 1.0
    }
    # A mailbox's sync, queued by each Gmail push (named after the mailbox and historyId, so
    # a redelivered push adds nothing). Syncs of one mailbox take turns under its lease; one
    # that fails (Gmail or Firestore unavailable) is retried for hours, and maintenance
    # polls a mailbox whose syncs stopped.
    gmail_sync = {
      per_second   = 5
      concurrent   = 10
      max_attempts = 50
      min_backoff  = "5s"
      max_backoff  = "600s"
      logging      = 0.1
    }
    # Extraction downloads files, transcripts and Drive documents and embeds them (2 GiB each).
    voice = {
      per_second   = 2
      concurrent   = 3
      max_attempts = 6
      min_backoff  = "30s"
      max_backoff  = "900s"
      logging      = 0.1
    }
  }
}

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues

  name     = each.value
  location = var.region

  rate_limits {
    max_dispatches_per_second = local.queue_settings[each.key].per_second
    max_concurrent_dispatches = local.queue_settings[each.key].concurrent
  }

  retry_config {
    max_attempts  = local.queue_settings[each.key].max_attempts
    min_backoff   = local.queue_settings[each.key].min_backoff
    max_backoff   = local.queue_settings[each.key].max_backoff
    max_doublings = 5
  }

  stackdriver_logging_config {
    sampling_ratio = local.queue_settings[each.key].logging
  }

  depends_on = [google_project_service.api]
}
