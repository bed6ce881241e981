# Gmail `users.watch` publishes to this topic; the push subscription calls gmail_push with an
# OIDC token; what fails 10 deliveries goes to a dead-letter topic and waits there 7 days.

resource "google_pubsub_topic" "gmail" {
  name                       = "${var.prefix}-gmail"
  message_retention_duration = "86400s"

  depends_on = [google_project_service.api]
}

# Gmail's own publisher: without this, users.watch fails with "User not authorized".
resource "google_pubsub_topic_iam_member" "gmail_publishes" {
  topic  = google_pubsub_topic.gmail.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
}

resource "google_pubsub_topic" "gmail_dead_letter" {
  name                       = "${var.prefix}-gmail-dead-letter"
  message_retention_duration = "604800s"

  depends_on = [google_project_service.api]
}

resource "google_pubsub_subscription" "gmail_push" {
  name  = "${var.prefix}-gmail-push"
  topic = google_pubsub_topic.gmail.id

  # The push only queues the mailbox's sync task (the sync itself runs from Cloud Tasks), so
  # it answers in well under a second once warm; 30 s covers a cold start.
  ack_deadline_seconds       = 30
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = local.function_urls.gmail_push
    oidc_token {
      service_account_email = google_service_account.gmail_push_invoker.email
      audience              = local.function_urls.gmail_push
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.gmail_dead_letter.id
    max_delivery_attempts = 10
  }

  expiration_policy {
    ttl = "" # never expires, however quiet the mailboxes
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.invoker,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}

# Keeps what failed (pull it to inspect; the Gmail history cursor means nothing is lost:
# the next push or the hourly poll reads those messages again).
resource "google_pubsub_subscription" "gmail_dead_letter_keep" {
  name                       = "${var.prefix}-gmail-dead-letter-keep"
  topic                      = google_pubsub_topic.gmail_dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering is done by Pub/Sub's service agent: it must publish to the dead-letter topic
# and acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.gmail_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_acks_dead_letters" {
  subscription = google_pubsub_subscription.gmail_push.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
