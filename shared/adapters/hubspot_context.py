"""What HubSpot knows about a contact when a draft is written, and what a draft leaves there.

`for_contact` reads the contact with its associated ids in one request (CRM v3 objects with
``associations=``), then the primary company, the deals, the owner and the newest engagements
in batch reads: at most eight requests, one for a contact with nothing around it.

`log_draft` leaves a "Review draft" task for the owner and a note with the draft and its
reasons, both associated to the contact. Each carries a reference line with the caller's key;
before creating, the contact's tasks or notes are read through associations v4, which (unlike
CRM search) are consistent at once, so a retried draft task finds what the earlier attempt
created instead of creating it twice. A create that may have landed (5xx, timeout) is looked up
again before it is retried.

After a send, `log_sent_email` logs the sent email (associated to the contact, company and
deals) and `log_meeting` a booked meeting, both keyed the same way; `set_lead_status` and
`complete_task` are plain updates, idempotent by nature.

Retries, error mapping (401/403 permanent, 404 `NotFound`, 429/5xx retried then transient),
the lazily built client and `from_settings` are those of `HubSpotRecords`.
"""

from __future__ import annotations

import html
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from shared.adapters.hubspot_records import HubSpotRecords, _readable, _text, _when
from shared.domain.mail import html_to_text, split_reply
from shared.errors import NotFound

if TYPE_CHECKING:
    pass

OPTED_OUT = (
    "hs_email_optout",  # unsubscribed from all email
    "hs_email_bad_address",  # the address hard-bounced
    "hs_email_quarantined",  # HubSpot stopped mailing the address
)
HARD_BOUNCE = "hs_email_hard_bounce_reason_enum"  # set once an address hard-bounced
CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "lifecyclestage",
    "hs_timezone",
    "hubspot_owner_id",
    "associatedcompanyid",
    *OPTED_OUT,
    HARD_BOUNCE,
)
COMPANY_PROPERTIES = (
    "name",
    "domain",
    "industry",
    "numberofemployees",
    "lifecyclestage",
    "timezone",
    "hs_timezone",
)
DEAL_PROPERTIES = ("dealname", "dealstage", "amount", "closedate", "pipeline", "hs_is_closed")
CLOSED_STAGES = frozenset({"closedwon", "closedlost"})
ENGAGEMENT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "emails": (
        "hs_timestamp",
        "hs_email_direction",
        "hs_email_subject",
        "hs_email_text",
        "hs_email_html",
    ),
    "notes": ("hs_timestamp", "hs_note_body"),
    "calls": ("hs_timestamp", "hs_call_title", "hs_call_body"),
    "meetings": (
        "hs_timestamp",
        "hs_meeting_title",
        "hs_meeting_body",
        "hs_meeting_start_time",
        "hs_meeting_outcome",
    ),
}
KINDS = {"emails": "email", "notes": "note", "calls": "call", "meetings": "meeting"}
EMAIL_DIRECTIONS = {"EMAIL": "Sent", "INCOMING_EMAIL": "Received", "FORWARDED_EMAIL": "Forwarded"}
MAX_ENGAGEMENTS = 10
CANDIDATES_PER_KIND = 25  # newest ids of each kind read to pick the 10 newest by timestamp
SUMMARY_LENGTH = 300
SUBJECT_LENGTH = 200
KEY_SCAN = 100  # the contact's newest tasks (notes) searched for an earlier draft's reference
TASK_TO_CONTACT = 204
NOTE_TO_CONTACT = 202
EMAIL_TO_CONTACT = 198
EMAIL_TO_COMPANY = 186
EMAIL_TO_DEAL = 210
MEETING_TO_CONTACT = 200
REFERENCE = "sales-agent ref: "
OUR_RECORDS = (
    ("tasks", "hs_task_body"),
    ("notes", "hs_note_body"),
    ("emails", "hs_email_text"),
    ("meetings", "hs_meeting_body"),
)
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
_REFERENCE = re.compile(re.escape(REFERENCE) + r"([A-Za-z0-9._:-]+)")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Company:
    id: int
    name: str | None
    domain: str | None
    industry: str | None
    employees: int | None
    lifecycle_stage: str | None
    time_zone: str | None


