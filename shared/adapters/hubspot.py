"""HubSpot contacts through hubspot-api-client, with our own retries.

The client's own urllib3 retries are switched off (`Retry(0)`): left on, it retries a 429 that
carries Retry-After by itself, uncapped and on top of ours. 429, 5xx, timeouts and connection
failures go through `call_with_retries`; 401 and 403 are permanent. The access token never
appears in an error or a log line: errors carry the HTTP status only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from shared.adapters.retry import RetryAdvice, call_with_retries, parse_retry_after
from shared.domain.mail import normalize_email, same_email
from shared.errors import (
    ConfigError,
    CredentialRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)

if TYPE_CHECKING:
    from shared.adapters.secrets import SecretStore
    from shared.config import Settings

PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "company",
    "lifecyclestage",
    "hubspot_owner_id",
    "hs_additional_emails",
)
SEARCH_LIMIT = 10


@dataclass(frozen=True)
class Contact:
    id: int
    email: str
    owner_id: str | None
    lifecycle_stage: str | None
    first_name: str | None
    last_name: str | None
    company: str | None


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, Mapping):
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return None if value is None else str(value)


def classify_hubspot_error(exc: BaseException) -> RetryAdvice | None:
    """Which HubSpot failures are worth retrying, and after how long."""
    import urllib3.exceptions
    from hubspot.crm.contacts.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        if status == 429 or status >= 500:
            return RetryAdvice(parse_retry_after(_header(exc.headers, "Retry-After")))
        return None
    transient = (
        urllib3.exceptions.MaxRetryError,
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.TimeoutError,
        TimeoutError,
        ConnectionError,
    )
    return RetryAdvice() if isinstance(exc, transient) else None


def _text(properties: Mapping[str, Any], name: str) -> str | None:
    value = properties.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _has_address(properties: Mapping[str, Any], address: str) -> tuple[bool, bool]:
    """(primary email matches, an additional email matches)."""
    primary = same_email(_text(properties, "email"), address)
    extra = (_text(properties, "hs_additional_emails") or "").replace(",", ";").split(";")
    return primary, any(same_email(item.strip(), address) for item in extra)


class HubSpotAccount:
    """One HubSpot account (a private app's access token): the lazily built client and our
    retries. urllib3's own retries are off (`Retry(0)`): ours honour Retry-After with a cap.
    Every API module's ApiException is read the same way: 401/403 refused, 404 NotFound,
    429/5xx/transport retried then TransientError, other 4xx PermanentExternalError."""

    def __init__(
        self,
        access_token: str,
        *,
        host: str = "https://api.hubapi.com",
        timeout: float = 10.0,
        attempts: int = 5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._access_token = access_token
        self.host = host.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    @classmethod
    def from_settings(cls, settings: Settings, secrets: SecretStore) -> Self:
        secret_id = settings.hubspot_access_token_id
        try:
            token = secrets.read(secret_id)
        except NotFound:
            raise ConfigError(
                f"hubspot: secret {secret_id} has no value; connect HubSpot first"
            ) from None
        if not token.strip():
            raise ConfigError(f"hubspot: secret {secret_id} is empty")
        return cls(
            token.strip(),
            host=settings.hubspot_api_base,
            attempts=settings.http_max_attempts,
            backoff_max=settings.http_backoff_max_seconds,
        )

    def _crm(self) -> Any:
        """The client's CRM APIs, built on first use (one connection pool per instance)."""
        with self._lock:
            if self._client is None:
                from hubspot import HubSpot
                from urllib3.util.retry import Retry

                self._client = HubSpot(
                    access_token=self._access_token, host=self.host, retry=Retry(0)
                )
            return self._client.crm

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        from hubspot.crm.contacts.exceptions import ApiException

        kwargs: dict[str, Any] = {"attempts": self.attempts, "maximum": self.backoff_max}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        try:
            return call_with_retries(
                lambda: _as_contacts_error(fn),
                classify_hubspot_error,
                what=f"hubspot {what}",
                **kwargs,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 401:
                raise CredentialRefused(
                    "hubspot: access refused", connection="hubspot", detail="401"
                ) from None
            if status == 403:
                refused = PermanentExternalError("hubspot: access refused", detail=str(status))
                raise refused from None
            if status == 404:
                raise NotFound(f"hubspot {what}: not found") from None
            if status == 0 or status == 429 or status >= 500:
                raise TransientError(f"hubspot {what}: failed ({status})") from None
            raise PermanentExternalError(
                f"hubspot {what}: request refused ({status})", detail=str(status)
            ) from None
        except Exception as exc:
            if classify_hubspot_error(exc) is not None:
                raise TransientError(f"hubspot {what}: {type(exc).__name__}") from None
            raise


def _as_contacts_error(fn: Callable[[], Any]) -> Any:
    """Run `fn`; any hubspot-api-client ApiException comes out as the contacts module's."""
    from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsError
    from hubspot.crm.contacts.exceptions import ApiException
    from hubspot.crm.objects.exceptions import ApiException as ObjectsError
    from hubspot.crm.owners.exceptions import ApiException as OwnersError

    try:
        return fn()
    except (AssociationsError, ObjectsError, OwnersError) as exc:
        same = ApiException(status=exc.status, reason=exc.reason)
        same.body = exc.body
        same.headers = exc.headers
        raise same from None


class HubSpotContacts(HubSpotAccount):
    """Contact lookups."""

    def _search(self) -> Any:
        return self._crm().contacts.search_api

    def find_by_email(self, email: str) -> Contact | None:
        """The contact with this address (primary, else additional), or None.

        An address we cannot read is not looked up. HubSpot's answer is checked again here, so
        a loose match on its side never returns someone else's contact. HubSpot's search is
        eventually consistent: a contact created seconds ago may not be found yet.
        """
        address = normalize_email(email)
        if address is None:
            return None
        request = _search_request(address)
        page = self._call(
            lambda: self._search().do_search(
                public_object_search_request=request, _request_timeout=self.timeout
            ),
            "contact search",
        )
        primary: list[Any] = []
        additional: list[Any] = []
        for result in page.results or []:
            on_primary, on_additional = _has_address(result.properties or {}, address)
            if on_primary:
                primary.append(result)
            elif on_additional:
                additional.append(result)
        chosen = sorted(primary or additional, key=lambda r: int(r.id))
        return _contact(chosen[0], address) if chosen else None

    def search(self, text: str, limit: int = 10) -> list[Contact]:
        """Contacts matching free text (name, email, company), for the record picker."""
        from hubspot.crm.contacts import PublicObjectSearchRequest

        query = " ".join(text.split())[:100]
        if len(query) < 2:
            return []
        request = PublicObjectSearchRequest(
            query=query, properties=list(PROPERTIES), limit=max(1, min(limit, 20))
        )
        page = self._call(
            lambda: self._search().do_search(
                public_object_search_request=request, _request_timeout=self.timeout
            ),
            "contact search",
        )
        return [
            _contact(result, _text(result.properties or {}, "email") or "")
            for result in page.results or []
        ]


def _search_request(address: str) -> Any:
    """Primary email equal to `address`, or `address` among the additional emails.

    CONTAINS_TOKEN reads `*` as a wildcard, so an address holding one is looked up exactly.
    """
    from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

    def group(name: str, operator: str) -> Any:
        return FilterGroup(filters=[Filter(property_name=name, operator=operator, value=address)])

    groups = [group("email", "EQ")]
    if "*" not in address:
        groups.append(group("hs_additional_emails", "CONTAINS_TOKEN"))
    return PublicObjectSearchRequest(
        filter_groups=groups, properties=list(PROPERTIES), limit=SEARCH_LIMIT
    )


def _contact(result: Any, address: str) -> Contact:
    properties: Mapping[str, Any] = result.properties or {}
    return Contact(
        id=int(result.id),
        email=_text(properties, "email") or address,
        owner_id=_text(properties, "hubspot_owner_id"),
        lifecycle_stage=_text(properties, "lifecyclestage"),
        first_name=_text(properties, "firstname"),
        last_name=_text(properties, "lastname"),
        company=_text(properties, "company"),
    )
