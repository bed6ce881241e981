"""Gmail API v1 fake, spoken to by google-api-python-client (``build("gmail", "v1", ...)``).

Several mailboxes, each with messages (stored as RFC 822 bytes and parsed with the stdlib email
parser), threads, drafts, labels and a history log. Every change (message added or deleted,
labels added or removed) takes the next historyId, as in Gmail.

Faithful points worth knowing:

- Threading follows Gmail's documented rules: a message joins the ``threadId`` it names only if
  it carries ``References``/``In-Reply-To`` and its normalized Subject matches the thread;
  otherwise it starts a new thread. Inbound mail (deliver/insert/import without threadId) joins
  the thread of a message it references when the subjects match.
- ``messages.send`` keeps the caller's ``Message-ID``; it adds one (and ``Date``/``From``) only
  when missing. There is no idempotency key: search ``rfc822msgid:`` to find an earlier send.
- ``history.list`` returns records *after* ``startHistoryId``; one older than the retained
  history (see :meth:`FakeGmail.expire_history`) answers 404.
- ``users.watch`` notifications (``{"emailAddress", "historyId"}``) go to ``on_notify`` and, if
  ``pubsub_emulator_host`` is set, to that Pub/Sub emulator topic; at most one a second per
  mailbox, as Gmail.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import html
import itertools
import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from typing import Any

from flask import Response, jsonify, request

from devstack.fakes.base import JSON, FakeHTTPError, ViewResult
from devstack.fakes.google import GMAIL_SCOPES, GoogleAccounts, GoogleApiService

SYSTEM_LABELS = (
    "CHAT",
    "SENT",
    "INBOX",
    "IMPORTANT",
    "TRASH",
    "DRAFT",
    "SPAM",
    "CATEGORY_FORUMS",
    "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_SOCIAL",
    "STARRED",
    "UNREAD",
)
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
WATCH_LIFETIME_MS = 7 * 24 * 3600 * 1000
FIRST_HISTORY_ID = 1000

_id_counter = itertools.count(1)
_PREFIX_RE = re.compile(r"^\s*((re|fw|fwd|aw|sv|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TOKEN_RE = re.compile(r'-?[A-Za-z_]+:"[^"]*"|-?"[^"]*"|[{}()]|[^\s{}()]+')
_TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")


def new_gmail_id() -> str:
    """A 16-hex-digit id that grows with time, like Gmail's message and thread ids."""
    return format((int(time.time() * 1000) << 20) + next(_id_counter) % (1 << 20), "x")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def decode_b64url(value: str) -> bytes:
    """Decode base64url with or without padding (also plain base64); ValueError if garbage."""
    text = value.strip().replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64url") from exc


