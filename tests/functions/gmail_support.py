"""What the Gmail intake tests share: signed pushes, mail arriving, what got stored."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import grpc
import requests
from google.cloud import firestore, tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack import seed
from devstack.fakes import make_message
from devstack.stack import LOCATION, PUSH_INVOKER, ROOT

SOURCE = ROOT / "functions/gmail_push/main.py"
SYNC_QUEUE = "gmail-sync"
REP = seed.REP_EMAIL
DANA = seed.PROSPECTS[0]


def tasks_client(stack) -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(stack.tasks.address)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def queue_path(stack, queue: str = "draft") -> str:
    return f"projects/{stack.project}/locations/{LOCATION}/queues/{queue}"


def draft_tasks(stack, queue: str = "draft") -> list[str]:
    names = [t.name for t in tasks_client(stack).list_tasks(parent=queue_path(stack, queue))]
    return sorted(name.rsplit("/", 1)[1] for name in names)


class Mail:
    """The stack seeded like the demo, Maya's mailbox connected, the draft queue held.

    The sync queue is held too: `push()` plays Pub/Sub's push and then Cloud Tasks' delivery
    of the sync it queued, to this test's `gmail_push` (served on a port of its own), so a
    test reads the sync's own answer. `test_gmail_push.py` also checks the real delivery."""

    def __init__(self, stack: Any, server: Any) -> None:
        self.stack = stack
        self.server = server
        self.gmail = stack.fakes["gmail"][0]
        self.db = firestore.Client(project=stack.project)
        self.tasks = tasks_client(stack)
        self.tasks.pause_queue(name=queue_path(stack, SYNC_QUEUE))

    # --- pushes -------------------------------------------------------------------------
    def token(self, **overrides: Any) -> str:
        audience = overrides.pop("audience", self.stack.push_audience)
        email = overrides.pop("email", PUSH_INVOKER)
        return self.stack.issuer.sign(audience, email, **overrides)

    def envelope(self, history_id: Any, email: str = REP, data: str | None = None) -> bytes:
        if data is None:
            payload = json.dumps({"emailAddress": email, "historyId": history_id}).encode()
            data = base64.b64encode(payload).decode()
        return json.dumps(
            {
                "message": {"data": data, "messageId": str(time.time_ns())},
                "subscription": "projects/demo-test/subscriptions/gmail-push",
            }
        ).encode()

    def push(
        self,
        history_id: Any = None,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """The push, then the sync task it queued: the sync's answer (the push's own when it
        queued nothing to run: refused, ignored, or the task already ran)."""
        answer = self.push_only(history_id, token=token, body=body, headers=headers)
        if answer.status_code != 200 or answer.json().get("status") != "queued":
            return answer
        synced = self.deliver_task(answer.json()["task"])
        return answer if synced is None else synced  # (a Response is falsy when not ok)

    def push_only(
        self,
        history_id: Any = None,
        *,
        token: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        if history_id is None:
            history_id = self.gmail.history_id(REP)
        auth = {"Authorization": f"Bearer {token or self.token()}"}
        return requests.post(
            self.server.url + "/",
            data=body if body is not None else self.envelope(history_id),
            headers={"Content-Type": "application/json", **auth, **(headers or {})},
            timeout=60,
        )

    def sync_tasks(self) -> list[str]:
        return [t.name for t in self.tasks.list_tasks(parent=queue_path(self.stack, SYNC_QUEUE))]

    def deliver_task(self, name: str) -> requests.Response | None:
        """Cloud Tasks' delivery of a queued task to this test's `gmail_push` (see
        `DevStack.deliver_task`); None if it is not queued."""
        answer: requests.Response | None = self.stack.deliver_task(name, self.server.url)
        if answer is not None:
            assert answer.url.endswith("/sync"), answer.url
        return answer

    # --- mail ---------------------------------------------------------------------------
    def inbound(self, sender: str, subject: str, body: str, **kwargs: Any) -> tuple[str, Any]:
        message = make_message(sender, REP, subject, body, **kwargs)
        return self.gmail.deliver(REP, message), message

    def sent(self, to: str, subject: str, body: str, **kwargs: Any) -> tuple[str, Any]:
        message = make_message(f"{seed.REP_NAME} <{REP}>", to, subject, body, **kwargs)
        return self.gmail.deliver(REP, message, labels=("SENT",)), message

    # --- what is stored -----------------------------------------------------------------
    def messages(self) -> dict[str, dict[str, Any]]:
        return {
            snap.get("gmail_id"): snap.to_dict()
            for snap in self.db.collection("gmail_messages").stream()
        }

    def workflows(self) -> dict[str, dict[str, Any]]:
        return {snap.id: snap.to_dict() for snap in self.db.collection("workflows").stream()}

    def mailbox(self) -> dict[str, Any]:
        return self.db.collection("mailboxes").document(REP).get().to_dict() or {}

    def cursor(self) -> int:
        return int(self.mailbox()["history_id"])
