"""Gmail through google-api-python-client, with our own retries.

Rate limits (429, 403 rateLimitExceeded) and 5xx are retried with backoff and jitter,
honouring Retry-After; 403 insufficientPermissions and 401 after a refresh are permanent and
raised as PermanentExternalError so the mailbox can be marked as needing attention.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.retry import RetryAdvice, call_with_retries, parse_retry_after
from shared.errors import (
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

T = TypeVar("T")

_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "backendError"}
_PERMANENT_REASONS = {"insufficientPermissions", "forbidden", "authError", "domainPolicy"}


def _error_reasons(exc: Any) -> set[str]:
    try:
        payload = json.loads(exc.content.decode("utf-8"))
    except (AttributeError, ValueError, UnicodeDecodeError):
        return set()
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return set()
    reasons = {
        str(item.get("reason")) for item in error.get("errors", []) if isinstance(item, dict)
    }
    for detail in error.get("details", []) or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reasons.add(str(detail["reason"]))
    return reasons


def classify_google_error(exc: BaseException) -> RetryAdvice | None:
    """Which Google API failures are worth retrying, and after how long."""
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        after = parse_retry_after(exc.resp.get("retry-after"))
        if status == 429 or status >= 500:
            return RetryAdvice(after)
        if status == 403 and _error_reasons(exc) & _RATE_REASONS:
            return RetryAdvice(after)
        return None
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError)):
        return RetryAdvice()
    return None


class GmailMailbox:
    """One connected mailbox (`users/me` of the credentials)."""

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
        self._service: Any = None

    @property
    def service(self) -> Any:
        if self._service is None:
            import google_auth_httplib2
            import httplib2
            from googleapiclient.discovery import build

            http = google_auth_httplib2.AuthorizedHttp(
                self.credentials, http=httplib2.Http(timeout=self.timeout)
            )
            options = {"api_endpoint": self.endpoint} if self.endpoint else None
            self._service = build(
                "gmail",
                "v1",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options=options,
            )
        return self._service

    def _users(self) -> Any:
        return self.service.users()

    def _execute(self, request_factory: Callable[[], Any], what: str) -> Any:
        from google.auth import exceptions as google_auth_exceptions
        from googleapiclient.errors import HttpError

        kwargs: dict[str, Any] = {"attempts": self.attempts, "maximum": self.backoff_max}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        try:
            return call_with_retries(
                lambda: request_factory().execute(),
                classify_google_error,
                what=f"gmail {what}",
                **kwargs,
            )
        except HttpError as exc:
            status = int(exc.resp.status)
            if status == 404:
                raise NotFound(f"gmail {what}: not found") from None
            if status == 401:
                raise AuthorizationRefused(
                    f"gmail {what}: the mailbox's authorization was refused", detail="401"
                ) from None
            if status == 403 and not (_error_reasons(exc) & _RATE_REASONS):
                raise PermanentExternalError(
                    f"gmail {what}: access refused",
                    detail=",".join(sorted(_error_reasons(exc) & _PERMANENT_REASONS))
                    or str(status),
                ) from None
            raise TransientError(f"gmail {what}: failed ({status})") from None
        except (TimeoutError, ConnectionError) as exc:
            raise TransientError(f"gmail {what}: {type(exc).__name__}") from None
        except google_auth_exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise TransientError(f"gmail {what}: token refresh failed") from None
            raise AuthorizationRefused(
                f"gmail {what}: the mailbox's authorization was refused",
                detail="token refresh refused (revoked or expired grant)",
            ) from None
        except google_auth_exceptions.TransportError:
            raise TransientError(f"gmail {what}: token endpoint unreachable") from None

    # --- reading ----------------------------------------------------------------------
    def profile(self) -> dict[str, Any]:
        result: dict[str, Any] = self._execute(
            lambda: self._users().getProfile(userId="me"), "profile"
        )
        return result

    def history_pages(
        self, start_history_id: str, history_types: tuple[str, ...] = ("messageAdded", "labelAdded")
    ) -> Iterator[dict[str, Any]]:
        """Every page of `users.history.list` from a cursor. NotFound when it is too old."""
        token: str | None = None
        while True:
            page: dict[str, Any] = self._execute(
                lambda token=token: (
                    self._users()
                    .history()
                    .list(  # type: ignore[misc]
                        userId="me",
                        startHistoryId=start_history_id,
                        historyTypes=list(history_types),
                        pageToken=token,
                        maxResults=500,
                    )
                ),
                "history.list",
            )
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def list_message_ids(self, query: str, max_results: int = 500) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        token: str | None = None
        while True:
            page = self._execute(
                lambda token=token: (
                    self._users()
                    .messages()
                    .list(  # type: ignore[misc]
                        userId="me", q=query, pageToken=token, maxResults=min(max_results, 500)
                    )
                ),
                "messages.list",
            )
            found.extend(page.get("messages", []))
            token = page.get("nextPageToken")
            if not token or len(found) >= max_results:
                return found[:max_results]

    def get_raw(self, message_id: str) -> tuple[dict[str, Any], bytes]:
        """(metadata, RFC 822 bytes) of one message."""
        message: dict[str, Any] = self._execute(
            lambda: self._users().messages().get(userId="me", id=message_id, format="raw"),
            "messages.get",
        )
        raw = base64.urlsafe_b64decode(message.pop("raw", "") + "==")
        return message, raw

    def find_by_rfc822_id(self, message_id_header: str) -> str | None:
        """The Gmail id of a message carrying our `Message-ID`, if it exists (sent or not)."""
        bare = message_id_header.strip().strip("<>")
        hits = self.list_message_ids(f"rfc822msgid:{bare}", max_results=5)
        return hits[0]["id"] if hits else None

    # --- writing ----------------------------------------------------------------------
    def send_raw(self, raw: bytes, thread_id: str | None = None) -> dict[str, Any]:
        """Send once. Not retried here: the send path checks Sent before any retry."""
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if thread_id:
            body["threadId"] = thread_id
        from googleapiclient.errors import HttpError

        try:
            result: dict[str, Any] = self._users().messages().send(userId="me", body=body).execute()
        except HttpError as exc:
            if classify_google_error(exc) is not None:
                raise TransientError(f"gmail send: failed ({exc.resp.status})") from None
            raise PermanentExternalError(
                "gmail send: refused", detail=str(exc.resp.status)
            ) from None
        return result

    def create_draft(self, raw: bytes, thread_id: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if thread_id:
            message["threadId"] = thread_id
        result: dict[str, Any] = self._execute(
            lambda: self._users().drafts().create(userId="me", body={"message": message}),
            "drafts.create",
        )
        return result

    def update_draft(
        self, draft_id: str, raw: bytes, thread_id: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if thread_id:
            message["threadId"] = thread_id
        result: dict[str, Any] = self._execute(
            lambda: (
                self._users()
                .drafts()
                .update(userId="me", id=draft_id, body={"id": draft_id, "message": message})
            ),
            "drafts.update",
        )
        return result

    def get_draft(self, draft_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._execute(
            lambda: self._users().drafts().get(userId="me", id=draft_id, format="raw"),
            "drafts.get",
        )
        return result

    def delete_draft(self, draft_id: str) -> None:
        self._execute(
            lambda: self._users().drafts().delete(userId="me", id=draft_id), "drafts.delete"
        )

    def watch(self, topic: str, label_ids: tuple[str, ...] = ("INBOX", "SENT")) -> dict[str, Any]:
        result: dict[str, Any] = self._execute(
            lambda: self._users().watch(
                userId="me",
                body={
                    "topicName": topic,
                    "labelIds": list(label_ids),
                    "labelFilterBehavior": "INCLUDE",
                },
            ),
            "watch",
        )
        return result

    def stop_watch(self) -> None:
        self._execute(lambda: self._users().stop(userId="me"), "stop")
