"""Our Gmail adapter against the Gmail fake, through google-api-python-client and google-auth."""

import pytest

from devstack.fakes import make_message
from shared.adapters.gmail import GmailMailbox
from shared.errors import NotFound, PermanentExternalError
from tests.google_support import fake_credentials

pytestmark = pytest.mark.stack
REP = "maya@brightline.example"


def _mailbox(local, sleeps: list[float]) -> GmailMailbox:
    credentials = fake_credentials(local, REP)
    return GmailMailbox(credentials, endpoint=local.fake_url("gmail"), sleep=sleeps.append)


def test_a_429_is_retried_after_the_time_gmail_asked_for(local):
    gmail = local.fakes["gmail"][0]
    gmail.mailbox(REP)
    sleeps: list[float] = []
    mailbox = _mailbox(local, sleeps)
    gmail.inject_fault(429, count=2, retry_after=3, path_prefix="/gmail/v1/users/me/profile")
    profile = mailbox.profile()
    assert profile["emailAddress"] == REP
    assert sleeps == [3.0, 3.0]
    assert len(gmail.requests_to("/gmail/v1/users/me/profile")) == 3


def test_5xx_is_retried_with_backoff(local):
    gmail = local.fakes["gmail"][0]
    gmail.mailbox(REP)
    sleeps: list[float] = []
    mailbox = _mailbox(local, sleeps)
    gmail.inject_fault(503, count=1, path_prefix="/gmail/v1/users/me/profile")
    assert mailbox.profile()["emailAddress"] == REP
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= 30


def test_insufficient_permission_is_permanent_and_not_retried(local):
    gmail = local.fakes["gmail"][0]
    gmail.mailbox(REP)
    sleeps: list[float] = []
    mailbox = _mailbox(local, sleeps)
    body = {
        "error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "status": "PERMISSION_DENIED",
            "errors": [{"reason": "insufficientPermissions", "domain": "global"}],
        }
    }
    gmail.inject_fault(403, count=1, body=body, path_prefix="/gmail/v1/users/me/profile")
    with pytest.raises(PermanentExternalError) as raised:
        mailbox.profile()
    assert raised.value.detail == "insufficientPermissions"
    assert sleeps == []


def test_sent_message_is_found_by_its_message_id(local):
    sleeps: list[float] = []
    mailbox = _mailbox(local, sleeps)
    message = make_message(REP, "dana@northwind.example", "Hello", "Body text")
    message_id = message["Message-ID"]
    mailbox.send_raw(bytes(message))
    assert mailbox.find_by_rfc822_id(message_id) is not None
    assert mailbox.find_by_rfc822_id("<nothing@here>") is None


def test_history_too_old_is_not_found(local):
    gmail = local.fakes["gmail"][0]
    gmail.deliver(REP, make_message("dana@northwind.example", REP, "Hi", "One"))
    gmail.deliver(REP, make_message("dana@northwind.example", REP, "Hi", "Two"))
    gmail.expire_history(REP, gmail.history_id(REP))
    with pytest.raises(NotFound):
        list(_mailbox(local, []).history_pages("1"))
