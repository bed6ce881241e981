# Firestore (native mode): the composite and vector indexes the code's queries need, TTL
# policies that let Firestore delete expired dedupe records, and index exemptions for large
# text fields nobody queries.
#
# The emulator answers queries that production would refuse for want of an index, so the test
# session records every query shape the code runs (tests/terraform/firestore_queries.json) and
# tests/terraform/test_firestore_indexes.py checks each against the indexes below.

resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.api]
}

# --- backups ----------------------------------------------------------------------------------
# Point-in-time recovery (above) reaches back 7 days to the minute; the schedules keep daily
# backups `backup_retention_days` and weekly ones 8 weeks. A restore makes a new database
# (docs/runbooks/restore-from-backup.md); `make restore-drill` rehearses it locally.

resource "google_firestore_backup_schedule" "daily" {
  database  = google_firestore_database.main.name
  retention = "${var.backup_retention_days * 86400}s"

  daily_recurrence {}
}

resource "google_firestore_backup_schedule" "weekly" {
  database  = google_firestore_database.main.name
  retention = "${8 * 7 * 86400}s"

  weekly_recurrence {
    day = "SUNDAY"
  }
}

# --- composite indexes -----------------------------------------------------------------------

# The approval queue: waiting drafts, newest first.
resource "google_firestore_index" "workflows_state_updated_desc" {
  database    = google_firestore_database.main.name
  collection  = "workflows"
  query_scope = "COLLECTION"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updated_at"
    order      = "DESCENDING"
  }
}

# Workflows idle between steps (maintenance's stuck sweep, the health report).
resource "google_firestore_index" "workflows_state_updated" {
  database    = google_firestore_database.main.name
  collection  = "workflows"
  query_scope = "COLLECTION"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "updated_at"
    order      = "ASCENDING"
  }
}

# Audit trail filtered by kind, newest first (flags page), and since a moment (outcomes).
resource "google_firestore_index" "audit_kind_at_desc" {
  database    = google_firestore_database.main.name
  collection  = "audit"
  query_scope = "COLLECTION"

  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }
  fields {
    field_path = "at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "audit_kind_at" {
  database    = google_firestore_database.main.name
  collection  = "audit"
  query_scope = "COLLECTION"

  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }
  fields {
    field_path = "at"
    order      = "ASCENDING"
  }
}

# Every workflow's events of one type since a moment (outcomes: replies today).
resource "google_firestore_index" "events_type_recorded_at" {
  database    = google_firestore_database.main.name
  collection  = "events"
  query_scope = "COLLECTION_GROUP"

  fields {
    field_path = "type"
    order      = "ASCENDING"
  }
  fields {
    field_path = "recorded_at"
    order      = "ASCENDING"
  }
}

# A rep's closest past replies: nearest neighbours among that rep's chunks for one model.
resource "google_firestore_index" "voice_chunks_nearest" {
  database    = google_firestore_database.main.name
  collection  = "voice_chunks"
  query_scope = "COLLECTION_GROUP"

  fields {
    field_path = "rep"
    order      = "ASCENDING"
  }
  fields {
    field_path = "model"
    order      = "ASCENDING"
  }
  fields {
    field_path = "embedding"
    vector_config {
      dimension = var.embedding_dimensions
      flat {}
    }
  }
}

# Equality-only queries Firestore could serve by merging single-field indexes; they run on
# every message, draft or sample, so each gets the index that answers it directly.
resource "google_firestore_index" "gmail_messages_thread" {
  database    = google_firestore_database.main.name
  collection  = "gmail_messages"
  query_scope = "COLLECTION"

  fields {
    field_path = "mailbox"
    order      = "ASCENDING"
  }
  fields {
    field_path = "thread_id"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "training_samples_rep_status" {
  database    = google_firestore_database.main.name
  collection  = "training_samples"
  query_scope = "COLLECTION"

  fields {
    field_path = "rep"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "training_samples_rep_content_hash" {
  database    = google_firestore_database.main.name
  collection  = "training_samples"
  query_scope = "COLLECTION"

  fields {
    field_path = "rep"
    order      = "ASCENDING"
  }
  fields {
    field_path = "content_hash"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "asset_passages_library" {
  database    = google_firestore_database.main.name
  collection  = "asset_passages"
  query_scope = "COLLECTION"

  fields {
    field_path = "team"
    order      = "ASCENDING"
  }
  fields {
    field_path = "approved"
    order      = "ASCENDING"
  }
  fields {
    field_path = "model"
    order      = "ASCENDING"
  }
}

# --- TTL policies (Firestore deletes a document within about a day of `expires_at`) ----------

locals {
  ttl_fields = {
    hubspot_events = "expires_at" # webhook dedupe records (30 days)
    gmail_messages = "expires_at" # Gmail message records: dedupe and thread memory (180 days)
    oauth_flows    = "expires_at" # half-finished OAuth connects (minutes)
    send_counters  = "expires_at" # quota counters of closed windows (35 days after)
    outcome_events = "expires_at" # which outcome events were counted (400 days)
  }

  # Large values nobody filters on: no single-field index (cheaper writes, no 1,500-byte cut).
  unindexed_fields = {
    "gmail_messages/new_text" = { collection = "gmail_messages", field = "new_text" }
    "asset_passages/text"     = { collection = "asset_passages", field = "text" }
    "shards/vectors"          = { collection = "shards", field = "vectors" }
  }
}

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  database   = google_firestore_database.main.name
  collection = each.key
  field      = each.value

  ttl_config {}
  # A TTL timestamp is never queried; indexing it would only cost writes.
  index_config {}
}

resource "google_firestore_field" "unindexed" {
  for_each = local.unindexed_fields

  database   = google_firestore_database.main.name
  collection = each.value.collection
  field      = each.value.field

  index_config {}
}

# A campaign's next members to dispatch, in the order the segment listed them.
resource "google_firestore_index" "campaign_members_queue" {
  database    = google_firestore_database.main.name
  collection  = "members"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "n"
    order      = "ASCENDING"
  }
}
