"""The HubSpot fake, driven by hubspot-api-client 12."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import hubspot
import pytest
import requests
from hubspot.crm.contacts import (
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException
from hubspot.crm.objects.notes.exceptions import ApiException as NotesApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException

from devstack.fakes import DEFAULT_TOKEN, FakeHubSpot, FakeService, stop_fakes
from devstack.serving import ThreadedServer

COMPANY_ID = "9001"
OWNER_ID = "77"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeHubSpot]:
    hubspot_fake = FakeHubSpot()
    server = ThreadedServer(hubspot_fake.app).start()
    hubspot_fake.url = server.url
    started: dict[str, tuple[FakeService, ThreadedServer]] = {"hubspot": (hubspot_fake, server)}
    yield hubspot_fake
    stop_fakes(started)


@pytest.fixture
def client(fake: FakeHubSpot) -> hubspot.HubSpot:
    fake.reset()
    fake.seed(
        {
            "owners": [
                {
                    "id": OWNER_ID,
                    "email": "rep@acme.test",
                    "firstName": "Robin",
                    "lastName": "Rep",
                    "userId": 7001,
                }
            ],
            "companies": [
                {
                    "id": COMPANY_ID,
                    "properties": {"name": "Prospect Inc", "domain": "prospect.test"},
                }
            ],
        }
    )
    return hubspot.HubSpot(access_token=DEFAULT_TOKEN, host=fake.url)


def new_contact(client: hubspot.HubSpot, **properties: str) -> Any:
    props = {"email": f"lead-{secrets.token_hex(3)}@prospect.test", **properties}
    return client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))


def test_create_and_get_with_properties_and_associations(client: hubspot.HubSpot) -> None:
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={
                "email": "pat@prospect.test",
                "firstname": "Pat",
                "hubspot_owner_id": OWNER_ID,
            },
            associations=[
                {
                    "to": {"id": COMPANY_ID},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        )
    )

    got = client.crm.contacts.basic_api.get_by_id(
        created.id, properties=["firstname", "jobtitle"], associations=["companies"]
    )
    default = client.crm.contacts.basic_api.get_by_id(created.id)
    by_email = client.crm.contacts.basic_api.get_by_id(
        "PAT@prospect.test", id_property="email", properties=["hubspot_owner_id"]
    )

    assert created.id.isdigit()
    assert created.properties["hs_object_id"] == created.id
    assert got.properties["firstname"] == "Pat"
    assert got.properties["jobtitle"] is None
    assert "email" not in got.properties
    assert set(default.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert got.associations["companies"].results[0].id == COMPANY_ID
    assert got.associations["companies"].results[0].type == "contact_to_company_unlabeled"
    assert by_email.id == created.id
    assert by_email.properties["hubspot_owner_id"] == OWNER_ID
    assert got.created_at is not None
    assert got.archived is False


def test_search_filters_sorts_and_pages(client: hubspot.HubSpot) -> None:
    ids = [
        new_contact(client, firstname=name, lifecyclestage=stage, hs_lead_score=score).id
        for name, stage, score in (
            ("Ann", "lead", "10"),
            ("Bob", "lead", "30"),
            ("Cyd", "customer", "20"),
            ("Dee", "lead", "5"),
        )
    ]
    search = client.crm.contacts.search_api.do_search

    leads = search(
        PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "lifecyclestage", "operator": "EQ", "value": "LEAD"},
                        {"propertyName": "hs_lead_score", "operator": "GT", "value": "6"},
                    ]
                }
            ],
            sorts=[{"propertyName": "hs_lead_score", "direction": "DESCENDING"}],
            properties=["firstname", "hs_lead_score"],
        )
    )
    either = search(
        PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "firstname", "operator": "IN", "values": ["ann", "cyd"]}
                    ]
                },
                {"filters": [{"propertyName": "hs_lead_score", "operator": "LT", "value": "6"}]},
            ],
        )
    )
    first = search(PublicObjectSearchRequest(limit=3, sorts=["-createdate"]))
    rest = search(PublicObjectSearchRequest(limit=3, after=first.paging.next.after))
    has = search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "hs_lead_score", "operator": "HAS_PROPERTY"}]}
            ]
        )
    )

    assert [r.properties["firstname"] for r in leads.results] == ["Bob", "Ann"]
    assert leads.total == 2
    assert sorted(r.id for r in either.results) == sorted([ids[0], ids[2], ids[3]])
    assert first.total == 4
    assert len(first.results) == 3
    assert len(rest.results) == 1
    assert rest.paging is None
    assert has.total == 4


def test_search_by_association_finds_engagements_of_a_contact(client: hubspot.HubSpot) -> None:
    contact = new_contact(client)
    other = new_contact(client)
    for when, body, who in (
        ("1700000000000", "first call notes", contact.id),
        ("1700000500000", "second call notes", contact.id),
        ("1700000900000", "someone else", other.id),
    ):
        client.crm.objects.notes.basic_api.create(
            {
                "properties": {"hs_timestamp": when, "hs_note_body": body},
                "associations": [
                    {
                        "to": {"id": who},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}
                        ],
                    }
                ],
            }
        )

    found = client.crm.objects.search_api.do_search(
        "notes",
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "associations.contact",
                            "operator": "EQ",
                            "value": contact.id,
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_timestamp", "direction": "DESCENDING"}],
            "properties": ["hs_note_body", "hs_timestamp"],
        },
    )

    assert [r.properties["hs_note_body"] for r in found.results] == [
        "second call notes",
        "first call notes",
    ]
    assert found.results[0].properties["hs_timestamp"] == "2023-11-14T22:21:40.000Z"


def test_associations_v4_default_list_and_archive(client: hubspot.HubSpot) -> None:
    contact = new_contact(client)
    deal = client.crm.deals.basic_api.create(
        {"properties": {"dealname": "Pilot", "amount": "1200"}}
    )
    v4 = client.crm.associations.v4.basic_api

    made = v4.create_default("deals", deal.id, "contacts", contact.id)
    from_contact = v4.get_page("contacts", contact.id, "deals")
    from_deal = v4.get_page("deals", deal.id, "contacts")
    labelled = v4.create(
        "contacts",
        contact.id,
        "companies",
        COMPANY_ID,
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    to_company = v4.get_page("contacts", contact.id, "companies")
    v4.archive("deals", deal.id, "contacts", contact.id)
    after_archive = v4.get_page("contacts", contact.id, "deals")

    assert made.status == "COMPLETE"
    assert {
        (r._from.id, r.to.id, r.association_spec.association_type_id) for r in made.results
    } == {(deal.id, contact.id, 3), (contact.id, deal.id, 4)}
    assert [
        (r.to_object_id, [t.type_id for t in r.association_types]) for r in from_contact.results
    ] == [(deal.id, [4])]
    assert [r.to_object_id for r in from_deal.results] == [contact.id]
    assert labelled.labels == ["Primary"]
    assert sorted(t.type_id for t in to_company.results[0].association_types) == [1, 279]
    assert after_archive.results == []


def test_owners_list_and_get(client: hubspot.HubSpot) -> None:
    owners = client.crm.owners.owners_api.get_page(email="REP@acme.test")
    owner = client.crm.owners.owners_api.get_by_id(int(OWNER_ID))
    by_user = client.crm.owners.owners_api.get_by_id(7001, id_property="userId")

    assert [o.id for o in owners.results] == [OWNER_ID]
    assert owner.email == "rep@acme.test"
    assert owner.first_name == "Robin"
    assert by_user.id == OWNER_ID
    with pytest.raises(OwnersApiException) as caught:
        client.crm.owners.owners_api.get_by_id(404404)
    assert caught.value.status == 404


def test_wrong_token_is_401_with_hubspot_error_json(fake: FakeHubSpot) -> None:
    intruder = hubspot.HubSpot(access_token="pat-wrong", host=fake.url)

    with pytest.raises(ApiException) as caught:
        intruder.crm.contacts.basic_api.get_page()

    body = json.loads(caught.value.body)
    assert caught.value.status == 401
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"]


def test_duplicate_contact_and_missing_timestamp_are_refused(client: hubspot.HubSpot) -> None:
    first = new_contact(client, email="dup@prospect.test")

    with pytest.raises(ApiException) as duplicate:
        new_contact(client, email="DUP@prospect.test")
    with pytest.raises(NotesApiException) as no_timestamp:
        client.crm.objects.notes.basic_api.create({"properties": {"hs_note_body": "x"}})
    with pytest.raises(ApiException) as bad_email:
        new_contact(client, email="not-an-email")

    assert duplicate.value.status == 409
    assert json.loads(duplicate.value.body)["message"] == (
        f"Contact already exists. Existing ID: {first.id}"
    )
    assert no_timestamp.value.status == 400
    assert json.loads(no_timestamp.value.body)["category"] == "VALIDATION_ERROR"
    assert "hs_timestamp" in json.loads(no_timestamp.value.body)["message"]
    assert bad_email.value.status == 400


def test_update_archive_and_not_found(client: hubspot.HubSpot, fake: FakeHubSpot) -> None:
    contact = new_contact(client, firstname="Old")

    updated = client.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"firstname": "New", "lead_score": 7})
    )
    client.crm.contacts.basic_api.archive(contact.id)

    assert updated.properties["firstname"] == "New"
    assert updated.properties["lead_score"] == "7"
    with pytest.raises(NotFoundException) as caught:
        client.crm.contacts.basic_api.get_by_id(contact.id)
    assert json.loads(caught.value.body)["category"] == "OBJECT_NOT_FOUND"
    archived = client.crm.contacts.basic_api.get_by_id(contact.id, archived=True)
    assert archived.archived is True
    assert fake.get("contacts", contact.id) is not None
    assert contact.id not in [c["id"] for c in fake.objects("contacts")]


def test_list_pages_with_after_and_batch_read_reports_missing(client: hubspot.HubSpot) -> None:
    ids = [new_contact(client).id for _ in range(3)]

    first = client.crm.contacts.basic_api.get_page(limit=2)
    second = client.crm.contacts.basic_api.get_page(limit=2, after=first.paging.next.after)
    batch = client.crm.contacts.batch_api.read(
        {
            "inputs": [{"id": ids[0]}, {"id": "424242"}],
            "properties": ["email"],
            "propertiesWithHistory": [],
        }
    )

    assert [c.id for c in first.results + second.results] == ids
    assert second.paging is None
    assert [r.id for r in batch.results] == [ids[0]]
    assert batch.errors[0].category == "OBJECT_NOT_FOUND"
    assert batch.errors[0].context == {"ids": ["424242"]}


def test_injected_429_is_retried_by_urllib3_only_for_idempotent_methods(
    client: hubspot.HubSpot, fake: FakeHubSpot
) -> None:
    contact = new_contact(client)
    fake.clear_requests()
    fake.inject_fault(429, retry_after=0, path_prefix="/crm/v3/objects/contacts")

    got = client.crm.contacts.basic_api.get_by_id(contact.id)
    fake.inject_fault(429, retry_after=0, path_prefix="/crm/v3/objects/contacts/search")
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.search_api.do_search(PublicObjectSearchRequest())

    assert got.id == contact.id
    assert [r["status"] for r in fake.requests_to("/crm/v3/objects/contacts/", "GET")] == [429, 200]
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "0"
    assert json.loads(caught.value.body)["errorType"] == "RATE_LIMIT"


def test_seed_over_http_and_python_views(client: hubspot.HubSpot, fake: FakeHubSpot) -> None:
    seeded = requests.post(
        fake.url + "/_fake/seed",
        json={
            "contacts": [{"id": "501", "properties": {"email": "seed@prospect.test"}}],
            "deals": [{"id": "601", "properties": {"dealname": "Seeded deal"}}],
            "associations": [{"from": ["deals", "601"], "to": ["contacts", "501"]}],
        },
        timeout=5,
    )

    contact = client.crm.contacts.basic_api.get_by_id("501", associations=["deals"])
    state = requests.get(fake.url + "/_fake/state", timeout=5).json()

    assert seeded.status_code == 200
    assert contact.associations["deals"].results[0].id == "601"
    assert fake.associations("contacts", "501", "deals") == ["601"]
    assert [d["properties"]["dealname"] for d in fake.objects("deals")] == ["Seeded deal"]
    assert {
        "from_type": "deals",
        "from_id": 601,
        "to_type": "contacts",
        "to_id": 501,
        "category": "HUBSPOT_DEFINED",
        "type_id": 3,
    } in state["associations"]
