"""The local Secret Manager server, driven by the official client over gRPC."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import secretmanager_v1 as sm
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from devstack.secrets_server import SecretManagerServer, crc32c

pytestmark = pytest.mark.stack

PROJECT = "projects/demo-test"
ENABLED = sm.SecretVersion.State.ENABLED
DISABLED = sm.SecretVersion.State.DISABLED
DESTROYED = sm.SecretVersion.State.DESTROYED


@pytest.fixture(scope="module")
def server() -> Iterator[SecretManagerServer]:
    secrets = SecretManagerServer()
    secrets.start()
    yield secrets
    secrets.stop()


@pytest.fixture(scope="module")
def client(server: SecretManagerServer) -> sm.SecretManagerServiceClient:
    channel = grpc.insecure_channel(server.address)
    return sm.SecretManagerServiceClient(
        transport=SecretManagerServiceGrpcTransport(channel=channel)
    )


@pytest.fixture(autouse=True)
def _clean(server: SecretManagerServer) -> None:
    server.reset()


def create(client: sm.SecretManagerServiceClient, secret_id: str) -> sm.Secret:
    return client.create_secret(
        parent=PROJECT,
        secret_id=secret_id,
        secret=sm.Secret(
            replication=sm.Replication(automatic=sm.Replication.Automatic()),
            labels={"owner": "devstack"},
        ),
    )


def add(client: sm.SecretManagerServiceClient, secret: str, data: bytes) -> sm.SecretVersion:
    return client.add_secret_version(parent=secret, payload=sm.SecretPayload(data=data))


def access(client: sm.SecretManagerServiceClient, name: str) -> sm.AccessSecretVersionResponse:
    return client.access_secret_version(name=name)


def test_create_add_and_access_latest_and_numbered_versions(
    client: sm.SecretManagerServiceClient, server: SecretManagerServer
) -> None:
    secret = create(client, "hubspot-token")
    assert secret.name == f"{PROJECT}/secrets/hubspot-token"
    assert secret.create_time is not None
    assert secret.labels["owner"] == "devstack"
    assert client.get_secret(name=secret.name).name == secret.name

    first = add(client, secret.name, b"token-1")
    second = add(client, secret.name, b"token-2")
    assert (first.name, second.name) == (f"{secret.name}/versions/1", f"{secret.name}/versions/2")
    assert first.state == ENABLED
    assert second.client_specified_payload_checksum is False

    latest = access(client, f"{secret.name}/versions/latest")
    assert latest.name == second.name
    assert latest.payload.data == b"token-2"
    assert latest.payload.data_crc32c == crc32c(b"token-2")
    assert access(client, first.name).payload.data == b"token-1"
    assert client.get_secret_version(name=f"{secret.name}/versions/latest").name == second.name

    versions = list(client.list_secret_versions(parent=secret.name))
    assert [v.name for v in versions] == [second.name, first.name]
    assert server.snapshot()[secret.name]["versions"] == {
        1: {"state": "ENABLED", "data": b"token-1"},
        2: {"state": "ENABLED", "data": b"token-2"},
    }


def test_disabled_version_cannot_be_accessed_until_enabled(
    client: sm.SecretManagerServiceClient,
) -> None:
    secret = create(client, "gmail-refresh")
    old = add(client, secret.name, b"old")
    new = add(client, secret.name, b"new")

    disabled = client.disable_secret_version(name=new.name)
    assert disabled.state == DISABLED
    with pytest.raises(exceptions.FailedPrecondition, match="DISABLED"):
        access(client, new.name)
    # `latest` names the newest version whatever its state, as in production.
    with pytest.raises(exceptions.FailedPrecondition):
        access(client, f"{secret.name}/versions/latest")
    assert access(client, old.name).payload.data == b"old"
    enabled_only = client.list_secret_versions(
        request={"parent": secret.name, "filter": "state:ENABLED"}
    )
    assert [v.name for v in enabled_only] == [old.name]

    assert client.enable_secret_version(name=new.name).state == ENABLED
    assert access(client, f"{secret.name}/versions/latest").payload.data == b"new"


def test_destroy_wipes_the_payload_for_good(
    client: sm.SecretManagerServiceClient, server: SecretManagerServer
) -> None:
    secret = create(client, "openai-key")
    version = add(client, secret.name, b"sk-local")

    destroyed = client.destroy_secret_version(name=version.name)
    assert destroyed.state == DESTROYED
    assert destroyed.destroy_time is not None
    assert server.snapshot()[secret.name]["versions"][1] == {"state": "DESTROYED", "data": None}
    with pytest.raises(exceptions.FailedPrecondition, match="DESTROYED"):
        access(client, version.name)
    with pytest.raises(exceptions.FailedPrecondition):
        client.enable_secret_version(name=version.name)
    with pytest.raises(exceptions.FailedPrecondition):
        client.disable_secret_version(name=version.name)


def test_already_exists_and_not_found(client: sm.SecretManagerServiceClient) -> None:
    secret = create(client, "dup")
    with pytest.raises(exceptions.AlreadyExists) as refused:
        create(client, "dup")
    assert isinstance(refused.value, exceptions.Conflict)

    missing = f"{PROJECT}/secrets/missing"
    with pytest.raises(exceptions.NotFound):
        client.get_secret(name=missing)
    with pytest.raises(exceptions.NotFound):
        access(client, f"{missing}/versions/latest")
    with pytest.raises(exceptions.NotFound):
        add(client, missing, b"x")
    with pytest.raises(exceptions.NotFound):
        access(client, f"{secret.name}/versions/latest")
    with pytest.raises(exceptions.NotFound):
        access(client, f"{secret.name}/versions/7")
    with pytest.raises(exceptions.NotFound):
        client.delete_secret(name=missing)


def test_list_and_delete_secrets(client: sm.SecretManagerServiceClient) -> None:
    names = [create(client, f"s{i}").name for i in range(3)]
    listed = client.list_secrets(request={"parent": PROJECT, "page_size": 2})
    assert [s.name for s in listed] == names

    client.delete_secret(name=names[1])
    assert [s.name for s in client.list_secrets(parent=PROJECT)] == [names[0], names[2]]
    with pytest.raises(exceptions.NotFound):
        list(client.list_secret_versions(parent=names[1]))


def test_checksums_and_etags_are_enforced(client: sm.SecretManagerServiceClient) -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    secret = create(client, "checked")
    good = client.add_secret_version(
        parent=secret.name, payload=sm.SecretPayload(data=b"abc", data_crc32c=crc32c(b"abc"))
    )
    assert good.client_specified_payload_checksum is True
    with pytest.raises(exceptions.InvalidArgument):
        client.add_secret_version(
            parent=secret.name, payload=sm.SecretPayload(data=b"abc", data_crc32c=1)
        )

    with pytest.raises(exceptions.Aborted):
        client.disable_secret_version(request={"name": good.name, "etag": '"stale"'})
    fresh = client.disable_secret_version(request={"name": good.name, "etag": good.etag})
    assert fresh.state == DISABLED

    with pytest.raises(exceptions.InvalidArgument):
        client.create_secret(parent=PROJECT, secret_id="no-replication", secret=sm.Secret())


def test_a_mounted_secret_file_shows_the_latest_version_as_cloud_run_does(
    server: SecretManagerServer, client: sm.SecretManagerServiceClient, tmp_path
) -> None:
    path = tmp_path / "volume" / "client-secret"
    name = f"{PROJECT}/secrets/mounted"
    server.mount(name, path)
    assert not path.exists()  # no such secret yet: a read fails

    secret = create(client, "mounted")
    assert not path.exists()  # no version yet
    first = add(client, secret.name, b"first")
    assert path.read_bytes() == b"first"
    second = add(client, secret.name, b"second")
    assert path.read_bytes() == b"second"  # latest, without a restart
    client.disable_secret_version(name=second.name)
    assert not path.exists()  # latest is disabled: Cloud Run's read fails too
    client.enable_secret_version(name=second.name)
    assert path.read_bytes() == b"second"
    client.destroy_secret_version(name=first.name)
    assert path.read_bytes() == b"second"  # an older version's fate changes nothing
    client.delete_secret(name=name)
    assert not path.exists()
    add(client, create(client, "mounted").name, b"again")
    server.reset()
    assert not path.exists()
    server.unmount_all()
