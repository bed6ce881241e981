"""FreshClient: a refused grant is read afresh once, for calls and for page generators."""

from __future__ import annotations

import pytest

from shared.errors import AuthorizationRefused
from shared.services.mailboxes import FreshClient


class Account:
    """Stands for a client built from whatever token the secret holds right now."""

    def __init__(self, token: str, valid: str) -> None:
        self.token, self.valid = token, valid

    def profile(self) -> str:
        if self.token != self.valid:
            raise AuthorizationRefused("refused")
        return "ok"

    def pages(self):
        if self.token != self.valid:
            raise AuthorizationRefused("refused")
        yield from ("page 1", "page 2")


def make_fresh(tokens: list[str], valid: str = "new"):
    forgotten: list[bool] = []

    def make() -> Account:
        return Account(tokens[len(forgotten)], valid)

    return FreshClient(make, lambda: forgotten.append(True)), forgotten


def test_a_reconnected_grant_is_read_again_once():
    client, forgotten = make_fresh(["old", "new"])

    assert client.profile() == "ok"
    assert forgotten == [True]
    assert client.profile() == "ok"
    assert forgotten == [True]


def test_generators_are_retried_before_their_first_page():
    client, forgotten = make_fresh(["old", "new"])

    assert list(client.pages()) == ["page 1", "page 2"]
    assert forgotten == [True]


def test_a_grant_refused_twice_is_refused():
    client, _ = make_fresh(["old", "older"])

    with pytest.raises(AuthorizationRefused):
        client.profile()
