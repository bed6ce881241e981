# Provider versions are pinned (a minor update is a deliberate change to this file).
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
    # Runs package_functions.py at plan time: each function's zip and its content hash.
    external = {
      source  = "hashicorp/external"
      version = "~> 2.3"
    }
  }
}

provider "google" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
  default_labels        = merge({ app = var.prefix }, var.labels)
}

# Its number names the functions' URLs, the Pub/Sub service agent and the IAM conditions.
data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.api]
}
