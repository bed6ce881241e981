"""Our own Message-IDs: stable per workflow version, valid on the wire, recognised back."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.outbound import is_our_message_id, make_message_id

SHAPE = re.compile(r"^<salesagent\.([a-z0-9-]+)\.([0-9]+)\.([0-9a-f]{12})@([^<>\s@]+)>$")


def header_defects(message_id: str) -> tuple[object, ...]:
    """Defects the stdlib's Message-ID parser finds; a value it cannot keep whole is one too."""
    header = default.header_factory("Message-ID", message_id)
    lost = () if str(header) == message_id else (f"parsed as {str(header)!r}",)
    return (*header.defects, *lost)


# --------------------------------------------------------------------------------------------
# make_message_id


def test_make_message_id_shape() -> None:
    message_id = make_message_id("wf-1", 3, "ourco.com")
    match = SHAPE.match(message_id)
    assert match is not None, message_id
    assert match.group(1) == "wf-1"
    assert match.group(2) == "3"
    assert match.group(4) == "ourco.com"


def test_make_message_id_is_stable() -> None:
    first = make_message_id("wf-1", 3, "ourco.com", salt="s")
    assert make_message_id("wf-1", 3, "ourco.com", salt="s") == first
    assert make_message_id("wf-1", 3, "ourco.com", "s") == first


def test_make_message_id_known_value() -> None:
    # Pinned: a change here re-identifies every draft already in a mailbox.
    assert make_message_id("wf-1", 3, "OurCo.com") == "<salesagent.wf-1.3.b96c18012c34@ourco.com>"


def test_make_message_id_differs_by_version() -> None:
    ids = {make_message_id("wf-1", version, "ourco.com") for version in range(50)}
    assert len(ids) == 50


def test_make_message_id_differs_by_workflow() -> None:
    assert make_message_id("wf-1", 1, "ourco.com") != make_message_id("wf-2", 1, "ourco.com")


def test_make_message_id_differs_by_salt() -> None:
    unsalted = make_message_id("wf-1", 1, "ourco.com")
    assert make_message_id("wf-1", 1, "ourco.com", salt="") == unsalted
    salted = {make_message_id("wf-1", 1, "ourco.com", salt=s) for s in ("a", "b", "retry-2")}
    assert len(salted) == 3
    assert unsalted not in salted


def test_make_message_id_distinct_when_slugs_collide() -> None:
    workflows = ["WF 1", "wf-1", "wf_1", "Wf.1", "-wf-1-", "wf/1"]
    ids = [make_message_id(w, 1, "ourco.com") for w in workflows]
    slugs = {SHAPE.match(i).group(1) for i in ids}  # type: ignore[union-attr]
    assert slugs == {"wf-1"}
    assert len(set(ids)) == len(workflows)


def test_make_message_id_does_not_confuse_fields() -> None:
    # "a|1" with version 2 must not hash like "a" with version "1|2".
    assert make_message_id("a", 12, "x.com") != make_message_id("a", 1, "x.com", salt="2")


@pytest.mark.parametrize(
    ("workflow_id", "slug"),
    [
        ("Deal/Q3 Renewal!", "deal-q3-renewal"),
        ("  spaced  out ", "spaced-out"),
        ("ÉLAN-42", "lan-42"),
        ("???", "wf"),
        ("", "wf"),
        ("---", "wf"),
        ("abc123", "abc123"),
    ],
)
def test_make_message_id_workflow_slug(workflow_id: str, slug: str) -> None:
    match = SHAPE.match(make_message_id(workflow_id, 1, "ourco.com"))
    assert match is not None
    assert match.group(1) == slug


def test_make_message_id_domain_stripped_and_lower_cased() -> None:
    assert make_message_id("wf", 1, "  Mail.OurCo.COM \n").endswith("@mail.ourco.com>")
    assert make_message_id("wf", 1, "Mail.OurCo.COM") == make_message_id("wf", 1, "mail.ourco.com")


def test_make_message_id_version_in_the_id() -> None:
    assert make_message_id("wf", 7, "ourco.com").startswith("<salesagent.wf.7.")
    assert make_message_id("wf", 1234567, "ourco.com").startswith("<salesagent.wf.1234567.")


@pytest.mark.parametrize(
    ("workflow_id", "version", "salt"),
    [("wf-1", 0, ""), ("Deal/Q3 Renewal!", 12, "retry"), ("", 99999, "x" * 500), ("ÉLAN", 1, "é")],
)
def test_make_message_id_is_recognised(workflow_id: str, version: int, salt: str) -> None:
    message_id = make_message_id(workflow_id, version, "ourco.com", salt)
    assert is_our_message_id(message_id) is True


@pytest.mark.parametrize("domain", ["ourco.com", "mail.ourco.io", "x.co.uk", "a-b.example"])
@pytest.mark.parametrize("workflow_id", ["wf-1", "Deal/Q3 Renewal!", "", "ÉLAN-42", "a" * 200])
def test_make_message_id_is_a_valid_message_id_header(workflow_id: str, domain: str) -> None:
    message_id = make_message_id(workflow_id, 5, domain, salt="s")
    assert header_defects(message_id) == ()


def test_make_message_id_survives_a_mail_round_trip() -> None:
    message_id = make_message_id("wf-9", 2, "ourco.com")
    mail = EmailMessage()
    mail["From"] = "dana@ourco.com"
    mail["To"] = "lee@client.com"
    mail["Subject"] = "Following up"
    mail["Message-ID"] = message_id
    mail.set_content("Hello")
    parsed = message_from_bytes(mail.as_bytes(), policy=default)
    assert parsed["Message-ID"] == message_id
    assert parsed["Message-ID"].defects == ()
    assert is_our_message_id(parsed["Message-ID"]) is True


