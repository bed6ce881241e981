"""HubSpot CRM fake for hubspot-api-client 12 (``HubSpot(access_token=..., host=fake.url)``).

CRM v3 objects (contacts, companies, deals, notes, tasks, emails, meetings, calls): basic
get/list/create/update/archive, batch read/create/update/archive, search; associations v4
(list, create with labels, create default, archive, batch read/create/associate-default/archive)
with HubSpot's default association type ids, both directions; owners; lists v3 (get a list, its
memberships by record id); communication preferences v3 (subscription definitions, an email's
subscription statuses).

Faithful points worth knowing:

- Every property value is a string; requested but unset properties come back as ``null``;
  without ``properties=`` only the type's default properties come back.
- Engagements (notes, tasks, emails, meetings, calls) require ``hs_timestamp`` (ms or ISO);
  contacts must have a unique, valid ``email`` (409 ``CONFLICT`` "Contact already exists.
  Existing ID: N").
- Search is eventually consistent in HubSpot; ``search_lag_seconds`` (seed) hides objects
  created or updated less than that long ago from search only (default 0).
- Search pages hold at most 200 results and reach at most the first 10,000 matches: a page
  starting at or past 10,000 is a 400 (``total`` still counts every match). An unknown
  operator is a 400.
- List memberships come back ordered by record id, at most 250 a page (default 100), with an
  opaque ``after`` token; records archived since they were added are left out. A DYNAMIC list's
  members are whatever was seeded: the fake does not evaluate list filters.
- Subscription statuses (v3) are only ``SUBSCRIBED`` or ``NOT_SUBSCRIBED``; see
  :meth:`FakeHubSpot._subscription_status` for what an address without a status gets.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request

from devstack.fakes.base import (
    JSON,
    FakeHTTPError,
    FakeService,
    ViewResult,
    bearer_token,
    new_correlation_id,
)

DEFAULT_TOKEN = "pat-local-fake"

# plural name -> (objectTypeId, singular)
OBJECT_TYPES: dict[str, tuple[str, str]] = {
    "contacts": ("0-1", "contact"),
    "companies": ("0-2", "company"),
    "deals": ("0-3", "deal"),
    "tasks": ("0-27", "task"),
    "notes": ("0-46", "note"),
    "meetings": ("0-47", "meeting"),
    "calls": ("0-48", "call"),
    "emails": ("0-49", "email"),
}
ENGAGEMENTS = frozenset({"notes", "tasks", "emails", "meetings", "calls"})
_ALIASES: dict[str, str] = {}
for _plural, (_type_id, _singular) in OBJECT_TYPES.items():
    _ALIASES.update({_plural: _plural, _singular: _plural, _type_id: _plural})

DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}
_ENGAGEMENT_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "contacts": (
        "firstname",
        "lastname",
        "email",
        "phone",
        "mobilephone",
        "company",
        "hs_additional_emails",
    ),
    "companies": ("name", "domain", "website", "phone"),
    "deals": ("dealname", "pipeline", "dealstage", "description"),
}
_DATETIME_PROPERTIES = frozenset(
    {
        "hs_timestamp",
        "closedate",
        "createdate",
        "hs_createdate",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_task_due_date",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "notes_last_contacted",
        "hs_lastcontacted",
    }
)

# (from, to) -> default (unlabeled) HUBSPOT_DEFINED association type id
DEFAULT_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("contacts", "contacts"): 449,
    ("companies", "companies"): 450,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("notes", "companies"): 190,
    ("companies", "notes"): 189,
    ("notes", "deals"): 214,
    ("deals", "notes"): 213,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("tasks", "companies"): 192,
    ("companies", "tasks"): 191,
    ("tasks", "deals"): 216,
    ("deals", "tasks"): 215,
    ("emails", "contacts"): 198,
    ("contacts", "emails"): 197,
    ("emails", "companies"): 186,
    ("companies", "emails"): 185,
    ("emails", "deals"): 210,
    ("deals", "emails"): 209,
    ("meetings", "contacts"): 200,
    ("contacts", "meetings"): 199,
    ("meetings", "companies"): 188,
    ("companies", "meetings"): 187,
    ("meetings", "deals"): 212,
    ("deals", "meetings"): 211,
    ("calls", "contacts"): 194,
    ("contacts", "calls"): 193,
    ("calls", "companies"): 182,
    ("companies", "calls"): 181,
    ("calls", "deals"): 206,
    ("deals", "calls"): 205,
}
# primary (labelled) HUBSPOT_DEFINED types: type id -> (from, to, reverse id, label)
PRIMARY_TYPES: dict[int, tuple[str, str, int, str]] = {
    1: ("contacts", "companies", 2, "Primary"),
    2: ("companies", "contacts", 1, "Primary"),
    5: ("deals", "companies", 6, "Primary"),
    6: ("companies", "deals", 5, "Primary"),
}
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BY_TYPE_ID: dict[str, str] = {type_id: plural for plural, (type_id, _) in OBJECT_TYPES.items()}

SEARCH_OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
SEARCH_RESULT_CAP = 10_000  # HubSpot's search never pages past the first 10,000 matches
LIST_PROCESSING_TYPES = frozenset({"MANUAL", "DYNAMIC", "SNAPSHOT"})
MEMBERSHIPS_DEFAULT_LIMIT = 100
MEMBERSHIPS_MAX_LIMIT = 250
SUBSCRIPTION_STATUSES = frozenset({"SUBSCRIBED", "NOT_SUBSCRIBED"})
LEGAL_BASES = frozenset(
    {
        "LEGITIMATE_INTEREST_PQL",
        "LEGITIMATE_INTEREST_CLIENT",
        "PERFORMANCE_OF_CONTRACT",
        "CONSENT_WITH_NOTICE",
        "NON_GDPR",
        "PROCESS_AND_STORE",
        "LEGITIMATE_INTEREST_OTHER",
    }
)
# What a fresh account has: HubSpot creates a marketing and a one-to-one (sales) type.
DEFAULT_SUBSCRIPTION_TYPES: tuple[JSON, ...] = (
    {
        "id": "2891401",
        "name": "Marketing Information",
        "description": "Marketing offers and updates.",
    },
    {
        "id": "2891402",
        "name": "One to One",
        "description": "One to one emails.",
    },
)


def hs_time(ts: float | None = None) -> str:
    """HubSpot's timestamp format: ISO 8601 UTC with milliseconds and Z."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _to_millis(value: str) -> float | None:
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def normalize_type(name: str) -> str:
    plural = _ALIASES.get(name.lower()) or _ALIASES.get(name)
    if plural is None:
        raise FakeHTTPError(
            400, f"Unable to infer object type from: {name}", category="VALIDATION_ERROR"
        )
    return plural


def association_type_name(from_type: str, to_type: str, type_id: int) -> str:
    base = f"{OBJECT_TYPES[from_type][1]}_to_{OBJECT_TYPES[to_type][1]}"
    if type_id in PRIMARY_TYPES:
        return base
    if any(p[0] == from_type and p[1] == to_type for p in PRIMARY_TYPES.values()):
        return f"{base}_unlabeled"
    return base


