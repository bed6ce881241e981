"""A Pub/Sub push subscription delivers to a local function, signed like production."""

import base64
import json
import time
import urllib.parse

import pytest
import requests
from google.cloud import pubsub_v1

from devstack.stack import PUSH_INVOKER
from shared.adapters.store import Store

pytestmark = pytest.mark.stack


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _subscribe_echo(local, echo_function, name: str, **query: str) -> str:
    url = f"{echo_function.url}/?" + urllib.parse.urlencode(
        {"key": name, "callers": PUSH_INVOKER, "aud": echo_function.url, **query}
    )
    path = local.relay.route(name, url, echo_function.url, PUSH_INVOKER)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(local.project, f"topic-{name}")
    publisher.create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.create_subscription(
        request={
            "name": subscriber.subscription_path(local.project, f"sub-{name}"),
            "topic": topic,
            "push_config": {"push_endpoint": f"{local.relay_server.url}{path}"},
            "ack_deadline_seconds": 10,
        }
    )
    subscriber.close()
    return topic


def test_published_message_reaches_the_function_with_a_verified_token(local, echo_function):
    name = f"push{time.monotonic_ns()}"
    topic = _subscribe_echo(local, echo_function, name)
    notification = {"emailAddress": "rep@example.com", "historyId": 1234}
    pubsub_v1.PublisherClient().publish(topic, json.dumps(notification).encode()).result()

    doc = Store(local.project, emulator_host=local.firestore.host).db.document(f"echo/{name}")
    snapshot = _wait_for(lambda: (s := doc.get()).exists and s)
    envelope = json.loads(snapshot.get("body"))
    assert json.loads(base64.b64decode(envelope["message"]["data"])) == notification
    assert snapshot.get("caller") == PUSH_INVOKER


def test_a_failing_function_gets_the_message_again(local, echo_function):
    name = f"retry{time.monotonic_ns()}"
    topic = _subscribe_echo(local, echo_function, name, fail="1")
    pubsub_v1.PublisherClient().publish(topic, b"{}").result()
    doc = Store(local.project, emulator_host=local.firestore.host).db.document(f"echo/{name}")

    def statuses() -> list[int]:
        return [d["status"] for d in local.relay.deliveries if d["route"] == name]

    _wait_for(lambda: 200 in statuses(), timeout=30)
    assert statuses()[0] == 500
    assert doc.get().get("count") >= 2


def test_unsigned_push_is_refused(local, echo_function):
    answer = requests.post(
        f"{echo_function.url}/?key=unsigned&callers={PUSH_INVOKER}&aud={echo_function.url}",
        json={"message": {"data": ""}},
        timeout=5,
    )
    assert answer.status_code == 401
    doc = Store(local.project, emulator_host=local.firestore.host).db.document("echo/unsigned")
    assert not doc.get().exists
