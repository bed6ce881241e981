"""Contact lookups by email through hubspot-api-client against the HubSpot fake."""

from __future__ import annotations

import pytest

from shared.adapters.hubspot import Contact, HubSpotContacts
from shared.adapters.secrets import SecretStore
from shared.config import load_settings
from shared.errors import ConfigError, PermanentExternalError, TransientError

pytestmark = pytest.mark.stack
SEARCH = "/crm/v3/objects/contacts/search"
TOKEN = "pat-test-contacts-7f3a9c"


@pytest.fixture
def hubspot(local):
    fake = local.fakes["hubspot"][0]
    fake.seed(
        {
            "tokens": [TOKEN],
            "contacts": [
                {
                    "id": "701",
                    "properties": {
                        "email": "dana@northwind.example",
                        "firstname": "Dana",
                        "lastname": "Whitfield",
                        "company": "Northwind Traders",
                        "lifecyclestage": "lead",
                        "hubspot_owner_id": "77",
                        "hs_additional_emails": "dana.w@northwind-old.example;d@nw.example",
                    },
                },
                {"id": "702", "properties": {"email": "priya@heliohealth.example"}},
            ],
        }
    )
    return fake


def _contacts(local, sleeps: list[float] | None = None, token: str = TOKEN) -> HubSpotContacts:
    sleep = sleeps.append if sleeps is not None else None
    return HubSpotContacts(token, host=local.fake_url("hubspot"), sleep=sleep)


def test_a_known_address_gives_the_contact_with_its_fields(local, hubspot):
    contact = _contacts(local).find_by_email("dana@northwind.example")
    assert contact == Contact(
        id=701,
        email="dana@northwind.example",
        owner_id="77",
        lifecycle_stage="lead",
        first_name="Dana",
        last_name="Whitfield",
        company="Northwind Traders",
    )


def test_unset_properties_come_back_as_none(local, hubspot):
    contact = _contacts(local).find_by_email("priya@heliohealth.example")
    assert contact is not None
    assert (contact.id, contact.owner_id, contact.first_name, contact.company) == (
        702,
        None,
        None,
        None,
    )


def test_an_unknown_address_gives_none(local, hubspot):
    assert _contacts(local).find_by_email("nobody@northwind.example") is None


def test_case_and_surrounding_whitespace_do_not_matter(local, hubspot):
    contact = _contacts(local).find_by_email("  Dana@NorthWind.EXAMPLE \n")
    assert contact is not None
    assert contact.id == 701


def test_an_additional_address_finds_the_contact(local, hubspot):
    contact = _contacts(local).find_by_email("d@nw.example")
    assert contact is not None
    assert (contact.id, contact.email) == (701, "dana@northwind.example")


def test_a_partial_address_does_not_match_someone_else(local, hubspot):
    assert _contacts(local).find_by_email("w@northwind-old.example") is None
    assert _contacts(local).find_by_email("*@nw.example") is None


@pytest.mark.parametrize(
    "address", ["", "dana", "dana@northwind", "Dana <dana@northwind.example>", "a@b@c.example"]
)
def test_an_unreadable_address_is_not_looked_up(local, hubspot, address):
    assert _contacts(local).find_by_email(address) is None
    assert hubspot.requests_to(SEARCH) == []


def test_a_429_is_retried_after_the_time_hubspot_asked_for(local, hubspot):
    sleeps: list[float] = []
    hubspot.inject_fault(429, count=2, retry_after=2, path_prefix=SEARCH)
    contact = _contacts(local, sleeps).find_by_email("dana@northwind.example")
    assert contact is not None
    assert contact.id == 701
    assert sleeps == [2.0, 2.0]
    assert len(hubspot.requests_to(SEARCH)) == 3


def test_a_5xx_storm_beyond_the_attempts_is_transient(local, hubspot):
    sleeps: list[float] = []
    hubspot.inject_fault(502, count=10, path_prefix=SEARCH)
    with pytest.raises(TransientError) as raised:
        _contacts(local, sleeps).find_by_email("dana@northwind.example")
    assert "502" in raised.value.public_message
    assert len(hubspot.requests_to(SEARCH)) == 5
    assert len(sleeps) == 4


def test_a_timed_out_search_is_tried_again(local, hubspot):
    sleeps: list[float] = []
    hubspot.inject_fault(0, delay=0.5, path_prefix=SEARCH)
    contacts = HubSpotContacts(
        TOKEN, host=local.fake_url("hubspot"), timeout=0.2, sleep=sleeps.append
    )
    contact = contacts.find_by_email("dana@northwind.example")
    assert contact is not None
    assert contact.id == 701
    assert len(sleeps) == 1


def test_a_refused_connection_is_transient(local, hubspot):
    from devstack.serving import free_port

    sleeps: list[float] = []
    contacts = HubSpotContacts(
        TOKEN, host=f"http://127.0.0.1:{free_port()}", attempts=2, sleep=sleeps.append
    )
    with pytest.raises(TransientError):
        contacts.find_by_email("dana@northwind.example")
    assert len(sleeps) == 1


def test_a_bad_token_is_permanent_and_never_shown(local, hubspot):
    sleeps: list[float] = []
    bad = "pat-revoked-91c2e8d4"
    with pytest.raises(PermanentExternalError) as raised:
        _contacts(local, sleeps, token=bad).find_by_email("dana@northwind.example")
    error = raised.value
    assert error.public_message == "hubspot: access refused"
    assert not error.retryable
    shown = f"{error} {error.detail} {error!r} {error.__cause__} {error.__context__}"
    assert bad not in shown
    assert sleeps == []
    assert len(hubspot.requests_to(SEARCH)) == 1


def test_missing_scopes_are_permanent(local, hubspot):
    hubspot.inject_fault(403, path_prefix=SEARCH)
    with pytest.raises(PermanentExternalError, match="access refused"):
        _contacts(local, []).find_by_email("dana@northwind.example")


def test_from_settings_reads_the_token_from_secret_manager(local, hubspot):
    settings = load_settings()
    secrets = SecretStore(settings.gcp_project, local.secrets.address)
    secrets.write(settings.hubspot_access_token_id, TOKEN)
    contact = HubSpotContacts.from_settings(settings, secrets).find_by_email(
        "priya@heliohealth.example"
    )
    assert contact is not None
    assert contact.id == 702


def test_from_settings_without_the_secret_names_it(local):
    settings = load_settings()
    secrets = SecretStore(settings.gcp_project, local.secrets.address)
    with pytest.raises(ConfigError) as raised:
        HubSpotContacts.from_settings(settings, secrets)
    assert settings.hubspot_access_token_id in raised.value.public_message


def test_from_settings_with_an_empty_secret_is_a_config_error(local):
    settings = load_settings()
    secrets = SecretStore(settings.gcp_project, local.secrets.address)
    secrets.write(settings.hubspot_access_token_id, "  ")
    with pytest.raises(ConfigError, match="empty"):
        HubSpotContacts.from_settings(settings, secrets)
