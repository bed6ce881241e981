"""Privacy rules that need no I/O: how a person is named pseudonymously, how a mention of them
is recognised in stored data, and what the retention periods cut.

A person is keyed by a SHA-256 of their normalised address under a fixed label. That is a
pseudonym, not anonymity: whoever already knows the address can find its record, which is the
point of a suppression list (we must recognise them when they come back). Nobody can read an
address out of the list.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PERSON_LABEL = "sales-agent/person/v1:"
CONTACT_LABEL = "sales-agent/hubspot-contact/v1:"
REMOVED = "[removed]"


class NotAnEmail(ValueError):
    pass


def normalize_email(value: Any) -> str:
    """The address as we store it (trimmed, lower case); NotAnEmail for anything else."""
    text = str(value or "").strip().lower()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise NotAnEmail("email: one address, like dana@example.com")
    return text


def person_key(email: str) -> str:
    """The pseudonymous id of a person: the suppression list's document id."""
    return hashlib.sha256((PERSON_LABEL + email.strip().lower()).encode()).hexdigest()


def contact_key(contact_id: int | str) -> str:
    """The pseudonymous id of a HubSpot contact: webhooks often carry only the id."""
    return hashlib.sha256(f"{CONTACT_LABEL}{int(contact_id)}".encode()).hexdigest()


def emails_in(text: str) -> set[str]:
    return {m.group(0).lower() for m in _EMAIL.finditer(text or "")}


@dataclass(frozen=True)
class Person:
    """What identifies one person in free text: their address, and their full name when it
    is specific enough (two words or more) to match without erasing strangers who share a
    first name."""

    email: str
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, email: str, names: Iterable[str | None] = ()) -> Person:
        kept = []
        for name in names:
            words = re.findall(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", name or "")
            if len(words) >= 2 and sum(len(w) for w in words) >= 5:
                kept.append(" ".join(words))
        return cls(normalize_email(email), tuple(sorted(set(kept), key=str.lower)))

    @property
    def _pattern(self) -> re.Pattern[str]:
        parts = [re.escape(self.email)]
        for name in self.names:
            # "Dana Fox", "Dana  Fox", "dana\nfox": words in order, any whitespace between
            words = [re.escape(w) for w in name.split()]
            parts.append(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")
        return re.compile("|".join(parts), re.IGNORECASE)

    def mentioned_in(self, text: str | None) -> bool:
        return bool(text) and self._pattern.search(str(text)) is not None

    def mentioned_anywhere(self, value: Any) -> bool:
        """Any string inside `value` (nested dicts and lists, keys included) mentions them."""
        return any(self.mentioned_in(text) for text in strings_in(value))

    def redact(self, text: str) -> str:
        return self._pattern.sub(REMOVED, text)


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from strings_in(item)


# --- retention --------------------------------------------------------------------------
@dataclass(frozen=True)
class Retention:
    """How long bodies are kept. Records outlive their bodies: a workflow's outcome stays
    countable after its text is gone."""

    message_text_days: int  # the new text of a stored Gmail message
    sample_text_days: int  # extracted voice-sample text of an unused (deleted-source) sample
    workflow_body_days: int  # a finished workflow's draft and sent bodies

    def cutoff(self, now: datetime, days: int) -> datetime:
        return now - timedelta(days=days)


CLOSED_STATES = frozenset(
    {"sent", "closed", "rejected", "blocked", "suppressed", "cancelled", "failed"}
)


DRAFT_TEXT_FIELDS = ("body", "generated_body", "context", "claims", "questions")


def body_free_workflow(data: Mapping[str, Any]) -> dict[str, Any]:
    """Field updates that take a finished workflow's texts away and keep its outcome (states,
    times, hashes, gate verdicts, intents, counts stay countable)."""
    updates: dict[str, Any] = {"bodies_removed": True}
    draft = data.get("draft")
    if isinstance(draft, Mapping):
        for name in DRAFT_TEXT_FIELDS:
            if draft.get(name):
                updates[f"draft.{name}"] = None
        meeting = draft.get("meeting")
        if isinstance(meeting, Mapping) and meeting.get("agenda"):
            updates["draft.meeting.agenda"] = None
    if data.get("instruction"):
        updates["instruction"] = None
    sends = data.get("sends")
    if isinstance(sends, list) and any(isinstance(s, Mapping) and s.get("body") for s in sends):
        updates["sends"] = [
            {k: v for k, v in s.items() if k != "body"} if isinstance(s, Mapping) else s
            for s in sends
        ]
    return updates
