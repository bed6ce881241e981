output "hubspot_webhook_url" {
  description = "Paste into the HubSpot app's Webhooks target URL (and workflow webhook actions)."
  value       = local.function_urls.hubspot_webhook
}

output "operator_url" {
  description = "The operator page (sign in with an account in operator_emails)."
  value       = local.function_urls.operator
}

output "gmail_topic" {
  description = "Pub/Sub topic Gmail's users.watch publishes to (set automatically; shown for checks)."
  value       = google_pubsub_topic.gmail.id
}

output "google_oauth_redirect_uris" {
  description = "Add both to the OAuth web client's Authorized redirect URIs."
  value = [
    "${local.function_urls.operator}/login/callback",
    "${local.function_urls.operator}/api/connections/google/callback",
  ]
}

output "function_urls" {
  description = "Every function's URL."
  value       = local.function_urls
}

output "dead_letter_subscription" {
  description = "Gmail pushes that failed 10 deliveries wait here for 7 days."
  value       = google_pubsub_subscription.gmail_dead_letter_keep.id
}

output "secrets_to_fill" {
  description = "Secrets created empty: add versions as the README's Deploy section says."
  value       = sort(keys(local.secrets))
}