def test_header_defect_check_can_fail() -> None:
    # The helper above really detects malformed ids.
    assert header_defects("<no-right-part>") != ()
    assert header_defects("<a b@x.com>") != ()


DOMAINS = st.sampled_from(["ourco.com", "mail.ourco.io", "x.co.uk", "OurCo.Com"])


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=60), st.integers(min_value=0, max_value=10**9), st.text(max_size=20), DOMAINS
)
def test_make_message_id_properties(workflow_id: str, version: int, salt: str, domain: str) -> None:
    message_id = make_message_id(workflow_id, version, domain, salt)
    assert SHAPE.match(message_id), message_id
    assert is_our_message_id(message_id) is True
    assert header_defects(message_id) == ()
    assert make_message_id(workflow_id, version, domain, salt) == message_id
    assert make_message_id(workflow_id, version + 1, domain, salt) != message_id


# --------------------------------------------------------------------------------------------
# is_our_message_id


@pytest.mark.parametrize(
    "message_id",
    [
        "<salesagent.wf-1.3.0123456789ab@ourco.com>",
        "salesagent.wf-1.3.0123456789ab@ourco.com",
        "  <salesagent.wf-1.3.0123456789ab@ourco.com>\r\n",
        "<SALESAGENT.WF-1.3.0123456789AB@OURCO.COM>",
        "<salesagent.wf.0.abcdefabcdef@x>",
    ],
)
def test_is_our_message_id_accepts(message_id: str) -> None:
    assert is_our_message_id(message_id) is True


@pytest.mark.parametrize(
    "message_id",
    [
        None,
        "",
        "   ",
        "<CAFakeA1b2C3d4E5f6G7h8=xyz+Q@mail.gmail.com>",
        "<CABx7=salesagent.wf.1.0123456789ab@mail.gmail.com>",
        "<salesagent@x.com>",
        "<salesagent.@x.com>",
        "<salesagentX.wf.1.0123456789ab@x>",
        "<salesagent-wf.1.0123456789ab@x>",
        "<xsalesagent.wf.1.0123456789ab@x>",
        "<re.salesagent.wf.1.0123456789ab@x>",
        "<salesagent.wf 1.1.0123456789ab@x.com>",
        "<salesagent.wf.1.0123456789ab@x .com>",
        "<salesagent.wf.1.0123456789ab @x.com>",
        "<salesagent. wf.1.0123456789ab@x.com>",
        "<salesagent.wf.1.0123456789a@x.com>",  # 11 hex digits
        "<salesagent.wf.1.0123456789abc@x.com>",  # 13 hex digits
        "<salesagent.wf.1.0123456789ag@x.com>",  # not hex
        "<salesagent.wf.v1.0123456789ab@x.com>",
        "<salesagent.wf..0123456789ab@x.com>",
        "<salesagent.wf.-1.0123456789ab@x.com>",
        "<salesagent.wf_1.1.0123456789ab@x.com>",
        "<salesagent..1.0123456789ab@x.com>",
        "<salesagent.wf.1.0123456789ab@>",
        "<salesagent.wf.1.0123456789ab>",
        "<salesagent.wf.1.0123456789ab@x@y.com>",
        "<salesagent.wf.1.0123456789ab@x.com> <other@y.com>",
        "<other@y.com> <salesagent.wf.1.0123456789ab@x.com>",
        "<salesagent.wf.1.0123456789ab@x.com><salesagent.wf.1.0123456789ab@x.com>",
        "<<salesagent.wf.1.0123456789ab@x.com>>",
        "<salesagent.wf.1.0123456789ab@x.com>\nX-Injected: 1",
        "<salesagent.wf.1.0123456789ab@x.com\n>",
    ],
)
def test_is_our_message_id_rejects(message_id: str | None) -> None:
    assert is_our_message_id(message_id) is False


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_is_our_message_id_rejects_text_without_our_prefix(text: str) -> None:
    if "salesagent." not in text.casefold():
        assert is_our_message_id(text) is False


@pytest.mark.parametrize(
    "message_id",
    [
        "<\u017falesagent.wf.1.0123456789ab@x.com>",  # LATIN SMALL LETTER LONG S
        "<salesagent.\u212awf.1.0123456789ab@x.com>",  # KELVIN SIGN in the slug
    ],
    ids=["long-s", "kelvin"],
)
def test_is_our_message_id_rejects_unicode_case_lookalikes(message_id: str) -> None:
    # Regression: re.IGNORECASE alone folds U+017F to "s" and U+212A to "k".
    assert not message_id.isascii()
    assert is_our_message_id(message_id) is False


@pytest.mark.parametrize(
    "bad", ["<salesagent.wf.1.0123456789ab@x.com", "salesagent.wf.1.0123456789ab@x.com>"]
)
def test_unbalanced_brackets_are_not_ours(bad):
    assert is_our_message_id(bad) is False


@pytest.mark.parametrize(("version", "domain"), [(-1, "x.com"), (1, ""), (1, "a@b"), (1, "x .com")])
def test_make_message_id_refuses_ids_it_could_not_recognise(version, domain):
    with pytest.raises(ValueError, match="Message-ID"):
        make_message_id("wf-1", version, domain)