def make_message(
    from_: str,
    to: str | Iterable[str],
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | Iterable[str] | None = None,
    date: float | None = None,
    html_body: str | None = None,
    cc: str | Iterable[str] | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """Build an RFC 822 message for :meth:`FakeGmail.deliver` and for tests."""
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        msg["Cc"] = cc if isinstance(cc, str) else ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(
        _utc_datetime(date if date is not None else time.time()), usegmt=True
    )
    msg["Message-ID"] = message_id or make_msgid(domain=_domain_of(from_))
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references if isinstance(references, str) else " ".join(references)
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html_body is not None:
        msg.add_alternative(html_body, subtype="html")
    return msg


def _utc_datetime(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def _domain_of(address: str) -> str:
    addresses = getaddresses([address])
    addr = addresses[0][1] if addresses else ""
    return addr.rpartition("@")[2] or "mail.gmail.com"


def _as_bytes(message: bytes | str | Message) -> bytes:
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        return message.encode("utf-8")
    return message.as_bytes(policy=email.policy.SMTP)


def _decoded(value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(make_header(decode_header(_unfold(value))))
    except (UnicodeDecodeError, LookupError, ValueError):
        return _unfold(value)


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", str(value))


def _normalize_subject(subject: str) -> str:
    return " ".join(_PREFIX_RE.sub("", subject).split()).lower()


def _strip_id(value: str) -> str:
    return value.strip().strip("<>").strip()


def _message_ids(value: str | None) -> list[str]:
    return [_strip_id(m) for m in re.findall(r"<[^<>\s]+>", _unfold(value or ""))]


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    internal_date: int
    history_id: int
    sequence: int
    parsed: Message = field(repr=False)

    def header(self, name: str) -> str:
        return _decoded(self.parsed.get(name))

    @property
    def message_id(self) -> str:
        return _strip_id(_unfold(self.parsed.get("Message-ID", "")))

    def text(self) -> str:
        """The first text/plain part (or text/html without tags), decoded."""
        html_text = ""
        for part in self.parsed.walk():
            if part.is_multipart() or part.get_filename():
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            charset = part.get_content_charset() or "utf-8"
            try:
                text = payload.decode(charset, errors="replace")
            except LookupError:
                text = payload.decode("utf-8", errors="replace")
            if part.get_content_type() == "text/plain":
                return text
            if part.get_content_type() == "text/html" and not html_text:
                html_text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        return html_text

    def snippet(self) -> str:
        text = " ".join(self.text().split())[:200]
        return html.escape(text, quote=True).replace("&#x27;", "&#39;")

    def ref(self) -> JSON:
        return {"id": self.id, "threadId": self.thread_id}

    def summary(self) -> JSON:
        return {
            "id": self.id,
            "threadId": self.thread_id,
            "labelIds": list(self.label_ids),
            "internalDate": str(self.internal_date),
            "message_id": self.message_id,
            "from": self.header("From"),
            "to": self.header("To"),
            "cc": self.header("Cc"),
            "subject": self.header("Subject"),
            "in_reply_to": self.header("In-Reply-To"),
            "references": self.header("References"),
            "body": self.text(),
            "raw": self.raw,
        }


@dataclass
class HistoryRecord:
    id: int
    kind: str
    message: JSON
    changed_labels: list[str] = field(default_factory=list)

    def involves(self, label_id: str) -> bool:
        return label_id in self.message.get("labelIds", []) or label_id in self.changed_labels

    def as_json(self) -> JSON:
        ref = {"id": self.message["id"], "threadId": self.message["threadId"]}
        body: JSON = {"id": str(self.id), "messages": [ref]}
        if self.kind == "messageAdded":
            body["messagesAdded"] = [{"message": dict(self.message)}]
        elif self.kind == "messageDeleted":
            body["messagesDeleted"] = [{"message": dict(self.message)}]
        elif self.kind == "labelAdded":
            body["labelsAdded"] = [{"message": dict(self.message), "labelIds": self.changed_labels}]
        else:
            body["labelsRemoved"] = [
                {"message": dict(self.message), "labelIds": self.changed_labels}
            ]
        return body


@dataclass
class Mailbox:
    email: str
    history_id: int = FIRST_HISTORY_ID
    history_floor: int = 0
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)
    drafts: dict[str, str] = field(default_factory=dict)
    user_labels: dict[str, JSON] = field(default_factory=dict)
    watch: JSON | None = None
    sequence: int = 0
    last_notify: float = 0.0
    notify_pending: bool = False

    def threads(self) -> dict[str, list[StoredMessage]]:
        grouped: dict[str, list[StoredMessage]] = {}
        for msg in sorted(self.messages.values(), key=lambda m: (m.internal_date, m.sequence)):
            grouped.setdefault(msg.thread_id, []).append(msg)
        return grouped

    def label_exists(self, label_id: str) -> bool:
        return label_id in SYSTEM_LABELS or label_id in self.user_labels


# --------------------------------------------------------------------------- search


@dataclass
class Term:
    key: str
    value: str
    negate: bool = False


def parse_query(q: str) -> list[list[Term]]:
    """Gmail search syntax, enough of it: AND of clauses, each an OR of terms."""
    clauses: list[list[Term]] = []
    pending_or = False
    in_braces = False
    for token in _TOKEN_RE.findall(q or ""):
        if token in {"(", ")"}:
            continue
        if token == "{":
            in_braces = True
            clauses.append([])
            continue
        if token == "}":
            in_braces = False
            continue
        if token == "OR":
            pending_or = True
            continue
        negate = token.startswith("-") and len(token) > 1
        body = token[1:] if negate else token
        key, sep, value = body.partition(":")
        if not sep or not value or not key.replace("_", "").isalnum():
            key, value = "", body
        term = Term(key.lower(), value.strip('"'), negate)
        if (pending_or or in_braces) and clauses:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        pending_or = False
    return [c for c in clauses if c]


def _date_value(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    match = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if match:
        from datetime import UTC, datetime

        year, month, day = (int(x) for x in match.groups())
        return datetime(year, month, day, tzinfo=UTC).timestamp()
    return None


def _relative_seconds(value: str) -> float | None:
    match = re.fullmatch(r"(\d+)([dmyh])", value.lower())
    if not match:
        return None
    unit = {"h": 3600, "d": 86400, "m": 30 * 86400, "y": 365 * 86400}[match.group(2)]
    return int(match.group(1)) * unit


class FakeGmail(GoogleApiService):
    """Gmail fake. Seed JSON (all keys optional)::

    {"mailboxes": ["rep@acme.test"],
     "deliver": [{"mailbox": "rep@acme.test", "eml": "From: ...\\r\\n\\r\\nbody",
                  "labels": ["INBOX", "UNREAD"]},
                 {"mailbox": "rep@acme.test", "raw": "<base64url>"},
                 {"mailbox": "rep@acme.test", "message": {"from": "...", "to": "...",
                  "subject": "...", "body": "...", "message_id": "<...>"}}],
     "mailbox": "rep@acme.test", "expire_history_before": 1234,
     "pubsub_emulator_host": "127.0.0.1:8085"}
    """

    name = "gmail"

    def __init__(
        self,
        accounts: GoogleAccounts | None = None,
        pubsub_emulator_host: str | None = None,
        on_notify: Callable[[str, JSON], None] | None = None,
    ) -> None:
        super().__init__(accounts if accounts is not None else GoogleAccounts())
        self.mailboxes: dict[str, Mailbox] = {}
        self.pubsub_emulator_host = pubsub_emulator_host
        self.on_notify = on_notify
        self.notifications: list[JSON] = []
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def mailbox(self, email_address: str) -> Mailbox:
        """The mailbox of `email_address`, created (with its account) if new."""
        key = email_address.lower()
        with self.lock:
            if key not in self.mailboxes:
                self.accounts.add(key)
                self.mailboxes[key] = Mailbox(key)
            return self.mailboxes[key]

    def deliver(
        self,
        mailbox: str,
        message: bytes | str | Message,
        labels: Iterable[str] = ("INBOX", "UNREAD"),
        thread_id: str | None = None,
        internal_date: float | None = None,
    ) -> str:
        """An inbound message arrives (threaded by its references); returns its Gmail id."""
        with self.lock:
            mb = self.mailbox(mailbox)
            msg = self._add_message(
                mb,
                _as_bytes(message),
                list(labels),
                thread_id,
                inbound=True,
                internal_date_ms=int(internal_date * 1000) if internal_date else None,
            )
            return msg.id

    def messages(self, mailbox: str) -> list[JSON]:
        with self.lock:
            mb = self.mailbox(mailbox)
            return [m.summary() for m in self._ordered(mb.messages.values())]

    def sent(self, mailbox: str) -> list[JSON]:
        """Messages with the SENT label, newest first, as summaries (raw, headers, body)."""
        return [m for m in self.messages(mailbox) if "SENT" in m["labelIds"]]

    def drafts(self, mailbox: str) -> list[JSON]:
        with self.lock:
            mb = self.mailbox(mailbox)
            return [
                {"id": draft_id, "message": mb.messages[message_id].summary()}
                for draft_id, message_id in mb.drafts.items()
            ]

    def history_id(self, mailbox: str) -> int:
        with self.lock:
            return self.mailbox(mailbox).history_id

    def expire_history(self, mailbox: str, before_history_id: int) -> None:
        """Drop history before `before_history_id`: an older startHistoryId then gets 404."""
        with self.lock:
            mb = self.mailbox(mailbox)
            mb.history_floor = max(mb.history_floor, int(before_history_id))
            mb.history = [r for r in mb.history if r.id >= mb.history_floor]

    def watch_of(self, mailbox: str) -> JSON | None:
        with self.lock:
            watch = self.mailbox(mailbox).watch
            return dict(watch) if watch else None

    # ----------------------------------------------------------------- FakeService hooks

    def _reset_state(self) -> None:
        self.mailboxes.clear()
        self.notifications.clear()

    def _seed(self, data: JSON) -> None:
        if "pubsub_emulator_host" in data:
            self.pubsub_emulator_host = data["pubsub_emulator_host"]
        for address in data.get("mailboxes", []):
            self.mailbox(address)
        for item in data.get("deliver", []):
            self.deliver(
                item["mailbox"],
                self._seed_message(item),
                labels=item.get("labels", ("INBOX", "UNREAD")),
                thread_id=item.get("threadId"),
                internal_date=item.get("internal_date"),
            )
        if "expire_history_before" in data:
            if "mailbox" not in data:
                raise FakeHTTPError(400, "expire_history_before needs mailbox")
            self.expire_history(data["mailbox"], int(data["expire_history_before"]))

    @staticmethod
    def _seed_message(item: JSON) -> bytes | Message:
        if "eml" in item:
            return str(item["eml"]).encode("utf-8")
        if "raw" in item:
            return decode_b64url(item["raw"])
        spec = item.get("message") or {}
        return make_message(
            spec["from"],
            spec["to"],
            spec.get("subject", ""),
            spec.get("body", ""),
            message_id=spec.get("message_id"),
            in_reply_to=spec.get("in_reply_to"),
            references=spec.get("references"),
            date=spec.get("date"),
        )

    def _state(self) -> JSON:
        return {
            "mailboxes": {
                address: {
                    "historyId": mb.history_id,
                    "history_floor": mb.history_floor,
                    "watch": mb.watch,
                    "drafts": dict(mb.drafts),
                    "messages": [
                        {k: v for k, v in m.summary().items() if k not in {"raw", "body"}}
                        for m in self._ordered(mb.messages.values())
                    ],
                }
                for address, mb in self.mailboxes.items()
            },
            "notifications": list(self.notifications),
        }

    # ----------------------------------------------------------------- core state changes

    def _bump(self, mb: Mailbox, kind: str, msg: StoredMessage, changed: list[str]) -> None:
        mb.history_id += 1
        msg.history_id = mb.history_id
        snapshot: JSON = {"id": msg.id, "threadId": msg.thread_id}
        if kind != "messageDeleted":
            snapshot["labelIds"] = list(msg.label_ids)
        record = HistoryRecord(mb.history_id, kind, snapshot, list(changed))
        mb.history.append(record)
        self._maybe_notify(mb, record)

    def _add_message(
        self,
        mb: Mailbox,
        raw: bytes,
        labels: list[str],
        thread_hint: str | None,
        *,
        inbound: bool,
        internal_date_ms: int | None = None,
        force_thread: str | None = None,
    ) -> StoredMessage:
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        thread_id = force_thread or self._thread_for(mb, parsed, thread_hint, inbound)
        if internal_date_ms is None:
            internal_date_ms = int(time.time() * 1000)
        mb.sequence += 1
        msg = StoredMessage(
            id=new_gmail_id(),
            thread_id="",
            raw=raw,
            label_ids=list(dict.fromkeys(labels)),
            internal_date=internal_date_ms,
            history_id=mb.history_id,
            sequence=mb.sequence,
            parsed=parsed,
        )
        msg.thread_id = thread_id or msg.id
        mb.messages[msg.id] = msg
        self._bump(mb, "messageAdded", msg, [])
        return msg

    def _thread_for(
        self, mb: Mailbox, parsed: Message, thread_hint: str | None, inbound: bool
    ) -> str | None:
        refs = _message_ids(parsed.get("In-Reply-To")) + _message_ids(parsed.get("References"))
        subject = _normalize_subject(_decoded(parsed.get("Subject")))
        threads = mb.threads()

        def subject_matches(thread_id: str) -> bool:
            return any(
                _normalize_subject(m.header("Subject")) == subject for m in threads[thread_id]
            )

        if thread_hint:
            if thread_hint in threads and refs and subject_matches(thread_hint):
                return thread_hint
            return None
        if inbound and refs:
            by_message_id = {m.message_id: m for m in mb.messages.values() if m.message_id}
            for ref in reversed(refs):
                found = by_message_id.get(ref)
                if found is not None and subject_matches(found.thread_id):
                    return found.thread_id
        return None

    def _modify(
        self, mb: Mailbox, msg: StoredMessage, add: Iterable[str], remove: Iterable[str]
    ) -> None:
        added = [label for label in dict.fromkeys(add) if label not in msg.label_ids]
        removed = [label for label in dict.fromkeys(remove) if label in msg.label_ids]
        if added:
            msg.label_ids.extend(added)
            self._bump(mb, "labelAdded", msg, added)
        if removed:
            msg.label_ids = [label for label in msg.label_ids if label not in removed]
            self._bump(mb, "labelRemoved", msg, removed)

    def _delete(self, mb: Mailbox, msg: StoredMessage) -> None:
        del mb.messages[msg.id]
        self._bump(mb, "messageDeleted", msg, [])

    # ----------------------------------------------------------------- push notifications

    def _maybe_notify(self, mb: Mailbox, record: HistoryRecord) -> None:
        watch = mb.watch
        if not watch or int(watch["expiration"]) < time.time() * 1000:
            return
        label_ids = watch.get("labelIds") or []
        if label_ids:
            hit = any(record.involves(label) for label in label_ids)
            if (watch.get("labelFilterBehavior") or "include").lower() == "exclude":
                hit = not hit
            if not hit:
                return
        if mb.notify_pending:
            return
        mb.notify_pending = True
        wait = max(0.0, mb.last_notify + 1.0 - time.time())
        timer = threading.Timer(wait, self._send_notification, args=(mb,))
        timer.daemon = True
        timer.start()

    def _send_notification(self, mb: Mailbox) -> None:
        with self.lock:
            mb.notify_pending = False
            mb.last_notify = time.time()
            watch = mb.watch
            if not watch:
                return
            data = {"emailAddress": mb.email, "historyId": mb.history_id}
            topic = str(watch["topicName"])
            entry: JSON = {"topic": topic, "data": data, "time": mb.last_notify}
            self.notifications.append(entry)
            host = self.pubsub_emulator_host
            callback = self.on_notify
        if callback is not None:
            callback(topic, data)
        if host:
            entry["published"] = self._publish(host, topic, data)

    @staticmethod
    def _publish(host: str, topic: str, data: JSON) -> str:
        hostname = host.split(":", 1)[0]
        if hostname not in {"127.0.0.1", "localhost"}:
            return "refused: the fake publishes only to 127.0.0.1"
        body = json.dumps(
            {"messages": [{"data": base64.b64encode(json.dumps(data).encode()).decode()}]}
        ).encode()
        req = urllib.request.Request(
            f"http://{host}/v1/{topic}:publish",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                return f"ok {response.status}"
        except OSError as exc:
            return f"error: {exc}"

    # ----------------------------------------------------------------- HTTP helpers

    def _user(self, user_id: str, kind: str = "read") -> Mailbox:
        grant = self.authenticate(GMAIL_SCOPES[kind])
        if user_id != "me" and user_id.lower() != grant.email:
            raise FakeHTTPError(403, f"Delegation denied for {grant.email}", reason="forbidden")
        return self.mailbox(grant.email)

    @staticmethod
    def _json_body() -> JSON:
        data = request.get_json(silent=True)
        if data is None and request.get_data():
            raise FakeHTTPError(400, "Invalid JSON payload received.", reason="parseError")
        return data or {}

    @staticmethod
    def _raw_from(body: JSON) -> bytes:
        raw = body.get("raw")
        if not raw:
            raise FakeHTTPError(
                400,
                "'raw' RFC822 payload message string or uploading message via /upload/* URL "
                "required",
                reason="invalidArgument",
            )
        try:
            return decode_b64url(str(raw))
        except ValueError as exc:
            raise FakeHTTPError(
                400,
                "Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed",
                reason="invalid",
            ) from exc

    @staticmethod
    def _message(mb: Mailbox, message_id: str) -> StoredMessage:
        if not re.fullmatch(r"[0-9a-fA-F]{1,20}", message_id):
            raise FakeHTTPError(400, "Invalid id value", reason="invalidArgument")
        msg = mb.messages.get(message_id)
        if msg is None:
            raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")
        return msg

    @staticmethod
    def _ordered(messages: Iterable[StoredMessage]) -> list[StoredMessage]:
        return sorted(messages, key=lambda m: (m.internal_date, m.sequence), reverse=True)

    @staticmethod
    def _page(items: list[Any], default: int = 100, limit: int = 500) -> tuple[list[Any], str]:
        try:
            size = int(request.args.get("maxResults", default))
        except ValueError as exc:
            raise FakeHTTPError(400, "Invalid maxResults", reason="invalidArgument") from exc
        size = max(1, min(size, limit))
        token = request.args.get("pageToken")
        start = 0
        if token:
            try:
                start = int(decode_b64url(token).decode())
            except (ValueError, UnicodeDecodeError) as exc:
                raise FakeHTTPError(400, "Invalid pageToken", reason="invalidArgument") from exc
        page = items[start : start + size]
        next_token = b64url(str(start + size).encode()) if start + size < len(items) else ""
        return page, next_token

    def _message_json(
        self, msg: StoredMessage, fmt: str = "full", metadata_headers: Iterable[str] = ()
    ) -> JSON:
        fmt = (fmt or "full").lower()
        if fmt not in {"full", "metadata", "minimal", "raw"}:
            raise FakeHTTPError(400, f"Invalid value for format: {fmt}", reason="invalidArgument")
        body: JSON = {"id": msg.id, "threadId": msg.thread_id}
        if msg.label_ids:
            body["labelIds"] = list(msg.label_ids)
        body["snippet"] = msg.snippet()
        body["sizeEstimate"] = len(msg.raw)
        body["historyId"] = str(msg.history_id)
        body["internalDate"] = str(msg.internal_date)
        if fmt == "raw":
            body["raw"] = b64url(msg.raw)
        elif fmt == "metadata":
            wanted = {h.lower() for h in metadata_headers}
            headers = [
                {"name": name, "value": _unfold(value)}
                for name, value in msg.parsed.items()
                if not wanted or name.lower() in wanted
            ]
            body["payload"] = {"mimeType": msg.parsed.get_content_type(), "headers": headers}
        elif fmt == "full":
            body["payload"] = self._part_json(msg, msg.parsed, "")
        return body

    def _part_json(self, msg: StoredMessage, part: Message, part_id: str) -> JSON:
        node: JSON = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": [{"name": k, "value": _unfold(v)} for k, v in part.items()],
        }
        if part.is_multipart():
            node["body"] = {"size": 0}
            children = part.get_payload()
            assert isinstance(children, list)
            node["parts"] = [
                self._part_json(msg, child, f"{part_id}.{i}" if part_id else str(i))
                for i, child in enumerate(children)
            ]
            return node
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        if node["filename"] or part.get_content_disposition() == "attachment":
            node["body"] = {"attachmentId": self._attachment_id(msg, part_id), "size": len(payload)}
        elif payload:
            node["body"] = {"size": len(payload), "data": b64url(payload)}
        else:
            node["body"] = {"size": 0}
        return node

    @staticmethod
    def _attachment_id(msg: StoredMessage, part_id: str) -> str:
        digest = hashlib.sha256(f"{msg.id}/{part_id}".encode()).digest()
        return "ANGjdJ" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _matches(self, mb: Mailbox, msg: StoredMessage, clauses: list[list[Term]]) -> bool:
        return all(any(self._term(mb, msg, t) != t.negate for t in clause) for clause in clauses)

    def _term(self, mb: Mailbox, msg: StoredMessage, term: Term) -> bool:
        key, value = term.key, term.value.lower()
        labels = msg.label_ids
        if key == "in":
            value = {"drafts": "draft", "chats": "chat"}.get(value, value)
            return value == "anywhere" or value.upper() in labels
        if key == "is":
            if value == "read":
                return "UNREAD" not in labels
            return value.upper() in labels
        if key == "label":
            names = {label.lower() for label in labels} | {
                str(mb.user_labels[label]["name"]).lower().replace(" ", "-").replace("/", "-")
                for label in labels
                if label in mb.user_labels
            }
            return value.replace(" ", "-").replace("/", "-") in names or value in names
        if key in {"from", "to", "cc", "bcc", "deliveredto", "list"}:
            header = {"deliveredto": "Delivered-To", "list": "List-Id"}.get(key, key)
            needle = mb.email if value == "me" else value
            return needle in msg.header(header).lower()
        if key == "subject":
            return value in msg.header("Subject").lower()
        if key == "rfc822msgid":
            return _strip_id(term.value) == msg.message_id
        if key in {"after", "before", "newer", "older"}:
            moment = _date_value(value)
            if moment is None:
                return False
            if key in {"after", "newer"}:
                return msg.internal_date > moment * 1000
            return msg.internal_date < moment * 1000
        if key in {"newer_than", "older_than"}:
            span = _relative_seconds(value)
            if span is None:
                return False
            cutoff = (time.time() - span) * 1000
            return msg.internal_date > cutoff if key == "newer_than" else msg.internal_date < cutoff
        if key == "has" and value == "attachment":
            return any(part.get_filename() for part in msg.parsed.walk())
        if key == "filename":
            return any(value in (part.get_filename() or "").lower() for part in msg.parsed.walk())
        if key == "category":
            return f"CATEGORY_{value.upper()}" in labels
        text = " ".join(
            [msg.header("Subject"), msg.header("From"), msg.header("To"), msg.text()]
        ).lower()
        needle = f"{key}:{value}" if key else value
        return needle in text

    def _search(self, mb: Mailbox) -> list[StoredMessage]:
        q = request.args.get("q", "")
        clauses = parse_query(q)
        label_ids = request.args.getlist("labelIds")
        include_spam_trash = request.args.get("includeSpamTrash", "false").lower() == "true"
        explicit = any(
            t.key == "in" and t.value.lower() in {"trash", "spam", "anywhere"}
            for clause in clauses
            for t in clause
        )
        found = []
        for msg in self._ordered(mb.messages.values()):
            hidden = {"SPAM", "TRASH"} & set(msg.label_ids)
            if hidden and not include_spam_trash and not explicit and not (hidden & set(label_ids)):
                continue
            if not all(label in msg.label_ids for label in label_ids):
                continue
            if self._matches(mb, msg, clauses):
                found.append(msg)
        return found

    def _check_labels(self, mb: Mailbox, label_ids: Iterable[str]) -> list[str]:
        labels = list(label_ids or [])
        for label in labels:
            if not mb.label_exists(label):
                raise FakeHTTPError(400, f"Invalid label: {label}", reason="invalidArgument")
        return labels

    @staticmethod
    def _ensure_headers(raw: bytes, mb: Mailbox) -> bytes:
        """Add Message-ID, Date and From when missing, as Gmail does; keep everything else."""
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
        extra: list[str] = []
        if not parsed.get("Message-ID"):
            extra.append(f"Message-ID: <CAFake{uuid.uuid4().hex}@mail.gmail.com>")
        if not parsed.get("Date"):
            extra.append(f"Date: {format_datetime(_utc_datetime(time.time()))}")
        if not parsed.get("From"):
            extra.append(f"From: {mb.email}")
        if not extra:
            return raw
        return newline.join(line.encode() for line in extra) + newline + raw

    @staticmethod
    def _check_recipients(raw: bytes) -> None:
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        fields = [
            _unfold(value) for name in ("To", "Cc", "Bcc") for value in parsed.get_all(name, [])
        ]
        addresses = [addr for _, addr in getaddresses(fields)]
        if not addresses:
            raise FakeHTTPError(400, "Recipient address required", reason="invalidArgument")
        for addr in addresses:
            if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
                raise FakeHTTPError(400, f"Invalid To header: {addr}", reason="invalidArgument")

    # ----------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        base = "/gmail/v1/users/<user_id>"
        routes: list[tuple[str, tuple[str, ...], Callable[..., ViewResult]]] = [
            ("/profile", ("GET",), self._get_profile),
            ("/watch", ("POST",), self._watch),
            ("/stop", ("POST",), self._stop),
            ("/labels", ("GET",), self._labels_list),
            ("/labels", ("POST",), self._labels_create),
            ("/labels/<label_id>", ("GET",), self._labels_get),
            ("/labels/<label_id>", ("DELETE",), self._labels_delete),
            ("/messages", ("GET",), self._messages_list),
            ("/messages", ("POST",), self._messages_insert),
            ("/messages/import", ("POST",), self._messages_import),
            ("/messages/send", ("POST",), self._messages_send),
            ("/messages/batchModify", ("POST",), self._messages_batch_modify),
            ("/messages/<message_id>", ("GET",), self._messages_get),
            ("/messages/<message_id>", ("DELETE",), self._messages_delete),
            ("/messages/<message_id>/modify", ("POST",), self._messages_modify),
            ("/messages/<message_id>/trash", ("POST",), self._messages_trash),
            ("/messages/<message_id>/untrash", ("POST",), self._messages_untrash),
            ("/messages/<message_id>/attachments/<attachment_id>", ("GET",), self._attachments_get),
            ("/threads", ("GET",), self._threads_list),
            ("/threads/<thread_id>", ("GET",), self._threads_get),
            ("/threads/<thread_id>/modify", ("POST",), self._threads_modify),
            ("/drafts", ("GET",), self._drafts_list),
            ("/drafts", ("POST",), self._drafts_create),
            ("/drafts/send", ("POST",), self._drafts_send),
            ("/drafts/<draft_id>", ("GET",), self._drafts_get),
            ("/drafts/<draft_id>", ("PUT",), self._drafts_update),
            ("/drafts/<draft_id>", ("DELETE",), self._drafts_delete),
            ("/history", ("GET",), self._history_list),
        ]
        for suffix, methods, view in routes:
            self.route(base + suffix, methods=methods)(view)

    def _get_profile(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        return jsonify(
            {
                "emailAddress": mb.email,
                "messagesTotal": len(mb.messages),
                "threadsTotal": len(mb.threads()),
                "historyId": str(mb.history_id),
            }
        )

    def _watch(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        body = self._json_body()
        topic = str(body.get("topicName", ""))
        if not _TOPIC_RE.match(topic):
            raise FakeHTTPError(
                400,
                "Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC",
                reason="invalidArgument",
            )
        expiration = int(time.time() * 1000) + WATCH_LIFETIME_MS
        mb.watch = {
            "topicName": topic,
            "labelIds": list(body.get("labelIds") or []),
            "labelFilterBehavior": body.get("labelFilterBehavior")
            or body.get("labelFilterAction")
            or "include",
            "expiration": str(expiration),
            "historyId": str(mb.history_id),
        }
        return jsonify({"historyId": str(mb.history_id), "expiration": str(expiration)})

    def _stop(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        mb.watch = None
        return Response(status=204)

    def _label_json(self, mb: Mailbox, label_id: str) -> JSON:
        if label_id in mb.user_labels:
            return dict(mb.user_labels[label_id])
        visible = label_id in {"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "STARRED", "IMPORTANT"}
        label: JSON = {"id": label_id, "name": label_id, "type": "system"}
        if visible or label_id in {"UNREAD", "CHAT"}:
            label["messageListVisibility"] = "hide" if label_id != "INBOX" else "show"
            label["labelListVisibility"] = "labelShow" if visible else "labelHide"
        return label

    def _labels_list(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        ids = list(SYSTEM_LABELS) + list(mb.user_labels)
        return jsonify({"labels": [self._label_json(mb, label) for label in ids]})

    def _labels_create(self, user_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        body = self._json_body()
        name = str(body.get("name", "")).strip()
        if not name:
            raise FakeHTTPError(400, "Invalid label name", reason="invalidArgument")
        if name.upper() in SYSTEM_LABELS or any(
            str(label["name"]).lower() == name.lower() for label in mb.user_labels.values()
        ):
            raise FakeHTTPError(409, "Label name exists or conflicts", reason="conflict")
        label_id = f"Label_{len(mb.user_labels) + 1}"
        mb.user_labels[label_id] = {
            "id": label_id,
            "name": name,
            "messageListVisibility": body.get("messageListVisibility", "show"),
            "labelListVisibility": body.get("labelListVisibility", "labelShow"),
            "type": "user",
        }
        return jsonify(mb.user_labels[label_id])

    def _labels_get(self, user_id: str, label_id: str) -> ViewResult:
        mb = self._user(user_id)
        if not mb.label_exists(label_id):
            raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")
        label = self._label_json(mb, label_id)
        members = [m for m in mb.messages.values() if label_id in m.label_ids]
        label["messagesTotal"] = len(members)
        label["messagesUnread"] = sum(1 for m in members if "UNREAD" in m.label_ids)
        label["threadsTotal"] = len({m.thread_id for m in members})
        return jsonify(label)

    def _labels_delete(self, user_id: str, label_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        if label_id not in mb.user_labels:
            raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")
        del mb.user_labels[label_id]
        for msg in list(mb.messages.values()):
            self._modify(mb, msg, [], [label_id])
        return Response(status=204)

    def _messages_list(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        found = self._search(mb)
        page, token = self._page(found)
        body: JSON = {}
        if page:
            body["messages"] = [m.ref() for m in page]
        if token:
            body["nextPageToken"] = token
        body["resultSizeEstimate"] = len(found)
        return jsonify(body)

    def _messages_get(self, user_id: str, message_id: str) -> ViewResult:
        mb = self._user(user_id)
        msg = self._message(mb, message_id)
        return jsonify(
            self._message_json(
                msg, request.args.get("format", "full"), request.args.getlist("metadataHeaders")
            )
        )

    def _store_inbound(self, user_id: str, default_date_source: str) -> ViewResult:
        mb = self._user(user_id, "insert")
        body = self._json_body()
        raw = self._raw_from(body)
        labels = self._check_labels(mb, body.get("labelIds") or ["INBOX", "UNREAD"])
        date_source = request.args.get("internalDateSource", default_date_source)
        internal_ms = None
        if date_source == "dateHeader":
            parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
            try:
                internal_ms = int(parsedate_to_datetime(parsed["Date"]).timestamp() * 1000)
            except (TypeError, ValueError, IndexError):
                internal_ms = None
        msg = self._add_message(
            mb, raw, labels, body.get("threadId"), inbound=True, internal_date_ms=internal_ms
        )
        return jsonify({"id": msg.id, "threadId": msg.thread_id, "labelIds": msg.label_ids})

    def _messages_insert(self, user_id: str) -> ViewResult:
        return self._store_inbound(user_id, "receivedTime")

    def _messages_import(self, user_id: str) -> ViewResult:
        return self._store_inbound(user_id, "dateHeader")

    def _send_raw(
        self, mb: Mailbox, raw: bytes, thread_id: str | None, force_thread: str | None = None
    ) -> StoredMessage:
        self._check_recipients(raw)
        return self._add_message(
            mb,
            self._ensure_headers(raw, mb),
            ["SENT"],
            thread_id,
            inbound=False,
            force_thread=force_thread,
        )

    @staticmethod
    def _replace_draft_thread(
        mb: Mailbox, old: StoredMessage, thread_id: str | None
    ) -> tuple[str | None, str | None]:
        """(thread hint, forced thread) for a message replacing draft `old`.

        A draft alone in its thread keeps that thread id when updated or sent; otherwise the
        usual threading rules apply, with the draft's thread as the hint.
        """
        if thread_id and thread_id != old.thread_id:
            return thread_id, None
        alone = all(m.id == old.id for m in mb.messages.values() if m.thread_id == old.thread_id)
        return (None, old.thread_id) if alone else (old.thread_id, None)

    def _messages_send(self, user_id: str) -> ViewResult:
        mb = self._user(user_id, "send")
        body = self._json_body()
        msg = self._send_raw(mb, self._raw_from(body), body.get("threadId"))
        return jsonify({"id": msg.id, "threadId": msg.thread_id, "labelIds": msg.label_ids})

    def _messages_modify(self, user_id: str, message_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        msg = self._message(mb, message_id)
        body = self._json_body()
        add = self._check_labels(mb, body.get("addLabelIds") or [])
        remove = self._check_labels(mb, body.get("removeLabelIds") or [])
        self._modify(mb, msg, add, remove)
        return jsonify(self._message_json(msg, "minimal"))

    def _messages_batch_modify(self, user_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        body = self._json_body()
        add = self._check_labels(mb, body.get("addLabelIds") or [])
        remove = self._check_labels(mb, body.get("removeLabelIds") or [])
        for message_id in body.get("ids") or []:
            msg = mb.messages.get(message_id)
            if msg is not None:
                self._modify(mb, msg, add, remove)
        return Response(status=204)

    def _messages_trash(self, user_id: str, message_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        msg = self._message(mb, message_id)
        self._modify(mb, msg, ["TRASH"], ["INBOX"])
        return jsonify(self._message_json(msg, "minimal"))

    def _messages_untrash(self, user_id: str, message_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        msg = self._message(mb, message_id)
        self._modify(mb, msg, [], ["TRASH"])
        return jsonify(self._message_json(msg, "minimal"))

    def _messages_delete(self, user_id: str, message_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        msg = self._message(mb, message_id)
        for draft_id, draft_message in list(mb.drafts.items()):
            if draft_message == msg.id:
                del mb.drafts[draft_id]
        self._delete(mb, msg)
        return Response(status=204)

    def _attachments_get(self, user_id: str, message_id: str, attachment_id: str) -> ViewResult:
        mb = self._user(user_id)
        msg = self._message(mb, message_id)
        for part_id, part in self._walk_parts(msg.parsed, ""):
            if self._attachment_id(msg, part_id) == attachment_id:
                data = part.get_payload(decode=True)
                payload = data if isinstance(data, bytes) else b""
                return jsonify(
                    {"attachmentId": attachment_id, "size": len(payload), "data": b64url(payload)}
                )
        raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")

    def _walk_parts(self, part: Message, part_id: str) -> Iterable[tuple[str, Message]]:
        yield part_id, part
        if part.is_multipart():
            children = part.get_payload()
            assert isinstance(children, list)
            for i, child in enumerate(children):
                yield from self._walk_parts(child, f"{part_id}.{i}" if part_id else str(i))

    def _threads_list(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        found = self._search(mb)
        thread_ids = list(dict.fromkeys(m.thread_id for m in found))
        threads = mb.threads()
        page, token = self._page(thread_ids)
        body: JSON = {}
        if page:
            body["threads"] = [
                {
                    "id": thread_id,
                    "snippet": threads[thread_id][-1].snippet(),
                    "historyId": str(max(m.history_id for m in threads[thread_id])),
                }
                for thread_id in page
            ]
        if token:
            body["nextPageToken"] = token
        body["resultSizeEstimate"] = len(thread_ids)
        return jsonify(body)

    def _thread(self, mb: Mailbox, thread_id: str) -> list[StoredMessage]:
        messages = mb.threads().get(thread_id)
        if not messages:
            raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")
        return messages

    def _threads_get(self, user_id: str, thread_id: str) -> ViewResult:
        mb = self._user(user_id)
        messages = self._thread(mb, thread_id)
        fmt = request.args.get("format", "full")
        headers = request.args.getlist("metadataHeaders")
        return jsonify(
            {
                "id": thread_id,
                "historyId": str(max(m.history_id for m in messages)),
                "messages": [self._message_json(m, fmt, headers) for m in messages],
            }
        )

    def _threads_modify(self, user_id: str, thread_id: str) -> ViewResult:
        mb = self._user(user_id, "write")
        messages = self._thread(mb, thread_id)
        body = self._json_body()
        add = self._check_labels(mb, body.get("addLabelIds") or [])
        remove = self._check_labels(mb, body.get("removeLabelIds") or [])
        for msg in messages:
            self._modify(mb, msg, add, remove)
        return jsonify(
            {
                "id": thread_id,
                "historyId": str(max(m.history_id for m in messages)),
                "messages": [self._message_json(m, "minimal") for m in messages],
            }
        )

    # drafts ------------------------------------------------------------------

    def _draft(self, mb: Mailbox, draft_id: str) -> StoredMessage:
        message_id = mb.drafts.get(draft_id)
        if message_id is None or message_id not in mb.messages:
            raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")
        return mb.messages[message_id]

    def _draft_message_from(self, mb: Mailbox, body: JSON) -> tuple[bytes, str | None]:
        message = body.get("message")
        if not isinstance(message, dict):
            raise FakeHTTPError(400, "Missing draft message", reason="invalidArgument")
        return self._raw_from(message), message.get("threadId")

    def _drafts_create(self, user_id: str) -> ViewResult:
        mb = self._user(user_id, "compose")
        raw, thread_id = self._draft_message_from(mb, self._json_body())
        msg = self._add_message(
            mb, self._ensure_headers(raw, mb), ["DRAFT"], thread_id, inbound=False
        )
        draft_id = f"r{uuid.uuid4().int % 10**19}"
        mb.drafts[draft_id] = msg.id
        return jsonify({"id": draft_id, "message": {**msg.ref(), "labelIds": list(msg.label_ids)}})

    def _drafts_get(self, user_id: str, draft_id: str) -> ViewResult:
        mb = self._user(user_id)
        msg = self._draft(mb, draft_id)
        return jsonify(
            {"id": draft_id, "message": self._message_json(msg, request.args.get("format", "full"))}
        )

    def _drafts_list(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        clauses = parse_query(request.args.get("q", ""))
        by_message = {message_id: draft_id for draft_id, message_id in mb.drafts.items()}
        found = [
            (by_message[m.id], m)
            for m in self._ordered(mb.messages.values())
            if m.id in by_message and self._matches(mb, m, clauses)
        ]
        page, token = self._page(found)
        body: JSON = {}
        if page:
            body["drafts"] = [{"id": d, "message": m.ref()} for d, m in page]
        if token:
            body["nextPageToken"] = token
        body["resultSizeEstimate"] = len(found)
        return jsonify(body)

    def _drafts_update(self, user_id: str, draft_id: str) -> ViewResult:
        mb = self._user(user_id, "compose")
        old = self._draft(mb, draft_id)
        raw, thread_id = self._draft_message_from(mb, self._json_body())
        hint, forced = self._replace_draft_thread(mb, old, thread_id)
        self._delete(mb, old)
        msg = self._add_message(
            mb,
            self._ensure_headers(raw, mb),
            ["DRAFT"],
            hint,
            inbound=False,
            force_thread=forced,
        )
        mb.drafts[draft_id] = msg.id
        return jsonify({"id": draft_id, "message": {**msg.ref(), "labelIds": list(msg.label_ids)}})

    def _drafts_delete(self, user_id: str, draft_id: str) -> ViewResult:
        mb = self._user(user_id, "compose")
        msg = self._draft(mb, draft_id)
        del mb.drafts[draft_id]
        self._delete(mb, msg)
        return Response(status=204)

    def _drafts_send(self, user_id: str) -> ViewResult:
        mb = self._user(user_id, "send")
        body = self._json_body()
        draft_id = str(body.get("id", ""))
        if not draft_id:
            raise FakeHTTPError(400, "Invalid draft", reason="invalidArgument")
        old = self._draft(mb, draft_id)
        if isinstance(body.get("message"), dict) and body["message"].get("raw"):
            raw, thread_id = self._draft_message_from(mb, body)
        else:
            raw, thread_id = old.raw, old.thread_id
        self._check_recipients(raw)
        hint, forced = self._replace_draft_thread(mb, old, thread_id)
        del mb.drafts[draft_id]
        self._delete(mb, old)
        msg = self._send_raw(mb, raw, hint, forced)
        return jsonify({"id": msg.id, "threadId": msg.thread_id, "labelIds": msg.label_ids})

    # history -----------------------------------------------------------------

    def _history_list(self, user_id: str) -> ViewResult:
        mb = self._user(user_id)
        start_text = request.args.get("startHistoryId")
        if not start_text:
            raise FakeHTTPError(
                400, "Missing required parameter: startHistoryId", reason="required"
            )
        try:
            start = int(start_text)
        except ValueError as exc:
            raise FakeHTTPError(400, "Invalid startHistoryId", reason="invalidArgument") from exc
        if start < mb.history_floor:
            raise FakeHTTPError(404, "Requested entity was not found.", reason="notFound")
        types = request.args.getlist("historyTypes")
        for kind in types:
            if kind not in HISTORY_TYPES:
                raise FakeHTTPError(
                    400, f"Invalid value for historyTypes: {kind}", reason="invalidArgument"
                )
        label_id = request.args.get("labelId")
        records = [
            r
            for r in mb.history
            if r.id > start
            and (not types or r.kind in types)
            and (not label_id or r.involves(label_id))
        ]
        page, token = self._page(records)
        body: JSON = {}
        if page:
            body["history"] = [r.as_json() for r in page]
        if token:
            body["nextPageToken"] = token
        body["historyId"] = str(mb.history_id)
        return jsonify(body)
