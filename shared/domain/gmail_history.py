"""Reading Gmail push notifications and history pages: what to fetch, where the cursor goes. Pure.

A push only says "something changed in this mailbox"; what changed is read from the mailbox's
own stored cursor, never from the notification's historyId (notifications are dropped,
duplicated and reordered). History pages list changes in record order; a message becomes a
candidate when it is added with, or later given, the INBOX or SENT label, and never while it
is a draft, spam or trash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.domain.addresses import normalize_email

MAX_PUSH_BYTES = 64 * 1024
READ_LABELS = frozenset({"INBOX", "SENT"})
SKIP_LABELS = frozenset({"DRAFT", "SPAM", "TRASH", "CHAT"})
_HISTORY_ID = re.compile(r"^[0-9]{1,20}$")


class UndecodablePush(ValueError):
    """A push whose body cannot be read. Acknowledged (redelivery cannot fix it), logged."""


@dataclass(frozen=True)
class PushNotice:
    email: str
    history_id: int
    message_id: str | None = None  # Pub/Sub's id of the push, for the logs


def decode_push(body: bytes) -> PushNotice:
    """The mailbox and historyId of a Pub/Sub push body; UndecodablePush says what is wrong."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UndecodablePush("body is not JSON") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise UndecodablePush("no message object")
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise UndecodablePush("message has no data")
    try:
        decoded = base64.b64decode(data + "=" * (-len(data) % 4), altchars=b"-_", validate=False)
        payload = json.loads(decoded)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise UndecodablePush("data is not base64 JSON") from None
    if not isinstance(payload, dict):
        raise UndecodablePush("data is not a JSON object")
    email = normalize_email(str(payload.get("emailAddress") or ""))
    if email is None:
        raise UndecodablePush("emailAddress missing or invalid")
    raw_history = payload.get("historyId")
    if isinstance(raw_history, bool) or not isinstance(raw_history, int | str):
        raise UndecodablePush("historyId missing")
    text = str(raw_history).strip()
    if not _HISTORY_ID.match(text):
        raise UndecodablePush("historyId is not a number")
    pubsub_id = message.get("messageId") or message.get("message_id")
    return PushNotice(email, int(text), str(pubsub_id) if pubsub_id else None)


def sync_task_id(email: str, history_id: int) -> str:
    """The Cloud Tasks id of the sync one push asks for: the mailbox (hashed, so no address
    sits in a task name) and the push's historyId. A redelivered push names the same task,
    which Cloud Tasks refuses to create twice; a newer change names a new one."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:20]
    return f"sync-{digest}-{int(history_id)}"


@dataclass(frozen=True)
class Candidate:
    """A message to read once: Gmail id, thread and the labels history showed."""

    gmail_id: str
    thread_id: str
    labels: frozenset[str]


def readable(labels: Iterable[str]) -> bool:
    """Whether a message with these labels is one we route (inbound or sent, not a draft)."""
    found = {label.upper() for label in labels}
    return bool(found & READ_LABELS) and not found & SKIP_LABELS


def candidates(page: Mapping[str, Any]) -> list[Candidate]:
    """New INBOX/SENT messages of one `history.list` page, each once, in record order.

    A message drafted, trashed or marked spam later in the same page is dropped; malformed
    records and entries are skipped.
    """
    seen: dict[str, Candidate] = {}
    for record in _objects(page.get("history")):
        for added in _objects(record.get("messagesAdded")):
            _take(seen, added.get("message"), ())
        for labelled in _objects(record.get("labelsAdded")):
            added_labels = {str(label).upper() for label in _strings(labelled.get("labelIds"))}
            message = labelled.get("message")
            if added_labels & SKIP_LABELS and isinstance(message, dict):
                seen.pop(str(message.get("id")), None)
            elif added_labels & READ_LABELS:
                _take(seen, message, added_labels)
    return list(seen.values())


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _take(seen: dict[str, Candidate], message: Any, extra: Iterable[str]) -> None:
    if not isinstance(message, dict) or not message.get("id"):
        return
    labels = frozenset({label.upper() for label in _strings(message.get("labelIds"))})
    labels |= frozenset(extra)
    gmail_id = str(message["id"])
    if not readable(labels):
        seen.pop(gmail_id, None)  # drafted or trashed later in the same page: not now
        return
    seen[gmail_id] = Candidate(gmail_id, str(message.get("threadId") or gmail_id), labels)


def page_cursor(page: Mapping[str, Any]) -> int | None:
    """Where the cursor may move once this page's messages are recorded.

    The last page carries the mailbox's current historyId; an earlier page only proves the
    records it listed, so the cursor goes to its last record id.
    """
    if not page.get("nextPageToken") and _is_id(page.get("historyId")):
        return int(str(page["historyId"]))
    ids = [int(str(r["id"])) for r in _objects(page.get("history")) if _is_id(r.get("id"))]
    return max(ids) if ids else None


def _is_id(value: Any) -> bool:
    return value is not None and bool(_HISTORY_ID.match(str(value)))


def forward(stored: str | int | None, candidate: int | None) -> int | None:
    """The cursor never moves back."""
    current = int(stored) if stored is not None and _is_id(stored) else None
    if candidate is None:
        return current
    return candidate if current is None else max(current, candidate)


@dataclass(frozen=True)
class ResyncWindow:
    query: str
    since: datetime
    clipped: bool  # the gap was longer than the longest span we look back over


def resync_window(
    last_synced: datetime | None, now: datetime, *, max_days: int, margin: timedelta
) -> ResyncWindow:
    """The `messages.list` query that covers the span a lost history cursor missed."""
    oldest = now - timedelta(days=max_days)
    since = (last_synced - margin) if last_synced is not None else oldest
    clipped = since < oldest
    since = max(since, oldest)
    query = f"after:{int(since.timestamp())} -in:drafts -in:spam -in:trash -in:chats"
    return ResyncWindow(query, since, clipped)


def token_secret_name(email: str) -> str:
    """Secret Manager id of a mailbox's refresh token: readable, and unique per address
    (`maya.x@` and `maya-x@` share a slug, so a short hash of the address follows it)."""
    address = email.strip().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", address).strip("-")[:160]
    digest = hashlib.sha256(address.encode()).hexdigest()[:10]
    return f"gmail-refresh-{slug}-{digest}"


def message_doc_id(mailbox: str, gmail_id: str) -> str:
    return f"{mailbox}:{gmail_id}"


def thread_doc_id(mailbox: str, thread_id: str) -> str:
    return f"{mailbox}:{thread_id}"
