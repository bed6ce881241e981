"""A sales team's view of the running system for function tests: the operator API, leads
through the signed webhook, the fake Gmail's sent box, Cloud Tasks queues."""

from __future__ import annotations

import time
from typing import Any

import requests
from google.cloud import firestore

from devstack import seed
from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
from devstack.stack import OPERATOR_ACCOUNT, TASKS_INVOKER
from tests.functions.gmail_support import Mail

REP = seed.REP_EMAIL
DANA = seed.PROSPECTS[0]


def wait_until(check: Any, timeout: float = 40.0, every: float = 0.2) -> Any:
    """`check()`'s first truthy answer; AssertionError when none comes in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("never happened")


class Team:
    """The rep's team, as the operator API and the fakes show it."""

    def __init__(self, stack: Any, servers: dict[str, Any]) -> None:
        self.stack = stack
        self.servers = servers
        self.db = firestore.Client(project=stack.project)
        self.gmail = stack.fakes["gmail"][0]
        self.hubspot = stack.fakes["hubspot"][0]
        self.mail = Mail(stack, servers["push"])
        self.token = stack.issuer.sign(stack.function_url("operator"), OPERATOR_ACCOUNT)
        self.seeded = {m["id"] for m in self.gmail.sent(REP)}  # the rep's past replies

    # --- the operator API -----------------------------------------------------------
    def api(self, method: str, path: str, json: Any = None, token: str | None = None) -> Any:
        return requests.request(
            method,
            self.servers["operator"].url + path,
            json=json,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )

    def voice(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The voice function's API (samples, assets) as the operator's service account."""
        token = self.stack.issuer.sign(self.stack.function_url("voice"), OPERATOR_ACCOUNT)
        return requests.request(
            method,
            self.servers["voice"].url + path,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            **kwargs,
        )

    def set_flags(self, **changes: Any) -> dict[str, Any]:
        answer = self.api("PATCH", "/api/flags", {"changes": changes, "reason": "test setup"})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def approve(self, workflow_id: str) -> dict[str, Any]:
        shown = self.api("GET", f"/api/workflows/{workflow_id}").json()
        assert "content_hash" in (shown["gmail_draft"] or {}), shown
        digest = shown["gmail_draft"]["content_hash"]
        answer = self.api("POST", f"/api/workflows/{workflow_id}/approve", {"content_hash": digest})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["approval"])

    # --- leads ------------------------------------------------------------------------
    def lead(self, contact_id: int = DANA.contact_id, email: str = DANA.email) -> str:
        body = body_of(form_submission(contact_id, email, conversion_id=f"conv-{contact_id}"))
        answer = requests.post(
            self.servers["webhook"].url + "/",
            data=body,
            headers=signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        (workflow_id,) = answer.json()["opened"]
        return str(workflow_id)

    def more_leads(self, count: int) -> list[str]:
        ids = []
        for index in range(count):
            contact_id = 7_100 + index
            email = f"buyer{index}@prospect{index}.example"
            self.hubspot.create(
                "contacts",
                {
                    "email": email,
                    "firstname": f"Buyer{index}",
                    "lifecyclestage": "lead",
                    "hubspot_owner_id": seed.OWNER_ID,
                },
                object_id=contact_id,
            )
            ids.append(self.lead(contact_id, email))
        return ids

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        return self.db.collection("workflows").document(workflow_id).get().to_dict() or {}

    def wait(self, workflow_id: str, done: Any, timeout: float = 40.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.workflow(workflow_id)
            if done(data):
                return data
            time.sleep(0.2)
        raise AssertionError(f"workflow never got there: {self.workflow(workflow_id)}")

    def drafted(self, workflow_id: str, version: int = 1) -> dict[str, Any]:
        return self.wait(
            workflow_id,
            lambda d: d.get("version") == version and d.get("state") not in ("queued", "drafting"),
        )

    def send_settled(self, workflow_id: str, timeout: float = 40.0) -> dict[str, Any]:
        return self.wait(
            workflow_id,
            lambda d: (
                (
                    (d.get("send") or {}).get("status")
                    in ("sent", "suppressed", "deferred", "held", "cancelled", "failed")
                    and (d.get("send") or {}).get("status") != "sent"
                )
                or (d.get("send") or {}).get("effects_done")
            ),
            timeout,
        )

    def sent(self) -> list[dict[str, Any]]:
        """What the system (or anyone) sent since the seed."""
        return [m for m in self.gmail.sent(REP) if m["id"] not in self.seeded]

    def send_task(self, workflow_id: str) -> requests.Response:
        data = self.workflow(workflow_id)
        approval = data["approval"]
        token = self.stack.issuer.sign(self.stack.function_url("send"), TASKS_INVOKER)
        return requests.post(
            self.servers["send"].url,
            json={
                "workflow_id": workflow_id,
                "version": approval["version"],
                "hash": approval["hash"],
                "seq": approval["seq"],
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def tasks(self, queue: str) -> list[Any]:
        from google.cloud import tasks_v2

        from tests.functions.gmail_support import tasks_client

        client = tasks_client(self.stack)
        parent = f"projects/{self.stack.project}/locations/{self.stack.env()['GCP_REGION']}"
        request = tasks_v2.ListTasksRequest(
            parent=f"{parent}/queues/{queue}", response_view=tasks_v2.Task.View.FULL
        )
        return list(client.list_tasks(request=request))

    def rep_gmail(self) -> Any:
        """Maya's Gmail through the real client, as when she edits a draft herself."""
        from shared.adapters.gmail import GmailMailbox
        from tests.google_support import fake_credentials

        return GmailMailbox(
            fake_credentials(self.stack, REP), endpoint=self.stack.env()["GMAIL_API_ENDPOINT"]
        )

    def run_task(self, task: Any) -> None:
        from tests.functions.gmail_support import tasks_client

        tasks_client(self.stack).run_task(name=task.name)

    def wait_for_samples(self, rep: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The rep's voice samples, once there are `count` of them."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        deadline = time.monotonic() + timeout
        while True:
            query = self.db.collection("training_samples").where(
                filter=FieldFilter("rep", "==", rep)
            )
            found = [snap.to_dict() or {} for snap in query.stream()]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
