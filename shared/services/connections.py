"""What the connections page shows and changes: each mailbox's Google connection, the HubSpot
token and webhook secret, the OpenAI key.

Credentials go to Secret Manager only (a new version only when the value changes, older
versions disabled); Firestore keeps `connections/{hubspot|openai}` with a status, who changed
it and when, never a value. Replacing a refused credential resumes the drafts and sends it
paused. Nothing returned here contains a credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from shared.adapters.secrets import SecretStore
    from shared.adapters.store import Store
    from shared.services.send_flags import AuditLog

log = logging.getLogger(__name__)

CONNECTIONS = "connections"
_PRINTABLE = re.compile(r"[\x21-\x7e]{8,500}")  # one token: visible ASCII, no spaces


def _now() -> datetime:
    return datetime.now(UTC)


def _credential(value: Any, what: str) -> str:
    text = str(value or "").strip()
    if not _PRINTABLE.fullmatch(text):
        raise BadRequest(f"{what}: one token of 8 to 500 visible characters")
    return text


class Connections:
    def __init__(
        self,
        store: Store,
        secrets: SecretStore,
        audit: AuditLog,
        *,
        secret_ids: dict[str, str],  # openai, hubspot_token, hubspot_webhook -> secret id
        resume_connection: Callable[[str], Any],
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.audit = audit
        self.secret_ids = secret_ids
        self.resume_connection = resume_connection

    def _present(self, key: str) -> bool:
        try:
            return bool(self.secrets.read(self.secret_ids[key]).strip())
        except NotFound:
            return False

    def _record(self, name: str) -> dict[str, Any]:
        snap = self.store.db.collection(CONNECTIONS).document(name).get()
        return snap.to_dict() or {} if snap.exists else {}

    def overview(self) -> dict[str, Any]:
        mailboxes = []
        for snap in self.store.db.collection("mailboxes").stream():
            data = snap.to_dict() or {}
            watch = data.get("watch") or {}
            mailboxes.append(
                {
                    "email": snap.id,
                    "status": data.get("status"),
                    "reason": (data.get("attention") or {}).get("reason"),
                    "connected_at": data.get("connected_at"),
                    "last_sync_at": data.get("last_sync_at"),
                    "watch": {
                        "status": watch.get("status"),
                        "expires_at": watch.get("expires_at"),
                    },
                    "reconnect": data.get("status") != "connected",
                }
            )
        openai = self._record("openai")
        hubspot = self._record("hubspot")
        has_key = self._present("openai")
        return {
            "mailboxes": sorted(mailboxes, key=lambda m: str(m["email"])),
            "openai": {
                "configured": has_key,
                "mode": "LLM" if has_key else "offline drafter (no OpenAI key stored)",
                "status": openai.get("status") or ("connected" if has_key else "not configured"),
                "reason": (openai.get("attention") or {}).get("reason"),
                "updated_at": openai.get("updated_at"),
                "updated_by": openai.get("updated_by"),
            },
            "hubspot": {
                "token": self._present("hubspot_token"),
                "webhook_secret": self._present("hubspot_webhook"),
                "status": hubspot.get("status")
                or ("connected" if self._present("hubspot_token") else "not configured"),
                "reason": (hubspot.get("attention") or {}).get("reason"),
                "updated_at": hubspot.get("updated_at"),
                "updated_by": hubspot.get("updated_by"),
            },
        }

    def set_openai_key(self, key: Any, *, who: str) -> dict[str, Any]:
        return self._store_credentials("openai", {"openai": _credential(key, "key")}, who)

    def remove_openai_key(self, *, who: str) -> dict[str, Any]:
        """Back to the offline drafter: every version of the key is destroyed."""
        destroyed = self.secrets.destroy(self.secret_ids["openai"])
        self._mark("openai", "not configured", who)
        self.audit.record("credential_removed", connection="openai", who=who)
        return {"connection": "openai", "status": "not configured", "destroyed": destroyed}

    def set_hubspot(self, body: dict[str, Any], *, who: str) -> dict[str, Any]:
        values: dict[str, str] = {}
        if body.get("token") is not None:
            values["hubspot_token"] = _credential(body["token"], "token")
        if body.get("webhook_secret") is not None:
            values["hubspot_webhook"] = _credential(body["webhook_secret"], "webhook_secret")
        if not values:
            raise BadRequest('give "token" and/or "webhook_secret"')
        return self._store_credentials("hubspot", values, who)

    def _store_credentials(self, name: str, values: dict[str, str], who: str) -> dict[str, Any]:
        changed = [
            key for key, value in values.items() if self.secrets.write(self.secret_ids[key], value)
        ]
        self._mark(name, "connected", who)
        self.audit.record(
            "credential_changed", connection=name, who=who, changed=changed or ["(same value)"]
        )
        resumed = self.resume_connection(name)
        log.info("credential stored", extra={"fields": {"connection": name, "changed": changed}})
        return {"connection": name, "status": "connected", "changed": changed, "resumed": resumed}

    def _mark(self, name: str, status: str, who: str) -> None:
        self.store.db.collection(CONNECTIONS).document(name).set(
            {"status": status, "attention": None, "updated_at": _now(), "updated_by": who},
            merge=True,
        )
