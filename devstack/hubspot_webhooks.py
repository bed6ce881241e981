"""Build HubSpot webhook requests exactly as HubSpot documents them (independently of our
verification code, so a bug there cannot hide in both)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

SECRET = "hubspot-app-client-secret-for-tests"
PUBLIC_URL = "https://europe-west1-demo-test.cloudfunctions.net/hubspot_webhook"
PORTAL = 62515


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    message = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_headers(
    body: bytes,
    *,
    secret: str = SECRET,
    uri: str = PUBLIC_URL,
    method: str = "POST",
    timestamp_ms: int | None = None,
) -> dict[str, str]:
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(secret, method, uri, body, stamp),
        "X-HubSpot-Signature-Version": "v3",
        "X-HubSpot-Request-Timestamp": str(stamp),
    }


_next_event = [1000]


def crm_event(
    subscription_type: str = "contact.creation",
    object_id: int = 501,
    *,
    occurred_at: int | None = None,
    event_id: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    _next_event[0] += 1
    return {
        "eventId": event_id if event_id is not None else _next_event[0],
        "subscriptionId": 2417,
        "portalId": PORTAL,
        "appId": 90210,
        "occurredAt": occurred_at if occurred_at is not None else int(time.time() * 1000),
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
        **extra,
    }


def form_submission(
    contact_id: int = 701,
    email: str = "dana@northwind.example",
    *,
    conversion_id: str = "conv-1",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A workflow webhook for a form submission: the whole (legacy-shaped) contact record."""
    stamp = timestamp if timestamp is not None else int(time.time() * 1000)
    return {
        "vid": contact_id,
        "canonical-vid": contact_id,
        "portal-id": PORTAL,
        "properties": {
            "email": {"value": email},
            "firstname": {"value": "Dana"},
            "lastname": {"value": "Whitfield"},
            "company": {"value": "Northwind Traders"},
            "message": {"value": "We'd like a demo for 40 analysts next month."},
        },
        "form-submissions": [
            {
                "conversion-id": conversion_id,
                "timestamp": stamp,
                "form-id": "5d7e-demo-request",
                "title": "Request a demo",
                "page-url": "https://brightline.example/demo",
            }
        ],
    }


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()
