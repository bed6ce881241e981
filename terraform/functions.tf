# Every function: a deterministic source zip named by its content hash, a 2nd-gen Cloud
# Function built from it, and run.invoker for exactly its callers.

resource "google_storage_bucket" "sources" {
  name                        = "${var.project_id}-${var.prefix}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Names are content hashes, so old zips pile up; a built function no longer needs its zip.
  lifecycle_rule {
    condition {
      age = 180
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# Runs at plan time: a changed file changes the hash, hence the object name, hence the function.
data "external" "source" {
  for_each = local.functions

  program = [var.python, "${path.module}/package_functions.py"]
  query = {
    function   = each.key
    with_model = tostring(each.value.model)
    out_dir    = "${path.module}/.build"
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  name         = "functions/${data.external.source[each.key].result.object}"
  bucket       = google_storage_bucket.sources.name
  source       = data.external.source[each.key].result.path
  content_type = "application/zip"
}

locals {
  # Secrets a function reads as files (Secret Manager volumes on `latest`) instead of through
  # the API: the webhook's client secret, so its cold start loads no Secret Manager client.
  secret_files = {
    hubspot_webhook = [{
      secret = "hubspot-client-secret"
      env    = "HUBSPOT_CLIENT_SECRET_FILE"
      mount  = "/etc/secrets/hubspot"
      file   = "client-secret"
    }]
  }
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = local.function_names[each.key]
  location    = var.region
  description = each.value.description

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    max_instance_count               = each.value.max_instances
    min_instance_count               = 0
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email
    environment_variables = merge(
      local.common_environment,
      { for f in lookup(local.secret_files, each.key, []) : f.env => "${f.mount}/${f.file}" },
    )

    # Every read of a mounted file fetches the secret's latest version, so a rotation needs no
    # redeploy, and the function needs no Secret Manager client to read it.
    dynamic "secret_volumes" {
      for_each = lookup(local.secret_files, each.key, [])
      content {
        mount_path = secret_volumes.value.mount
        project_id = var.project_id
        secret     = google_secret_manager_secret.app[secret_volumes.value.secret].secret_id
        versions {
          version = "latest"
          path    = secret_volumes.value.file
        }
      }
    }
  }

  depends_on = [
    google_project_iam_member.build,
    google_project_iam_member.function,
  ]
}

# --- who may call what (roles/run.invoker on each function's Cloud Run service) -------------

locals {
  invoker_members = {
    public     = ["allUsers"]
    tasks      = ["serviceAccount:${google_service_account.tasks_invoker.email}"]
    gmail_push = ["serviceAccount:${google_service_account.gmail_push_invoker.email}"]
    scheduler  = ["serviceAccount:${google_service_account.scheduler_invoker.email}"]
    voice_api  = [for email in var.voice_api_callers : "serviceAccount:${email}"]
  }

  invoker_grants = merge(flatten([
    for fn, spec in local.functions : [
      for invoker in spec.invokers : {
        for member in local.invoker_members[invoker] : "${fn}/${member}" => { function = fn, member = member }
      }
    ]
  ])...)
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local.invoker_grants

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}
