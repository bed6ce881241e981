# Inputs. Only project_id, operator_emails and google_oauth_client_id have no default; see
# terraform.tfvars.example and the README's "Deploy" section.

# --- where ---------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project that will hold everything (billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the functions, queues, scheduler jobs and the source bucket."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Cloud Functions region such as europe-west1 or us-central1."
  }
}

variable "firestore_location" {
  description = "Firestore location: a multi-region (eur3, nam5) or a region. Fixed once created."
  type        = string
  default     = "eur3"

  validation {
    condition     = can(regex("^(eur3|nam5|nam7|[a-z]+-[a-z]+[0-9])$", var.firestore_location))
    error_message = "firestore_location must be eur3, nam5, nam7 or a region id."
  }
}

variable "prefix" {
  description = "Prefix of the functions, service accounts, queues, topics, bucket and scheduler job. Secrets and the (default) Firestore database are not prefixed: one deployment per project."
  type        = string
  default     = "sales-agent"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 3-15 lowercase letters, digits or hyphens (service account ids are at most 30 characters)."
  }
}

variable "labels" {
  description = "Extra labels on every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "python" {
  description = "Python 3 interpreter that runs package_functions.py on the deploying machine."
  type        = string
  default     = "python3"
}

# --- the team ------------------------------------------------------------------------------

variable "team_id" {
  description = "Name of the team this deployment serves (stored on assets and outcomes)."
  type        = string
  default     = "default"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,60}$", var.team_id))
    error_message = "team_id must be 1-60 letters, digits, hyphens or underscores."
  }
}

variable "team_time_zone" {
  description = "IANA time zone where the team's days and weeks start (quotas, follow-ups, the maintenance schedule)."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$", var.team_time_zone))
    error_message = "team_time_zone must be an IANA zone such as Europe/Berlin or UTC."
  }
}

variable "internal_domains" {
  description = "The team's own mail domains (mail from them is never treated as a prospect's)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for d in var.internal_domains : can(regex("^[a-z0-9.-]+\\.[a-z]{2,}$", d))])
    error_message = "internal_domains must be lowercase domain names such as example.com."
  }
}

variable "operator_emails" {
  description = "Google accounts that may sign in to the operator page."
  type        = list(string)

  validation {
    condition     = length(var.operator_emails) > 0 && alltrue([for e in var.operator_emails : can(regex("^[^@\\s,]+@[^@\\s,]+\\.[^@\\s,]+$", e))])
    error_message = "operator_emails needs at least one email address, and only addresses."
  }
}

variable "google_oauth_client_id" {
  description = "Client id of the team's OAuth web client (the same client whose JSON goes into the google-oauth-client secret): the operator page's sign-in audience."
  type        = string

  validation {
    condition     = can(regex("\\.apps\\.googleusercontent\\.com$", var.google_oauth_client_id))
    error_message = "google_oauth_client_id must end in .apps.googleusercontent.com."
  }
}

variable "operator_api_callers" {
  description = "Identities (service account or Google account emails) allowed to call the operator API with an ID token, besides signed-in people."
  type        = list(string)
  default     = []
}

variable "voice_api_callers" {
  description = "Service accounts allowed to call the voice API directly (granted run.invoker on it)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.voice_api_callers : endswith(e, ".gserviceaccount.com")])
    error_message = "voice_api_callers must be service account emails."
  }
}

# --- sending -------------------------------------------------------------------------------

variable "send_mode_default" {
  description = "Send mode until an operator changes it on the page: DRAFT_ONLY never sends."
  type        = string
  default     = "DRAFT_ONLY"

  validation {
    condition     = contains(["DRAFT_ONLY", "SEND_ALLOWED"], var.send_mode_default)
    error_message = "send_mode_default must be DRAFT_ONLY or SEND_ALLOWED."
  }
}

variable "send_quotas" {
  description = "Default send quotas (operators can lower them on the page)."
  type = object({
    mailbox_day  = number
    mailbox_week = number
    team_day     = number
  })
  default = { mailbox_day = 50, mailbox_week = 200, team_day = 200 }

  validation {
    condition     = var.send_quotas.mailbox_day >= 0 && var.send_quotas.mailbox_day <= 2000 && var.send_quotas.mailbox_week >= 0 && var.send_quotas.mailbox_week <= 14000 && var.send_quotas.team_day >= 0
    error_message = "send_quotas: mailbox_day 0-2000 (Gmail's own limit), mailbox_week 0-14000, team_day >= 0."
  }
}

