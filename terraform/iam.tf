# One service account per function, holding only what that function does; plus the three
# identities that call functions (Cloud Tasks, the Gmail push subscription, Cloud Scheduler)
# and the one Cloud Build builds with.

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "${var.prefix}-${local.account_short[each.key]}"
  display_name = "sales-agent ${each.key} function"
  description  = each.value.description

  depends_on = [google_project_service.api]
}

resource "google_service_account" "tasks_invoker" {
  account_id   = "${var.prefix}-tasks"
  display_name = "sales-agent: Cloud Tasks' OIDC identity (calls draft, send, voice)"
  depends_on   = [google_project_service.api]
}

resource "google_service_account" "gmail_push_invoker" {
  account_id   = "${var.prefix}-push"
  display_name = "sales-agent: the Gmail push subscription's OIDC identity (calls gmail_push)"
  depends_on   = [google_project_service.api]
}

resource "google_service_account" "scheduler_invoker" {
  account_id   = "${var.prefix}-sched"
  display_name = "sales-agent: Cloud Scheduler's OIDC identity (calls maintenance)"
  depends_on   = [google_project_service.api]
}

resource "google_service_account" "build" {
  account_id   = "${var.prefix}-build"
  display_name = "sales-agent: builds the functions (Cloud Build)"
  depends_on   = [google_project_service.api]
}

# --- every function: Firestore, logs, metrics ---------------------------------------------

locals {
  function_project_roles = ["roles/datastore.user", "roles/logging.logWriter", "roles/monitoring.metricWriter"]

  function_role_pairs = {
    for pair in setproduct(keys(local.functions), local.function_project_roles) :
    "${pair[0]}/${pair[1]}" => { function = pair[0], role = pair[1] }
  }
}

resource "google_project_iam_member" "function" {
  for_each = local.function_role_pairs

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# The build reads the source Cloud Functions copies into its own gcf-v2-sources-* bucket
# (a name we do not control), so object read is granted on the project, to this account only.
resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/cloudbuild.builds.builder",
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

# --- secrets ------------------------------------------------------------------------------

locals {
  secret_reads = merge([
    for fn, spec in local.functions : {
      for secret in spec.secrets : "${fn}/${secret}" => { function = fn, secret = secret }
    }
  ]...)
  secret_writes = merge([
    for fn, spec in local.functions : {
      for secret in spec.writes : "${fn}/${secret}" => { function = fn, secret = secret }
    }
  ]...)
  mailbox_token_readers = [for fn, spec in local.functions : fn if spec.mailbox_tokens.read]
  mailbox_token_writers = [for fn, spec in local.functions : fn if spec.mailbox_tokens.write]
}

resource "google_secret_manager_secret_iam_member" "reads" {
  for_each = local.secret_reads

  secret_id = google_secret_manager_secret.app[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_secret_manager_secret_iam_member" "writes" {
  for_each = local.secret_writes

  secret_id = google_secret_manager_secret.app[each.value.secret].id
  role      = "roles/secretmanager.secretVersionManager"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Mailbox refresh tokens are secrets made at connect time, so they are granted by name prefix.
resource "google_project_iam_member" "mailbox_token_reader" {
  for_each = toset(local.mailbox_token_readers)

  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = "serviceAccount:${google_service_account.function[each.value].email}"

  condition {
    title       = "mailbox-refresh-tokens"
    description = "Only the gmail-refresh-* secrets"
    expression  = "resource.name.startsWith(\"${local.mailbox_token_prefix}\")"
  }
}

resource "google_project_iam_member" "mailbox_token_writer" {
  for_each = toset(local.mailbox_token_writers)

  project = var.project_id
  role    = "roles/secretmanager.secretVersionManager"
  member  = "serviceAccount:${google_service_account.function[each.value].email}"

  condition {
    title       = "mailbox-refresh-tokens"
    description = "Only the gmail-refresh-* secrets"
    expression  = "resource.name.startsWith(\"${local.mailbox_token_prefix}\")"
  }
}

# Creating a secret is checked on the project, so it cannot be limited by name; the creator
# still cannot read or change any secret outside the grants above.
resource "google_project_iam_custom_role" "secret_creator" {
  role_id     = replace("${var.prefix}_secret_creator", "-", "_")
  title       = "sales-agent secret creator"
  description = "Creates the per-mailbox refresh-token secrets when a mailbox is connected."
  permissions = ["secretmanager.secrets.create"]
}

resource "google_project_iam_member" "secret_creator" {
  for_each = toset(local.mailbox_token_writers)

  project = var.project_id
  role    = google_project_iam_custom_role.secret_creator.id
  member  = "serviceAccount:${google_service_account.function[each.value].email}"
}

# --- Cloud Tasks --------------------------------------------------------------------------

locals {
  queue_grants = merge([
    for fn, spec in local.functions : {
      for queue in spec.queues : "${fn}/${queue}" => { function = fn, queue = queue }
    }
  ]...)
  send_cancellers = [for fn, spec in local.functions : fn if spec.delete_send]
  enqueuers       = [for fn, spec in local.functions : fn if length(spec.queues) > 0]
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.queue_grants

  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_cloud_tasks_queue_iam_member" "send_canceller" {
  for_each = toset(local.send_cancellers)

  name     = google_cloud_tasks_queue.queue["send"].name
  location = var.region
  role     = "roles/cloudtasks.taskDeleter"
  member   = "serviceAccount:${google_service_account.function[each.value].email}"
}

# A task carries an OIDC token of the tasks invoker, so whoever enqueues must be able to act
# as that account.
resource "google_service_account_iam_member" "enqueuers_act_as_tasks_invoker" {
  for_each = toset(local.enqueuers)

  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.function[each.value].email}"
}

# --- Pub/Sub's service agent ---------------------------------------------------------------

locals {
  pubsub_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# It mints the push subscription's OIDC tokens.
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.gmail_push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent

  depends_on = [google_project_service.api]
}