@dataclass(frozen=True)
class Deal:
    id: int
    name: str | None
    stage: str | None
    amount: str | None
    close_date: str | None  # ISO date


@dataclass(frozen=True)
class Owner:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None


@dataclass(frozen=True)
class Engagement:
    kind: str  # "email", "note", "call", "meeting"
    at: datetime | None
    summary: str


@dataclass(frozen=True)
class DraftContext:
    contact_id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    job_title: str | None
    lifecycle_stage: str | None
    time_zone: str | None  # IANA name: the contact's, else the company's
    unsubscribed: bool  # opted out, hard-bounced or quarantined: never draft to them
    company: Company | None
    deals: tuple[Deal, ...]  # open deals only
    owner: Owner | None
    engagements: tuple[Engagement, ...]  # newest first, at most 10
    unsubscribe_reasons: tuple[str, ...] = field(default=())  # the HubSpot properties that say so

    def as_json(self) -> dict[str, Any]:
        """The context as JSON-ready values, for recording on the draft."""
        return {
            "contact_id": self.contact_id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "job_title": self.job_title,
            "lifecycle_stage": self.lifecycle_stage,
            "time_zone": self.time_zone,
            "unsubscribed": self.unsubscribed,
            "unsubscribe_reasons": list(self.unsubscribe_reasons),
            "company": None if self.company is None else vars(self.company).copy(),
            "deals": [vars(deal).copy() for deal in self.deals],
            "owner": None if self.owner is None else vars(self.owner).copy(),
            "engagements": [
                {
                    "kind": item.kind,
                    "at": None if item.at is None else item.at.isoformat(),
                    "summary": item.summary,
                }
                for item in self.engagements
            ],
        }


def _value(properties: Mapping[str, Any], name: str) -> str | None:
    return _text(properties, name) or None


def _flag(properties: Mapping[str, Any], name: str) -> bool:
    return _text(properties, name).lower() == "true"


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(float(text))
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def iana_time_zone(value: str | None) -> str | None:
    """An IANA zone name from HubSpot's time zone value (``europe_slash_london``), or None."""
    if not value or not value.strip():
        return None
    raw = value.strip().lower().replace("_slash_", "/").replace("_hyphen_", "-")
    guess = "/".join("_".join(w.capitalize() for w in part.split("_")) for part in raw.split("/"))
    try:
        zoneinfo.ZoneInfo(guess)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return _zone_names().get(raw)
    return guess


def _shorten(text: str, limit: int = SUMMARY_LENGTH) -> str:
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:.-") + "…"


def _reference(body: str) -> str | None:
    """The key of the last reference line (ours is appended; an earlier one may be quoted)."""
    found = _REFERENCE.findall(body)
    return found[-1] if found else None


def _engagement(plural: str, props: Mapping[str, Any]) -> Engagement | None:
    """An engagement as a short summary, or None when it says nothing or is one of our own
    draft notes (they record our output, not what happened with the contact)."""
    at = _when(_text(props, "hs_timestamp"))
    if plural == "emails":
        body = _text(props, "hs_email_text") or html_to_text(_text(props, "hs_email_html"))
        text = split_reply(body.replace("\r\n", "\n"))
        direction = EMAIL_DIRECTIONS.get(_text(props, "hs_email_direction").upper(), "Email")
        subject = _text(props, "hs_email_subject") or "(no subject)"
        summary = f"{direction} “{subject}”: {text}" if text else f"{direction} “{subject}”"
    elif plural == "notes":
        body = _text(props, "hs_note_body")
        if _reference(body) is not None:
            return None
        summary = _readable(body)
    elif plural == "calls":
        text = _readable(_text(props, "hs_call_body"))
        title = _text(props, "hs_call_title") or "Call"
        summary = f"{title}: {text}" if text else title
    else:
        at = at or _when(_text(props, "hs_meeting_start_time"))
        text = _REFERENCE.sub("", _readable(_text(props, "hs_meeting_body"))).strip()
        title = _text(props, "hs_meeting_title") or "Meeting"
        outcome = _text(props, "hs_meeting_outcome").replace("_", " ").lower()
        title = f"{title} ({outcome})" if outcome else title
        summary = f"{title}: {text}" if text else title
    summary = _shorten(summary)
    return Engagement(KINDS[plural], at, summary) if summary else None


