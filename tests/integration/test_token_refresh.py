"""A token endpoint that fails for a while is an outage, never a revocation."""

from __future__ import annotations

import pytest

from shared.adapters.gmail import GmailMailbox
from shared.errors import AuthorizationRefused, TransientError
from tests.google_support import fake_credentials

pytestmark = pytest.mark.stack
REP = "maya@brightline.example"


def _mailbox(local) -> GmailMailbox:
    local.fakes["gmail"][0].mailbox(REP)
    return GmailMailbox(
        fake_credentials(local, REP),
        endpoint=local.fake_url("gmail"),
        attempts=3,
        sleep=lambda _: None,
    )


def test_a_token_endpoint_outage_is_transient_and_passes(local):
    oauth = local.fakes["oauth"][0]
    oauth.inject_fault(503, count=1, path_prefix="/token")

    assert _mailbox(local).profile()["emailAddress"] == REP  # retried, then refreshed


def test_a_long_token_endpoint_outage_is_never_read_as_a_revocation(local):
    oauth = local.fakes["oauth"][0]
    oauth.inject_fault(503, count=100, path_prefix="/token")

    with pytest.raises(TransientError) as caught:
        _mailbox(local).profile()

    assert not isinstance(caught.value, AuthorizationRefused)


def test_a_revoked_grant_is_a_revocation(local):
    gmail = _mailbox(local)
    local.fakes["oauth"][0].accounts.revoke_all(REP)

    with pytest.raises(AuthorizationRefused):
        gmail.profile()
