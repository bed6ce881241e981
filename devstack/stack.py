"""The whole local stack in one process: emulators, gRPC stand-ins, fakes, issuer, relay, and
optionally every function. `python -m devstack.stack` (what `make dev` runs) starts it all,
prints the URLs and stops everything on Ctrl-C, leaving no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import emulators
from devstack.issuer import LocalIssuer
from devstack.pubsub_relay import PushRelay
from devstack.secrets_server import SecretManagerServer
from devstack.serving import LOCALHOST, ThreadedServer, free_port
from devstack.tasks_server import CloudTasksServer

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = (
    "hubspot_webhook",
    "gmail_push",
    "draft",
    "voice",
    "send",
    "operator",
    "maintenance",
)
DEFAULT_FUNCTION_PORTS = {name: 8081 + index for index, name in enumerate(FUNCTIONS)}
QUEUES = ("draft", "send", "voice", "campaign", "gmail-sync")
GMAIL_TOPIC = "gmail-notifications"
GMAIL_SUBSCRIPTION = "gmail-push"
TASKS_INVOKER = "tasks-invoker@demo-local.iam.gserviceaccount.com"
PUSH_INVOKER = "gmail-push@demo-local.iam.gserviceaccount.com"
SCHEDULER_INVOKER = "scheduler-invoker@demo-local.iam.gserviceaccount.com"
OPERATOR_ACCOUNT = "operator@demo-local.iam.gserviceaccount.com"
LOCATION = "europe-west1"

log = logging.getLogger("devstack")


@dataclass
class DevStack:
    project: str = "demo-local"
    function_ports: dict[str, int] = field(default_factory=dict)
    state_dir: Path = ROOT / ".devstack"
    queue_min_backoff: float = 1.0
    queue_max_attempts: int = 10
    # None: the functions talk to the OpenAI fake; the demo sets the real API when a key is given
    openai_base_url: str | None = None

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for name in FUNCTIONS:
            self.function_ports.setdefault(name, free_port())
        self.issuer = LocalIssuer()
        self.relay = PushRelay(self.issuer)
        self.tasks = CloudTasksServer(token_signer=self.issuer.sign)
        self.secrets = SecretManagerServer()
        self.fakes: dict[str, Any] = {}
        self._servers: list[ThreadedServer] = []
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.firestore: emulators.Emulator | None = None
        self.pubsub: emulators.Emulator | None = None

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> DevStack:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> DevStack:
        missing = emulators.missing_emulators()
        if missing:
            raise emulators.EmulatorError("emulator files missing: " + ", ".join(missing))
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # Spawned from this thread (they die with it), then waited for in parallel with the
        # rest of the start-up.
        self.firestore = emulators.firestore(log_dir=self.state_dir).spawn()
        self.pubsub = emulators.pubsub(log_dir=self.state_dir).spawn()
        self.issuer_server = self._serve(self.issuer.wsgi)
        self.relay_server = self._serve(self.relay)
        self.tasks.start()
        self.secrets.start()
        # The webhook reads the HubSpot client secret as Cloud Run mounts it (a file).
        self.secrets.mount(
            f"projects/{self.project}/secrets/hubspot-client-secret", self.hubspot_secret_file
        )
        from devstack.fakes import start_fakes

        self.fakes = start_fakes()
        self.firestore.wait_ready()
        self.pubsub.wait_ready()
        os.environ["FIRESTORE_EMULATOR_HOST"] = self.firestore.host
        os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub.host
        self._create_queues()
        self._create_gmail_subscription()
        return self

    def stop(self) -> None:
        self.stop_functions()
        for _fake, server in self.fakes.values():
            with contextlib.suppress(Exception):
                server.stop()
        for server in self._servers:
            with contextlib.suppress(Exception):
                server.stop()
        with contextlib.suppress(Exception):
            self.tasks.stop()
        with contextlib.suppress(Exception):
            self.secrets.unmount_all()
            self.secrets.stop()
        for emulator in (self.firestore, self.pubsub):
            if emulator is not None:
                emulator.stop()

    def _serve(self, app: Any) -> ThreadedServer:
        server = ThreadedServer(app).start()
        self._servers.append(server)
        return server

    # --- what the functions are told ----------------------------------------------------
    @property
    def hubspot_secret_file(self) -> Path:
        """Where the Secret Manager stand-in mounts the HubSpot client secret (per stack)."""
        port = self.secrets.address.rsplit(":", 1)[1]
        return self.state_dir / "secret-volumes" / f"{self.project}-{port}" / "client-secret"

    def function_url(self, name: str) -> str:
        return f"http://{LOCALHOST}:{self.function_ports[name]}"

    def fake_url(self, name: str) -> str:
        return str(self.fakes[name][1].url)

    @property
    def push_audience(self) -> str:
        return self.function_url("gmail_push")

    def env(self) -> dict[str, str]:
        """Settings for every function, pointing at this stack."""
        assert self.firestore is not None
        return {
            "ENVIRONMENT": "local",
            "GCP_PROJECT": self.project,
            "GCP_REGION": LOCATION,
            "FIRESTORE_EMULATOR_HOST": self.firestore.host,
            "TASKS_ENDPOINT": self.tasks.address,
            "TASKS_INVOKER_EMAIL": TASKS_INVOKER,
            "SECRETS_ENDPOINT": self.secrets.address,
            "OIDC_CERTS_URL": f"{self.issuer_server.url}/certs",
            "OIDC_ISSUERS": self.issuer.issuer,
            "PUBSUB_PUSH_AUDIENCE": self.push_audience,
            "PUBSUB_PUSH_SERVICE_ACCOUNT": PUSH_INVOKER,
            "GMAIL_TOPIC": f"projects/{self.project}/topics/{GMAIL_TOPIC}",
            "SCHEDULER_INVOKER_EMAIL": SCHEDULER_INVOKER,
            "VOICE_API_CALLERS": OPERATOR_ACCOUNT,
            "OPERATOR_API_CALLERS": OPERATOR_ACCOUNT,
            "OPERATOR_EMAILS": "maya@brightline.example,lead@brightline.example",
            "OPERATOR_LOGIN_AUDIENCE": "operator-page-local",
            "SEND_UNDO_SECONDS": "5",  # production: 60
            "VOICE_PROFILE_DEBOUNCE_SECONDS": "2",  # production: 30
            # One BLAS thread: the numpy embedder otherwise fights the emulator for both cores
            # (p99 of a search 229 ms vs 60 ms measured); Terraform sets the same.
            "OPENBLAS_NUM_THREADS": "1",
            "GOOGLE_OAUTH_TOKEN_URI": f"{self.fake_url('oauth')}/token",
            "GOOGLE_OAUTH_AUTH_URI": f"{self.fake_url('oauth')}/o/oauth2/v2/auth",
            "GOOGLE_OAUTH_REVOKE_URI": f"{self.fake_url('oauth')}/revoke",
            "GOOGLE_OAUTH_USERINFO_URI": f"{self.fake_url('oauth')}/oauth2/v3/userinfo",
            "GOOGLE_OAUTH_REDIRECT_URI": (
                f"{self.function_url('operator')}/api/connections/google/callback"
            ),
            "GMAIL_API_ENDPOINT": self.fake_url("gmail"),
            "DRIVE_API_ENDPOINT": f"{self.fake_url('drive')}/drive/v3/",
            "CALENDAR_API_ENDPOINT": f"{self.fake_url('calendar')}/calendar/v3/",
            "YOUTUBE_BASE_URL": self.fake_url("youtube"),
            "HUBSPOT_API_BASE": self.fake_url("hubspot"),
            "OPENAI_BASE_URL": self.openai_base_url or f"{self.fake_url('openai')}/v1",
            "HUBSPOT_WEBHOOK_URL": f"{self.function_url('hubspot_webhook')}/",
            "HUBSPOT_CLIENT_SECRET_FILE": str(self.hubspot_secret_file),
            **{f"FUNCTION_URL_{name.upper()}": self.function_url(name) for name in FUNCTIONS},
        }

    # --- Cloud Tasks and Pub/Sub resources, as Terraform creates them in production -------
    def _create_queues(self) -> None:
        import grpc
        from google.api_core import exceptions
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import (
            CloudTasksGrpcTransport,
        )
        from google.protobuf import duration_pb2

        client = tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(self.tasks.address))
        )
        parent = f"projects/{self.project}/locations/{LOCATION}"
        for queue in QUEUES:
            retry = tasks_v2.RetryConfig(
                max_attempts=self.queue_max_attempts,
                min_backoff=duration_pb2.Duration(
                    seconds=int(self.queue_min_backoff),
                    nanos=int((self.queue_min_backoff % 1) * 1e9),
                ),
                max_backoff=duration_pb2.Duration(seconds=300),
                max_doublings=5,
            )
            with contextlib.suppress(exceptions.AlreadyExists):
                client.create_queue(
                    parent=parent,
                    queue=tasks_v2.Queue(name=f"{parent}/queues/{queue}", retry_config=retry),
                )

    def _create_gmail_subscription(self) -> None:
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(self.project, GMAIL_TOPIC)
        with contextlib.suppress(exceptions.AlreadyExists):
            publisher.create_topic(name=topic)
        path = self.relay.route(
            "gmail", f"{self.function_url('gmail_push')}/", self.push_audience, PUSH_INVOKER
        )
        subscription = subscriber.subscription_path(self.project, GMAIL_SUBSCRIPTION)
        with contextlib.suppress(exceptions.AlreadyExists):
            subscriber.create_subscription(
                request={
                    "name": subscription,
                    "topic": topic,
                    "push_config": {"push_endpoint": f"{self.relay_server.url}{path}"},
                    "ack_deadline_seconds": 30,
                }
            )
        subscriber.close()

    def deliver_task(self, name: str, base_url: str) -> Any:
        """What Cloud Tasks does with queued task `name` (its queue paused, so it waits), with
        the function at `base_url` (where a test or bench serves it) instead of the task's own
        host: POST its body and headers to its path with the tasks invoker's token for its
        audience, and delete it once answered 2xx. The `requests` answer; None if `name` is
        not queued (never was, or already ran)."""
        from urllib.parse import urlsplit

        import grpc
        import requests
        from google.api_core import exceptions
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import (
            CloudTasksGrpcTransport,
        )

        client = tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(self.tasks.address))
        )
        try:
            task = client.get_task(request={"name": name, "response_view": "FULL"})
        except exceptions.NotFound:
            return None
        call = task.http_request
        token = self.issuer.sign(call.oidc_token.audience, TASKS_INVOKER)
        answer = requests.post(
            base_url.rstrip("/") + urlsplit(call.url).path,
            data=call.body,
            headers={**dict(call.headers), "Authorization": f"Bearer {token}"},
            timeout=60,
        )
        if 200 <= answer.status_code < 300:
            with contextlib.suppress(exceptions.NotFound):  # a concurrent delivery's
                client.delete_task(name=name)
        return answer

    def publish_gmail_notifications(self, enabled: bool = True) -> None:
        """Let the Gmail fake publish watch notifications to the Pub/Sub emulator, whose push
        subscription reaches `gmail_push` through the relay, as in production. Off by default
        so tests decide when a push happens."""
        assert self.pubsub is not None
        self.fakes["gmail"][0].pubsub_emulator_host = self.pubsub.host if enabled else None

    # --- resets between tests -----------------------------------------------------------
    def reset(self) -> None:
        assert self.firestore is not None
        emulators.reset_firestore(self.firestore.host, self.project)
        self.tasks.reset()
        self._create_queues()
        self.secrets.reset()
        for fake, _server in self.fakes.values():
            fake.reset()

    # --- functions as separate processes (make dev, demo, bench) -------------------------
    def start_functions(self, names: tuple[str, ...] = FUNCTIONS, timeout: float = 30.0) -> None:
        env = {**os.environ, **self.env(), "PYTHONPATH": str(ROOT)}
        binary = str(Path(sys.executable).with_name("functions-framework"))
        for name in names:
            log_file = (self.state_dir / f"function-{name}.log").open("ab")
            self._processes[name] = subprocess.Popen(
                emulators.die_with_parent(
                    [
                        binary,
                        "--target",
                        name,
                        "--source",
                        str(ROOT / "functions" / name / "main.py"),
                        "--host",
                        LOCALHOST,
                        "--port",
                        str(self.function_ports[name]),
                    ]
                ),
                env=env,
                cwd=ROOT,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        for name in names:
            wait_for_health(self.function_url(name), self._processes[name], timeout)

    def stop_functions(self) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        self._processes.clear()


def wait_for_health(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy within {timeout:.0f}s")


@contextlib.contextmanager
def running_stack(**kwargs: Any) -> Iterator[DevStack]:
    stack = DevStack(**kwargs)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def describe(stack: DevStack) -> dict[str, Any]:
    assert stack.firestore is not None
    assert stack.pubsub is not None
    return {
        "functions": {name: stack.function_url(name) for name in FUNCTIONS},
        "firestore_emulator": stack.firestore.host,
        "pubsub_emulator": stack.pubsub.host,
        "cloud_tasks": stack.tasks.address,
        "secret_manager": stack.secrets.address,
        "fakes": {name: stack.fake_url(name) for name in stack.fakes},
        "token_issuer": stack.issuer_server.url,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", default="demo-local")
    parser.add_argument("--no-functions", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with running_stack(project=args.project, function_ports=dict(DEFAULT_FUNCTION_PORTS)) as stack:
        if not args.no_functions:
            stack.start_functions()
            stack.publish_gmail_notifications()
        urls = describe(stack)
        (stack.state_dir / "stack.json").write_text(json.dumps({**urls, "env": stack.env()}))
        print(json.dumps(urls, indent=2))
        print("Local stack is up. Ctrl-C stops everything.", flush=True)
        stop.wait()
        print("Stopping…", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
