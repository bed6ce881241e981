"""Gmail through google-api-python-client, with our own retries and error mapping
(`shared.adapters.google_api`): 403 insufficientPermissions is permanent and 401 or a refused
token refresh is AuthorizationRefused, so the mailbox can be marked as needing attention."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from shared.adapters.google_api import GoogleApi
from shared.errors import NotFound


class GmailMailbox(GoogleApi):
    """One connected mailbox (`users/me` of the credentials)."""

    api = "gmail"
    version = "v1"
    label = "gmail"

    def _users(self) -> Any:
        return self.service.users()

    def _execute(self, request_factory: Callable[[], Any], what: str) -> Any:
        return self._call(lambda: request_factory().execute(), what)

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

    def thread_headers(self, thread_id: str) -> list[dict[str, Any]]:
        """Each message of a thread: id, labels, internal date (ms) and its From and
        Message-ID headers; drafts included (label DRAFT). [] when the thread is gone."""
        try:
            thread: dict[str, Any] = self._execute(
                lambda: (
                    self._users()
                    .threads()
                    .get(
                        userId="me",
                        id=thread_id,
                        format="metadata",
                        metadataHeaders=["From", "Message-ID"],
                    )
                ),
                "threads.get",
            )
        except NotFound:
            return []
        found = []
        for message in thread.get("messages", []):
            headers = {
                str(h.get("name", "")).lower(): str(h.get("value", ""))
                for h in (message.get("payload") or {}).get("headers", [])
            }
            found.append(
                {
                    "id": message.get("id"),
                    "label_ids": list(message.get("labelIds") or []),
                    "internal_date": int(message.get("internalDate") or 0),
                    "from": headers.get("from", ""),
                    "message_id": headers.get("message-id", ""),
                }
            )
        return found

    # --- writing ----------------------------------------------------------------------
    def send_raw(self, raw: bytes, thread_id: str | None = None) -> dict[str, Any]:
        """Send once, never retried here: a failure may hide an accepted send (a timeout after
        Gmail took it), so the send path searches Sent for its Message-ID before any retry."""
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        if thread_id:
            body["threadId"] = thread_id
        result: dict[str, Any] = self._call(
            lambda: self._users().messages().send(userId="me", body=body).execute(),
            "messages.send",
            attempts=1,
        )
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

    def list_drafts(self) -> list[dict[str, Any]]:
        """Every draft's id and message id (one page per 500)."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._execute(
                lambda token=token: (
                    self._users().drafts().list(userId="me", pageToken=token, maxResults=500)  # type: ignore[misc]
                ),
                "drafts.list",
            )
            found.extend(page.get("drafts", []))
            token = page.get("nextPageToken")
            if not token:
                return found

    def delete_draft(self, draft_id: str) -> None:
        self._execute(
            lambda: self._users().drafts().delete(userId="me", id=draft_id), "drafts.delete"
        )

    def trash_message(self, message_id: str) -> None:
        """Into Trash (Gmail empties it after 30 days); deleting for good needs the full
        mail scope, which we do not ask for. Repeatable."""
        self._execute(
            lambda: self._users().messages().trash(userId="me", id=message_id), "messages.trash"
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
