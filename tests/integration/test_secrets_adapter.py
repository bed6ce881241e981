"""Our SecretStore adapter against the devstack Secret Manager server."""

import grpc
import pytest
from google.cloud import secretmanager_v1
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)

from shared.adapters.secrets import SecretStore
from shared.errors import NotFound

pytestmark = pytest.mark.stack


def _raw_client(local) -> secretmanager_v1.SecretManagerServiceClient:
    channel = grpc.insecure_channel(local.secrets.address)
    return secretmanager_v1.SecretManagerServiceClient(
        transport=SecretManagerServiceGrpcTransport(channel=channel)
    )


def _versions(local, secret_id: str) -> list:
    parent = f"projects/{local.project}/secrets/{secret_id}"
    return sorted(_raw_client(local).list_secret_versions(parent=parent), key=lambda v: v.name)


def test_write_then_read_back(local):
    store = SecretStore(local.project, local.secrets.address)
    assert store.write("gmail-refresh-rep", "token-1") is True
    assert SecretStore(local.project, local.secrets.address).read("gmail-refresh-rep") == "token-1"


def test_same_value_adds_no_version_and_a_new_one_disables_the_old(local):
    store = SecretStore(local.project, local.secrets.address)
    store.write("hubspot-token", "a")
    assert store.write("hubspot-token", "a") is False
    assert len(_versions(local, "hubspot-token")) == 1
    assert store.write("hubspot-token", "b") is True
    states = [v.state for v in _versions(local, "hubspot-token")]
    enabled = secretmanager_v1.SecretVersion.State.ENABLED
    disabled = secretmanager_v1.SecretVersion.State.DISABLED
    assert states == [disabled, enabled]
    assert SecretStore(local.project, local.secrets.address).read("hubspot-token") == "b"


def test_reads_are_cached_per_instance(local):
    writer = SecretStore(local.project, local.secrets.address)
    writer.write("openai-key", "old")
    reader = SecretStore(local.project, local.secrets.address, cache_seconds=60)
    assert reader.read("openai-key") == "old"
    writer.write("openai-key", "new")
    assert reader.read("openai-key") == "old"
    reader.forget("openai-key")
    assert reader.read("openai-key") == "new"


def test_missing_and_destroyed_secrets_are_not_found(local):
    store = SecretStore(local.project, local.secrets.address, cache_seconds=0)
    with pytest.raises(NotFound):
        store.read("never-written")
    store.write("to-destroy", "x")
    assert store.destroy("to-destroy") == 1
    with pytest.raises(NotFound):
        store.read("to-destroy")


def test_when_secret_manager_is_down_the_last_read_serves_and_a_first_read_fails_clearly():
    from devstack.secrets_server import SecretManagerServer
    from shared.errors import TransientError

    server = SecretManagerServer()
    port = server.start()
    address = f"127.0.0.1:{port}"
    now = [0.0]
    store = SecretStore("demo-down", address, cache_seconds=60, clock=lambda: now[0])
    store.unavailable_timeout = 1.0
    store.write("gmail-refresh-rep", "token-1")
    assert store.read("gmail-refresh-rep") == "token-1"
    server.stop()
    now[0] = 3600.0  # long past the cache's lifetime

    assert store.read("gmail-refresh-rep") == "token-1"  # served, not a silent skip
    fresh = SecretStore("demo-down", address, cache_seconds=60)
    fresh.unavailable_timeout = 1.0
    with pytest.raises(TransientError) as caught:
        fresh.read("gmail-refresh-rep")  # nothing to fall back on: 503, retried later
    assert "token-1" not in str(caught.value)


def test_a_mounted_secret_is_read_from_its_file_and_kept_until_forgotten(local):
    from shared.adapters.secrets import MountedSecret

    SecretStore(local.project, local.secrets.address).write("hubspot-client-secret", "one")
    now = [100.0]
    mounted = MountedSecret(str(local.hubspot_secret_file), cache_seconds=60, clock=lambda: now[0])
    assert mounted.read() == "one"
    SecretStore(local.project, local.secrets.address).write("hubspot-client-secret", "two")
    assert mounted.read() == "one"  # cached, like a SecretStore read
    now[0] += 61
    assert mounted.read() == "two"  # the volume shows the new latest version
    SecretStore(local.project, local.secrets.address).write("hubspot-client-secret", "three")
    mounted.forget()  # (the webhook forgets it when a signature does not match)
    assert mounted.read() == "three"


def test_a_missing_or_empty_mounted_secret_reads_as_none(local, tmp_path):
    from shared.adapters.secrets import MountedSecret

    assert MountedSecret(str(tmp_path / "absent")).read() is None
    (tmp_path / "empty").write_text("")
    assert MountedSecret(str(tmp_path / "empty")).read() is None
