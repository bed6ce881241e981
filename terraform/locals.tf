# One table describes every function; the other files iterate over it.
locals {
  project_number = data.google_project.this.number

  # key = the folder under functions/ = the entry point in its main.py.
  #   invokers: who gets roles/run.invoker on its Cloud Run service ("public" = allUsers; the
  #             function checks its own signatures or sign-in then).
  #   model:    ships models/all-MiniLM-L6-v2 (the function's code reaches the offline embedder).
  #   queues:   Cloud Tasks queues it enqueues into; delete_send: it may cancel a pending send.
  #   secrets:  app secrets it reads (mailbox tokens: `mailbox_tokens`); writes: it adds versions.
  functions = {
    hubspot_webhook = {
      description   = "HubSpot webhooks: verifies the v3 signature, records each event once, enqueues a draft."
      invokers      = ["public"]
      model         = false
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 30
      concurrency   = 8
      max_instances = 20
      queues        = ["draft"]
      delete_send   = false
      secrets       = ["hubspot-client-secret", "hubspot-access-token"]
      writes        = []
      mailbox_tokens = {
        read  = false
        write = false
      }
    }
    gmail_push = {
      description   = "Gmail Pub/Sub push: verifies the push token, queues the mailbox's sync; the sync task reads its history and routes each message."
      invokers      = ["gmail_push", "tasks"]
      model         = false
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 300
      concurrency   = 4
      max_instances = 10
      queues        = ["gmail_sync", "draft", "voice", "send"]
      delete_send   = true
      secrets       = ["google-oauth-client", "hubspot-access-token", "openai-api-key"]
      writes        = []
      mailbox_tokens = {
        read  = true
        write = false
      }
    }
    draft = {
      description   = "Draft task: gathers context, writes the reply in the rep's voice, gates it, saves the Gmail draft."
      invokers      = ["tasks"]
      model         = true
      memory        = "2Gi"
      cpu           = "1"
      timeout       = 300
      concurrency   = 1
      max_instances = 10
      queues        = ["campaign", "draft", "send", "voice"]
      delete_send   = true
      secrets       = ["google-oauth-client", "hubspot-access-token", "openai-api-key"]
      writes        = []
      mailbox_tokens = {
        read  = true
        write = false
      }
    }
    voice = {
      description   = "Voice task and API: extracts samples (files, Drive, HubSpot, YouTube, links), indexes assets, rebuilds voice profiles."
      invokers      = ["tasks", "voice_api"]
      model         = true
      memory        = "2Gi"
      cpu           = "1"
      timeout       = 540
      concurrency   = 1
      max_instances = 5
      queues        = ["voice"]
      delete_send   = false
      secrets       = ["google-oauth-client", "hubspot-access-token", "openai-api-key"]
      writes        = []
      mailbox_tokens = {
        read  = true
        write = false
      }
    }
    send = {
      description   = "Send task: claims the send, re-checks Gmail and HubSpot, sends exactly once, records the effects."
      invokers      = ["tasks"]
      model         = true
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 120
      concurrency   = 1
      max_instances = 5
      queues        = ["campaign", "draft", "send", "voice"]
      delete_send   = true
      secrets       = ["google-oauth-client", "hubspot-access-token", "openai-api-key"]
      writes        = []
      mailbox_tokens = {
        read  = true
        write = false
      }
    }
    operator = {
      description   = "Operator page and API: queue, workflows, flags, voice training, connections, outcomes (own sign-in)."
      invokers      = ["public"]
      model         = true
      memory        = "2Gi"
      cpu           = "1"
      timeout       = 540 # forgetting a person reads every document: ~600 a second a pass
      concurrency   = 8
      max_instances = 5
      queues        = ["campaign", "draft", "send", "voice"]
      delete_send   = true
      secrets       = ["google-oauth-client", "hubspot-access-token", "hubspot-client-secret", "openai-api-key", "operator-session-key"]
      writes        = ["hubspot-access-token", "hubspot-client-secret", "openai-api-key", "operator-session-key"]
      mailbox_tokens = {
        read  = true
        write = true
      }
    }
    maintenance = {
      description   = "Hourly upkeep: renews Gmail watches, polls quiet mailboxes, follows Drive changes."
      invokers      = ["scheduler", "tasks"]
      model         = true
      memory        = "2Gi"
      cpu           = "1"
      timeout       = 540
      concurrency   = 1
      max_instances = 1
      queues        = ["draft", "voice", "send"]
      delete_send   = true
      secrets       = ["google-oauth-client", "hubspot-access-token", "openai-api-key"]
      writes        = []
      mailbox_tokens = {
        read  = true
        write = false
      }
    }
  }

  # Cloud Run service name = function name; its deterministic URL is known before it exists,
  # which lets functions name each other (Cloud Tasks targets, OIDC audiences) without a cycle.
  function_names = { for key, _ in local.functions : key => "${var.prefix}-${replace(key, "_", "-")}" }
  function_urls  = { for key, name in local.function_names : key => "https://${name}-${local.project_number}.${var.region}.run.app" }

  # Service account ids (6-30 characters): prefix + a short name.
  account_short = {
    hubspot_webhook = "hubspot"
    gmail_push      = "gmail"
    draft           = "draft"
    voice           = "voice"
    send            = "send"
    operator        = "operator"
    maintenance     = "maint"
  }

  queues = {
    campaign   = "${var.prefix}-campaign"
    draft      = "${var.prefix}-draft"
    send       = "${var.prefix}-send"
    voice      = "${var.prefix}-voice"
    gmail_sync = "${var.prefix}-gmail-sync"
  }

  # Secrets Terraform creates empty; the operator page or the README's steps fill them.
  secrets = {
    "hubspot-client-secret" = "HubSpot app's client secret (verifies webhook signatures)."
    "hubspot-access-token"  = "HubSpot private-app access token (set on the Connections page)."
    "openai-api-key"        = "OpenAI API key (set on the Connections page; empty = offline drafter)."
    "google-oauth-client"   = "Google OAuth web client as JSON {\"client_id\", \"client_secret\"}."
    "operator-session-key"  = "Signs the operator page's sessions (made by the page on first use)."
  }
  # Each mailbox's refresh token is a secret the connect flow creates: gmail-refresh-<slug>-<hash>.
  mailbox_token_prefix = "projects/${local.project_number}/secrets/gmail-refresh-"

  gmail_topic = "projects/${var.project_id}/topics/${var.prefix}-gmail"

  # Every function gets the same settings (shared/config.py reads them all at start).
  # extra_environment comes first so it can add settings but never replace these.
  common_environment = merge(var.extra_environment, local.app_environment)

  app_environment = {
    ENVIRONMENT                 = "production"
    GCP_PROJECT                 = var.project_id
    GCP_REGION                  = var.region
    LOG_LEVEL                   = var.log_level
    FIRESTORE_DATABASE          = google_firestore_database.main.name
    TASKS_LOCATION              = var.region
    TASKS_INVOKER_EMAIL         = google_service_account.tasks_invoker.email
    SCHEDULER_INVOKER_EMAIL     = google_service_account.scheduler_invoker.email
    QUEUE_DRAFT                 = local.queues.draft
    QUEUE_SEND                  = local.queues.send
    QUEUE_VOICE                 = local.queues.voice
    QUEUE_CAMPAIGN              = local.queues.campaign
    QUEUE_GMAIL_SYNC            = local.queues.gmail_sync
    FUNCTION_URL_DRAFT          = local.function_urls.draft
    FUNCTION_URL_SEND           = local.function_urls.send
    FUNCTION_URL_VOICE          = local.function_urls.voice
    FUNCTION_URL_MAINTENANCE    = local.function_urls.maintenance
    FUNCTION_URL_OPERATOR       = local.function_urls.operator
    FUNCTION_URL_GMAIL_PUSH     = local.function_urls.gmail_push
    PUBSUB_PUSH_AUDIENCE        = local.function_urls.gmail_push
    PUBSUB_PUSH_SERVICE_ACCOUNT = google_service_account.gmail_push_invoker.email
    GMAIL_TOPIC                 = local.gmail_topic
    HUBSPOT_WEBHOOK_URL         = local.function_urls.hubspot_webhook
    GOOGLE_OAUTH_REDIRECT_URI   = "${local.function_urls.operator}/api/connections/google/callback"
    OPERATOR_EMAILS             = join(",", var.operator_emails)
    OPERATOR_LOGIN_AUDIENCE     = var.google_oauth_client_id
    OPERATOR_API_CALLERS        = join(",", var.operator_api_callers)
    VOICE_API_CALLERS           = join(",", var.voice_api_callers)
    TEAM_ID                     = var.team_id
    TEAM_TIME_ZONE              = var.team_time_zone
    INTERNAL_DOMAINS            = join(",", var.internal_domains)
    SEND_MODE_DEFAULT           = var.send_mode_default
    SEND_QUOTA_MAILBOX_DAY      = tostring(var.send_quotas.mailbox_day)
    SEND_QUOTA_MAILBOX_WEEK     = tostring(var.send_quotas.mailbox_week)
    SEND_QUOTA_TEAM_DAY         = tostring(var.send_quotas.team_day)
    SEND_UNDO_SECONDS           = tostring(var.send_undo_seconds)
    NURTURE_WORKING_DAYS        = join(",", [for d in var.nurture_working_days : tostring(d)])
    ASSET_LINK_ALLOW_LIST       = join(",", var.asset_link_allow_list)
    EMBEDDING_DIMENSIONS        = tostring(var.embedding_dimensions)
    LLM_DAILY_BUDGET_USD        = tostring(var.llm_daily_budget_usd)
    TEAM_LEAD_EMAIL             = var.team_lead_email
    # numpy's BLAS would start a thread per core for the small embedding matmuls
    OPENBLAS_NUM_THREADS = "1"
  }
}
