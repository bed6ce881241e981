"""The contacts of a campaign segment from HubSpot: a list's members or a property search, what
HubSpot holds on them and on their companies, who owns them, and whether they may be emailed.

What a segment of N contacts costs, in requests: a list is 1 read of the list and N/250
membership pages; a search is N/200 pages (HubSpot's largest); then N/100 contact batch
reads, N/100 association batch reads and C/100 company batch reads for C distinct companies;
owners are one request per 500. Nothing here asks once per contact, except subscription
status: the v3 communication-preferences API (the one hubspot-api-client 12 has) answers for
one address at a time, so N addresses cost N requests (HubSpot's v4 API has a batch read the
pinned client does not offer).

Everything goes through hubspot-api-client's own APIs (CRM search and batch read, associations
v4, lists v3 memberships, owners, communication preferences v3); no raw HTTP. Retries and error
mapping are `HubSpotAccount`'s: 401 `CredentialRefused`, 403 `PermanentExternalError`, 404
`NotFound`, 429/5xx/transport failures retried (honouring Retry-After) then `TransientError`,
other 4xx `PermanentExternalError`. Its retry classifier reads the contacts module's
ApiException; the lists and communication-preferences modules raise their own copies, so those
are re-raised as the contacts one first (`_as_known_error`), as `_as_contacts_error` already
does for the associations, objects and owners modules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property, partial
from typing import Any, Literal

from shared.adapters.hubspot import HubSpotAccount
from shared.domain.mail import normalize_email
from shared.errors import BadRequest, NotFound

CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "hubspot_owner_id",
    "lifecyclestage",
    "hs_lead_status",
    "hs_email_optout",
    "country",
    "notes_last_contacted",
)
COMPANY_PROPERTIES = (
    "name",
    "domain",
    "industry",
    "numberofemployees",
    "lifecyclestage",
    "country",
)
OPERATORS = frozenset(
    {"EQ", "NEQ", "IN", "NOT_IN", "GT", "GTE", "LT", "LTE", "HAS_PROPERTY", "NOT_HAS_PROPERTY"}
)
NO_VALUE = frozenset({"HAS_PROPERTY", "NOT_HAS_PROPERTY"})
MANY_VALUES = frozenset({"IN", "NOT_IN"})
# The filters of one filter group are ANDed; HubSpot's changelog of August 2024 raised the
# limit to 10 filters a group (25 in all, 5 groups). Some third-party pages still say 6.
MAX_FILTERS = 10
MAX_VALUES = 100  # per IN / NOT_IN filter, as the campaign model allows
SEARCH_PAGE = 200  # the most HubSpot's CRM search returns per page
SEARCH_CAP = 10_000  # CRM search never pages past the first 10,000 matches (400 beyond)
BATCH_SIZE = 100  # the most one CRM batch read takes
MEMBERSHIP_PAGE = 250  # the most one lists v3 memberships page holds
OWNER_PAGE = 500
CONTACTS_TYPE_ID = "0-1"
PRIMARY_CONTACT_TO_COMPANY = 1  # HUBSPOT_DEFINED type of the "Primary" company label
_PROPERTY = re.compile(r"[a-z0-9_]{1,100}")  # HubSpot internal property names
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_FILTER_KEYS = frozenset({"property", "operator", "value", "values"})

SubscriptionState = Literal["subscribed", "not_subscribed", "unknown"]


@dataclass(frozen=True)
class SegmentRecord:
    """A contact: its id and the properties asked for (None where HubSpot has no value)."""

    id: str
    properties: dict[str, str | None]

    def value(self, name: str) -> str | None:
        """The property's text, stripped; None when unset or blank."""
        raw = self.properties.get(name)
        text = raw.strip() if isinstance(raw, str) else None
        return text or None


@dataclass(frozen=True)
class CompanyRecord:
    """A company: its id and the properties asked for (None where HubSpot has no value)."""

    id: str
    properties: dict[str, str | None]


@dataclass(frozen=True)
class ContactSearch:
    """Every contact a search matched, in id order, up to HubSpot's 10,000."""

    records: tuple[SegmentRecord, ...]
    total: int  # HubSpot's count of matches, which may exceed what search can page through
    truncated: bool  # more matched than search can return: `records` stops at 10,000

    @property
    def ids(self) -> list[str]:
        return [record.id for record in self.records]