def _stamp(item: Engagement) -> tuple[bool, float]:
    return (item.at is not None, item.at.timestamp() if item.at is not None else 0.0)


def _ids(associations: Mapping[str, Any] | None, plural: str) -> list[int]:
    """Associated ids of one type from a v3 object read, highest first (labels deduplicated)."""
    collection = (associations or {}).get(plural)
    found = {int(item.id) for item in getattr(collection, "results", None) or []}
    return sorted(found, reverse=True)


def _truncated(associations: Mapping[str, Any] | None, plural: str) -> bool:
    paging = getattr((associations or {}).get(plural), "paging", None)
    return getattr(getattr(paging, "next", None), "after", None) is not None


def _primary_company(properties: Mapping[str, Any], associations: Any) -> int | None:
    """`associatedcompanyid`, else the association labelled primary, else the lowest id."""
    stated = _count(_value(properties, "associatedcompanyid"))
    collection = (associations or {}).get("companies")
    items = getattr(collection, "results", None) or []
    ids = {int(item.id) for item in items}
    if stated is not None and (stated in ids or not ids):
        return stated
    primary = sorted(int(item.id) for item in items if item.type == "contact_to_company")
    return primary[0] if primary else (min(ids) if ids else None)


def _is_open(deal: Mapping[str, Any]) -> bool:
    stage = _text(deal, "dealstage").lower()
    return not _flag(deal, "hs_is_closed") and stage not in CLOSED_STAGES


def _iso_date(value: str | None) -> str | None:
    moment = _when(value or "")
    return moment.date().isoformat() if moment is not None else value


