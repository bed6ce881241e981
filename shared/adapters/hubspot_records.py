"""What a rep wrote in HubSpot about a contact or deal (emails, notes, calls): voice material.

Reads the engagements associated with the record (associations v4), then the engagements
themselves in batches (CRM objects batch read), and keeps only what the rep wrote: logged
outgoing emails (``hs_email_direction`` ``EMAIL``) sent from the rep's address, and notes and
calls owned by the rep (``hubspot_owner_id``, found through the owners API by email). An
email keeps only its new text (quoted history and signature cut); HTML becomes text. Call
transcripts live behind a separate, OAuth-only API and are not read: a call gives its notes.

Retries and error mapping are those of `shared.adapters.hubspot`: its classifier knows
hubspot-api-client's contacts ``ApiException``; each API module of the client has its own copy
of that class, so the ones raised here are re-raised as the contacts one first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.adapters.hubspot import HubSpotAccount
from shared.domain.mail import html_to_text, normalize_email, same_email, split_reply

if TYPE_CHECKING:
    pass

OBJECT_TYPES = {"contact": "contacts", "deal": "deals"}
OBJECT_TYPES_SINGULAR = {plural: singular for singular, plural in OBJECT_TYPES.items()}
ENGAGEMENT_KINDS = {"emails": "email", "notes": "note", "calls": "call"}
PROPERTIES: dict[str, tuple[str, ...]] = {
    "emails": (
        "hs_timestamp",
        "hs_email_direction",
        "hs_email_from_email",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_html",
    ),
    "notes": ("hs_timestamp", "hs_note_body", "hubspot_owner_id"),
    "calls": ("hs_timestamp", "hs_call_title", "hs_call_body", "hubspot_owner_id"),
}
OUTGOING = "EMAIL"  # hs_email_direction of an email the rep sent (else INCOMING_/FORWARDED_)
MAX_ENGAGEMENTS = 200  # read at most this many of each kind, and return at most this many
ASSOCIATION_PAGE = 500
MAX_ASSOCIATION_PAGES = 10
BATCH_SIZE = 100
TITLE_LENGTH = 80
_HTML_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*|/[a-zA-Z][a-zA-Z0-9]*|!--)[^>]*>")


@dataclass(frozen=True)
class RecordText:
    kind: str  # "email", "note", "call"
    id: str
    title: str
    text: str
    at: datetime | None


def _text(properties: Mapping[str, Any], name: str) -> str:
    value = properties.get(name)
    return "" if value is None else str(value).strip()


def _readable(body: str) -> str:
    """Plain text of a body that may be HTML (plain text keeps its line breaks)."""
    return html_to_text(body) if _HTML_TAG.search(body) else body.replace("\r\n", "\n").strip()


def _when(value: str) -> datetime | None:
    """An engagement's hs_timestamp (ISO 8601 or epoch milliseconds) as an aware datetime."""
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{10,}", value):
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _first_line(text: str, fallback: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not line:
        return fallback
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _record(kind: str, result: Any, rep: str, owner_id: str | None) -> RecordText | None:
    """The engagement as voice material if the rep wrote it and it holds text, else None."""
    props: Mapping[str, Any] = result.properties or {}
    at = _when(_text(props, "hs_timestamp"))
    if kind == "emails":
        if _text(props, "hs_email_direction").upper() != OUTGOING:
            return None
        if not same_email(_text(props, "hs_email_from_email"), rep):
            return None
        body = _text(props, "hs_email_text") or html_to_text(_text(props, "hs_email_html"))
        text = split_reply(body.replace("\r\n", "\n"))
        title = _text(props, "hs_email_subject") or "(no subject)"
    else:
        if owner_id is None or _text(props, "hubspot_owner_id") != owner_id:
            return None
        body_property = "hs_note_body" if kind == "notes" else "hs_call_body"
        text = _readable(_text(props, body_property))
        if kind == "notes":
            title = _first_line(text, "Note")
        else:
            title = _text(props, "hs_call_title") or "Call"
    if not text:
        return None
    return RecordText(ENGAGEMENT_KINDS[kind], str(result.id), title, text, at)


def _newest_first(record: RecordText) -> tuple[bool, float, int]:
    stamp = record.at.timestamp() if record.at is not None else 0.0
    return (record.at is not None, stamp, int(record.id) if record.id.isdigit() else 0)


class HubSpotRecords(HubSpotAccount):
    """Engagement text from one HubSpot account."""

    def owner_id_for(self, rep_email: str) -> str | None:
        """The HubSpot owner id of the active user with this email, or None."""
        address = normalize_email(rep_email)
        if address is None:
            return None
        owners = self._crm().owners.owners_api
        page = self._call(
            lambda: owners.get_page(
                email=address, limit=100, archived=False, _request_timeout=self.timeout
            ),
            "owner lookup",
        )
        for owner in page.results or []:
            if same_email(owner.email, address):
                return str(owner.id)
        return None

    def texts_by_rep(self, object_type: str, object_id: int, *, rep_email: str) -> list[RecordText]:
        """What the rep wrote on this contact or deal, newest first, at most 200 items.

        Of each kind, the 200 most recently created engagements (highest ids) are read.
        Raises ValueError for another object type or an unreadable rep address, NotFound if
        HubSpot has no such record.
        """
        plural = OBJECT_TYPES.get(object_type)
        if plural is None:
            raise ValueError(f"object_type must be 'contact' or 'deal', not {object_type!r}")
        rep = normalize_email(rep_email)
        if rep is None:
            raise ValueError("rep_email is not an email address")
        owner_id = self.owner_id_for(rep)
        records: list[RecordText] = []
        for kind in ENGAGEMENT_KINDS:
            if kind != "emails" and owner_id is None:
                continue  # notes and calls are the rep's through the owner id only
            ids = self._associated_ids(plural, int(object_id), kind)
            for result in self._read(kind, ids[:MAX_ENGAGEMENTS]):
                record = _record(kind, result, rep, owner_id)
                if record is not None:
                    records.append(record)
        records.sort(key=_newest_first, reverse=True)
        return records[:MAX_ENGAGEMENTS]

    def _associated_ids(self, plural: str, object_id: int, kind: str) -> list[int]:
        """Ids of the `kind` engagements on the record, highest (newest) first."""
        basic = self._crm().associations.v4.basic_api
        found: set[int] = set()
        after: str | None = None
        for _ in range(MAX_ASSOCIATION_PAGES):
            page = self._call(
                partial(
                    basic.get_page,
                    plural,
                    str(object_id),
                    kind,
                    after=after,
                    limit=ASSOCIATION_PAGE,
                    _request_timeout=self.timeout,
                ),
                f"{OBJECT_TYPES_SINGULAR[plural]} {object_id} {kind}",
            )
            found.update(int(item.to_object_id) for item in page.results or [])
            following = getattr(getattr(page, "paging", None), "next", None)
            after = getattr(following, "after", None)
            if not after:
                break
        return sorted(found, reverse=True)

    def _read(self, kind: str, ids: Iterable[int]) -> list[Any]:
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        batch = self._crm().objects.batch_api
        wanted = [str(i) for i in ids]
        results: list[Any] = []
        for start in range(0, len(wanted), BATCH_SIZE):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in wanted[start : start + BATCH_SIZE]],
                properties=list(PROPERTIES[kind]),
                properties_with_history=[],
            )
            answer = self._call(
                partial(batch.read, kind, request, archived=False, _request_timeout=self.timeout),
                f"{kind} read",
            )
            results.extend(answer.results or [])
        return results
