"""The HubSpot context adapter pointed at the local HubSpot fake, as the suites build it."""

from __future__ import annotations

from typing import Any

from shared.adapters.hubspot_context import HubSpotContext


def fake_context(
    local: Any, sleeps: list[float] | None = None, token: str | None = None, **options: Any
) -> HubSpotContext:
    fake = local.fakes["hubspot"][0]
    return HubSpotContext(
        token or next(iter(fake.tokens)),
        host=local.fake_url("hubspot"),
        sleep=sleeps.append if sleeps is not None else None,
        **options,
    )
