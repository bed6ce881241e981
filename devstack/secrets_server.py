"""A local Secret Manager v1 gRPC server, built on google-cloud-secret-manager's own types.

The official `SecretManagerServiceClient` talks to it unmodified over an insecure channel.
Semantics follow the real service where the application can notice them: `latest` is the most
recently created version whatever its state (so accessing it fails with FAILED_PRECONDITION
when that version is disabled or destroyed, as it does in production), versions number from 1,
destroying wipes the payload, `data_crc32c` is returned on access and checked on add, and
etags guard state changes. Not implemented (UNIMPLEMENTED): UpdateSecret, IAM, rotation.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import signal
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.cloud import secretmanager_v1 as sm
from google.protobuf import empty_pb2

from devstack.grpc_service import RpcFailure, paginate, unary

log = logging.getLogger("devstack.secrets")

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
LOCALHOST = "127.0.0.1"
MAX_PAYLOAD_BYTES = 64 * 1024

_PARENT = re.compile(r"^projects/[^/]+(/locations/[^/]+)?$")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_FILTER_TERM = re.compile(r"^(state|name)\s*[:=]\s*(\S+)$")
State = sm.SecretVersion.State


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum Secret Manager uses for `data_crc32c`.

    google-crc32c is not installed here and zlib only has plain CRC-32, so this is the
    table-driven reference algorithm; payloads are at most 64 KiB, so speed does not matter.
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _now() -> datetime:
    return datetime.now(UTC)


def _etag() -> str:
    return f'"{secrets.token_hex(7)}"'


@dataclass
class _Version:
    number: int
    create_time: datetime
    data: bytes | None
    client_checksum: bool
    state: State = State.ENABLED
    destroy_time: datetime | None = None
    etag: str = field(default_factory=_etag)


@dataclass
class _Secret:
    proto: sm.Secret
    versions: list[_Version] = field(default_factory=list)


def _filter_terms(expression: str) -> list[tuple[str, str]]:
    """The tiny subset of the list filter syntax we support: `state:X`, `name:X`, ANDed."""
    terms = []
    for part in expression.split():
        if part.upper() == "AND":
            continue
        match = _FILTER_TERM.match(part)
        if not match:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"filter {expression!r} is not supported by the local stand-in",
            )
        terms.append((match.group(1), match.group(2)))
    return terms


class SecretManagerServer:
    """Secret Manager v1 over gRPC on 127.0.0.1, state in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, _Secret] = {}
        self._mounts: dict[str, Path] = {}
        self._server: grpc.Server | None = None
        self._port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        """Serve on 127.0.0.1:`port` (0 = any free port); returns the port."""
        if self._server is not None:
            raise RuntimeError("already started")
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="secrets-grpc"),
            handlers=[self._generic_handler()],
        )
        self._port = server.add_insecure_port(f"{LOCALHOST}:{port}")
        server.start()
        self._server = server
        log.info("Secret Manager stand-in listening on %s", self.address)
        return self._port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self._port}"

    def reset(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._refresh_mounts_locked()

    def mount(self, secret_name: str, path: Path) -> None:
        """Keep `path` showing the secret's `latest` version, as a Cloud Run secret volume
        does (every read there fetches it): rewritten after each change, and absent while the
        newest version is disabled, destroyed or missing (a read there fails)."""
        with self._lock:
            self._mounts[secret_name] = path
            self._refresh_mounts_locked()

    def unmount_all(self) -> None:
        with self._lock:
            for path in self._mounts.values():
                path.unlink(missing_ok=True)
            self._mounts.clear()

    def _refresh_mounts_locked(self) -> None:
        for name, path in self._mounts.items():
            secret = self._secrets.get(name)
            latest = secret.versions[-1] if secret is not None and secret.versions else None
            if latest is None or latest.state != State.ENABLED or latest.data is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(path.name + ".new")
            staged.write_bytes(latest.data)
            staged.chmod(0o600)
            os.replace(staged, path)  # a reader sees the old value or the new, never half

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A deep copy of the state for assertions:
        `{secret_name: {"labels": {...}, "versions": {n: {"state": "ENABLED", "data": b"..."}}}}`
        (`data` is None once destroyed)."""
        with self._lock:
            return {
                name: {
                    "labels": dict(secret.proto.labels),
                    "versions": {
                        v.number: {"state": State(v.state).name, "data": v.data}
                        for v in secret.versions
                    },
                }
                for name, secret in self._secrets.items()
            }

    # ---- secrets ---------------------------------------------------------------------------

    def create_secret(self, request: sm.CreateSecretRequest) -> sm.Secret:
        if not _PARENT.match(request.parent):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad parent {request.parent!r}")
        if not _SECRET_ID.match(request.secret_id):
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT, f"bad secret_id {request.secret_id!r}"
            )
        regional = "/locations/" in request.parent
        has_replication = "replication" in request.secret
        if not regional and not has_replication:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Secret.replication is required")
        if regional and has_replication:
            raise RpcFailure(
                grpc.StatusCode.INVALID_ARGUMENT, "a regional secret takes no replication"
            )
        name = f"{request.parent}/secrets/{request.secret_id}"
        proto = sm.Secret(request.secret)
        proto.name = name
        proto.create_time = _now()
        proto.etag = _etag()
        with self._lock:
            if name in self._secrets:
                raise RpcFailure(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
            self._secrets[name] = _Secret(proto=proto)
            return sm.Secret(proto)

    def get_secret(self, request: sm.GetSecretRequest) -> sm.Secret:
        with self._lock:
            return sm.Secret(self._secret_or_404(request.name).proto)

    def list_secrets(self, request: sm.ListSecretsRequest) -> sm.ListSecretsResponse:
        prefix = request.parent + "/secrets/"
        terms = _filter_terms(request.filter)
        if any(key != "name" for key, _ in terms):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "secrets filter only by name")
        with self._lock:
            found = [
                sm.Secret(s.proto)
                for name, s in self._secrets.items()
                if name.startswith(prefix)
                and "/" not in name[len(prefix) :]
                and all(value in name for _, value in terms)
            ]
        page, token = paginate(found, request.page_size, request.page_token, 25000)
        return sm.ListSecretsResponse(secrets=page, next_page_token=token, total_size=len(found))

    def delete_secret(self, request: sm.DeleteSecretRequest) -> empty_pb2.Empty:
        with self._lock:
            secret = self._secret_or_404(request.name)
            self._check_etag(request.etag, secret.proto.etag, request.name)
            del self._secrets[request.name]
            self._refresh_mounts_locked()
        return empty_pb2.Empty()

    # ---- versions --------------------------------------------------------------------------

    def add_secret_version(self, request: sm.AddSecretVersionRequest) -> sm.SecretVersion:
        data = bytes(request.payload.data)
        if len(data) > MAX_PAYLOAD_BYTES:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "payload exceeds 64 KiB")
        checksum = "data_crc32c" in request.payload
        if checksum and request.payload.data_crc32c != crc32c(data):
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "Checksum mismatch: data_crc32c")
        with self._lock:
            secret = self._secret_or_404(request.parent)
            number = len(secret.versions) + 1
            version = _Version(
                number=number, create_time=_now(), data=data, client_checksum=checksum
            )
            secret.versions.append(version)
            self._refresh_mounts_locked()
            return self._version_proto(secret, version)

    def get_secret_version(self, request: sm.GetSecretVersionRequest) -> sm.SecretVersion:
        with self._lock:
            secret, version = self._version_or_404(request.name)
            return self._version_proto(secret, version)

    def list_secret_versions(
        self, request: sm.ListSecretVersionsRequest
    ) -> sm.ListSecretVersionsResponse:
        """Newest first, as the real service lists them."""
        terms = _filter_terms(request.filter)
        with self._lock:
            secret = self._secret_or_404(request.parent)
            found = [
                self._version_proto(secret, v)
                for v in reversed(secret.versions)
                if all(
                    (key == "state" and State(v.state).name == value.upper())
                    or (key == "name" and value in f"{secret.proto.name}/versions/{v.number}")
                    for key, value in terms
                )
            ]
        page, token = paginate(found, request.page_size, request.page_token, 25000)
        return sm.ListSecretVersionsResponse(
            versions=page, next_page_token=token, total_size=len(found)
        )

    def access_secret_version(
        self, request: sm.AccessSecretVersionRequest
    ) -> sm.AccessSecretVersionResponse:
        with self._lock:
            secret, version = self._version_or_404(request.name)
            name = f"{secret.proto.name}/versions/{version.number}"
            if version.state != State.ENABLED or version.data is None:
                raise RpcFailure(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret Version [{name}] is in {State(version.state).name} state.",
                )
            data = version.data
        return sm.AccessSecretVersionResponse(
            name=name, payload=sm.SecretPayload(data=data, data_crc32c=crc32c(data))
        )

    def disable_secret_version(self, request: sm.DisableSecretVersionRequest) -> sm.SecretVersion:
        return self._change_state(request.name, request.etag, State.DISABLED)

    def enable_secret_version(self, request: sm.EnableSecretVersionRequest) -> sm.SecretVersion:
        return self._change_state(request.name, request.etag, State.ENABLED)

    def destroy_secret_version(self, request: sm.DestroySecretVersionRequest) -> sm.SecretVersion:
        return self._change_state(request.name, request.etag, State.DESTROYED)

    # ---- helpers ---------------------------------------------------------------------------

    def _change_state(self, name: str, etag: str, state: State) -> sm.SecretVersion:
        with self._lock:
            secret, version = self._version_or_404(name)
            self._check_etag(etag, version.etag, name)
            if version.state == State.DESTROYED:
                raise RpcFailure(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Secret Version [{secret.proto.name}/versions/{version.number}]"
                    " is in DESTROYED state.",
                )
            version.state = state
            version.etag = _etag()
            if state == State.DESTROYED:
                version.data = None
                version.destroy_time = _now()
            self._refresh_mounts_locked()
            return self._version_proto(secret, version)

    @staticmethod
    def _check_etag(given: str, current: str, name: str) -> None:
        if given and given != current:
            raise RpcFailure(grpc.StatusCode.ABORTED, f"etag mismatch for [{name}]")

    def _secret_or_404(self, name: str) -> _Secret:
        secret = self._secrets.get(name)
        if secret is None:
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found.")
        return secret

    def _version_or_404(self, name: str) -> tuple[_Secret, _Version]:
        """Resolve `.../versions/N`, `latest` (the newest version, whatever its state) or a
        version alias."""
        secret_name, sep, version_id = name.rpartition("/versions/")
        if not sep:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"bad version name {name!r}")
        secret = self._secret_or_404(secret_name)
        number: int | None = None
        if version_id == "latest":
            number = len(secret.versions) or None
        elif version_id.isdigit():
            number = int(version_id)
        elif version_id in secret.proto.version_aliases:
            number = int(secret.proto.version_aliases[version_id])
        if number is None or not 1 <= number <= len(secret.versions):
            raise RpcFailure(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")
        return secret, secret.versions[number - 1]

    @staticmethod
    def _version_proto(secret: _Secret, version: _Version) -> sm.SecretVersion:
        proto = sm.SecretVersion(
            name=f"{secret.proto.name}/versions/{version.number}",
            create_time=version.create_time,
            state=version.state,
            etag=version.etag,
            client_specified_payload_checksum=version.client_checksum,
        )
        if "replication" in secret.proto:
            if "automatic" in secret.proto.replication:
                proto.replication_status = sm.ReplicationStatus(
                    automatic=sm.ReplicationStatus.AutomaticStatus()
                )
            else:
                proto.replication_status = sm.ReplicationStatus(
                    user_managed=sm.ReplicationStatus.UserManagedStatus(
                        replicas=[
                            sm.ReplicationStatus.UserManagedStatus.ReplicaStatus(
                                location=r.location
                            )
                            for r in secret.proto.replication.user_managed.replicas
                        ]
                    )
                )
        if version.destroy_time is not None:
            proto.destroy_time = version.destroy_time
        return proto

    # ---- gRPC wiring -----------------------------------------------------------------------

    def _generic_handler(self) -> grpc.GenericRpcHandler:
        empty = empty_pb2.Empty.SerializeToString
        version = sm.SecretVersion.serialize
        methods: dict[str, grpc.RpcMethodHandler] = {
            "CreateSecret": unary(self.create_secret, sm.CreateSecretRequest, sm.Secret.serialize),
            "GetSecret": unary(self.get_secret, sm.GetSecretRequest, sm.Secret.serialize),
            "ListSecrets": unary(
                self.list_secrets, sm.ListSecretsRequest, sm.ListSecretsResponse.serialize
            ),
            "DeleteSecret": unary(self.delete_secret, sm.DeleteSecretRequest, empty),
            "AddSecretVersion": unary(self.add_secret_version, sm.AddSecretVersionRequest, version),
            "GetSecretVersion": unary(self.get_secret_version, sm.GetSecretVersionRequest, version),
            "ListSecretVersions": unary(
                self.list_secret_versions,
                sm.ListSecretVersionsRequest,
                sm.ListSecretVersionsResponse.serialize,
            ),
            "AccessSecretVersion": unary(
                self.access_secret_version,
                sm.AccessSecretVersionRequest,
                sm.AccessSecretVersionResponse.serialize,
            ),
            "DisableSecretVersion": unary(
                self.disable_secret_version, sm.DisableSecretVersionRequest, version
            ),
            "EnableSecretVersion": unary(
                self.enable_secret_version, sm.EnableSecretVersionRequest, version
            ),
            "DestroySecretVersion": unary(
                self.destroy_secret_version, sm.DestroySecretVersionRequest, version
            ),
        }
        return grpc.method_handlers_generic_handler(SERVICE, methods)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Secret Manager v1 gRPC server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = SecretManagerServer()
    server.start(args.port)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