@dataclass
class CrmObject:
    type: str
    id: int
    properties: dict[str, str]
    created_at: float
    updated_at: float
    archived: bool = False
    archived_at: float | None = None


@dataclass(frozen=True)
class Association:
    from_type: str
    from_id: int
    to_type: str
    to_id: int
    category: str
    type_id: int


@dataclass
class CrmList:
    id: int
    name: str
    processing_type: str
    object_type_id: str
    created_at: float
    updated_at: float
    members: dict[int, float] = field(default_factory=dict)  # record id -> when added
    version: int = 1


@dataclass(frozen=True)
class SubscriptionState:
    subscription_id: str
    status: str  # SUBSCRIBED or NOT_SUBSCRIBED
    legal_basis: str | None = None
    legal_basis_explanation: str | None = None


@dataclass
class HubSpotState:
    objects: dict[str, dict[int, CrmObject]] = field(
        default_factory=lambda: {name: {} for name in OBJECT_TYPES}
    )
    associations: set[Association] = field(default_factory=set)
    owners: list[JSON] = field(default_factory=list)
    lists: dict[int, CrmList] = field(default_factory=dict)
    subscription_types: list[JSON] = field(
        default_factory=lambda: [dict(t) for t in DEFAULT_SUBSCRIPTION_TYPES]
    )
    # lower-cased email -> subscription type id -> status
    subscriptions: dict[str, dict[str, SubscriptionState]] = field(default_factory=dict)
    unsubscribed_from_all: set[str] = field(default_factory=set)  # lower-cased emails


