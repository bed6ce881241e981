"""Reading a Gmail draft back from its RFC 822 bytes: what it would send, to whom, in which
thread, and whether someone added recipients. The send step hashes what it reads here and
compares it with the approved hash, so a draft we composed must read back to the same hash."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.outbound import DraftContent, compose, read_draft
from shared.domain.sending import content_hash

SENDER = "dana@ourco.com"
CONTACT = "lee@client.com"
OUR_ID = "<salesagent.wf-1.2.0123456789ab@ourco.com>"
THEIR_ID = "<CAF1234=abc@mail.gmail.com>"
EARLIER_ID = "<earlier.1@client.com>"


def composed(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "sender": SENDER,
        "to": CONTACT,
        "subject": "Re: Pricing question",
        "body": "Hi Lee,\n\nHere are the numbers.\n\nDana",
        "message_id": OUR_ID,
    }
    return compose(**{**fields, **overrides})  # type: ignore[arg-type]


def message(body: str = "Hello", **headers: str) -> EmailMessage:
    """A plain-text message; header names use underscores (`In_Reply_To`)."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = SENDER
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


# --------------------------------------------------------------------------------------------
# compose -> read_draft


def test_composed_reply_reads_back() -> None:
    body = "Hi Lee,\n\nHere are the numbers.\n\nDana"
    raw = composed(
        body=body,
        in_reply_to=THEIR_ID,
        references=(EARLIER_ID, THEIR_ID),
    )
    content = read_draft(raw)
    assert content == DraftContent(
        to=CONTACT,
        subject="Re: Pricing question",
        body=content.body,
        message_id=OUR_ID,
        in_reply_to=THEIR_ID,
        references=(EARLIER_ID, THEIR_ID),
        extra_recipients=False,
    )
    assert lf(content.body) == body + "\n"


def test_composed_reply_appends_in_reply_to_to_references() -> None:
    content = read_draft(composed(in_reply_to=THEIR_ID, references=(EARLIER_ID,)))
    assert content.in_reply_to == THEIR_ID
    assert content.references == (EARLIER_ID, THEIR_ID)


def test_composed_reply_without_references_refers_to_the_parent() -> None:
    content = read_draft(composed(in_reply_to=THEIR_ID))
    assert content.references == (THEIR_ID,)


def test_composed_first_touch_has_no_thread_headers() -> None:
    content = read_draft(composed(subject="Pricing for Northwind", references=(EARLIER_ID,)))
    assert content.subject == "Pricing for Northwind"
    assert content.in_reply_to is None
    assert content.references == ()
    assert content.message_id == OUR_ID


def test_composed_non_ascii_subject_and_body_read_back() -> None:
    subject = "Re: Grüße aus München — Angebot"
    body = "Hallo Jürgen,\n\nanbei das Angebot über 12.000 €.\n\nViele Grüße\nDana"
    content = read_draft(composed(subject=subject, body=body))
    assert content.subject == subject
    assert lf(content.body) == body + "\n"


def test_composed_long_lines_and_trailing_spaces_read_back() -> None:
    body = "A very long line " * 30 + "\nindented   \n\tand tabbed\n.\nFrom the start\n"
    content = read_draft(composed(body=body))
    assert lf(content.body) == body


def test_composed_long_subject_reads_back_unfolded() -> None:
    subject = "Re: " + " ".join(f"word{i}" for i in range(40))
    assert read_draft(composed(subject=subject)).subject == subject


def test_composed_crlf_body_reads_back_with_the_same_lines() -> None:
    content = read_draft(composed(body="one\r\ntwo\r\n"))
    assert lf(content.body) == "one\ntwo\n"


def test_composed_to_with_display_name_reads_back_as_bare_address() -> None:
    content = read_draft(composed(to='"Lee, Jordan" <Lee@Client.COM>'))
    assert content.to == CONTACT
    assert content.extra_recipients is False


@pytest.mark.parametrize(
    ("to", "subject", "body"),
    [
        (CONTACT, "Re: Pricing question", "Hi Lee,\n\nHere are the numbers.\n\nDana"),
        ("Lee@Client.com", "Re:   Pricing    question", "Hi Lee,\r\nnumbers\r\n"),
        (CONTACT, "Grüße — Angebot", "Hallo Jürgen,\n12.000 €\n"),
        (CONTACT, "x" * 150, "y " * 400),
        (CONTACT, "Spaces", "  leading blank lines\n\n\ntrailing spaces   \n\n"),
        (CONTACT, "Dots", "From me\n.\n..\nend"),
    ],
)
def test_composed_draft_hashes_like_what_was_approved(to: str, subject: str, body: str) -> None:
    # The send step compares these two hashes: a mismatch holds the send as "edited".
    content = read_draft(composed(to=to, subject=subject, body=body))
    assert content_hash(content.to, content.subject, content.body) == content_hash(
        to, subject, body
    )


def test_edited_draft_does_not_hash_like_what_was_approved() -> None:
    approved = content_hash(CONTACT, "Re: Pricing question", "Here are the numbers.")
    edited = read_draft(composed(body="Here are the new numbers."))
    assert content_hash(edited.to, edited.subject, edited.body) != approved


def test_composed_body_with_a_lone_cr_hashes_like_what_was_approved() -> None:
    body = "Total:\r12.000 EUR"
    content = read_draft(composed(body=body))
    assert content_hash(content.to, content.subject, content.body) == content_hash(
        CONTACT, "Re: Pricing question", body
    )