def _millis(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return str(int(moment.timestamp() * 1000))


def _escape(text: str) -> str:
    """Text as HTML element content (quotes need no escaping there)."""
    return html.escape(text, quote=False)


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    return "".join(
        "<p>" + "<br>".join(_escape(line) for line in block.split("\n")) + "</p>"
        for block in blocks
    )


def _check_key(key: str) -> None:
    if not _KEY.fullmatch(key):
        raise ValueError("key must be 1-200 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'")


def _reasons_html(reasons: Iterable[str]) -> str:
    items = [r.strip() for r in reasons if r and r.strip()]
    if not items:
        return "<p><strong>Why:</strong> nothing flagged.</p>"
    listed = "".join(f"<li>{_escape(_SPACE.sub(' ', r))}</li>" for r in items)
    return f"<p><strong>Why:</strong></p><ul>{listed}</ul>"


class HubSpotContext(HubSpotRecords):
    """The HubSpot side of a draft, for one HubSpot account (a private app's access token)."""

    # ------------------------------------------------------------------ reading

    def for_contact(self, contact_id: int) -> DraftContext:
        """Everything a draft to this contact should know from HubSpot.

        Raises NotFound when HubSpot has no such contact (or it is archived).
        """
        contact = self._call(
            partial(
                self._crm().objects.basic_api.get_by_id,
                "contacts",
                str(int(contact_id)),
                properties=list(CONTACT_PROPERTIES),
                associations=["companies", "deals", *ENGAGEMENT_PROPERTIES],
                archived=False,
                _request_timeout=self.timeout,
            ),
            f"contact {contact_id}",
        )
        props: Mapping[str, Any] = contact.properties or {}
        links = contact.associations
        company_id = _primary_company(props, links)
        company = self._company(company_id) if company_id is not None else None
        opted_out = tuple(name for name in OPTED_OUT if _flag(props, name))
        if _text(props, HARD_BOUNCE):
            opted_out += (HARD_BOUNCE,)
        return DraftContext(
            contact_id=int(contact.id),
            email=_value(props, "email"),
            first_name=_value(props, "firstname"),
            last_name=_value(props, "lastname"),
            job_title=_value(props, "jobtitle"),
            lifecycle_stage=_value(props, "lifecyclestage"),
            time_zone=iana_time_zone(_value(props, "hs_timezone"))
            or (company.time_zone if company else None),
            unsubscribed=bool(opted_out),
            unsubscribe_reasons=opted_out,
            company=company,
            deals=self._open_deals(_ids(links, "deals")),
            owner=self._owner(_value(props, "hubspot_owner_id")),
            engagements=self._engagements(int(contact.id), links),
        )

    def _batch(self, plural: str, ids: Iterable[int], properties: Iterable[str]) -> list[Any]:
        """One batch read (at most 100 ids); ids HubSpot no longer has are left out."""
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        wanted = [str(i) for i in ids][:100]
        if not wanted:
            return []
        request = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in wanted],
            properties=list(properties),
            properties_with_history=[],
        )
        answer = self._call(
            partial(
                self._crm().objects.batch_api.read,
                plural,
                request,
                archived=False,
                _request_timeout=self.timeout,
            ),
            f"{plural} read",
        )
        return sorted(answer.results or [], key=lambda r: int(r.id))

    def _company(self, company_id: int) -> Company | None:
        found = self._batch("companies", [company_id], COMPANY_PROPERTIES)
        if not found:
            return None
        props: Mapping[str, Any] = found[0].properties or {}
        return Company(
            id=int(found[0].id),
            name=_value(props, "name"),
            domain=_value(props, "domain"),
            industry=_value(props, "industry"),
            employees=_count(_value(props, "numberofemployees")),
            lifecycle_stage=_value(props, "lifecyclestage"),
            time_zone=iana_time_zone(_value(props, "timezone") or _value(props, "hs_timezone")),
        )

    def _open_deals(self, ids: list[int]) -> tuple[Deal, ...]:
        deals = []
        for result in self._batch("deals", ids, DEAL_PROPERTIES):
            props: Mapping[str, Any] = result.properties or {}
            if _is_open(props):
                deals.append(
                    Deal(
                        id=int(result.id),
                        name=_value(props, "dealname"),
                        stage=_value(props, "dealstage"),
                        amount=_value(props, "amount"),
                        close_date=_iso_date(_value(props, "closedate")),
                    )
                )
        return tuple(deals)

    def _owner(self, owner_id: str | None) -> Owner | None:
        """The owner by id; None when there is none or HubSpot no longer has that user."""
        if owner_id is None:
            return None
        owners = self._crm().owners.owners_api
        try:
            found = self._call(
                partial(
                    owners.get_by_id,
                    owner_id,
                    id_property="id",
                    archived=False,
                    _request_timeout=self.timeout,
                ),
                f"owner {owner_id}",
            )
        except NotFound:
            return None
        return Owner(
            id=str(found.id),
            email=found.email or None,
            first_name=found.first_name or None,
            last_name=found.last_name or None,
        )

    def _engagements(self, contact_id: int, links: Any) -> tuple[Engagement, ...]:
        items: list[tuple[Engagement, int]] = []
        for plural, properties in ENGAGEMENT_PROPERTIES.items():
            ids = _ids(links, plural)
            if _truncated(links, plural):  # more than one page: read them all, newest first
                ids = self._associated_ids("contacts", contact_id, plural)
            for result in self._batch(plural, ids[:CANDIDATES_PER_KIND], properties):
                made = _engagement(plural, result.properties or {})
                if made is not None:
                    items.append((made, int(result.id)))
        items.sort(key=lambda pair: (_stamp(pair[0]), pair[1]), reverse=True)
        return tuple(item for item, _ in items[:MAX_ENGAGEMENTS])

    # ------------------------------------------------------------------ writing

    def log_draft(
        self,
        *,
        key: str,
        contact_id: int,
        owner_id: str | None,
        subject: str,
        body: str,
        reasons: list[str],
        due: datetime,
    ) -> dict[str, str]:
        """A "Review draft" task for the owner and a note with the draft, on the contact.

        Idempotent by `key` (for example ``draft-<workflow>-<version>``): what an earlier call
        with the same key created is found and returned, never created again. Raises
        ValueError for a key outside ``[A-Za-z0-9._:-]`` or a naive `due`, NotFound when the
        contact does not exist. Returns ``{"task_id", "note_id"}``.
        """
        _check_key(key)
        headline = _shorten(subject, SUBJECT_LENGTH) or "(no subject)"
        stamp = f"<p>{REFERENCE}{key}</p>"
        owner = {"hubspot_owner_id": owner_id} if owner_id else {}
        task = {
            "hs_task_subject": f"Review draft: {headline}",
            "hs_task_body": (
                f"<p>A draft “{_escape(headline)}” is waiting in Gmail for your approval."
                f"</p>{_reasons_html(reasons)}{stamp}"
            ),
            "hs_timestamp": _millis(due),
            "hs_task_status": "NOT_STARTED",
            "hs_task_type": "TODO",
            **owner,
        }
        note = {
            "hs_note_body": (
                f"<p><strong>Draft for review:</strong> {_escape(headline)}</p>"
                f"{_paragraphs(body)}{_reasons_html(reasons)}{stamp}"
            ),
            "hs_timestamp": _millis(datetime.now(UTC)),
            **owner,
        }
        task_id = self._ensure("tasks", "hs_task_body", TASK_TO_CONTACT, contact_id, key, task)
        note_id = self._ensure("notes", "hs_note_body", NOTE_TO_CONTACT, contact_id, key, note)
        return {"task_id": task_id, "note_id": note_id}

    def _earlier(self, plural: str, body_property: str, contact_id: int, key: str) -> str | None:
        """The id of the contact's task or note that carries `key`, if one exists."""
        ids = self._associated_ids("contacts", int(contact_id), plural)[:KEY_SCAN]
        for result in self._batch(plural, ids, (body_property,)):
            if _reference(_text(result.properties or {}, body_property)) == key:
                return str(result.id)
        return None

    def _ensure(
        self,
        plural: str,
        body_property: str,
        type_id: int,
        contact_id: int,
        key: str,
        properties: dict[str, str],
        also: Iterable[tuple[int, int]] = (),
    ) -> str:
        """Create the engagement on the contact (and `also`: (object id, association type id)
        pairs) unless one carrying `key` exists already; its id either way."""
        earlier = self._earlier(plural, body_property, contact_id, key)
        if earlier is not None:
            return earlier
        from hubspot.crm.objects import (
            AssociationSpec,
            PublicAssociationsForObject,
            PublicObjectId,
            SimplePublicObjectInputForCreate,
        )

        links = [(int(contact_id), type_id), *((int(i), int(t)) for i, t in also)]
        request = SimplePublicObjectInputForCreate(
            properties=properties,
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=str(object_id)),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=link_type
                        )
                    ],
                )
                for object_id, link_type in links
            ],
        )
        attempts = 0

        def create() -> Any:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the failed attempt may have created it after all
                landed = self._earlier(plural, body_property, contact_id, key)
                if landed is not None:
                    return landed
            return self._crm().objects.basic_api.create(
                plural, request, _request_timeout=self.timeout
            )

        made = self._call(create, f"{plural} create")
        return made if isinstance(made, str) else str(made.id)

    # ------------------------------------------------------------------ after a send

    def log_sent_email(
        self,
        *,
        key: str,
        contact_id: int,
        company_id: int | None,
        deal_ids: Iterable[int],
        owner_id: str | None,
        sender: str,
        to: str,
        subject: str,
        body: str,
        sent_at: datetime,
    ) -> str:
        """The sent email on the contact's timeline, also on the company and deals; its id.

        Idempotent by `key` (for example ``send-<workflow>-<version>``). The reference line
        follows a ``-- `` signature separator, so reading the email back as a reply or voice
        sample leaves it out. Raises ValueError for a bad key or a naive `sent_at`, NotFound
        when the contact does not exist.
        """
        _check_key(key)
        text = body.replace("\r\n", "\n").rstrip()
        headers = {"from": {"email": sender}, "to": [{"email": to}], "cc": [], "bcc": []}
        properties = {
            "hs_timestamp": _millis(sent_at),
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
            "hs_email_subject": subject,
            "hs_email_text": f"{text}\n\n-- \n{REFERENCE}{key}",
            "hs_email_headers": json.dumps(headers),
            **({"hubspot_owner_id": owner_id} if owner_id else {}),
        }
        also = [(company_id, EMAIL_TO_COMPANY)] if company_id is not None else []
        also += [(deal, EMAIL_TO_DEAL) for deal in dict.fromkeys(int(d) for d in deal_ids)]
        return self._ensure(
            "emails", "hs_email_text", EMAIL_TO_CONTACT, contact_id, key, properties, also
        )

    def archive_our_records(self, contact_id: int) -> int:
        """Archive every task, note, email and meeting on the contact that carries our
        reference line (so only what this system wrote); how many. Repeatable."""
        from hubspot.crm.objects import BatchInputSimplePublicObjectId, SimplePublicObjectId

        archived = 0
        for plural, body_property in OUR_RECORDS:
            ids = self._associated_ids("contacts", int(contact_id), plural)
            ours = [
                str(result.id)
                for start in range(0, len(ids), 100)
                for result in self._batch(plural, ids[start : start + 100], (body_property,))
                if _reference(_text(result.properties or {}, body_property))
            ]
            for start in range(0, len(ours), 100):
                request = BatchInputSimplePublicObjectId(
                    inputs=[SimplePublicObjectId(id=i) for i in ours[start : start + 100]]
                )
                self._call(
                    partial(
                        self._crm().objects.batch_api.archive,
                        plural,
                        request,
                        _request_timeout=self.timeout,
                    ),
                    f"{plural} archive",
                )
            archived += len(ours)
        return archived

    def set_lead_status(self, contact_id: int, status: str) -> None:
        """Set the contact's `hs_lead_status` (e.g. ``ATTEMPTED_TO_CONTACT``, ``CONNECTED``).

        Raises ValueError for an empty status, NotFound when the contact does not exist.
        """
        if not status.strip():
            raise ValueError("status must not be empty")
        self._set_properties(
            "contacts",
            str(int(contact_id)),
            {"hs_lead_status": status.strip()},
            f"contact {contact_id}",
        )

    def complete_task(self, task_id: str) -> None:
        """Mark the task completed; a task HubSpot no longer has is left alone."""
        if not str(task_id).strip():
            raise ValueError("task_id must not be empty")
        try:
            self._set_properties(
                "tasks", str(task_id), {"hs_task_status": "COMPLETED"}, f"task {task_id}"
            )
        except NotFound:
            return

    def log_meeting(
        self,
        *,
        key: str,
        contact_id: int,
        owner_id: str | None,
        title: str,
        start: datetime,
        end: datetime,
        body: str,
        location: str | None,
    ) -> str:
        """A scheduled meeting on the contact's timeline; its id. Idempotent by `key`.

        Raises ValueError for a bad key, naive times or an end before the start, NotFound
        when the contact does not exist.
        """
        _check_key(key)
        begins, ends = _millis(start), _millis(end)
        if end < start:
            raise ValueError("a meeting cannot end before it starts")
        properties = {
            "hs_timestamp": begins,
            "hs_meeting_title": title,
            "hs_meeting_body": f"{_paragraphs(body)}<p>{REFERENCE}{key}</p>",
            "hs_meeting_start_time": begins,
            "hs_meeting_end_time": ends,
            "hs_meeting_outcome": "SCHEDULED",
            **({"hs_meeting_location": location} if location else {}),
            **({"hubspot_owner_id": owner_id} if owner_id else {}),
        }
        return self._ensure(
            "meetings", "hs_meeting_body", MEETING_TO_CONTACT, contact_id, key, properties
        )

    def _set_properties(
        self, plural: str, object_id: str, properties: dict[str, str], what: str
    ) -> None:
        from hubspot.crm.objects import SimplePublicObjectInput

        request = SimplePublicObjectInput(properties=properties)
        self._call(
            partial(
                self._crm().objects.basic_api.update,
                plural,
                object_id,
                request,
                _request_timeout=self.timeout,
            ),
            what,
        )
