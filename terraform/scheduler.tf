# Hourly upkeep: maintenance renews Gmail watches (they lapse after 7 days), polls mailboxes
# whose pushes went quiet, and follows Drive's changes feed for the asset library.

resource "google_cloud_scheduler_job" "maintenance" {
  name             = "${var.prefix}-maintenance"
  region           = var.region
  description      = "Calls the maintenance function"
  schedule         = var.maintenance_schedule
  time_zone        = var.team_time_zone
  attempt_deadline = "540s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = local.function_urls.maintenance
    body        = base64encode("{}")
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

# Monday morning: last week's outcomes as a Gmail draft in the team lead's mailbox.
resource "google_cloud_scheduler_job" "weekly_digest" {
  name             = "${var.prefix}-weekly-digest"
  region           = var.region
  description      = "Drafts the weekly outcomes digest for the team lead"
  schedule         = var.digest_schedule
  time_zone        = var.team_time_zone
  attempt_deadline = "300s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    uri         = local.function_urls.maintenance
    body        = base64encode("{\"job\": \"weekly_digest\"}")
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