@dataclass(frozen=True)
class SegmentList:
    id: str
    name: str
    processing_type: str  # MANUAL, DYNAMIC or SNAPSHOT
    object_type_id: str  # 0-1 for contacts
    size: int | None


@dataclass(frozen=True)
class Subscription:
    """An address's status for one subscription type.

    ``unknown``: HubSpot has no status for it (the address never opted in or out of that
    type), or does not know the address.
    """

    status: SubscriptionState
    legal_basis: str | None = None  # e.g. CONSENT_WITH_NOTICE, LEGITIMATE_INTEREST_CLIENT
    legal_basis_explanation: str | None = None
    source: str | None = None  # SUBSCRIPTION_STATUS, PORTAL_WIDE_STATUS or BRAND_WIDE_STATUS


def _property_name(name: Any) -> str:
    if not isinstance(name, str) or not _PROPERTY.fullmatch(name):
        raise ValueError(f"{name!r} is not a HubSpot property name (lowercase letters, digits, _)")
    return name


def _properties(defaults: Iterable[str], extra: Iterable[str]) -> list[str]:
    if isinstance(extra, str):
        raise ValueError("extra properties must be a list of names, not one string")
    return list(dict.fromkeys([*defaults, *(_property_name(name) for name in extra)]))


def _filter_value(value: Any, where: str) -> str:
    """A filter value as HubSpot's search takes it: text, ``true``/``false``, or epoch
    milliseconds for a date or an aware datetime."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{where}: datetimes must be timezone-aware")
        return str(int(value.timestamp() * 1000))
    if isinstance(value, date):  # date-only properties hold midnight UTC
        return str(int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()) * 1000)
    if isinstance(value, int | Decimal) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"{where}: {value!r} is not a usable filter value")


def _filter(spec: Mapping[str, Any]) -> Any:
    """One ``{"property", "operator", "value"?, "values"?}`` as a CRM search Filter."""
    from hubspot.crm.contacts import Filter

    if not isinstance(spec, Mapping):
        raise ValueError("each filter must be a dict")
    unknown = set(spec) - _FILTER_KEYS
    if unknown:
        raise ValueError(f"unknown filter keys {sorted(unknown)}; use {sorted(_FILTER_KEYS)}")
    name = _property_name(spec.get("property"))
    operator = str(spec.get("operator", "")).strip().upper()
    if operator not in OPERATORS:
        raise ValueError(f"{name}: operator must be one of {sorted(OPERATORS)}")
    where = f"{name} {operator}"
    # a model dump carries the unused operand as None or []: that counts as absent
    has_value = spec.get("value") is not None
    has_values = spec.get("values") not in (None, [], ())
    if operator in NO_VALUE:
        if has_value or has_values:
            raise ValueError(f"{where} takes no value")
        return Filter(property_name=name, operator=operator)
    if operator in MANY_VALUES:
        values = spec.get("values")
        if has_value or isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ValueError(f"{where} takes a list of values (`values`)")
        if not values:
            raise ValueError(f"{where} needs at least one value")
        if len(values) > MAX_VALUES:
            raise ValueError(f"{where} takes at most {MAX_VALUES} values")
        texts = [_filter_value(v, where) for v in values]
        # HubSpot's search guide: with IN / NOT_IN on a string property, values must be
        # lowercase (string matching is case-insensitive, so lowering loses nothing).
        texts = [t if _NUMBER.fullmatch(t) else t.lower() for t in texts]
        return Filter(property_name=name, operator=operator, values=list(dict.fromkeys(texts)))
    if has_values or not has_value:
        raise ValueError(f"{where} takes one value (`value`)")
    return Filter(property_name=name, operator=operator, value=_filter_value(spec["value"], where))


def _contact_ids(ids: Iterable[str | int]) -> list[str]:
    """Distinct record ids, in the order given."""
    if isinstance(ids, str):
        raise ValueError("ids must be a list of ids, not one string")
    wanted: list[str] = []
    for raw in ids:
        text = str(raw).strip()
        if not text.isdigit():
            raise ValueError(f"{raw!r} is not a HubSpot record id")
        wanted.append(str(int(text)))
    return list(dict.fromkeys(wanted))


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _next_after(page: Any) -> str | None:
    after = getattr(getattr(getattr(page, "paging", None), "next", None), "after", None)
    return str(after) if after else None


def _picked(properties: Mapping[str, Any] | None, names: Sequence[str]) -> dict[str, str | None]:
    found = properties or {}
    return {name: None if found.get(name) is None else str(found[name]) for name in names}


def _as_known_error(fn: Callable[[], Any]) -> Any:
    """Run `fn`; a lists or communication-preferences ApiException comes out as the contacts
    module's, the one `HubSpotAccount` reads."""
    from hubspot.communication_preferences.exceptions import ApiException as PreferencesError
    from hubspot.crm.contacts.exceptions import ApiException
    from hubspot.crm.lists.exceptions import ApiException as ListsError

    try:
        return fn()
    except (ListsError, PreferencesError) as exc:
        same = ApiException(status=exc.status, reason=exc.reason)
        same.body = exc.body
        same.headers = exc.headers
        raise same from None