class FakeHubSpot(FakeService):
    """HubSpot fake. Seed JSON (all keys optional)::

        {"tokens": ["pat-local-fake"], "search_lag_seconds": 0,
         "owners": [{"id": "77", "email": "rep@acme.test", "firstName": "Robin",
                     "lastName": "Rep", "userId": 7001}],
         "contacts": [{"id": "101", "properties": {"email": "pat@prospect.test"}},
                      {"email": "lee@prospect.test", "firstname": "Lee"}],
         "companies": [...], "deals": [...], "notes": [...], "tasks": [...],
         "emails": [...], "meetings": [...], "calls": [...],
         "associations": [{"from": ["contacts", "101"], "to": ["companies", "201"]},
                          {"from": ["deals", "301"], "to": ["contacts", "101"],
                           "typeId": 3, "category": "HUBSPOT_DEFINED"}],
         "lists": [{"listId": "51", "name": "Q3 webinar", "processingType": "MANUAL",
                    "objectTypeId": "0-1", "members": ["101"]}],
         "subscription_types": [{"id": "2891401", "name": "Marketing Information",
                                 "description": "..."}],
         "subscriptions": [{"email": "pat@prospect.test", "subscriptionId": "2891401",
                            "status": "SUBSCRIBED", "legalBasis": "CONSENT_WITH_NOTICE"}],
         "unsubscribed_from_all": ["gone@prospect.test"]}

    An object entry is either ``{"id"?, "properties", "createdAt"?}`` or a bare property map.
    ``subscription_types`` replaces the default types (Marketing Information, One to One).
    """

    name = "hubspot"

    def __init__(self, tokens: Iterable[str] = (DEFAULT_TOKEN,)) -> None:
        self.tokens: set[str] = set(tokens)
        self._default_tokens = set(self.tokens)
        self.search_lag_seconds = 0.0
        self.data = HubSpotState()
        self._ids = itertools.count(1001)
        super().__init__()
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def create(
        self,
        object_type: str,
        properties: dict[str, Any],
        associations: Iterable[tuple[str, str | int]] = (),
        object_id: str | int | None = None,
        created_at: float | None = None,
    ) -> JSON:
        """Create an object directly (default associations to `(type, id)` pairs)."""
        with self.lock:
            kind = normalize_type(object_type)
            obj = self._create(kind, properties, object_id=object_id, created_at=created_at)
            for to_type, to_id in associations:
                self.associate(kind, obj.id, to_type, to_id)
            return self._object_json(obj, None)

    def associate(
        self,
        from_type: str,
        from_id: str | int,
        to_type: str,
        to_id: str | int,
        type_id: int | None = None,
        category: str = "HUBSPOT_DEFINED",
    ) -> None:
        with self.lock:
            source, target = normalize_type(from_type), normalize_type(to_type)
            self._object(source, str(from_id))
            self._object(target, str(to_id))
            self._associate(source, int(from_id), target, int(to_id), type_id, category)

    def objects(self, object_type: str, archived: bool = False) -> list[JSON]:
        """All objects of a type with every stored property, oldest first."""
        with self.lock:
            kind = normalize_type(object_type)
            return [
                self._object_json(obj, None, all_properties=True)
                for obj in sorted(self.data.objects[kind].values(), key=lambda o: o.id)
                if obj.archived == archived
            ]

    def get(self, object_type: str, object_id: str | int) -> JSON | None:
        with self.lock:
            obj = self.data.objects[normalize_type(object_type)].get(int(object_id))
            return self._object_json(obj, None, all_properties=True) if obj else None

    def associations(self, from_type: str, from_id: str | int, to_type: str) -> list[str]:
        """Ids of `to_type` objects associated with the given object."""
        with self.lock:
            source, target = normalize_type(from_type), normalize_type(to_type)
            return sorted(
                {
                    str(a.to_id)
                    for a in self.data.associations
                    if a.from_type == source and a.from_id == int(from_id) and a.to_type == target
                },
                key=int,
            )

    def create_list(
        self,
        name: str,
        members: Iterable[str | int] = (),
        processing_type: str = "MANUAL",
        object_type: str = "0-1",
        list_id: str | int | None = None,
    ) -> JSON:
        """Create a list of `object_type` records (an objectTypeId or a type name) holding
        `members`; its JSON as ``GET /crm/v3/lists/{listId}`` gives it (without ``list``)."""
        with self.lock:
            crm_list = self._create_list(name, processing_type, object_type, list_id)
            self._add_members(crm_list, members)
            return self._list_json(crm_list)

    def add_to_list(self, list_id: str | int, record_ids: Iterable[str | int]) -> None:
        """Add existing records to a list (any processing type: the fake does not evaluate
        a DYNAMIC list's filters, so its members are whatever is added here)."""
        with self.lock:
            self._add_members(self._crm_list(str(list_id)), record_ids)

    def remove_from_list(self, list_id: str | int, record_ids: Iterable[str | int]) -> None:
        with self.lock:
            crm_list = self._crm_list(str(list_id))
            for record_id in record_ids:
                crm_list.members.pop(int(record_id), None)
            crm_list.updated_at = time.time()

    def list_members(self, list_id: str | int) -> list[str]:
        """Ids of the list's current members (archived records left out), ascending."""
        with self.lock:
            return [str(i) for i in self._current_members(self._crm_list(str(list_id)))]

    def set_subscription(
        self,
        email: str,
        subscription_id: str | int,
        status: str = "SUBSCRIBED",
        legal_basis: str | None = None,
        legal_basis_explanation: str | None = None,
    ) -> None:
        """Record the address's status (SUBSCRIBED or NOT_SUBSCRIBED) for one subscription
        type, as the subscribe/unsubscribe endpoints or a preferences page would."""
        with self.lock:
            self._set_subscription(
                email, str(subscription_id), status, legal_basis, legal_basis_explanation
            )

    def unsubscribe_from_all(self, email: str) -> None:
        """The address opts out of all email: every type reads NOT_SUBSCRIBED (portal-wide)
        and contacts with that primary email get ``hs_email_optout`` = ``true``."""
        with self.lock:
            address = email.strip().lower()
            self.data.unsubscribed_from_all.add(address)
            for obj in self.data.objects["contacts"].values():
                if obj.properties.get("email", "").lower() == address:
                    self._update(obj, {"hs_email_optout": "true"})

    # ----------------------------------------------------------------- FakeService hooks

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        if status == 429:
            return {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": new_correlation_id(),
                "policyName": "TEN_SECONDLY_ROLLING",
            }
        category = details.get("category") or {
            400: "VALIDATION_ERROR",
            401: "INVALID_AUTHENTICATION",
            403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND",
            409: "CONFLICT",
            415: "VALIDATION_ERROR",
        }.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        body: JSON = {
            "status": "error",
            "message": message,
            "correlationId": new_correlation_id(),
            "category": category,
        }
        if details.get("context"):
            body["context"] = details["context"]
        if details.get("errors"):
            body["errors"] = details["errors"]
        return body

    def default_error_message(self, status: int) -> str:
        if status >= 500:
            return "internal error"
        return super().default_error_message(status)

    def _reset_state(self) -> None:
        self.data = HubSpotState()
        self.tokens = set(self._default_tokens)
        self.search_lag_seconds = 0.0
        self._ids = itertools.count(1001)

    def _seed(self, data: JSON) -> None:
        if "tokens" in data:
            self.tokens = set(data["tokens"])
        if "search_lag_seconds" in data:
            self.search_lag_seconds = float(data["search_lag_seconds"])
        for owner in data.get("owners", []):
            self._add_owner(owner)
        for kind in OBJECT_TYPES:
            for entry in data.get(kind, []):
                if "properties" in entry and isinstance(entry["properties"], dict):
                    props, object_id = entry["properties"], entry.get("id")
                    created = entry.get("createdAt")
                else:
                    props, object_id, created = entry, None, None
                created_ms = _to_millis(str(created)) if created else None
                created_ts = created_ms / 1000 if created_ms is not None else None
                self._create(kind, props, object_id=object_id, created_at=created_ts)
        for item in data.get("associations", []):
            if "from" in item:
                (from_type, from_id), (to_type, to_id) = item["from"], item["to"]
            else:
                from_type, from_id = item["from_type"], item["from_id"]
                to_type, to_id = item["to_type"], item["to_id"]
            self.associate(
                from_type,
                from_id,
                to_type,
                to_id,
                item.get("typeId"),
                item.get("category", "HUBSPOT_DEFINED"),
            )
        for entry in data.get("lists", []):
            crm_list = self._create_list(
                str(entry["name"]),
                str(entry.get("processingType", "MANUAL")),
                str(entry.get("objectTypeId", "0-1")),
                entry.get("listId", entry.get("id")),
            )
            self._add_members(crm_list, entry.get("members", []))
        if "subscription_types" in data:
            self.data.subscription_types = [
                {
                    "id": str(t["id"]),
                    "name": str(t["name"]),
                    "description": str(t.get("description", "")),
                }
                for t in data["subscription_types"]
            ]
        for entry in data.get("subscriptions", []):
            self._set_subscription(
                str(entry["email"]),
                str(entry.get("subscriptionId", entry.get("id"))),
                str(entry.get("status", "SUBSCRIBED")),
                entry.get("legalBasis"),
                entry.get("legalBasisExplanation"),
            )
        for email in data.get("unsubscribed_from_all", []):
            self.unsubscribe_from_all(str(email))

    def _state(self) -> JSON:
        return {
            "objects": {
                kind: [self._object_json(o, None, all_properties=True) for o in objs.values()]
                for kind, objs in self.data.objects.items()
            },
            "associations": [
                vars(a)
                for a in sorted(
                    self.data.associations, key=lambda a: (a.from_type, a.from_id, a.to_id)
                )
            ],
            "owners": self.data.owners,
            "lists": [
                {**self._list_json(crm_list), "members": self.list_members(crm_list.id)}
                for crm_list in sorted(self.data.lists.values(), key=lambda c: c.id)
            ],
            "subscription_types": self.data.subscription_types,
            "subscriptions": [
                {"email": email, **vars(state)}
                for email, states in sorted(self.data.subscriptions.items())
                for state in states.values()
            ],
            "unsubscribed_from_all": sorted(self.data.unsubscribed_from_all),
        }

    # ----------------------------------------------------------------- model

    def _add_owner(self, owner: JSON) -> None:
        now = hs_time()
        owner_id = str(owner.get("id") or next(self._ids))
        self.data.owners.append(
            {
                "id": owner_id,
                "email": owner.get("email"),
                "type": owner.get("type", "PERSON"),
                "firstName": owner.get("firstName", ""),
                "lastName": owner.get("lastName", ""),
                "userId": int(owner.get("userId") or int(owner_id) + 1000),
                "userIdIncludingInactive": int(owner.get("userId") or int(owner_id) + 1000),
                "createdAt": owner.get("createdAt", now),
                "updatedAt": owner.get("updatedAt", now),
                "archived": bool(owner.get("archived", False)),
                "teams": owner.get("teams", []),
            }
        )

    def _create_list(
        self, name: str, processing_type: str, object_type: str, list_id: Any = None
    ) -> CrmList:
        if processing_type not in LIST_PROCESSING_TYPES:
            raise FakeHTTPError(
                400, f"Unknown processingType {processing_type}", category="VALIDATION_ERROR"
            )
        kind = normalize_type(object_type)  # an objectTypeId (0-1) or a name
        if list_id is None:
            new_id = next(self._ids)
            while new_id in self.data.lists:
                new_id = next(self._ids)
        else:
            new_id = int(list_id)
        if new_id in self.data.lists:
            raise FakeHTTPError(409, f"List {new_id} already exists", category="CONFLICT")
        now = time.time()
        crm_list = CrmList(new_id, name, processing_type, OBJECT_TYPES[kind][0], now, now)
        self.data.lists[new_id] = crm_list
        return crm_list

    def _crm_list(self, list_id: str) -> CrmList:
        found = self.data.lists.get(int(list_id)) if list_id.isdigit() else None
        if found is None:
            raise FakeHTTPError(
                404, f"List does not exist with ID {list_id}.", category="OBJECT_NOT_FOUND"
            )
        return found

    def _add_members(self, crm_list: CrmList, record_ids: Iterable[str | int]) -> None:
        kind = _BY_TYPE_ID[crm_list.object_type_id]
        now = time.time()
        for record_id in record_ids:
            obj = self._object(kind, str(record_id))  # 404 for an unknown record
            crm_list.members.setdefault(obj.id, now)
        crm_list.updated_at = now
        crm_list.version += 1

    def _current_members(self, crm_list: CrmList) -> list[int]:
        objs = self.data.objects[_BY_TYPE_ID[crm_list.object_type_id]]
        return sorted(i for i in crm_list.members if i in objs and not objs[i].archived)

    def _list_json(self, crm_list: CrmList) -> JSON:
        size = len(self._current_members(crm_list))
        return {
            "listId": str(crm_list.id),
            "listVersion": crm_list.version,
            "createdAt": hs_time(crm_list.created_at),
            "updatedAt": hs_time(crm_list.updated_at),
            "filtersUpdatedAt": hs_time(crm_list.created_at),
            "processingStatus": "COMPLETE",
            "createdById": "1",
            "updatedById": "1",
            "processingType": crm_list.processing_type,
            "objectTypeId": crm_list.object_type_id,
            "name": crm_list.name,
            "size": size,
            "additionalProperties": {"hs_list_size": str(size)},
        }

    def _set_subscription(
        self,
        email: str,
        subscription_id: str,
        status: str,
        legal_basis: str | None,
        legal_basis_explanation: str | None,
    ) -> None:
        if not any(t["id"] == subscription_id for t in self.data.subscription_types):
            raise FakeHTTPError(
                400,
                f"Subscription id {subscription_id} does not exist",
                category="VALIDATION_ERROR",
            )
        if status not in SUBSCRIPTION_STATUSES:
            raise FakeHTTPError(400, f"Unknown status {status}", category="VALIDATION_ERROR")
        if legal_basis is not None and legal_basis not in LEGAL_BASES:
            raise FakeHTTPError(
                400, f"Unknown legal basis {legal_basis}", category="VALIDATION_ERROR"
            )
        self.data.subscriptions.setdefault(email.strip().lower(), {})[subscription_id] = (
            SubscriptionState(subscription_id, status, legal_basis, legal_basis_explanation)
        )

    def _validate(self, kind: str, props: dict[str, str], current: CrmObject | None) -> None:
        problems: list[JSON] = []
        if kind in ENGAGEMENTS and current is None and not props.get("hs_timestamp"):
            problems.append(
                {
                    "isValid": False,
                    "message": "hs_timestamp is required",
                    "error": "REQUIRED_FIELD",
                    "name": "hs_timestamp",
                }
            )
        email = props.get("email")
        if kind == "contacts" and email and not _EMAIL_RE.match(email):
            problems.append(
                {
                    "isValid": False,
                    "message": f"Email address {email} is invalid",
                    "error": "INVALID_EMAIL",
                    "name": "email",
                }
            )
        if problems:
            import json as _json

            raise FakeHTTPError(
                400,
                "Property values were not valid: " + _json.dumps(problems),
                category="VALIDATION_ERROR",
            )
        if kind == "contacts" and email:
            for other in self.data.objects["contacts"].values():
                if (
                    other is not current
                    and not other.archived
                    and other.properties.get("email", "").lower() == email.lower()
                ):
                    raise FakeHTTPError(
                        409,
                        f"Contact already exists. Existing ID: {other.id}",
                        category="CONFLICT",
                    )

    @staticmethod
    def _stringify(props: dict[str, Any]) -> dict[str, str]:
        result: dict[str, str] = {}
        for key, value in (props or {}).items():
            if value is None:
                text = ""
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            if key in _DATETIME_PROPERTIES and re.fullmatch(r"\d{10,}", text):
                text = hs_time(int(text) / 1000)
            result[str(key)] = text
        return result

    def _create(
        self,
        kind: str,
        properties: dict[str, Any],
        object_id: str | int | None = None,
        created_at: float | None = None,
    ) -> CrmObject:
        props = self._stringify(properties)
        self._validate(kind, props, None)
        if object_id is None:
            new_id = next(self._ids)
            while new_id in self.data.objects[kind]:  # an id a seed gave explicitly
                new_id = next(self._ids)
        else:
            new_id = int(object_id)
        if new_id in self.data.objects[kind]:
            raise FakeHTTPError(409, f"Object {new_id} already exists", category="CONFLICT")
        now = time.time()
        created = created_at if created_at is not None else now
        stamp = hs_time(created)
        props["hs_object_id"] = str(new_id)
        props.setdefault("hs_createdate" if kind in ENGAGEMENTS else "createdate", stamp)
        props["hs_lastmodifieddate"] = hs_time(now)
        if kind == "contacts":
            props["lastmodifieddate"] = hs_time(now)
        if kind == "deals":
            props.setdefault("pipeline", "default")
        obj = CrmObject(kind, new_id, props, created, now)
        self.data.objects[kind][new_id] = obj
        return obj

    def _update(self, obj: CrmObject, properties: dict[str, Any]) -> None:
        props = self._stringify(properties)
        props.pop("hs_object_id", None)
        self._validate(obj.type, props, obj)
        obj.properties.update(props)
        obj.updated_at = time.time()
        obj.properties["hs_lastmodifieddate"] = hs_time(obj.updated_at)
        if obj.type == "contacts":
            obj.properties["lastmodifieddate"] = hs_time(obj.updated_at)

    def _object(
        self, kind: str, object_id: str, id_property: str | None = None, archived: bool = False
    ) -> CrmObject:
        objs = self.data.objects[kind]
        found: CrmObject | None = None
        if id_property and id_property != "hs_object_id":
            found = next(
                (
                    o
                    for o in objs.values()
                    if o.properties.get(id_property, "").lower() == object_id.lower()
                    and o.archived == archived
                ),
                None,
            )
        elif object_id.isdigit():
            candidate = objs.get(int(object_id))
            if candidate is not None and candidate.archived == archived:
                found = candidate
        if found is None:
            raise FakeHTTPError(
                404,
                "Object not found.  objectId are usually numeric.",
                category="OBJECT_NOT_FOUND",
                context={"id": [object_id]},
            )
        return found

    def _associate(
        self,
        source: str,
        from_id: int,
        target: str,
        to_id: int,
        type_id: int | None,
        category: str = "HUBSPOT_DEFINED",
    ) -> list[Association]:
        default = DEFAULT_ASSOCIATION_TYPES.get((source, target))
        if type_id is None:
            if default is None:
                raise FakeHTTPError(
                    400,
                    f"No default association type between {source} and {target}",
                    category="VALIDATION_ERROR",
                )
            type_id = default
        hs = "HUBSPOT_DEFINED"
        made = [Association(source, from_id, target, to_id, category, int(type_id))]
        # HubSpot keeps the unlabeled association beside any label, in both directions.
        reverse_default = DEFAULT_ASSOCIATION_TYPES.get((target, source))
        if default is not None:
            made.append(Association(source, from_id, target, to_id, hs, default))
        if reverse_default is not None:
            made.append(Association(target, to_id, source, from_id, hs, reverse_default))
        if category == hs and int(type_id) in PRIMARY_TYPES:
            made.append(
                Association(target, to_id, source, from_id, hs, PRIMARY_TYPES[int(type_id)][2])
            )
        made = list(dict.fromkeys(made))
        self.data.associations.update(made)
        return made

    def _unassociate(self, source: str, from_id: int, target: str, to_id: int) -> None:
        self.data.associations = {
            a
            for a in self.data.associations
            if not (
                (a.from_type, a.from_id, a.to_type, a.to_id) == (source, from_id, target, to_id)
                or (a.from_type, a.from_id, a.to_type, a.to_id) == (target, to_id, source, from_id)
            )
        }

    def _associated(self, kind: str, object_id: int, target: str) -> dict[int, list[Association]]:
        grouped: dict[int, list[Association]] = {}
        for a in sorted(self.data.associations, key=lambda x: (x.to_id, x.type_id)):
            if a.from_type == kind and a.from_id == object_id and a.to_type == target:
                target_obj = self.data.objects[target].get(a.to_id)
                if target_obj is not None and not target_obj.archived:
                    grouped.setdefault(a.to_id, []).append(a)
        return grouped

    def _object_json(
        self,
        obj: CrmObject,
        properties: list[str] | None,
        associations: list[str] | None = None,
        all_properties: bool = False,
    ) -> JSON:
        if all_properties:
            props: dict[str, str | None] = dict(obj.properties)
        else:
            wanted = properties or list(DEFAULT_PROPERTIES.get(obj.type, _ENGAGEMENT_DEFAULTS))
            if properties:
                wanted = [*wanted, "hs_object_id", "createdate", "lastmodifieddate"]
                if obj.type != "contacts":
                    wanted = [w for w in wanted if w != "lastmodifieddate"]
                    wanted.append("hs_lastmodifieddate")
                if obj.type in ENGAGEMENTS:
                    wanted = [w for w in wanted if w != "createdate"]
                    wanted.append("hs_createdate")
            props = {name: obj.properties.get(name) for name in dict.fromkeys(wanted)}
        body: JSON = {
            "id": str(obj.id),
            "properties": props,
            "createdAt": hs_time(obj.created_at),
            "updatedAt": hs_time(obj.updated_at),
            "archived": obj.archived,
        }
        if obj.archived and obj.archived_at:
            body["archivedAt"] = hs_time(obj.archived_at)
        if associations:
            assoc: JSON = {}
            for name in associations:
                target = normalize_type(name)
                results = [
                    {"id": str(to_id), "type": association_type_name(obj.type, target, a.type_id)}
                    for to_id, items in self._associated(obj.type, obj.id, target).items()
                    for a in items
                    if a.category == "HUBSPOT_DEFINED"
                ]
                if results:
                    assoc[target] = {"results": results}
            if assoc:
                body["associations"] = assoc
        return body

    # ----------------------------------------------------------------- HTTP helpers

    def _auth(self) -> None:
        token = bearer_token()
        if token is None or token not in self.tokens:
            raise FakeHTTPError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                category="INVALID_AUTHENTICATION",
            )

    @staticmethod
    def _list_arg(name: str) -> list[str]:
        values: list[str] = []
        for raw in request.args.getlist(name):
            values.extend(v.strip() for v in raw.split(",") if v.strip())
        return values

    @staticmethod
    def _bool_arg(name: str) -> bool:
        return request.args.get(name, "false").lower() == "true"

    @staticmethod
    def _body() -> Any:
        data = request.get_json(silent=True)
        if data is None:
            raise FakeHTTPError(
                400, "Invalid input JSON on line 1, column 1", category="VALIDATION_ERROR"
            )
        return data

    def _create_associations(self, kind: str, obj: CrmObject, specs: list[JSON]) -> None:
        for spec in specs or []:
            to_id = str((spec.get("to") or {}).get("id", ""))
            types = spec.get("types") or []
            target = self._find_any(to_id)
            if target is None or not types:
                raise FakeHTTPError(
                    400, "One or more associations are invalid", category="VALIDATION_ERROR"
                )
            for t in types:
                target_type = self._target_type_for(kind, int(t["associationTypeId"]), target)
                self._associate(
                    kind,
                    obj.id,
                    target_type,
                    int(to_id),
                    int(t["associationTypeId"]),
                    t.get("associationCategory", "HUBSPOT_DEFINED"),
                )

    def _find_any(self, object_id: str) -> list[str] | None:
        if not object_id.isdigit():
            return None
        kinds = [k for k, objs in self.data.objects.items() if int(object_id) in objs]
        return kinds or None

    @staticmethod
    def _target_type_for(kind: str, type_id: int, candidates: list[str]) -> str:
        for (source, target), default in DEFAULT_ASSOCIATION_TYPES.items():
            if source == kind and default == type_id and target in candidates:
                return target
        for primary_id, (source, target, _, _) in PRIMARY_TYPES.items():
            if source == kind and primary_id == type_id and target in candidates:
                return target
        if len(candidates) == 1:
            return candidates[0]
        raise FakeHTTPError(
            400, f"Unknown association type {type_id} from {kind}", category="VALIDATION_ERROR"
        )

    def _batch_times(self, started: float) -> JSON:
        return {"startedAt": hs_time(started), "completedAt": hs_time()}

    # ----------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        v3 = "/crm/v3/objects/<object_type>"
        self.route(v3, ("GET",))(self._list)
        self.route(v3, ("POST",))(self._post_create)
        self.route(v3 + "/search", ("POST",))(self._search)
        self.route(v3 + "/batch/read", ("POST",))(self._batch_read)
        self.route(v3 + "/batch/create", ("POST",))(self._batch_create)
        self.route(v3 + "/batch/update", ("POST",))(self._batch_update)
        self.route(v3 + "/batch/archive", ("POST",))(self._batch_archive)
        self.route(v3 + "/<object_id>", ("GET",))(self._get)
        self.route(v3 + "/<object_id>", ("PATCH",))(self._patch)
        self.route(v3 + "/<object_id>", ("DELETE",))(self._archive)
        v4 = "/crm/v4/objects/<object_type>/<object_id>/associations"
        self.route(v4 + "/<to_type>", ("GET",))(self._assoc_list)
        self.route(v4 + "/default/<to_type>/<to_id>", ("PUT",))(self._assoc_default)
        self.route(v4 + "/<to_type>/<to_id>", ("PUT",))(self._assoc_create)
        self.route(v4 + "/<to_type>/<to_id>", ("DELETE",))(self._assoc_archive)
        v4b = "/crm/v4/associations/<from_type>/<to_type>/batch"
        self.route(v4b + "/read", ("POST",))(self._assoc_batch_read)
        self.route(v4b + "/create", ("POST",))(self._assoc_batch_create)
        self.route(v4b + "/associate/default", ("POST",))(self._assoc_batch_default)
        self.route(v4b + "/archive", ("POST",))(self._assoc_batch_archive)
        for rule in ("/crm/v3/owners", "/crm/v3/owners/"):
            self.route(rule, ("GET",))(self._owners_list)
        self.route("/crm/v3/owners/<owner_id>", ("GET",))(self._owners_get)
        self.route("/crm/v3/lists/<list_id>", ("GET",))(self._list_get)
        self.route("/crm/v3/lists/<list_id>/memberships", ("GET",))(self._list_memberships)
        prefs = "/communication-preferences/v3"
        self.route(prefs + "/definitions", ("GET",))(self._subscription_definitions)
        self.route(prefs + "/status/email/<email>", ("GET",))(self._subscription_status)

    def _list(self, object_type: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        limit = max(1, min(int(request.args.get("limit", 10)), 100))
        after = int(request.args.get("after") or 0)
        archived = self._bool_arg("archived")
        objs = sorted(
            (
                o
                for o in self.data.objects[kind].values()
                if o.archived == archived and o.id >= after
            ),
            key=lambda o: o.id,
        )
        page = objs[:limit]
        props = self._list_arg("properties") or None
        assoc = self._list_arg("associations") or None
        body: JSON = {"results": [self._object_json(o, props, assoc) for o in page]}
        if len(objs) > limit:
            next_after = str(objs[limit].id)
            body["paging"] = {
                "next": {
                    "after": next_after,
                    "link": f"{request.host_url.rstrip('/')}{request.path}?after={next_after}",
                }
            }
        return jsonify(body)

    def _get(self, object_type: str, object_id: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        obj = self._object(
            kind, object_id, request.args.get("idProperty"), self._bool_arg("archived")
        )
        return jsonify(
            self._object_json(
                obj, self._list_arg("properties") or None, self._list_arg("associations") or None
            )
        )

    def _post_create(self, object_type: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        body = self._body()
        obj = self._create(kind, body.get("properties") or {})
        try:
            self._create_associations(kind, obj, body.get("associations") or [])
        except FakeHTTPError:
            del self.data.objects[kind][obj.id]
            raise
        return jsonify(self._object_json(obj, None, all_properties=True)), 201

    def _patch(self, object_type: str, object_id: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        obj = self._object(kind, object_id, request.args.get("idProperty"))
        self._update(obj, self._body().get("properties") or {})
        return jsonify(self._object_json(obj, None, all_properties=True))

    def _archive(self, object_type: str, object_id: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        obj = self.data.objects[kind].get(int(object_id)) if object_id.isdigit() else None
        if obj is not None and not obj.archived:
            obj.archived = True
            obj.archived_at = time.time()
        return Response(status=204)

    def _batch_read(self, object_type: str) -> ViewResult:
        self._auth()
        started = time.time()
        kind = normalize_type(object_type)
        body = self._body()
        id_property = body.get("idProperty")
        props = body.get("properties") or None
        results, missing = [], []
        for item in body.get("inputs") or []:
            try:
                obj = self._object(
                    kind, str(item.get("id", "")), id_property, bool(body.get("archived", False))
                )
                results.append(self._object_json(obj, props))
            except FakeHTTPError:
                missing.append(str(item.get("id", "")))
        answer: JSON = {"status": "COMPLETE", "results": results, **self._batch_times(started)}
        if missing:
            answer["numErrors"] = 1
            answer["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {OBJECT_TYPES[kind][1].upper()} objects, "
                    "they may be deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            ]
            return jsonify(answer), 207
        return jsonify(answer)

    def _batch_create(self, object_type: str) -> ViewResult:
        self._auth()
        started = time.time()
        kind = normalize_type(object_type)
        created = []
        for item in self._body().get("inputs") or []:
            obj = self._create(kind, item.get("properties") or {})
            self._create_associations(kind, obj, item.get("associations") or [])
            created.append(self._object_json(obj, None, all_properties=True))
        return jsonify(
            {"status": "COMPLETE", "results": created, **self._batch_times(started)}
        ), 201

    def _batch_update(self, object_type: str) -> ViewResult:
        self._auth()
        started = time.time()
        kind = normalize_type(object_type)
        body = self._body()
        updated = []
        for item in body.get("inputs") or []:
            obj = self._object(kind, str(item.get("id", "")), item.get("idProperty"))
            self._update(obj, item.get("properties") or {})
            updated.append(self._object_json(obj, None, all_properties=True))
        return jsonify({"status": "COMPLETE", "results": updated, **self._batch_times(started)})

    def _batch_archive(self, object_type: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        for item in self._body().get("inputs") or []:
            obj = self.data.objects[kind].get(int(str(item.get("id", "0")) or 0))
            if obj is not None:
                obj.archived = True
                obj.archived_at = time.time()
        return Response(status=204)

    # search ------------------------------------------------------------------

    def _search(self, object_type: str) -> ViewResult:
        self._auth()
        kind = normalize_type(object_type)
        body = self._body()
        groups = body.get("filterGroups") or []
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 18:
            raise FakeHTTPError(
                400,
                "There was a problem with the request.",
                category="VALIDATION_ERROR",
                context={"filterGroups": ["too many filter groups or filters"]},
            )
        for group in groups:
            for spec in group.get("filters") or []:
                operator = str(spec.get("operator", "EQ")).upper()
                if operator not in SEARCH_OPERATORS:
                    raise FakeHTTPError(
                        400,
                        f"Invalid input JSON: unknown filter operator {operator}",
                        category="VALIDATION_ERROR",
                    )
        limit = int(body.get("limit") or 10)
        if limit > 200:
            raise FakeHTTPError(400, "limit must be at most 200", category="VALIDATION_ERROR")
        after = int(body.get("after") or 0)
        if after >= SEARCH_RESULT_CAP:
            # HubSpot: "attempting to page beyond 10,000 will result in a 400 error"
            raise FakeHTTPError(
                400,
                f"There was a problem with the request. after={after} is past the "
                f"{SEARCH_RESULT_CAP:,} results search can page through.",
                category="VALIDATION_ERROR",
            )
        query = str(body.get("query") or "").lower().strip()
        cutoff = time.time() - self.search_lag_seconds
        found = [
            o
            for o in self.data.objects[kind].values()
            if not o.archived
            and (self.search_lag_seconds <= 0 or o.updated_at <= cutoff)
            and (not groups or any(self._group_matches(o, g) for g in groups))
            and (not query or self._query_matches(o, query))
        ]
        found = self._sorted(found, body.get("sorts") or [])
        page = found[after : min(after + limit, SEARCH_RESULT_CAP)]
        answer: JSON = {
            "total": len(found),
            "results": [self._object_json(o, body.get("properties") or None) for o in page],
        }
        if after + limit < len(found):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return jsonify(answer)

    def _query_matches(self, obj: CrmObject, query: str) -> bool:
        fields = SEARCHABLE.get(obj.type) or tuple(obj.properties)
        return any(query in obj.properties.get(f, "").lower() for f in fields)

    def _group_matches(self, obj: CrmObject, group: JSON) -> bool:
        return all(self._filter_matches(obj, f) for f in group.get("filters") or [])

    def _filter_matches(self, obj: CrmObject, spec: JSON) -> bool:
        name = str(spec.get("propertyName", ""))
        operator = str(spec.get("operator", "EQ")).upper()
        if name.startswith("associations."):
            target = normalize_type(name.split(".", 1)[1])
            linked = {str(i) for i in self._associated(obj.type, obj.id, target)}
            values = [str(v) for v in spec.get("values") or [spec.get("value")]]
            hit = any(v in linked for v in values)
            return not hit if operator in {"NEQ", "NOT_IN"} else hit
        actual = obj.properties.get(name)
        has = actual is not None and actual != ""
        if operator == "HAS_PROPERTY":
            return has
        if operator == "NOT_HAS_PROPERTY":
            return not has
        value = "" if spec.get("value") is None else str(spec.get("value"))
        values = [str(v) for v in spec.get("values") or []]
        if operator in {"IN", "NOT_IN"}:
            hit = has and any(self._equal(actual or "", v) for v in values)
            return hit if operator == "IN" else not hit
        if operator == "EQ":
            return has and self._equal(actual or "", value)
        if operator == "NEQ":
            return not (has and self._equal(actual or "", value))
        if operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
            pattern = value.lower()
            text = (actual or "").lower()
            tokens = re.split(r"[\s,;]+", text)
            hit = has and (
                fnmatch.fnmatchcase(text, pattern)
                or any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
            )
            return hit if operator == "CONTAINS_TOKEN" else not hit
        if not has:
            return False
        left, right = self._number(name, actual or ""), self._number(name, value)
        if operator == "BETWEEN":
            high = self._number(name, str(spec.get("highValue", "")))
            if left is None or right is None or high is None:
                return False
            return right <= left <= high
        if left is None or right is None:
            left_s, right_s = (actual or "").lower(), value.lower()
            return {
                "LT": left_s < right_s,
                "LTE": left_s <= right_s,
                "GT": left_s > right_s,
                "GTE": left_s >= right_s,
            }.get(operator, False)
        return {
            "LT": left < right,
            "LTE": left <= right,
            "GT": left > right,
            "GTE": left >= right,
        }.get(operator, False)

    @staticmethod
    def _number(name: str, text: str) -> float | None:
        if name in _DATETIME_PROPERTIES or re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", text):
            return _to_millis(text)
        try:
            return float(text)
        except ValueError:
            return None

    def _equal(self, actual: str, expected: str) -> bool:
        if actual.lower() == expected.lower():
            return True
        left, right = self._number("", actual), self._number("", expected)
        return left is not None and right is not None and left == right

    def _sorted(self, objs: list[CrmObject], sorts: list[Any]) -> list[CrmObject]:
        result = sorted(objs, key=lambda o: o.id)
        for spec in reversed(sorts):
            if isinstance(spec, dict):
                name = str(spec.get("propertyName", ""))
                descending = str(spec.get("direction", "ASCENDING")).upper() == "DESCENDING"
            else:
                text = str(spec)
                descending = text.startswith("-")
                name = text.lstrip("-")

            def key(o: CrmObject, name: str = name) -> tuple[int, float, str]:
                value = o.properties.get(name) or ""
                number = self._number(name, value) if value else None
                return (0 if value else 1, number if number is not None else 0.0, value.lower())

            present = [o for o in result if o.properties.get(name)]
            absent = [o for o in result if not o.properties.get(name)]
            result = sorted(present, key=key, reverse=descending) + absent
        return result

    # associations v4 ---------------------------------------------------------

    @staticmethod
    def _spec_json(a: Association) -> JSON:
        label = (
            PRIMARY_TYPES[a.type_id][3]
            if (a.category == "HUBSPOT_DEFINED" and a.type_id in PRIMARY_TYPES)
            else None
        )
        return {"category": a.category, "typeId": a.type_id, "label": label}

    def _assoc_list(self, object_type: str, object_id: str, to_type: str) -> ViewResult:
        self._auth()
        kind, target = normalize_type(object_type), normalize_type(to_type)
        obj = self._object(kind, object_id)
        grouped = self._associated(kind, obj.id, target)
        limit = max(1, min(int(request.args.get("limit", 500)), 500))
        after = int(request.args.get("after") or 0)
        ids = [i for i in sorted(grouped) if i > after]
        page = ids[:limit]
        body: JSON = {
            "results": [
                {"toObjectId": i, "associationTypes": [self._spec_json(a) for a in grouped[i]]}
                for i in page
            ]
        }
        if len(ids) > limit:
            body["paging"] = {"next": {"after": str(page[-1])}}
        return jsonify(body)

    def _default_result(self, source: str, from_id: int, target: str, to_id: int) -> list[JSON]:
        made = self._associate(source, from_id, target, to_id, None)
        return [
            {
                "from": {"id": str(a.from_id)},
                "to": {"id": str(a.to_id)},
                "associationSpec": {
                    "associationCategory": a.category,
                    "associationTypeId": a.type_id,
                },
            }
            for a in made
        ]

    def _assoc_default(
        self, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> ViewResult:
        self._auth()
        started = time.time()
        kind, target = normalize_type(object_type), normalize_type(to_type)
        source_obj = self._object(kind, object_id)
        target_obj = self._object(target, to_id)
        results = self._default_result(kind, source_obj.id, target, target_obj.id)
        return jsonify({"status": "COMPLETE", "results": results, **self._batch_times(started)})

    def _assoc_create(
        self, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> ViewResult:
        self._auth()
        kind, target = normalize_type(object_type), normalize_type(to_type)
        source_obj = self._object(kind, object_id)
        target_obj = self._object(target, to_id)
        specs = self._body()
        if not isinstance(specs, list) or not specs:
            raise FakeHTTPError(400, "Invalid association spec", category="VALIDATION_ERROR")
        labels: list[str] = []
        for spec in specs:
            type_id = int(spec["associationTypeId"])
            category = spec.get("associationCategory", "HUBSPOT_DEFINED")
            self._associate(kind, source_obj.id, target, target_obj.id, type_id, category)
            if category == "HUBSPOT_DEFINED" and type_id in PRIMARY_TYPES:
                labels.append(PRIMARY_TYPES[type_id][3])
        return jsonify(
            {
                "fromObjectTypeId": OBJECT_TYPES[kind][0],
                "fromObjectId": source_obj.id,
                "toObjectTypeId": OBJECT_TYPES[target][0],
                "toObjectId": target_obj.id,
                "labels": labels,
            }
        ), 201

    def _assoc_archive(
        self, object_type: str, object_id: str, to_type: str, to_id: str
    ) -> ViewResult:
        self._auth()
        kind, target = normalize_type(object_type), normalize_type(to_type)
        if object_id.isdigit() and to_id.isdigit():
            self._unassociate(kind, int(object_id), target, int(to_id))
        return Response(status=204)

    def _assoc_batch_read(self, from_type: str, to_type: str) -> ViewResult:
        self._auth()
        started = time.time()
        kind, target = normalize_type(from_type), normalize_type(to_type)
        results = []
        for item in self._body().get("inputs") or []:
            object_id = str(item.get("id", ""))
            if not object_id.isdigit():
                continue
            grouped = self._associated(kind, int(object_id), target)
            if grouped:
                results.append(
                    {
                        "from": {"id": object_id},
                        "to": [
                            {
                                "toObjectId": i,
                                "associationTypes": [self._spec_json(a) for a in items],
                            }
                            for i, items in grouped.items()
                        ],
                    }
                )
        return jsonify({"status": "COMPLETE", "results": results, **self._batch_times(started)})

    def _assoc_batch_create(self, from_type: str, to_type: str) -> ViewResult:
        self._auth()
        started = time.time()
        kind, target = normalize_type(from_type), normalize_type(to_type)
        results = []
        for item in self._body().get("inputs") or []:
            source_obj = self._object(kind, str(item["from"]["id"]))
            target_obj = self._object(target, str(item["to"]["id"]))
            labels = []
            for spec in item.get("types") or []:
                type_id = int(spec["associationTypeId"])
                category = spec.get("associationCategory", "HUBSPOT_DEFINED")
                self._associate(kind, source_obj.id, target, target_obj.id, type_id, category)
                if category == "HUBSPOT_DEFINED" and type_id in PRIMARY_TYPES:
                    labels.append(PRIMARY_TYPES[type_id][3])
            results.append(
                {
                    "fromObjectTypeId": OBJECT_TYPES[kind][0],
                    "fromObjectId": source_obj.id,
                    "toObjectTypeId": OBJECT_TYPES[target][0],
                    "toObjectId": target_obj.id,
                    "labels": labels,
                }
            )
        return jsonify(
            {"status": "COMPLETE", "results": results, **self._batch_times(started)}
        ), 201

    def _assoc_batch_default(self, from_type: str, to_type: str) -> ViewResult:
        self._auth()
        started = time.time()
        kind, target = normalize_type(from_type), normalize_type(to_type)
        results: list[JSON] = []
        for item in self._body().get("inputs") or []:
            source_obj = self._object(kind, str(item["from"]["id"]))
            target_obj = self._object(target, str(item["to"]["id"]))
            results.extend(self._default_result(kind, source_obj.id, target, target_obj.id))
        return jsonify({"status": "COMPLETE", "results": results, **self._batch_times(started)})

    def _assoc_batch_archive(self, from_type: str, to_type: str) -> ViewResult:
        self._auth()
        kind, target = normalize_type(from_type), normalize_type(to_type)
        for item in self._body().get("inputs") or []:
            from_id = str(item["from"]["id"])
            for to in item.get("to") or []:
                if from_id.isdigit() and str(to["id"]).isdigit():
                    self._unassociate(kind, int(from_id), target, int(to["id"]))
        return Response(status=204)

    # owners ------------------------------------------------------------------

    def _owners_list(self) -> ViewResult:
        self._auth()
        email = request.args.get("email", "").lower()
        archived = self._bool_arg("archived")
        limit = max(1, min(int(request.args.get("limit", 100)), 500))
        after = int(request.args.get("after") or 0)
        owners = [
            o
            for o in self.data.owners
            if o["archived"] == archived and (not email or (o["email"] or "").lower() == email)
        ]
        page = owners[after : after + limit]
        body: JSON = {"results": page}
        if after + limit < len(owners):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return jsonify(body)

    def _owners_get(self, owner_id: str) -> ViewResult:
        self._auth()
        id_property = request.args.get("idProperty", "id")
        archived = self._bool_arg("archived")
        for owner in self.data.owners:
            key = str(owner["userId"]) if id_property == "userId" else owner["id"]
            if key == owner_id and owner["archived"] == archived:
                return jsonify(owner)
        raise FakeHTTPError(
            404, f"No owner found with {id_property} {owner_id}", category="OBJECT_NOT_FOUND"
        )

    # lists v3 ------------------------------------------------------------------

    def _list_get(self, list_id: str) -> ViewResult:
        self._auth()
        return jsonify({"list": self._list_json(self._crm_list(list_id))})

    @staticmethod
    def _membership_token(record_id: int) -> str:
        return base64.urlsafe_b64encode(f"rid:{record_id}".encode()).decode().rstrip("=")

    @staticmethod
    def _membership_offset(token: str) -> int:
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            text = ""
        if not re.fullmatch(r"rid:\d+", text):
            raise FakeHTTPError(400, f"Invalid after token {token}", category="VALIDATION_ERROR")
        return int(text[4:])

    def _list_memberships(self, list_id: str) -> ViewResult:
        """Members ordered by record id, ascending; ``before`` is not supported."""
        self._auth()
        crm_list = self._crm_list(list_id)
        limit = int(request.args.get("limit") or MEMBERSHIPS_DEFAULT_LIMIT)
        if not 1 <= limit <= MEMBERSHIPS_MAX_LIMIT:
            raise FakeHTTPError(
                400,
                f"limit must be between 1 and {MEMBERSHIPS_MAX_LIMIT}",
                category="VALIDATION_ERROR",
            )
        token = request.args.get("after")
        start = self._membership_offset(token) if token else None
        members = self._current_members(crm_list)
        remaining = [i for i in members if start is None or i > start]
        page = remaining[:limit]
        body: JSON = {
            "results": [
                {"recordId": str(i), "membershipTimestamp": hs_time(crm_list.members[i])}
                for i in page
            ],
            "total": len(members),
        }
        if len(remaining) > limit:
            body["paging"] = {"next": {"after": self._membership_token(page[-1])}}
        return jsonify(body)

    # communication preferences v3 --------------------------------------------------

    def _subscription_definitions(self) -> ViewResult:
        self._auth()
        now = hs_time()
        return jsonify(
            {
                "subscriptionDefinitions": [
                    {
                        **t,
                        "isActive": True,
                        "isDefault": True,
                        "isInternal": False,
                        "communicationMethod": "Email",
                        "purpose": "Marketing",
                        "createdAt": now,
                        "updatedAt": now,
                    }
                    for t in self.data.subscription_types
                ]
            }
        )

    def _subscription_status(self, email: str) -> ViewResult:
        """An address's subscription statuses.

        HubSpot documents this v3 endpoint's ``status`` as SUBSCRIBED or NOT_SUBSCRIBED only
        (v4 added NOT_SPECIFIED) and ``subscriptionStatuses`` as the contact's statuses. Our
        choice for what it leaves unsaid: a type the address has no status for is left out
        (never reported NOT_SPECIFIED, which v3 does not have, nor NOT_SUBSCRIBED, which
        would claim an opt-out), so an address HubSpot has never seen gets 200 with an empty
        list. An address that opted out of all email reads NOT_SUBSCRIBED on every type with
        ``sourceOfStatus`` PORTAL_WIDE_STATUS; anything else is SUBSCRIPTION_STATUS.
        """
        self._auth()
        address = email.strip().lower()
        if not _EMAIL_RE.match(address):
            raise FakeHTTPError(
                400, f"Email address {email} is invalid", category="VALIDATION_ERROR"
            )
        statuses: list[JSON] = []
        own = self.data.subscriptions.get(address, {})
        for sub_type in self.data.subscription_types:
            entry: JSON = {
                "id": sub_type["id"],
                "name": sub_type["name"],
                "description": sub_type["description"],
            }
            if address in self.data.unsubscribed_from_all:
                entry.update(status="NOT_SUBSCRIBED", sourceOfStatus="PORTAL_WIDE_STATUS")
            elif sub_type["id"] in own:
                state = own[sub_type["id"]]
                entry.update(status=state.status, sourceOfStatus="SUBSCRIPTION_STATUS")
                if state.legal_basis:
                    entry["legalBasis"] = state.legal_basis
                if state.legal_basis_explanation:
                    entry["legalBasisExplanation"] = state.legal_basis_explanation
            else:
                continue
            statuses.append(entry)
        return jsonify({"recipient": address, "subscriptionStatuses": statuses})
