"""Adapters a function instance reuses across requests, each built on first use."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.adapters.identity import OidcVerifier
    from shared.adapters.secrets import SecretStore
    from shared.adapters.store import Store
    from shared.adapters.tasks import TaskQueue
    from shared.config import Settings


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def store(self) -> Store:
        from shared.adapters.store import Store

        return Store.from_settings(self.settings)

    @cached_property
    def tasks(self) -> TaskQueue:
        from shared.adapters.tasks import TaskQueue

        return TaskQueue.from_settings(self.settings)

    @cached_property
    def secrets(self) -> SecretStore:
        from shared.adapters.secrets import SecretStore

        return SecretStore.from_settings(self.settings)

    @cached_property
    def verifier(self) -> OidcVerifier:
        from shared.adapters.identity import OidcVerifier

        return OidcVerifier(self.settings.oidc_certs_url, self.settings.oidc_issuers)
