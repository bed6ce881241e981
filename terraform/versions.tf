# Provider versions are pinned; the Terraform issue adds the resources (functions, queues,
# topics, secrets, indexes, scheduler jobs) beside this file.
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.6"
    }
  }
}
