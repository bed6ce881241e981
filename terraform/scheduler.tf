# Cloud Scheduler's calls to `maintenance`, each with the scheduler's OIDC token:
# - hourly upkeep: renews Gmail watches (they lapse after 7 days), polls mailboxes whose pushes
#   went quiet, follows Drive's changes feed, applies retention, re-queues stuck workflows;
# - Monday morning: last week's outcomes as a Gmail draft in the team lead's mailbox.

locals {
  scheduler_jobs = {
    maintenance = {
      description = "Calls the maintenance function"
      schedule    = var.maintenance_schedule
      body        = "{}"
      deadline    = "540s"
      retries     = 1
      backoff     = "60s"
    }
    weekly-digest = {
      description = "Drafts the weekly outcomes digest for the team lead"
      schedule    = var.digest_schedule
      body        = "{\"job\": \"weekly_digest\"}"
      deadline    = "300s"
      retries     = 3
      backoff     = "300s"
    }
  }
}

resource "google_cloud_scheduler_job" "job" {
  for_each = local.scheduler_jobs

  name             = "${var.prefix}-${each.key}"
  region           = var.region
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.team_time_zone
  attempt_deadline = each.value.deadline

  retry_config {
    retry_count          = each.value.retries
    min_backoff_duration = each.value.backoff
  }

  http_target {
    http_method = "POST"
    uri         = local.function_urls.maintenance
    body        = base64encode(each.value.body)
    headers = {
      "Content-Type" = "application/json"
    }
    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = local.function_urls.maintenance
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}

moved {
  from = google_cloud_scheduler_job.maintenance
  to   = google_cloud_scheduler_job.job["maintenance"]
}