BODY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
    max_size=300,
)
SUBJECT_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=120
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=SUBJECT_TEXT, body=BODY_TEXT)
def test_composed_draft_hash_round_trip_property(subject: str, body: str) -> None:
    content = read_draft(composed(subject=subject, body=body))
    assert content.to == CONTACT
    assert content.extra_recipients is False
    assert content_hash(content.to, content.subject, content.body) == content_hash(
        CONTACT, subject, body
    )


# --------------------------------------------------------------------------------------------
# recipients


@pytest.mark.parametrize(
    "to",
    [
        "Lee@Client.com",
        "Lee Jordan <lee@client.com>",
        '"Jordan, Lee" <LEE@CLIENT.COM>',
        "=?utf-8?q?J=C3=BCrgen_M=C3=BCller=2C_Sales?= <lee@client.com>",
    ],
)
def test_read_draft_single_to_is_the_bare_lower_case_address(to: str) -> None:
    content = read_draft(message(To=to).as_bytes())
    assert content.to == CONTACT
    assert content.extra_recipients is False


def test_read_draft_two_to_addresses() -> None:
    content = read_draft(message(To="lee@client.com, Sam <sam@client.com>").as_bytes())
    assert content.to == ""
    assert content.extra_recipients is True


def test_read_draft_two_to_headers() -> None:
    raw = b"From: dana@ourco.com\r\nTo: lee@client.com\r\nTo: sam@client.com\r\n\r\nHello\r\n"
    content = read_draft(raw)
    assert content.to == ""
    assert content.extra_recipients is True


@pytest.mark.parametrize(
    "copies",
    [
        {"Cc": "sam@client.com"},
        {"Bcc": "boss@ourco.com"},
        {"Cc": "Sam <sam@client.com>", "Bcc": "boss@ourco.com"},
    ],
)
def test_read_draft_cc_or_bcc_is_an_extra_recipient(copies: dict[str, str]) -> None:
    content = read_draft(message(To=CONTACT, **copies).as_bytes())
    assert content.to == CONTACT  # still the one To address
    assert content.extra_recipients is True


def test_read_draft_empty_cc_is_not_an_extra_recipient() -> None:
    raw = b"From: dana@ourco.com\r\nTo: lee@client.com\r\nCc: \r\n\r\nHello\r\n"
    content = read_draft(raw)
    assert content.to == CONTACT
    assert content.extra_recipients is False


def test_read_draft_without_to() -> None:
    content = read_draft(message(Subject="No recipient yet").as_bytes())
    assert content.to == ""
    assert content.extra_recipients is False
    assert content.subject == "No recipient yet"


def test_read_draft_group_without_addresses_has_no_to() -> None:
    content = read_draft(message(To="undisclosed-recipients:;").as_bytes())
    assert content.to == ""
    assert content.extra_recipients is False


# --------------------------------------------------------------------------------------------
# bodies and headers


def test_read_draft_multipart_alternative_yields_the_plain_part() -> None:
    mail = message("Plain words\nsecond line\n", To=CONTACT, Subject="Both")
    mail.add_alternative("<p>Html <b>words</b></p>", subtype="html")
    assert mail.get_content_type() == "multipart/alternative"
    content = read_draft(mail.as_bytes())
    assert lf(content.body) == "Plain words\nsecond line\n"
    assert content.subject == "Both"
    assert content.to == CONTACT


def test_read_draft_html_first_alternative_still_yields_the_plain_part() -> None:
    mail = EmailMessage(policy=SMTP)
    mail["To"] = CONTACT
    mail.set_content("<p>Html</p>", subtype="html")
    mail.add_alternative("Plain text\n")
    content = read_draft(mail.as_bytes())
    assert lf(content.body) == "Plain text\n"


def test_read_draft_with_an_attachment_yields_the_plain_body() -> None:
    mail = message("See attached.\n", To=CONTACT)
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="q.pdf")
    assert mail.get_content_type() == "multipart/mixed"
    assert lf(read_draft(mail.as_bytes()).body) == "See attached.\n"


def test_read_draft_html_only_has_an_empty_body() -> None:
    raw = (
        b"From: dana@ourco.com\r\nTo: lee@client.com\r\nSubject: s\r\n"
        b"Content-Type: text/html\r\n\r\n<p>body</p>\r\n"
    )
    assert read_draft(raw).body == ""


def test_read_draft_missing_headers() -> None:
    content = read_draft(b"To: lee@client.com\r\n\r\nJust a body\r\n")
    assert content.to == CONTACT
    assert content.subject == ""
    assert content.message_id == ""
    assert content.in_reply_to is None
    assert content.references == ()
    assert lf(content.body) == "Just a body\n"


def test_read_draft_thread_headers_written_by_hand() -> None:
    # Padded Message-ID, References folded over two lines as Gmail may write them.
    raw = (
        f"From: {SENDER}\r\nTo: {CONTACT}\r\nMessage-ID:   {OUR_ID}  \r\n"
        f"In-Reply-To: {THEIR_ID}\r\nReferences: {EARLIER_ID}\r\n {THEIR_ID}\r\n"
        "\r\nHello\r\n"
    ).encode()
    content = read_draft(raw)
    assert content.message_id == OUR_ID
    assert content.in_reply_to == THEIR_ID
    assert content.references == (EARLIER_ID, THEIR_ID)
