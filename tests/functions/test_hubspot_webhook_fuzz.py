"""Fuzzing `hubspot_webhook`: no body or header, signed or not, ever produces a 5xx."""

from __future__ import annotations

import json
import time

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.hubspot_webhooks import PUBLIC_URL, SECRET, crm_event, signed_headers
from devstack.stack import ROOT
from shared.adapters.secrets import SecretStore

pytestmark = pytest.mark.stack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5)
    ),
    max_leaves=25,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "eventId": json_values,
        "portalId": st.one_of(st.integers(), json_values),
        "occurredAt": st.one_of(st.integers(), json_values),
        "subscriptionType": st.one_of(
            st.sampled_from(["contact.creation", "contact.propertyChange", "deal.creation"]),
            json_values,
        ),
        "objectId": st.one_of(st.integers(), json_values),
        "propertyName": json_values,
        "propertyValue": json_values,
        "vid": json_values,
        "properties": json_values,
        "form-submissions": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(event_like, max_size=5).map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v).encode()),
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "X-HubSpot-Signature-v3",
            "X-HubSpot-Request-Timestamp",
            "X-HubSpot-Signature",
            "X-HubSpot-Signature-Version",
            "Content-Type",
            "Content-Length",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    max_size=5,
)


@pytest.fixture(scope="module")
def client(stack):
    import os

    stack.reset()
    SecretStore(stack.project, stack.secrets.address).write("hubspot-client-secret", SECRET)
    saved = dict(os.environ)
    os.environ.update({**stack.env(), "HUBSPOT_WEBHOOK_URL": PUBLIC_URL})
    try:
        app = functions_framework.create_app(
            target="hubspot_webhook", source=str(ROOT / "functions/hubspot_webhook/main.py")
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return app.test_client()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, extra_headers=headers, sign=st.booleans())
def test_no_input_produces_a_server_error(client, body, extra_headers, sign):
    sent = dict(extra_headers)
    if sign:
        sent = {**sent, **signed_headers(body)}
    sent.pop("Content-Length", None)
    answer = client.post("/", data=body, headers=sent)
    assert answer.status_code < 500, (answer.status_code, answer.get_data()[:200])


def test_valid_events_still_pass_through_the_same_client(client):
    body = json.dumps([crm_event("contact.creation", 99_001)]).encode()
    stamp = int(time.time() * 1000)
    answer = client.post("/", data=body, headers=signed_headers(body, timestamp_ms=stamp))
    assert answer.status_code == 200