variable "send_undo_seconds" {
  description = "How long an approved send waits before it goes (cancel stops it)."
  type        = number
  default     = 60

  validation {
    condition     = var.send_undo_seconds >= 0 && var.send_undo_seconds <= 3600
    error_message = "send_undo_seconds must be between 0 and 3600."
  }
}

variable "nurture_working_days" {
  description = "Follow-ups: working days after the first touch."
  type        = list(number)
  default     = [3, 7]

  validation {
    condition     = alltrue([for d in var.nurture_working_days : d >= 1 && d <= 60 && floor(d) == d])
    error_message = "nurture_working_days must be whole numbers between 1 and 60."
  }
}

variable "asset_link_allow_list" {
  description = "Links a draft may contain besides retrieved assets (e.g. the booking page)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for u in var.asset_link_allow_list : startswith(u, "https://")])
    error_message = "asset_link_allow_list entries must be https:// links."
  }
}

# --- models --------------------------------------------------------------------------------

variable "embedding_dimensions" {
  description = "Vector size of stored embeddings; the Firestore vector index is built for it (384: the offline model, and OpenAI's models shortened to it)."
  type        = number
  default     = 384

  validation {
    condition     = var.embedding_dimensions >= 64 && var.embedding_dimensions <= 2048
    error_message = "embedding_dimensions must be between 64 and 2048 (Firestore's vector limit)."
  }
}

variable "extra_environment" {
  description = "More settings for every function, by environment variable name (e.g. OPENAI_DRAFT_MODEL). See shared/config.py for each setting."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "extra_environment keys must be upper-case environment variable names."
  }
}

variable "log_level" {
  description = "Python log level of every function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

# --- operations ----------------------------------------------------------------------------

variable "maintenance_schedule" {
  description = "Cron schedule of the maintenance job (watch renewal, polling quiet mailboxes, Drive changes), in team_time_zone."
  type        = string
  default     = "0 * * * *"
}

variable "deletion_protection" {
  description = "Protect the Firestore database from `terraform destroy`."
  type        = bool
  default     = true
}

variable "alert_email" {
  description = "Where alerts go (an email notification channel); empty: alerts show in Cloud Monitoring only."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address or empty."
  }
}

variable "alert_error_ratio" {
  description = "Share of a function's requests answered 5xx (over 5 minutes) that alerts."
  type        = number
  default     = 0.05
}

variable "queue_depth_alert" {
  description = "Tasks waiting in each queue (for 15 minutes) that alert. Follow-ups wait in draft for days."
  type        = map(number)
  default = {
    campaign = 50
    draft    = 2000
    send     = 500
    voice    = 1000
  }

  validation {
    condition     = alltrue([for q in ["campaign", "draft", "send", "voice"] : contains(keys(var.queue_depth_alert), q)])
    error_message = "queue_depth_alert needs campaign, draft, send and voice."
  }
}

variable "queue_late_alert_seconds" {
  description = "A queue whose tasks (99th percentile) run this much after their scheduled time alerts."
  type        = number
  default     = 600
}

variable "llm_daily_budget_usd" {
  description = "LLM spend a day (UTC) above which an alert fires; drafting goes on."
  type        = number
  default     = 20
}

variable "runbook_repository" {
  description = "owner/name of the repository whose docs/runbooks the alerts link to."
  type        = string
  default     = "your-org/sales-agent"
}

variable "backup_retention_days" {
  description = "How long the daily Firestore backups are kept (the weekly ones: 8 weeks)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 98
    error_message = "backup_retention_days must be 1 to 98 (Firestore keeps backups at most 14 weeks)."
  }
}

variable "digest_schedule" {
  description = "Cron schedule of the weekly outcomes digest, in team_time_zone."
  type        = string
  default     = "0 8 * * 1"
}

variable "team_lead_email" {
  description = "Whose (connected) mailbox gets the weekly digest as a draft; empty: the first operator email."
  type        = string
  default     = ""
}
