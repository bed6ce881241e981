"""What every Google API adapter (Gmail, Drive, Calendar) does the same way: build the
discovery client lazily against an overridable endpoint, retry what may pass, and turn
failures into our errors.

Rate limits (429, 403 rateLimitExceeded) and 5xx are retried with backoff and jitter,
honouring Retry-After. 404 → NotFound; 401 or a refused token refresh → AuthorizationRefused
(reconnecting fixes it); 403 for a permission → PermanentExternalError; other 4xx →
PermanentExternalError; what is left → TransientError. An adapter adds its own special cases
in `_special_error`.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from shared.adapters.retry import RetryAdvice, call_with_retries, parse_retry_after
from shared.errors import (
    AppError,
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

T = TypeVar("T")

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})
PERMISSION_REASONS = frozenset(
    {"insufficientPermissions", "forbidden", "authError", "domainPolicy"}
)


def _error_payload(exc: Any) -> dict[str, Any]:
    try:
        payload = json.loads(exc.content.decode("utf-8"))
    except (AttributeError, ValueError, UnicodeDecodeError):
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


def error_reasons(exc: Any) -> set[str]:
    error = _error_payload(exc)
    reasons = {
        str(item.get("reason")) for item in error.get("errors", []) if isinstance(item, dict)
    }
    for detail in error.get("details", []) or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reasons.add(str(detail["reason"]))
    return reasons


def error_locations(exc: Any) -> set[str]:
    return {
        str(item.get("location"))
        for item in _error_payload(exc).get("errors", []) or []
        if isinstance(item, dict) and item.get("location")
    }


def classify_google_error(exc: BaseException) -> RetryAdvice | None:
    """Which Google API failures are worth retrying, and after how long."""
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        after = parse_retry_after(exc.resp.get("retry-after"))
        if status == 429 or status >= 500:
            return RetryAdvice(after)
        if status == 403 and error_reasons(exc) & RATE_REASONS:
            return RetryAdvice(after)
        return None
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError)):
        return RetryAdvice()
    return None


class GoogleApi:
    """One Google API for one user's credentials."""

    api: ClassVar[str]
    version: ClassVar[str]
    label: ClassVar[str]  # "gmail", "drive", ... in error messages
    permission_reasons: ClassVar[frozenset[str]] = PERMISSION_REASONS

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.credentials = credentials
        self.endpoint = endpoint
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._local = threading.local()

    @property
    def service(self) -> Any:
        """The discovery client of this thread: httplib2 connections are not thread-safe, so
        threads of one instance (functions-framework serves requests concurrently) that share
        an adapter each get their own; the credentials (and their access token) are shared."""
        service = getattr(self._local, "service", None)
        if service is None:
            import google_auth_httplib2
            import httplib2
            from googleapiclient.discovery import build

            http = google_auth_httplib2.AuthorizedHttp(
                self.credentials, http=httplib2.Http(timeout=self.timeout)
            )
            options = {"api_endpoint": self.endpoint} if self.endpoint else None
            service = build(
                self.api,
                self.version,
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options=options,
            )
            self._local.service = service
        return service

    def _special_error(
        self, status: int, reasons: set[str], exc: Any, what: str
    ) -> AppError | Exception | None:
        """An adapter's own reading of an HTTP error, before the common one."""
        return None

    def _not_found(self, what: str) -> AppError:
        return NotFound(f"{self.label} {what}: not found")

    def _call(self, fn: Callable[[], T], what: str, *, attempts: int | None = None) -> T:
        from google.auth import exceptions as google_auth_exceptions
        from googleapiclient.errors import HttpError

        label = f"{self.label} {what}"
        kwargs: dict[str, Any] = {
            "attempts": attempts or self.attempts,
            "maximum": self.backoff_max,
        }
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        try:
            return call_with_retries(fn, classify_google_error, what=label, **kwargs)
        except HttpError as exc:
            status = int(exc.resp.status)
            reasons = error_reasons(exc)
            special = self._special_error(status, reasons, exc, what)
            if special is not None:
                raise special from None
            if status == 404:
                raise self._not_found(what) from None
            if status == 401:
                raise AuthorizationRefused(
                    f"{label}: the account's authorization was refused", detail="401"
                ) from None
            if status == 403 and not (reasons & RATE_REASONS):
                raise PermanentExternalError(
                    f"{label}: access refused",
                    detail=",".join(sorted(reasons & self.permission_reasons)) or str(status),
                ) from None
            if 400 <= status < 500 and status not in (403, 408, 429):
                raise PermanentExternalError(
                    f"{label}: request refused ({status})", detail=",".join(sorted(reasons))
                ) from None
            raise TransientError(f"{label}: failed ({status})") from None
        except (TimeoutError, ConnectionError) as exc:
            raise TransientError(f"{label}: {type(exc).__name__}") from None
        except google_auth_exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise TransientError(f"{label}: token refresh failed") from None
            raise AuthorizationRefused(
                f"{label}: the account's authorization was refused",
                detail="token refresh refused (revoked or expired grant)",
            ) from None
        except google_auth_exceptions.TransportError:
            raise TransientError(f"{label}: token endpoint unreachable") from None
