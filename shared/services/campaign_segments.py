"""A campaign's segment, read from HubSpot: the contacts of a list and/or those matching the
contact filters (HubSpot's search does that), then their companies and owners, with the
company filters applied here (HubSpot's contact search cannot filter on company properties).

Cost for N contacts: N/100 search pages (or list pages plus N/100 batch reads), N/100
association and company batch reads, one owners read; a subscription check is one request per
address, and only when the campaign names a subscription type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.domain.campaigns import (
    Segment,
    company_filters,
    contact_filters,
    in_segment,
    why_in,
)
from shared.errors import BadRequest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.adapters.hubspot_segments import HubSpotSegments
    from shared.adapters.secrets import SecretStore
    from shared.config import Settings


class HubSpotSegmentReader:
    def __init__(self, hubspot: HubSpotSegments) -> None:
        self.hubspot = hubspot

    @classmethod
    def from_settings(cls, settings: Settings, secrets: SecretStore) -> HubSpotSegmentReader:
        from shared.adapters.hubspot_segments import HubSpotSegments

        return cls(HubSpotSegments.from_settings(settings, secrets))

    def candidates(self, segment: Segment, extra_properties: Iterable[str]) -> list[dict[str, Any]]:
        contact_rules = contact_filters(segment)
        company_rules = company_filters(segment)
        contact_names = sorted({r.property for r in contact_rules} | set(extra_properties))
        company_names = sorted({r.property for r in company_rules} | {"name", "country"})
        if segment.list_id is None and not contact_rules and not company_rules:
            raise BadRequest("a segment needs a HubSpot list or at least one filter")
        if segment.list_id is not None:
            ids = self.hubspot.list_contact_ids(segment.list_id)
        else:
            # Company-only segments search every contact; the company filters apply below.
            ids = self._search([r.model_dump(exclude={"object"}) for r in contact_rules])
        # Current values, not the search index's (which lags writes: a fresh opt-out counts).
        records = self.hubspot.read_contacts(ids, contact_names) if ids else []
        ids = [r.id for r in records]
        companies = self.hubspot.companies_of(ids, company_names) if ids else {}
        owners = self.hubspot.owners() if ids else {}
        rows = []
        for record in records:
            company = companies.get(record.id)
            company_props = dict(company.properties) if company else {}
            # Every filter, on current values (the list path has not applied any yet).
            if not in_segment(segment, record.properties, company_props):
                continue
            reasons = why_in(segment, record.properties, company_props)
            owner_id = record.value("hubspot_owner_id")
            rows.append(
                {
                    "id": record.id,
                    "email": record.value("email"),
                    "properties": dict(record.properties),
                    "company": {"id": company.id, "properties": company_props} if company else None,
                    "owner_email": owners.get(owner_id) if owner_id else None,
                    "reasons_in": reasons,
                }
            )
        return rows

    def _search(self, filters: list[dict[str, Any]]) -> list[str]:
        found = self.hubspot.search_contacts(filters)
        if found.truncated:
            raise BadRequest(
                f"the segment matches {found.total} contacts, more than HubSpot's search "
                "returns (10,000): narrow it or use a list"
            )
        return found.ids

    def subscription(self, email: str, subscription_type_id: str) -> str:
        try:
            return self.hubspot.subscription(email, subscription_type_id).status
        except ValueError:
            return "unknown"
