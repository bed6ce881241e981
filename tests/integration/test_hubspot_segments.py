"""Campaign segments read through hubspot-api-client from the HubSpot fake: list members, property
search across pages (and its 10,000 cap), batch reads of contacts and their companies, owners,
subscription statuses, retries and a revoked token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hubspot import HubSpot

from devstack.fakes import FakeHubSpot, FakeService, stop_fakes
from devstack.serving import ThreadedServer
from shared.adapters.hubspot_segments import (
    COMPANY_PROPERTIES,
    CONTACT_PROPERTIES,
    CompanyRecord,
    ContactSearch,
    HubSpotSegments,
    SegmentList,
    SegmentRecord,
    Subscription,
)
from shared.errors import BadRequest, CredentialRefused, NotFound, TransientError

TOKEN = "pat-test-segments-41c9e2"
SEARCH = "/crm/v3/objects/contacts/search"
CONTACTS_READ = "/crm/v3/objects/contacts/batch/read"
COMPANIES_READ = "/crm/v3/objects/companies/batch/read"
ASSOCIATIONS_READ = "/crm/v4/associations/contacts/companies/batch/read"
LISTS = "/crm/v3/lists/"
STATUS = "/communication-preferences/v3/status/email/"
MARKETING, ONE_TO_ONE = "2891401", "2891402"  # the fake's default subscription types

# ---------------------------------------------------------------- the account: 300 contacts
N_CONTACTS, N_COMPANIES = 300, 40
BASE = datetime(2026, 1, 1, tzinfo=UTC)
LIFECYCLE = ("lead", "marketingqualifiedlead", "customer")
LEAD_STATUS = ("NEW", "OPEN", "IN_PROGRESS", "CONNECTED", None)
COUNTRIES = ("Germany", "France", "United Kingdom", "Spain", "Netherlands", "Italy", "Poland")
INDUSTRIES = ("Software", "Healthcare", "Retail", "Finance")
OWNERS = {
    "7001": "maya@brightline.example",
    "7002": "sam@brightline.example",
    "7003": "lee@brightline.example",
}
OWNER_OF = ("7001", "7002", "7003", None)


def contact_id(k: int) -> str:
    return str(10_001 + k)


def company_id(n: int) -> str:
    return str(5_001 + n)


def company_index(k: int) -> int | None:
    """The company a contact works for (one in 30 has none)."""
    return None if k % 30 == 29 else k % N_COMPANIES


def contact_properties(k: int) -> dict[str, str]:
    company = company_index(k)
    domain = "mail.example" if company is None else f"co{company}.example"
    props: dict[str, str | None] = {
        "email": f"person{k}@{domain}",
        "firstname": f"First{k}",
        "lastname": f"Last{k}",
        "lifecyclestage": LIFECYCLE[k % 3],
        "hs_lead_status": LEAD_STATUS[k % 5],
        "hubspot_owner_id": OWNER_OF[k % 4],
        "country": COUNTRIES[k % 7],
        "hs_lead_score": str((k * 37) % 101),
        "hs_email_optout": "true" if k % 25 == 0 else "false",
        "notes_last_contacted": (
            None if k % 6 == 0 else str(int((BASE + timedelta(days=k)).timestamp() * 1000))
        ),
    }
    return {name: value for name, value in props.items() if value is not None}


ROWS: dict[str, dict[str, str]] = {contact_id(k): contact_properties(k) for k in range(N_CONTACTS)}


def company_properties(n: int) -> dict[str, str]:
    return {
        "name": f"Company {n}",
        "domain": f"co{n}.example",
        "industry": INDUSTRIES[n % 4],
        "numberofemployees": str(10 * (n + 1)),
        "lifecyclestage": "customer" if n % 5 == 0 else "lead",
        "country": COUNTRIES[n % 7],
    }


def associations() -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """Seed associations and, per contact, the company `companies_of` must pick."""
    links: list[dict[str, Any]] = []
    expected: dict[str, str | None] = {}
    for k in range(N_CONTACTS):
        company = company_index(k)
        if company is None:
            expected[contact_id(k)] = None
            continue
        links.append(
            {"from": ["contacts", contact_id(k)], "to": ["companies", company_id(company)]}
        )
        expected[contact_id(k)] = company_id(company)
        if k % 50 == 7:  # a second company, labelled primary: it wins over the lower id
            other = company_id((company + 1) % N_COMPANIES)
            links.append(
                {
                    "from": ["contacts", contact_id(k)],
                    "to": ["companies", other],
                    "typeId": 1,
                    "category": "HUBSPOT_DEFINED",
                }
            )
            expected[contact_id(k)] = other
        elif k % 50 == 13:  # a second company, unlabelled: the lowest id wins
            other = company_id(N_COMPANIES - 1 - company)
            links.append({"from": ["contacts", contact_id(k)], "to": ["companies", other]})
            expected[contact_id(k)] = min(company_id(company), other, key=int)
    return links, expected


LINKS, EXPECTED_COMPANY = associations()


def ids_where(predicate: Callable[[dict[str, str]], bool]) -> list[str]:
    return sorted((i for i, props in ROWS.items() if predicate(props)), key=int)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def served() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    started: dict[str, tuple[FakeService, ThreadedServer]] = {"hubspot": (fake, server)}
    yield fake
    stop_fakes(started)


@pytest.fixture
def hubspot(served: FakeHubSpot) -> FakeHubSpot:
    served.reset()
    served.seed(
        {
            "tokens": [TOKEN],
            "owners": [
                *({"id": i, "email": e} for i, e in OWNERS.items()),
                {"id": "7004", "email": "gone@brightline.example", "archived": True},
                {"id": "7005", "email": None},
            ],
            "companies": [
                {"id": company_id(n), "properties": company_properties(n)}
                for n in range(N_COMPANIES)
            ],
            "contacts": [{"id": i, "properties": props} for i, props in ROWS.items()],
            "associations": LINKS,
        }
    )
    served.clear_requests()
    return served


def segments(
    fake: FakeHubSpot, sleeps: list[float] | None = None, **options: Any
) -> HubSpotSegments:
    sleep = sleeps.append if sleeps is not None else None
    return HubSpotSegments(TOKEN, host=fake.url, sleep=sleep, **options)


# ---------------------------------------------------------------- search

OPERATOR_CASES: list[tuple[dict[str, Any], Callable[[dict[str, str]], bool]]] = [
    (
        {"property": "lifecyclestage", "operator": "EQ", "value": "customer"},
        lambda p: p["lifecyclestage"] == "customer",
    ),
    (
        {"property": "country", "operator": "NEQ", "value": "France"},
        lambda p: p["country"] != "France",
    ),
    (
        {"property": "hs_lead_status", "operator": "IN", "values": ["NEW", "CONNECTED"]},
        lambda p: p.get("hs_lead_status") in {"NEW", "CONNECTED"},
    ),
    (
        {"property": "lifecyclestage", "operator": "NOT_IN", "values": ["lead", "customer"]},
        lambda p: p["lifecyclestage"] not in {"lead", "customer"},
    ),
    (
        {"property": "hs_lead_score", "operator": "GT", "value": 80},
        lambda p: int(p["hs_lead_score"]) > 80,
    ),
    (
        {"property": "hs_lead_score", "operator": "GTE", "value": "80"},
        lambda p: int(p["hs_lead_score"]) >= 80,
    ),
    (
        {"property": "hs_lead_score", "operator": "LT", "value": 9},
        lambda p: int(p["hs_lead_score"]) < 9,
    ),
    (
        {"property": "hs_lead_score", "operator": "LTE", "value": 9},
        lambda p: int(p["hs_lead_score"]) <= 9,
    ),
    (
        {"property": "hs_lead_status", "operator": "HAS_PROPERTY"},
        lambda p: "hs_lead_status" in p,
    ),
    (
        {"property": "notes_last_contacted", "operator": "NOT_HAS_PROPERTY"},
        lambda p: "notes_last_contacted" not in p,
    ),
    (
        {
            "property": "notes_last_contacted",
            "operator": "LT",
            "value": BASE + timedelta(days=40, hours=12),
        },
        lambda p: (
            "notes_last_contacted" in p
            and int(p["notes_last_contacted"])
            < (BASE + timedelta(days=40, hours=12)).timestamp() * 1000
        ),
    ),
]


@pytest.mark.parametrize(
    ("spec", "predicate"),
    OPERATOR_CASES,
    ids=[f"{spec['operator']}-{spec['property']}" for spec, _ in OPERATOR_CASES],
)
def test_each_operator_finds_exactly_the_matching_contacts(
    hubspot: FakeHubSpot, spec: dict[str, Any], predicate: Callable[[dict[str, str]], bool]
) -> None:
    expected = ids_where(predicate)
    assert 0 < len(expected) < N_CONTACTS  # each case tells matches from the rest

    found = segments(hubspot).search_contacts([spec])

    assert found.ids == expected
    assert found.total == len(expected)
    assert not found.truncated


def test_filters_are_anded_and_every_page_is_read(hubspot: FakeHubSpot) -> None:
    filters = [
        {"property": "hs_lead_score", "operator": "GTE", "value": 3},
        {"property": "country", "operator": "NEQ", "value": "Spain"},
        {"property": "hubspot_owner_id", "operator": "HAS_PROPERTY"},
        {"property": "lifecyclestage", "operator": "IN", "values": ["lead", "CUSTOMER"]},
    ]
    expected = ids_where(
        lambda p: (
            int(p["hs_lead_score"]) >= 3
            and p["country"] != "Spain"
            and "hubspot_owner_id" in p
            and p["lifecyclestage"] in {"lead", "customer"}
        )
    )
    everyone = segments(hubspot).search_contacts([])
    narrow = segments(hubspot).search_contacts(filters, properties=["hs_lead_score"])

    assert everyone.ids == sorted(ROWS, key=int)  # 300 contacts: two pages of 200
    assert everyone.total == N_CONTACTS
    assert narrow.ids == expected
    record = narrow.records[0]
    assert record.properties == {
        **{name: ROWS[record.id].get(name) for name in CONTACT_PROPERTIES},
        "notes_last_contacted": record.properties["notes_last_contacted"],  # ISO in HubSpot
        "hs_lead_score": ROWS[record.id]["hs_lead_score"],
    }
    searches = hubspot.requests_to(SEARCH)
    assert len(searches) == 2 + 1
    first, second, last = (r["json"] for r in searches)
    assert first["filterGroups"] == []
    assert first["limit"] == 200
    assert second["after"] == "200"
    assert first["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert last["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "hs_lead_score", "operator": "GTE", "value": "3"},
                {"propertyName": "country", "operator": "NEQ", "value": "Spain"},
                {"propertyName": "hubspot_owner_id", "operator": "HAS_PROPERTY"},
                {
                    "propertyName": "lifecyclestage",
                    "operator": "IN",
                    "values": ["lead", "customer"],
                },
            ]
        }
    ]
    assert set(last["properties"]) == {*CONTACT_PROPERTIES, "hs_lead_score"}


def test_search_stops_at_hubspots_10000_and_says_so(hubspot: FakeHubSpot) -> None:
    for n in range(10_050):
        hubspot.create("contacts", {"bulk_import": "spring", "hs_lead_score": str(n % 7)})
    hubspot.clear_requests()

    found = segments(hubspot).search_contacts(
        [{"property": "bulk_import", "operator": "EQ", "value": "spring"}]
    )

    assert len(found.records) == 10_000
    assert found.total == 10_050
    assert found.truncated
    assert found.ids == sorted(found.ids, key=int)
    assert len(set(found.ids)) == 10_000
    statuses = [r["status"] for r in hubspot.requests_to(SEARCH)]
    assert statuses == [200] * 50  # never asks for the page past 10,000 (HubSpot's 400)


@pytest.mark.parametrize(
    "spec",
    [
        {"property": "firstName", "operator": "EQ", "value": "Ann"},
        {"property": "associations.company", "operator": "EQ", "value": "5001"},
        {"property": "country", "operator": "CONTAINS", "value": "an"},
        {"property": "country", "operator": "EQ"},
        {"property": "country", "operator": "EQ", "value": "  "},
        {"property": "country", "operator": "EQ", "values": ["France"]},
        {"property": "country", "operator": "IN", "value": "France"},
        {"property": "country", "operator": "IN", "values": "France"},
        {"property": "country", "operator": "HAS_PROPERTY", "value": "France"},
        {"property": "notes_last_contacted", "operator": "GT", "value": datetime(2026, 1, 1)},
        {"propertyName": "country", "operator": "EQ", "value": "France"},
    ],
)
def test_a_malformed_filter_is_refused_before_any_request(
    hubspot: FakeHubSpot, spec: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"\S"):  # any message: the spec is wrong somehow
        segments(hubspot).search_contacts([spec])
    assert hubspot.requests == []


def test_more_filters_than_one_group_holds_are_refused(hubspot: FakeHubSpot) -> None:
    many = [{"property": "hs_lead_score", "operator": "GTE", "value": n} for n in range(11)]
    with pytest.raises(ValueError, match="at most 10"):
        segments(hubspot).search_contacts(many)
    assert hubspot.requests == []


def test_a_model_dump_with_unused_operands_is_accepted(hubspot: FakeHubSpot) -> None:
    found = segments(hubspot).search_contacts(
        [
            {"property": "country", "operator": "EQ", "value": "Poland", "values": []},
            {"property": "lifecyclestage", "operator": "IN", "value": None, "values": ["lead"]},
        ]
    )
    assert found.ids == ids_where(
        lambda p: p["country"] == "Poland" and p["lifecyclestage"] == "lead"
    )


# ---------------------------------------------------------------- lists


def test_a_lists_contacts_come_from_every_membership_page(hubspot: FakeHubSpot) -> None:
    members = [contact_id(k) for k in range(N_CONTACTS) if k % 7 != 3]  # 257
    made = hubspot.create_list("Q3 webinar attendees", members, processing_type="DYNAMIC")
    hubspot.seed({"contacts": [{"id": "99001", "properties": {"email": "late@co1.example"}}]})
    hubspot.add_to_list(made["listId"], ["99001"])
    hubspot.create("contacts", {"email": "outsider@co2.example"})
    hubspot.clear_requests()
    reader = segments(hubspot)

    ids = reader.list_contact_ids(made["listId"])
    info = reader.get_list(int(made["listId"]))

    assert ids == sorted([*members, "99001"], key=int)
    assert info == SegmentList(
        made["listId"], "Q3 webinar attendees", "DYNAMIC", "0-1", len(members) + 1
    )
    pages = hubspot.requests_to(LISTS + made["listId"] + "/memberships")
    assert [p["query"].get("limit") for p in pages] == ["250", "250"]
    assert "after" not in pages[0]["query"]
    assert pages[1]["query"]["after"]


def test_archived_contacts_leave_the_list(hubspot: FakeHubSpot) -> None:
    made = hubspot.create_list("Small", [contact_id(0), contact_id(1), contact_id(2)])
    HubSpot(access_token=TOKEN, host=hubspot.url).crm.contacts.basic_api.archive(contact_id(1))

    assert segments(hubspot).list_contact_ids(made["listId"]) == [contact_id(0), contact_id(2)]
    assert hubspot.list_members(made["listId"]) == [contact_id(0), contact_id(2)]


def test_an_unknown_list_is_not_found_and_a_company_list_is_refused(hubspot: FakeHubSpot) -> None:
    companies = hubspot.create_list("Target accounts", [company_id(0)], object_type="companies")

    with pytest.raises(NotFound):
        segments(hubspot).list_contact_ids("424242")
    with pytest.raises(BadRequest, match="not contacts"):
        segments(hubspot).list_contact_ids(companies["listId"])
    with pytest.raises(ValueError, match="not a HubSpot list id"):
        segments(hubspot).list_contact_ids("../owners")
    assert hubspot.requests_to(LISTS + companies["listId"] + "/memberships") == []


# ---------------------------------------------------------------- batch reads


def test_contacts_are_read_in_batches_of_100_in_the_order_given(hubspot: FakeHubSpot) -> None:
    wanted = [contact_id(k) for k in range(N_CONTACTS - 1, 49, -1)]  # 250, newest first
    asked = [*wanted[:10], "424242", wanted[3], *wanted[10:]]

    records = segments(hubspot).read_contacts(asked, properties=["hs_lead_score", "jobtitle"])

    assert [r.id for r in records] == wanted
    names = {*CONTACT_PROPERTIES, "hs_lead_score", "jobtitle"}
    assert all(set(r.properties) == names for r in records)
    k = N_CONTACTS - 1
    first = records[0]
    assert first.properties["email"] == ROWS[contact_id(k)]["email"]
    assert first.properties["hs_lead_status"] == ROWS[contact_id(k)].get("hs_lead_status")
    assert first.properties["jobtitle"] is None
    assert first.value("firstname") == f"First{k}"
    assert len(hubspot.requests_to(CONTACTS_READ)) == 3  # 251 distinct ids


def test_each_contact_gets_its_primary_or_first_company(hubspot: FakeHubSpot) -> None:
    everyone = sorted(ROWS, key=int)

    companies = segments(hubspot).companies_of(everyone, properties=["website"])

    assert {i: (c.id if c else None) for i, c in companies.items()} == EXPECTED_COMPANY
    assert sum(c is None for c in companies.values()) == 10
    assert companies[contact_id(7)] == CompanyRecord(
        company_id(8), {**company_properties(8), "website": None}
    )
    assert companies[contact_id(13)].id == company_id(13)  # type: ignore[union-attr]
    assert companies[contact_id(63)].id == company_id(16)  # type: ignore[union-attr]
    assert len(hubspot.requests_to(ASSOCIATIONS_READ)) == 3
    assert len(hubspot.requests_to(COMPANIES_READ)) == 1  # 40 distinct companies
    read = hubspot.requests_to(COMPANIES_READ)[0]["json"]
    assert set(read["properties"]) == {*COMPANY_PROPERTIES, "website"}


def test_a_segment_costs_pages_and_batches_not_a_request_per_contact(
    hubspot: FakeHubSpot,
) -> None:
    reader = segments(hubspot)
    found = reader.search_contacts([{"property": "hs_lead_score", "operator": "GTE", "value": 0}])
    records = reader.read_contacts(found.ids)
    companies = reader.companies_of(found.ids)
    owners = reader.owners()

    assert len(records) == len(companies) == N_CONTACTS
    assert owners == OWNERS
    counted = {
        path: len(hubspot.requests_to(path))
        for path in (SEARCH, CONTACTS_READ, ASSOCIATIONS_READ, COMPANIES_READ, "/crm/v3/owners")
    }
    assert counted == {
        SEARCH: 2,
        CONTACTS_READ: 3,
        ASSOCIATIONS_READ: 3,
        COMPANIES_READ: 1,
        "/crm/v3/owners": 1,
    }
    assert len(hubspot.requests) == sum(counted.values())


# ---------------------------------------------------------------- subscriptions


def test_subscription_statuses(hubspot: FakeHubSpot) -> None:
    hubspot.set_subscription(
        "person1@co1.example",
        MARKETING,
        "SUBSCRIBED",
        legal_basis="CONSENT_WITH_NOTICE",
        legal_basis_explanation="Signed up at the Q2 webinar",
    )
    hubspot.set_subscription("person2@co2.example", MARKETING, "NOT_SUBSCRIBED")
    hubspot.set_subscription("person3@co3.example", ONE_TO_ONE, "SUBSCRIBED")
    hubspot.unsubscribe_from_all("person4@co4.example")
    reader = segments(hubspot)

    assert reader.subscription("Person1@CO1.example", MARKETING) == Subscription(
        "subscribed", "CONSENT_WITH_NOTICE", "Signed up at the Q2 webinar", "SUBSCRIPTION_STATUS"
    )
    assert reader.subscription("person2@co2.example", int(MARKETING)) == Subscription(
        "not_subscribed", source="SUBSCRIPTION_STATUS"
    )
    assert reader.subscription("person3@co3.example", MARKETING) == Subscription("unknown")
    assert reader.subscription("person3@co3.example", ONE_TO_ONE).status == "subscribed"
    assert reader.subscription("person4@co4.example", ONE_TO_ONE) == Subscription(
        "not_subscribed", source="PORTAL_WIDE_STATUS"
    )
    assert reader.subscription("person4@co4.example", "9999999").status == "not_subscribed"
    assert reader.subscription("nobody@nowhere.example", MARKETING) == Subscription("unknown")
    opted_out = hubspot.get("contacts", contact_id(4)) or {}
    assert opted_out["properties"]["hs_email_optout"] == "true"
    assert reader.subscription_types() == {
        MARKETING: "Marketing Information",
        ONE_TO_ONE: "One to One",
    }


def test_an_unreadable_address_is_refused_before_any_request(hubspot: FakeHubSpot) -> None:
    with pytest.raises(ValueError, match="not an email address"):
        segments(hubspot).subscription("Dana <dana@x.example>", MARKETING)
    with pytest.raises(ValueError, match="must not be empty"):
        segments(hubspot).subscription("dana@x.example", " ")
    assert hubspot.requests == []


# ---------------------------------------------------------------- faults


def _search(reader: HubSpotSegments, hubspot: FakeHubSpot) -> Any:
    return reader.search_contacts([{"property": "country", "operator": "EQ", "value": "Italy"}])


def _list(reader: HubSpotSegments, hubspot: FakeHubSpot) -> Any:
    made = hubspot.create_list("Retry me", [contact_id(0), contact_id(5)])
    return reader.list_contact_ids(made["listId"])


def _status(reader: HubSpotSegments, hubspot: FakeHubSpot) -> Any:
    hubspot.set_subscription("person1@co1.example", MARKETING, "SUBSCRIBED")
    return reader.subscription("person1@co1.example", MARKETING)


def _companies(reader: HubSpotSegments, hubspot: FakeHubSpot) -> Any:
    return reader.companies_of([contact_id(1)])


CALLS: dict[str, tuple[Callable[[HubSpotSegments, FakeHubSpot], Any], str, Any]] = {
    "search": (_search, SEARCH, ids_where(lambda p: p["country"] == "Italy")),
    "list": (_list, LISTS, [contact_id(0), contact_id(5)]),
    "status": (_status, STATUS, Subscription("subscribed", source="SUBSCRIPTION_STATUS")),
    "companies": (
        _companies,
        ASSOCIATIONS_READ,
        {contact_id(1): CompanyRecord(company_id(1), company_properties(1))},
    ),
}


def _result(value: Any) -> Any:
    return value.ids if isinstance(value, ContactSearch) else value


@pytest.mark.parametrize("name", list(CALLS))
def test_a_429_is_retried_after_the_time_asked(hubspot: FakeHubSpot, name: str) -> None:
    call, path, expected = CALLS[name]
    sleeps: list[float] = []
    hubspot.inject_fault(429, count=1, retry_after=2, path_prefix=path)

    assert _result(call(segments(hubspot, sleeps), hubspot)) == expected
    assert sleeps == [2.0]
    assert [r["status"] for r in hubspot.requests_to(path)][:2] == [429, 200]


@pytest.mark.parametrize("name", list(CALLS))
def test_a_revoked_token_is_the_credential_error(hubspot: FakeHubSpot, name: str) -> None:
    call, _, _ = CALLS[name]
    sleeps: list[float] = []
    hubspot.tokens.discard(TOKEN)  # the private app's token was rotated in HubSpot

    with pytest.raises(CredentialRefused) as raised:
        call(segments(hubspot, sleeps), hubspot)

    assert raised.value.connection == "hubspot"
    assert not raised.value.retryable
    assert TOKEN not in f"{raised.value} {raised.value.detail} {raised.value!r}"
    assert sleeps == []


def test_a_5xx_storm_is_transient_after_the_attempts(hubspot: FakeHubSpot) -> None:
    sleeps: list[float] = []
    hubspot.inject_fault(503, count=10, path_prefix=STATUS)

    with pytest.raises(TransientError, match="503"):
        segments(hubspot, sleeps, attempts=3).subscription("person1@co1.example", MARKETING)
    assert len(sleeps) == 2
    assert len(hubspot.requests_to(STATUS)) == 3


def test_records_are_plain_frozen_values() -> None:
    record = SegmentRecord("1", {"email": " a@b.example ", "country": ""})
    assert record.value("email") == "a@b.example"
    assert record.value("country") is None
    assert record.value("missing") is None
    with pytest.raises(AttributeError):
        record.id = "2"  # type: ignore[misc]


def test_lists_and_subscriptions_seed_over_http(hubspot: FakeHubSpot) -> None:
    import requests

    seeded = requests.post(
        hubspot.url + "/_fake/seed",
        json={
            "lists": [
                {
                    "listId": "51",
                    "name": "Event leads",
                    "processingType": "SNAPSHOT",
                    "members": [contact_id(9), contact_id(2)],
                }
            ],
            "subscription_types": [{"id": "77", "name": "Product news"}],
            "subscriptions": [
                {
                    "email": "person9@co9.example",
                    "subscriptionId": "77",
                    "status": "SUBSCRIBED",
                    "legalBasis": "LEGITIMATE_INTEREST_CLIENT",
                }
            ],
            "unsubscribed_from_all": ["person2@co2.example"],
        },
        timeout=5,
    )
    reader = segments(hubspot)

    assert seeded.status_code == 200
    assert reader.list_contact_ids(51) == [contact_id(2), contact_id(9)]
    assert reader.subscription_types() == {"77": "Product news"}
    assert reader.subscription("person9@co9.example", 77) == Subscription(
        "subscribed", "LEGITIMATE_INTEREST_CLIENT", source="SUBSCRIPTION_STATUS"
    )
    assert reader.subscription("person2@co2.example", 77).status == "not_subscribed"
    state = requests.get(hubspot.url + "/_fake/state", timeout=5).json()
    assert state["lists"][0]["members"] == [contact_id(2), contact_id(9)]
    assert state["unsubscribed_from_all"] == ["person2@co2.example"]
    refused = requests.post(
        hubspot.url + "/_fake/seed",
        json={"subscriptions": [{"email": "x@y.example", "subscriptionId": "404"}]},
        timeout=5,
    )
    assert refused.status_code == 400
