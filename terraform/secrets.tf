# The app's secrets, created empty: the README's steps, the Connections page or the
# operator page itself (its session key, on first use) add the versions, so no secret value
# ever sits in Terraform's state. Mailbox refresh tokens (gmail-refresh-*) are made by the
# connect flow (iam.tf grants them by name prefix).

resource "google_secret_manager_secret" "app" {
  for_each = local.secrets

  secret_id = each.key
  annotations = {
    purpose = each.value
  }

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}
