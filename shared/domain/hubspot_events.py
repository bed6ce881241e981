"""HubSpot webhooks: signature checks and what each event means. Pure: no I/O.

Two shapes arrive at the same URL:
- CRM subscription batches: a JSON array of events carrying only ids
  (`contact.creation`, `contact.propertyChange`, `company.creation`, `deal.creation`, ...).
- Workflow webhooks for form submissions: one JSON object with the whole contact, either the
  legacy contact record (`vid`, `properties: {name: {"value": ...}}`, `form-submissions`) or a
  flat one (`objectId`/`hs_object_id`, `properties: {name: value}`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 100

# HubSpot decodes these percent-escapes in the URI before signing (v3 documentation).
_V3_DECODED = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


class SignatureProblem(StrEnum):
    MISSING = "missing signature"
    MISSING_TIMESTAMP = "missing timestamp"
    STALE = "timestamp outside the allowed window"
    MISMATCH = "signature does not match"
    VERSION = "signature version not accepted"


def v3_uri(uri: str) -> str:
    """The URI as HubSpot signs it: certain percent-escapes decoded, case-insensitively."""
    out = []
    index = 0
    while index < len(uri):
        chunk = uri[index : index + 3]
        decoded = _V3_DECODED.get(chunk.upper()) if chunk.startswith("%") else None
        if decoded is not None:
            out.append(decoded)
            index += 3
        else:
            out.append(uri[index])
            index += 1
    return "".join(out)


def check_signature(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: dict[str, str],
    now_ms: int,
    max_age_ms: int = 300_000,
    max_future_ms: int = 30_000,
    accept_legacy: bool = False,
) -> SignatureProblem | None:
    """None when the request is signed by HubSpot with `secret`; otherwise why not.

    v3 (HMAC-SHA256 of method + URI + body + timestamp, base64) is checked with
    hubspot-api-client's helper (constant-time compare); the time window is ours, since the
    helper accepts stamps from the future. v1/v2 only when `accept_legacy`.
    """
    from hubspot.utils.signature import Signature

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return SignatureProblem.MISMATCH
    lower = {key.lower(): value for key, value in headers.items()}
    v3 = lower.get("x-hubspot-signature-v3")
    if v3:
        stamp = lower.get("x-hubspot-request-timestamp", "")
        if not stamp:
            return SignatureProblem.MISSING_TIMESTAMP
        try:
            stamp_ms = int(stamp)
        except ValueError:
            return SignatureProblem.STALE
        if not (now_ms - max_age_ms <= stamp_ms <= now_ms + max_future_ms):
            return SignatureProblem.STALE
        expected = Signature.get_signature(
            secret, text, "v3", http_uri=v3_uri(uri), http_method=method.upper(), timestamp=stamp
        )
        if not hmac.compare_digest(expected.encode(), v3.strip().encode()):
            return SignatureProblem.MISMATCH
        return None
    legacy = lower.get("x-hubspot-signature")
    if not legacy:
        return SignatureProblem.MISSING
    if not accept_legacy:
        return SignatureProblem.VERSION
    version = lower.get("x-hubspot-signature-version", "v1").lower()
    if version not in {"v1", "v2"}:
        return SignatureProblem.VERSION
    if not Signature.is_valid(legacy.strip(), secret, text, uri, method.upper(), version):
        return SignatureProblem.MISMATCH
    return None


class Trigger(StrEnum):
    FORM = "form"
    CONTACT_CREATED = "contact"
    LIFECYCLE = "lifecycle"


class CrmEvent(BaseModel):
    """One event of a CRM subscription batch (fields as HubSpot names them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    event_id: int | str | None = Field(None, alias="eventId")
    subscription_id: int | None = Field(None, alias="subscriptionId")
    portal_id: int = Field(..., alias="portalId")
    occurred_at: int = Field(..., alias="occurredAt", ge=0)
    subscription_type: str = Field(..., alias="subscriptionType", min_length=3, max_length=100)
    attempt_number: int = Field(0, alias="attemptNumber")
    object_id: int = Field(..., alias="objectId", ge=1)
    property_name: str | None = Field(None, alias="propertyName", max_length=200)
    property_value: str | None = Field(None, alias="propertyValue", max_length=10_000)
    change_source: str | None = Field(None, alias="changeSource", max_length=100)


@dataclass(frozen=True)
class Signal:
    """What an event tells us, normalised across both webhook shapes."""

    key: str  # dedupe key: same event delivered again → same key
    portal_id: int
    kind: str  # e.g. contact.creation, contact.propertyChange, form.submission
    object_type: str  # contact, company, deal
    object_id: int
    occurred_at: int  # ms since epoch
    trigger: Trigger | None  # set when this event starts a workflow
    properties: dict[str, str] = field(default_factory=dict)
    email: str | None = None

    @property
    def contact_id(self) -> int | None:
        return self.object_id if self.object_type == "contact" else None


@dataclass(frozen=True)
class StartPolicy:
    """Which events open a workflow; others only update what we know."""

    form_submissions: bool = True
    contact_creation: bool = True
    lifecycle_stages: frozenset[str] = frozenset({"salesqualifiedlead"})


@dataclass(frozen=True)
class Rejected:
    index: int
    reason: str


@dataclass
class ParsedBatch:
    signals: list[Signal] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class MalformedBody(ValueError):
    """The body as a whole is not a HubSpot webhook: answer 400, change nothing."""


def dedupe_key(*parts: object) -> str:
    raw = "|".join(str(part) for part in parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _trigger_for(event: CrmEvent, policy: StartPolicy) -> Trigger | None:
    kind = event.subscription_type
    if kind == "contact.creation" and policy.contact_creation:
        return Trigger.CONTACT_CREATED
    if (
        kind == "contact.propertyChange"
        and event.property_name == "lifecyclestage"
        and (event.property_value or "") in policy.lifecycle_stages
    ):
        return Trigger.LIFECYCLE
    return None


def _crm_signal(event: CrmEvent, policy: StartPolicy) -> Signal:
    object_type = event.subscription_type.split(".", 1)[0]
    properties = {}
    if event.property_name is not None:
        properties[event.property_name] = event.property_value or ""
    return Signal(
        key=dedupe_key(
            event.portal_id,
            event.subscription_type,
            event.object_id,
            event.occurred_at,
            event.event_id,
            event.property_name or "",
        ),
        portal_id=event.portal_id,
        kind=event.subscription_type,
        object_type=object_type,
        object_id=event.object_id,
        occurred_at=event.occurred_at,
        trigger=_trigger_for(event, policy),
        properties=properties,
    )


def _flat_properties(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    flat: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            value = value.get("value")
        if value is None or isinstance(value, (dict, list)):
            continue
        flat[str(name)[:200]] = str(value)[:10_000]
    return flat


def _form_signal(payload: dict[str, Any], policy: StartPolicy) -> Signal:
    """A workflow webhook (whole contact object) for a form submission."""
    properties = _flat_properties(payload.get("properties"))
    raw_id = (
        payload.get("vid")
        or payload.get("canonical-vid")
        or payload.get("objectId")
        or properties.get("hs_object_id")
    )
    try:
        contact_id = int(str(raw_id))
    except (TypeError, ValueError):
        raise MalformedBody("form webhook without a contact id") from None
    if contact_id < 1:
        raise MalformedBody("form webhook without a contact id")
    raw_portal = payload.get("portal-id") or payload.get("portalId") or 0
    try:
        portal_id = int(str(raw_portal))
    except (TypeError, ValueError):
        raise MalformedBody("form webhook with an invalid portal id") from None
    submissions = payload.get("form-submissions")
    latest: dict[str, Any] = {}
    if isinstance(submissions, list) and submissions:
        dicts = [item for item in submissions if isinstance(item, dict)]
        if dicts:
            latest = max(dicts, key=lambda item: _as_int(item.get("timestamp")))
    occurred_at = _as_int(latest.get("timestamp")) or _as_int(
        properties.get("recent_conversion_date") or properties.get("lastmodifieddate")
    )
    conversion = str(
        latest.get("conversion-id") or properties.get("recent_conversion_event_name") or ""
    )
    email = properties.get("email")
    return Signal(
        key=dedupe_key(portal_id, "form.submission", contact_id, occurred_at, conversion),
        portal_id=portal_id,
        kind="form.submission",
        object_type="contact",
        object_id=contact_id,
        occurred_at=occurred_at,
        trigger=Trigger.FORM if policy.form_submissions else None,
        properties={
            **properties,
            **({"form_id": str(latest["form-id"])} if latest.get("form-id") else {}),
            **({"form_title": str(latest["title"])[:500]} if latest.get("title") else {}),
            **({"page_url": str(latest["page-url"])[:2000]} if latest.get("page-url") else {}),
        },
        email=email.strip().lower() if email else None,
    )


def _as_int(value: Any) -> int:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return 0


def parse_webhook(body: bytes, policy: StartPolicy) -> ParsedBatch:
    """Events of a signed body. Raises MalformedBody when the body as a whole is unusable;
    a bad event inside a good batch is rejected alone, so nothing else is lost."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("body is not JSON") from None
    parsed = ParsedBatch()
    if isinstance(payload, dict):
        parsed.signals.append(_form_signal(payload, policy))
        return parsed
    if not isinstance(payload, list):
        raise MalformedBody("body is neither an event list nor a contact object")
    if len(payload) > MAX_BATCH:
        raise MalformedBody(f"batch of {len(payload)} events exceeds {MAX_BATCH}")
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            parsed.rejected.append(Rejected(index, "event is not an object"))
            continue
        try:
            event = CrmEvent.model_validate(item)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, err["loc"])) for err in exc.errors()})
            parsed.rejected.append(Rejected(index, "invalid fields: " + ", ".join(fields)))
            continue
        parsed.signals.append(_crm_signal(event, policy))
    return parsed