class HubSpotSegments(HubSpotAccount):
    """Campaign segments from one HubSpot account (a private app's access token).

    Build it like the other HubSpot adapters: ``HubSpotSegments(token, host=...)`` or
    ``HubSpotSegments.from_settings(settings, secrets)``.
    """

    # ------------------------------------------------------------------ API objects

    @cached_property
    def _contacts_search(self) -> Any:
        return self._crm().contacts.search_api

    @cached_property
    def _objects_batch(self) -> Any:
        return self._crm().objects.batch_api

    @cached_property
    def _associations_batch(self) -> Any:
        return self._crm().associations.v4.batch_api

    @cached_property
    def _owners_api(self) -> Any:
        return self._crm().owners.owners_api

    @cached_property
    def _lists_api(self) -> Any:
        return self._crm().lists.lists_api

    @cached_property
    def _memberships_api(self) -> Any:
        return self._crm().lists.memberships_api

    @cached_property
    def _preferences(self) -> Any:
        self._crm()  # builds the client
        return self._client.communication_preferences

    def _run(self, fn: Callable[[], Any], what: str) -> Any:
        return self._call(partial(_as_known_error, fn), what)

    # ------------------------------------------------------------------ lists

    def get_list(self, list_id: str | int) -> SegmentList:
        """The list's name, type and size. NotFound when HubSpot has no such list."""
        wanted = _list_id(list_id)
        answer = self._run(
            partial(self._lists_api.get_by_id, wanted, _request_timeout=self.timeout),
            f"list {wanted}",
        )
        found = answer.list
        size = getattr(found, "size", None)
        return SegmentList(
            id=str(found.list_id),
            name=str(found.name or ""),
            processing_type=str(found.processing_type or ""),
            object_type_id=str(found.object_type_id or ""),
            size=None if size is None else int(size),
        )

    def list_contact_ids(self, list_id: str | int) -> list[str]:
        """Ids of the contacts in the list, ascending (every page).

        NotFound when there is no such list; BadRequest when it holds something other than
        contacts (a company list, say).
        """
        segment = self.get_list(list_id)
        if segment.object_type_id != CONTACTS_TYPE_ID:
            raise BadRequest(
                f"hubspot list {segment.id} ({segment.name}) holds objects of type "
                f"{segment.object_type_id}, not contacts"
            )
        ids: list[str] = []
        after: str | None = None
        while True:
            page = self._run(
                partial(
                    self._memberships_api.get_page,
                    segment.id,
                    after=after,
                    limit=MEMBERSHIP_PAGE,
                    _request_timeout=self.timeout,
                ),
                f"list {segment.id} memberships",
            )
            ids.extend(str(item.record_id) for item in page.results or [])
            following = _next_after(page)
            if following is None or following == after:
                break
            after = following
        return list(dict.fromkeys(ids))

    # ------------------------------------------------------------------ search

    def search_contacts(
        self, filters: Sequence[Mapping[str, Any]], properties: Iterable[str] = ()
    ) -> ContactSearch:
        """Every contact matching all `filters`, in id order, up to HubSpot's 10,000.

        Each filter is ``{"property": name, "operator": op, "value": v}`` (``"values": [...]``
        for IN / NOT_IN, neither for HAS_PROPERTY / NOT_HAS_PROPERTY); operators EQ, NEQ, IN,
        NOT_IN, GT, GTE, LT, LTE, HAS_PROPERTY, NOT_HAS_PROPERTY. Values may be str, int,
        float, Decimal, bool, date or aware datetime (sent as epoch milliseconds). All filters
        are ANDed (one filter group), at most 10; none matches every contact. A malformed
        filter raises ValueError before any request (an unused ``value: None`` or
        ``values: []`` is fine, so a model dump can be passed as is).

        Records carry `CONTACT_PROPERTIES` plus `properties` as HubSpot's search index has
        them; search lags writes by a few seconds, so re-read with `read_contacts` when
        current values matter (an opt-out set a moment ago). Past 10,000 matches HubSpot's
        search stops: the result says ``truncated`` and ``total`` gives the full count.
        """
        from hubspot.crm.contacts import FilterGroup, PublicObjectSearchRequest

        if isinstance(filters, Mapping | str):
            raise ValueError("filters must be a list of filter dicts")
        built = [_filter(spec) for spec in filters]
        if len(built) > MAX_FILTERS:
            raise ValueError(f"at most {MAX_FILTERS} filters can be combined in one search")
        names = _properties(CONTACT_PROPERTIES, properties)
        groups = [FilterGroup(filters=built)] if built else []
        records: dict[str, SegmentRecord] = {}
        total = 0
        after: str | None = None
        more = False
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=groups,
                properties=names,
                sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                limit=SEARCH_PAGE,
                after=after,
            )
            page = self._run(
                partial(
                    self._contacts_search.do_search,
                    public_object_search_request=request,
                    _request_timeout=self.timeout,
                ),
                "contact search",
            )
            total = max(total, int(page.total or 0))
            for result in page.results or []:
                record = SegmentRecord(str(result.id), _picked(result.properties, names))
                records.setdefault(record.id, record)
            following = _next_after(page)
            more = following is not None and following != after
            if not more or len(records) >= SEARCH_CAP:
                break
            if following is not None and following.isdigit() and int(following) >= SEARCH_CAP:
                break  # HubSpot answers 400 for a page starting at or past 10,000
            after = following
        found = tuple(sorted(records.values(), key=lambda r: int(r.id)))[:SEARCH_CAP]
        truncated = total > len(found) and (more or total > SEARCH_CAP)
        return ContactSearch(records=found, total=total, truncated=truncated)

    # ------------------------------------------------------------------ batch reads

    def _read(self, plural: str, ids: Sequence[str], names: list[str]) -> dict[str, Any]:
        """Batch reads of `ids` (100 a request); ids HubSpot does not have are left out."""
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        found: dict[str, Any] = {}
        for chunk in _chunks(ids, BATCH_SIZE):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in chunk],
                properties=names,
                properties_with_history=[],
            )
            answer = self._run(
                partial(
                    self._objects_batch.read,
                    plural,
                    request,
                    archived=False,
                    _request_timeout=self.timeout,
                ),
                f"{plural} read",
            )
            for result in answer.results or []:
                found[str(result.id)] = result
        return found

    def read_contacts(
        self, ids: Iterable[str | int], properties: Iterable[str] = ()
    ) -> list[SegmentRecord]:
        """The contacts, current values, in the order given (duplicates once); ids HubSpot
        does not have (deleted, merged away) are left out. 100 ids a request.

        Properties: `CONTACT_PROPERTIES` plus `properties`.
        """
        wanted = _contact_ids(ids)
        names = _properties(CONTACT_PROPERTIES, properties)
        found = self._read("contacts", wanted, names)
        return [SegmentRecord(i, _picked(found[i].properties, names)) for i in wanted if i in found]

    def companies_of(
        self, contact_ids: Iterable[str | int], properties: Iterable[str] = ()
    ) -> dict[str, CompanyRecord | None]:
        """Each contact's company: the one labelled primary, else the lowest associated id;
        None for a contact with no company (or one HubSpot does not have).

        Association batch reads (100 contacts a request) then company batch reads (100 a
        request). Properties: `COMPANY_PROPERTIES` plus `properties`. Only the first page of a
        contact's companies (500) is looked at.
        """
        from hubspot.crm.associations.v4 import (
            BatchInputPublicFetchAssociationsBatchRequest,
            PublicFetchAssociationsBatchRequest,
        )

        wanted = _contact_ids(contact_ids)
        names = _properties(COMPANY_PROPERTIES, properties)
        chosen: dict[str, str] = {}
        for chunk in _chunks(wanted, BATCH_SIZE):
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in chunk]
            )
            answer = self._run(
                partial(
                    self._associations_batch.get_page,
                    "contacts",
                    "companies",
                    request,
                    _request_timeout=self.timeout,
                ),
                "contact companies",
            )
            for result in answer.results or []:
                company = _primary_company(result.to or [])
                if company is not None:
                    chosen[str(result._from.id)] = company
        companies = self._read("companies", list(dict.fromkeys(chosen.values())), names)
        return {
            i: (
                CompanyRecord(chosen[i], _picked(companies[chosen[i]].properties, names))
                if chosen.get(i) in companies
                else None
            )
            for i in wanted
        }

    # ------------------------------------------------------------------ owners

    def owners(self) -> dict[str, str]:
        """Active owners: owner id (what ``hubspot_owner_id`` holds) to email address."""
        found: dict[str, str] = {}
        after: str | None = None
        while True:
            page = self._run(
                partial(
                    self._owners_api.get_page,
                    after=after,
                    limit=OWNER_PAGE,
                    archived=False,
                    _request_timeout=self.timeout,
                ),
                "owners",
            )
            for owner in page.results or []:
                if owner.id is not None and owner.email:
                    found[str(owner.id)] = str(owner.email)
            following = _next_after(page)
            if following is None or following == after:
                return found
            after = following

    # ------------------------------------------------------------------ subscriptions

    def subscription_types(self) -> dict[str, str]:
        """The account's email subscription types: id to name."""
        answer = self._run(
            partial(self._preferences.definition_api.get_page, _request_timeout=self.timeout),
            "subscription types",
        )
        return {
            str(item.id): str(item.name or "") for item in answer.subscription_definitions or []
        }

    def subscription(self, email: str, subscription_type_id: str | int) -> Subscription:
        """The address's status for one subscription type (one request per address).

        ``subscribed`` / ``not_subscribed`` as HubSpot reports that type; an address that opted
        out of all email is ``not_subscribed`` for every type; ``unknown`` when HubSpot has no
        status for the type or does not know the address. ValueError for an unreadable
        address or an empty type id.
        """
        address = normalize_email(email)
        if address is None:
            raise ValueError("email is not an email address")
        type_id = str(subscription_type_id).strip()
        if not type_id:
            raise ValueError("subscription_type_id must not be empty")
        try:
            answer = self._run(
                partial(
                    self._preferences.status_api.get_email_status,
                    address,
                    _request_timeout=self.timeout,
                ),
                "subscription status",
            )
        except NotFound:
            return Subscription("unknown")
        statuses = list(answer.subscription_statuses or [])
        for item in statuses:
            if str(item.id) == type_id:
                return _subscription(item)
        for item in statuses:  # opted out of everything, including types created since
            if item.source_of_status == "PORTAL_WIDE_STATUS" and item.status == "NOT_SUBSCRIBED":
                return Subscription("not_subscribed", source="PORTAL_WIDE_STATUS")
        return Subscription("unknown")


def _list_id(list_id: str | int) -> str:
    text = str(list_id).strip()
    if not text.isdigit():
        raise ValueError(f"{list_id!r} is not a HubSpot list id")
    return str(int(text))


def _primary_company(targets: Iterable[Any]) -> str | None:
    ids: list[int] = []
    for target in targets:
        company = int(target.to_object_id)
        for kind in target.association_types or []:
            if (
                kind.category == "HUBSPOT_DEFINED"
                and int(kind.type_id or 0) == PRIMARY_CONTACT_TO_COMPANY
            ):
                return str(company)
        ids.append(company)
    return str(min(ids)) if ids else None


def _subscription(item: Any) -> Subscription:
    status: SubscriptionState = "unknown"  # a status v3 does not define (v4's NOT_SPECIFIED)
    if item.status == "SUBSCRIBED":
        status = "subscribed"
    elif item.status == "NOT_SUBSCRIBED":
        status = "not_subscribed"
    return Subscription(
        status=status,
        legal_basis=item.legal_basis or None,
        legal_basis_explanation=item.legal_basis_explanation or None,
        source=item.source_of_status or None,
    )
