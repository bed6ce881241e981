# The Google APIs the system uses; never disabled by `terraform destroy` (other things may
# depend on them).
locals {
  apis = toset([
    "artifactregistry.googleapis.com", # the functions' images
    "calendar-json.googleapis.com",    # free slots and booked meetings
    "cloudbuild.googleapis.com",       # builds the functions from source
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "drive.googleapis.com", # voice samples and assets from Drive
    "firestore.googleapis.com",
    "gmail.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # OIDC tokens for Tasks, Pub/Sub push and Scheduler
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "api" {
  for_each = local.apis

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
