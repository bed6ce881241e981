"""Secret Manager: OAuth refresh tokens and API keys, never Firestore or logs.

Reads are cached per instance for `cache_seconds`, so a busy instance does not call Secret
Manager on every request. Writes add a version only when the value changed, and disable the
versions before it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.errors import NotFound, TransientError

if TYPE_CHECKING:
    from google.cloud import secretmanager_v1

    from shared.config import Settings


log = logging.getLogger(__name__)


class SecretStore:
    def __init__(
        self,
        project: str,
        endpoint: str | None = None,
        cache_seconds: float = 300.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.project = project
        self.endpoint = endpoint
        self.cache_seconds = cache_seconds
        self._clock = clock or time.monotonic
        self._client: secretmanager_v1.SecretManagerServiceClient | None = None
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self.unavailable_timeout = 5.0  # seconds spent retrying an unreachable Secret Manager

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretStore:
        return cls(settings.gcp_project, settings.secrets_endpoint, settings.secret_cache_seconds)

    @property
    def client(self) -> secretmanager_v1.SecretManagerServiceClient:
        if self._client is None:
            from google.cloud import secretmanager_v1

            if self.endpoint:
                import grpc
                from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (  # noqa: E501
                    SecretManagerServiceGrpcTransport,
                )

                channel = grpc.insecure_channel(self.endpoint)
                self._client = secretmanager_v1.SecretManagerServiceClient(
                    transport=SecretManagerServiceGrpcTransport(channel=channel)
                )
            else:
                self._client = secretmanager_v1.SecretManagerServiceClient()
        return self._client

    def secret_path(self, secret_id: str) -> str:
        return f"projects/{self.project}/secrets/{secret_id}"

    def read(self, secret_id: str) -> str:
        """The latest version's value (as Secret Manager defines `latest`); cached.

        Raises NotFound when the secret or an enabled version does not exist. When Secret
        Manager cannot be reached (after a few quick retries), the last value this instance
        read is served however old (a refresh token stays valid until it is revoked, and a
        refused one is re-read anyway); with none, TransientError: the caller answers 503
        and Cloud Tasks or Pub/Sub retries later.
        """
        now = self._clock()
        with self._lock:
            cached = self._cache.get(secret_id)
        if cached and now - cached[0] < self.cache_seconds:
            return cached[1]
        from google.api_core import exceptions, retry

        try:
            response = self.client.access_secret_version(
                name=f"{self.secret_path(secret_id)}/versions/latest",
                retry=retry.Retry(
                    predicate=retry.if_exception_type(
                        exceptions.ServiceUnavailable, exceptions.DeadlineExceeded
                    ),
                    initial=0.1,
                    maximum=1.0,
                    timeout=self.unavailable_timeout,
                ),
                timeout=self.unavailable_timeout,
            )
        except (exceptions.NotFound, exceptions.FailedPrecondition):
            raise NotFound(f"secret {secret_id} has no enabled version") from None
        except (
            exceptions.ServiceUnavailable,
            exceptions.DeadlineExceeded,
            exceptions.RetryError,
        ) as exc:
            if cached is not None:
                log.warning(
                    "Secret Manager unavailable: serving this instance's last read",
                    extra={"fields": {"secret": secret_id, "error": type(exc).__name__}},
                )
                return cached[1]
            raise TransientError(
                "Secret Manager is unavailable", detail=type(exc).__name__
            ) from None
        value = response.payload.data.decode("utf-8")
        with self._lock:
            self._cache[secret_id] = (now, value)
        return value

    def forget(self, secret_id: str) -> None:
        with self._lock:
            self._cache.pop(secret_id, None)

    def write(self, secret_id: str, value: str) -> bool:
        """Store `value` as the latest version; True when a new version was added."""
        from google.api_core import exceptions
        from google.cloud import secretmanager_v1

        try:
            current = self.client.access_secret_version(
                name=f"{self.secret_path(secret_id)}/versions/latest"
            ).payload.data.decode("utf-8")
        except exceptions.NotFound:
            current = None
            with contextlib.suppress(exceptions.AlreadyExists):
                self.client.create_secret(
                    parent=f"projects/{self.project}",
                    secret_id=secret_id,
                    secret=secretmanager_v1.Secret(
                        replication=secretmanager_v1.Replication(
                            automatic=secretmanager_v1.Replication.Automatic()
                        )
                    ),
                )
        except exceptions.FailedPrecondition:
            current = None
        if current == value:
            with self._lock:
                self._cache[secret_id] = (self._clock(), value)
            return False
        added = self.client.add_secret_version(
            parent=self.secret_path(secret_id),
            payload=secretmanager_v1.SecretPayload(data=value.encode("utf-8")),
        )
        self._disable_older_than(secret_id, added.name)
        with self._lock:
            self._cache[secret_id] = (self._clock(), value)
        return True

    def _disable_older_than(self, secret_id: str, keep: str) -> None:
        from google.cloud import secretmanager_v1

        enabled = secretmanager_v1.SecretVersion.State.ENABLED
        for version in self.client.list_secret_versions(parent=self.secret_path(secret_id)):
            if version.name != keep and version.state == enabled:
                self.client.disable_secret_version(name=version.name)

    def destroy(self, secret_id: str) -> int:
        """Destroy every version of a secret (e.g. on disconnect); returns how many."""
        from google.api_core import exceptions
        from google.cloud import secretmanager_v1

        destroyed = 0
        try:
            versions = list(self.client.list_secret_versions(parent=self.secret_path(secret_id)))
        except exceptions.NotFound:
            return 0
        for version in versions:
            if version.state != secretmanager_v1.SecretVersion.State.DESTROYED:
                self.client.destroy_secret_version(name=version.name)
                destroyed += 1
        self.forget(secret_id)
        return destroyed


class MountedSecret:
    """A secret Cloud Run mounts as a file (a Secret Manager volume on version `latest`: every
    read of the file fetches that version), kept `cache_seconds` like a `SecretStore` read.
    Reading it needs no Secret Manager client, which keeps the webhook's cold start short.
    `read()` is None when the file is missing, unreadable or empty (the volume is not
    mounted, or the secret has no enabled version yet): the caller then asks `SecretStore`.
    """

    def __init__(
        self, path: str, cache_seconds: float = 300.0, clock: Callable[[], float] | None = None
    ) -> None:
        self.path = path
        self.cache_seconds = cache_seconds
        self._clock = clock or time.monotonic
        self._cached: tuple[float, str] | None = None
        self._lock = threading.Lock()
        self._warned = False

    def read(self) -> str | None:
        now = self._clock()
        with self._lock:
            cached = self._cached
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            with open(self.path, encoding="utf-8") as file:
                value = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            if not self._warned:  # once per instance: this repeats on every request
                self._warned = True
                log.warning(
                    "mounted secret unreadable; using the Secret Manager API",
                    extra={"fields": {"error": type(exc).__name__}},
                )
            return None
        if not value:
            return None
        with self._lock:
            self._cached = (now, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._cached = None
