"""Reading mail: every corpus message parses, reads right, and hostile input never raises."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.mail import (
    FORWARD_MARKER,
    Address,
    ParsedMessage,
    decode_bytes,
    html_to_text,
    normalize_email,
    parse_message,
    same_email,
    split_reply,
)

CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus" / "mail"
CORPUS_FILES = sorted(CORPUS_DIR.glob("*.eml"))


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS_DIR / "make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _load_generator()


def parsed(name: str) -> ParsedMessage:
    return parse_message((CORPUS_DIR / f"{name}.eml").read_bytes())


# --------------------------------------------------------------------------------------------
# The corpus as a whole


def test_corpus_is_big_enough_and_matches_its_generator() -> None:
    assert len(CORPUS_FILES) >= 20
    expected = {f"{name}.eml": build() for name, build in GENERATOR.CORPUS.items()}
    expected.update(
        {
            f"{name}.eml": GENERATOR.plain_reply(name, subject, sender, body)
            for name, (sender, subject, body) in GENERATOR.THREADS.items()
        }
    )
    assert {p.name for p in CORPUS_FILES} == set(expected)
    stale = [p.name for p in CORPUS_FILES if p.read_bytes() != expected[p.name]]
    assert not stale, f"regenerate with make_corpus.py: {stale}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_every_corpus_message_parses_into_a_json_ready_record(path: Path) -> None:
    message = parse_message(path.read_bytes())
    assert isinstance(message, ParsedMessage)
    record = json.loads(json.dumps(message.to_dict()))
    assert record["subject"] == message.subject
    assert message.new_text in message.text or not message.new_text.strip() or "\n" in message.text
    for text in (message.text, message.new_text, message.subject):
        text.encode("utf-8")  # no lone surrogates survive


@pytest.mark.parametrize(
    "name",
    [p.stem for p in CORPUS_FILES if p.stem.startswith("thread_")]
    + ["alternative", "outlook_reply", "qp_latin1", "rfc2047_headers", "html_only_script_style"],
)
def test_well_formed_messages_have_no_problems(name: str) -> None:
    message = parsed(name)
    assert message.problems == ()
    assert message.from_ is not None
    assert message.date is not None
    assert message.date.tzinfo is not None


# --------------------------------------------------------------------------------------------
# MIME shapes


def test_alternative_prefers_plain_text_and_notes_html() -> None:
    message = parsed("alternative")
    assert message.text.startswith("Plain part: yes, let's talk on Friday.")
    assert "HTML part" not in message.text
    assert message.html_present
    assert message.new_text == "Plain part: yes, let's talk on Friday."
    assert message.message_id == "<alt-1@mail.gmail.com>"
    assert message.in_reply_to == "<orig-1@ourco.com>"
    assert message.thread_ids == ("<orig-1@ourco.com>",)


def test_html_only_becomes_text_without_script_style_or_head() -> None:
    message = parsed("html_only_script_style")
    assert message.html_present
    for hidden in ("alert", "never shown", "also hidden", "color: red", "Ignore this title"):
        assert hidden not in message.text
    assert "We would like a demo next week.\nTuesday works best." in message.text
    assert "- Team size: 12\n- CRM: HubSpot" in message.text
    assert "> Shall we book a demo?" in message.text
    assert "> > Older quoted text" in message.text
    assert "Shall we book" not in message.new_text
    assert message.new_text.endswith("Cheers,\nBen")


def test_related_inline_image_and_attachment_metadata() -> None:
    message = parsed("related_inline_image")
    assert message.text == "See our logo below and the signed contract attached."
    logo, contract = message.attachments
    assert (logo.filename, logo.content_type, logo.inline, logo.content_id) == (
        "logo.png",
        "image/png",
        True,
        "<logo@baker>",
    )
    assert logo.size == 70
    assert (contract.filename, contract.content_type, contract.inline) == (
        "contract.pdf",
        "application/pdf",
        False,
    )
    assert contract.size > 200


def test_outlook_reply_cuts_at_the_from_sent_block() -> None:
    message = parsed("outlook_reply")
    assert message.new_text == (
        "Hi Dana,\n\nYes, please send the contract. We can sign this week.\n\nThanks,\nTom"
    )
    assert "Sent: Monday" in message.text


def test_long_thread_keeps_only_the_newest_answer() -> None:
    message = parsed("long_thread")
    assert message.new_text == "Final answer: we sign on Monday."
    assert message.text.count("wrote:") == 10


# --------------------------------------------------------------------------------------------
# Charsets and encoded headers


def test_quoted_printable_latin1_body_and_headers() -> None:
    message = parsed("qp_latin1")
    assert "Grüß Gott Frau Rep" in message.text
    assert "Büro in Köln" in message.text
    assert message.subject == "Angebot für Köln"
    assert message.from_ == Address("Jürgen Weiß", "juergen@weiss-gmbh.de")


def test_base64_utf8_body_and_rfc2047_base64_headers() -> None:
    message = parsed("base64_utf8")
    assert "Γειά σου Dana! Pricing looks fine 👍" in message.text
    assert message.subject == "Re: Πρόταση"
    assert message.from_ is not None
    assert message.from_.name == "Νίκος Παπαδόπουλος"


def test_iso_2022_jp_is_decoded() -> None:
    message = parsed("iso2022jp")
    assert "お見積もりをお願いできますでしょうか" in message.text
    assert message.subject == "お見積もりについて"
    assert message.from_ == Address("山田 太郎", "yamada@example.co.jp")


def test_windows_1252_smart_quotes_and_euro() -> None:
    assert "We’re “very” interested – budget is €5,000." in parsed("windows1252_smart_quotes").text


def test_latin1_label_on_windows_1252_bytes_reads_the_quotes() -> None:
    message = parsed("latin1_declared_smart_quotes")
    assert message.text == "It’s “done”."
    assert message.problems == ()


def test_unknown_charset_falls_back_and_says_so() -> None:
    message = parsed("unknown_charset")
    assert message.text == "Schöne Grüße aus Berlin, wir melden uns."
    assert message.subject == "Grüße aus Berlin"
    assert any("unknown charset 'x-mac-klingon'" in p for p in message.problems)
    assert any(p.startswith("Subject:") for p in message.problems)


def test_wrong_declared_charset_falls_back_and_says_so() -> None:
    message = parsed("wrong_charset")
    assert message.text == "Die Preise sind in Ordnung. Grüße, Max"
    assert message.problems == ("text/plain: bytes are not valid utf-8; read as cp1252",)


def test_rfc2047_subject_names_and_recipient_lists() -> None:
    message = parsed("rfc2047_headers")
    assert message.subject == "Re: Café münchen – réunion ✓"
    assert message.from_ == Address("José Müller", "Jose.Mueller@example.com")
    assert message.from_.same_as("jose.mueller@EXAMPLE.com")
    assert [str(a) for a in message.to] == [
        "Dana Rép <dana@ourco.com>",
        "Ops Team <ops@example.com>",
    ]
    assert message.cc == (Address("Élodie Blanc", "elodie@example.com"),)
    assert message.reply_to == (Address("Jose", "jose@example.com"),)


def test_raw_8bit_utf8_headers_are_read() -> None:
    message = parsed("eight_bit_headers")
    assert message.subject == "Förslag på möte"
    assert message.from_ == Address("Zoë Ångström", "zoe@example.se")


# --------------------------------------------------------------------------------------------
# Bounces, automatic mail, forwards


def test_dsn_bounce_carries_the_failed_recipient() -> None:
    message = parsed("dsn_bounce")
    assert message.is_dsn
    assert message.dsn is not None
    assert message.dsn.failed_recipients == ("ghost@prospect-gone.com",)
    assert message.dsn.status == "5.1.1"
    assert message.dsn.action == "failed"
    assert message.dsn.diagnostic is not None
    assert "does not exist" in message.dsn.diagnostic
    assert message.dsn.original_message_id == "<sent-42@ourco.com>"
    assert message.dsn.permanent
    assert "Address not found" in message.text
    assert "just following up" not in message.text  # the returned message is not our text
    assert message.forwards == ()


def test_plain_text_bounce_reads_x_failed_recipients() -> None:
    message = parsed("bounce_exim_text")
    assert not message.is_dsn
    assert message.dsn is not None
    assert message.dsn.failed_recipients == ("nobody@closed-company.example",)
    assert message.header("x-failed-recipients") == "nobody@closed-company.example"


def test_interest_headers_are_kept() -> None:
    ooo = parsed("out_of_office_gmail")
    assert ooo.header("Auto-Submitted") == "auto-replied"
    newsletter = parsed("newsletter")
    assert newsletter.header("Precedence") == "bulk"
    assert newsletter.header("List-Id") == "Growth Weekly <weekly.growthweekly.example>"
    assert (
        newsletter.header(
            "List-Unsubscribe",
        )
        is not None
    )
    assert newsletter.header("Content-Type") == 'text/html; charset="utf-8"'
    assert parsed("dsn_bounce").header("Return-Path") == "<>"


def test_attached_forward_is_read_and_marked() -> None:
    message = parsed("forward_rfc822")
    (forward,) = message.forwards
    assert forward.attached
    assert forward.from_ == Address("Nora Field", "nora@fieldfarms.com")
    assert forward.subject == "Interested in your product"
    assert forward.date is not None
    assert forward.date.astimezone(UTC) == datetime(2026, 1, 4, 23, 0, tzinfo=UTC)
    assert forward.text == "We have 30 people and want a demo."
    assert FORWARD_MARKER in message.text
    assert message.new_text == "Sam, see below - a warm lead."


def test_inline_forward_is_read() -> None:
    message = parsed("forward_inline")
    (forward,) = message.forwards
    assert not forward.attached
    assert forward.from_ == Address("Nora Field", "nora@fieldfarms.com")
    assert forward.subject == "Pricing question"
    assert forward.text == "Is there a discount for nonprofits?"
    assert message.new_text == "FYI, can you answer this one?"


# --------------------------------------------------------------------------------------------
# Strict addresses and hostile input


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("spoof_quoted_name", "display name shows another address"),
        ("spoof_unquoted_name", "the header has defects"),
        ("crlf_injection", "line break (CR/LF)"),
        ("two_senders", "2 addresses where one is expected"),
    ],
)
def test_spoofed_or_malformed_from_is_refused(name: str, problem: str) -> None:
    message = parsed(name)
    assert message.from_ is None
    assert any(p.startswith("From: refused") and problem in p for p in message.problems)


def test_decoded_line_breaks_in_subject_are_flattened_and_recorded() -> None:
    message = parsed("crlf_injection")
    assert "\n" not in message.subject
    assert "\r" not in message.subject
    assert "Subject: line breaks inside the decoded header were removed" in message.problems


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("truncated", "CloseBoundaryNotFoundDefect"),
        ("no_boundary", "no parts found; read as text"),
        ("no_boundary", "Date: unreadable"),
        ("garbage", "no headers"),
        ("empty", "empty message"),
    ],
)
def test_broken_messages_keep_what_can_be_read_and_say_why(name: str, problem: str) -> None:
    message = parsed(name)
    assert any(problem in p for p in message.problems)


def test_truncated_message_keeps_its_text_and_attachment() -> None:
    message = parsed("truncated")
    assert message.text == "Here is the file."
    assert message.attachments[0].filename == "data.zip"
    assert message.from_ == Address("Tom Baker", "tom@bakerlogistics.com")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("alice@example.com <evil@x.com>", "defects"),
        ('"alice@example.com" <evil@x.com>', "another address"),
        ("<a@b@c.com>", "defects"),
        ("bob@localhost", "not a valid address"),
        ("bob@[192.0.2.1]", "not a valid address"),
        ("bob@192.0.2.1", "not a valid address"),
        ("=?utf-8?q?A=0Ab?= <a@example.com>", "CR/LF"),
        ("=?utf-8?q?A=00b?= <a@example.com>", "NonPrintableDefect"),
        ("a@example.com, b@example.com", "2 addresses"),
        ("", "0 addresses"),
    ],
)
def test_strict_from_parsing(header: str, problem: str) -> None:
    raw = f"From: {header}\nTo: dana@ourco.com\nSubject: x\n\nbody\n".encode()
    message = parse_message(raw)
    assert message.from_ is None
    assert any(problem in p for p in message.problems), message.problems


def test_from_header_twice_is_refused() -> None:
    raw = b"From: a@example.com\nFrom: b@example.com\nSubject: x\n\nbody\n"
    message = parse_message(raw)
    assert message.from_ is None
    assert "From: refused, the header appears 2 times" in message.problems


def test_display_name_equal_to_the_address_is_fine() -> None:
    message = parse_message(b'From: "ALICE@example.com" <alice@Example.com>\n\nhi\n')
    assert message.from_ == Address("ALICE@example.com", "alice@example.com")


def test_one_bad_recipient_empties_the_list() -> None:
    message = parse_message(b"From: a@example.com\nTo: ok@example.com, broken@\n\nhi\n")
    assert message.to == ()
    assert any(p.startswith("To: refused") for p in message.problems)


def test_undisclosed_recipients_group_is_empty_without_problem() -> None:
    message = parse_message(b"From: a@example.com\nTo: undisclosed-recipients:;\n\nhi\n")
    assert message.to == ()
    assert message.problems == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice@Example.COM", "Alice@example.com"),
        ("  bob.smith+tag@sub.example.co.uk ", "bob.smith+tag@sub.example.co.uk"),
        ("jörg@bücher.de", "jörg@bücher.de"),
        ("a@b@c.com", None),
        ("a@localhost", None),
        ("a@[1.2.3.4]", None),
        ("a@1.2.3.4", None),
        ("Alice <a@example.com>", None),
        ("a b@example.com", None),
        ("a@example.com\r\nBcc: x@y.com", None),
        (".a@example.com", None),
        ("a..b@example.com", None),
        ("a@-example.com", None),
        ("a@example..com", None),
        ("", None),
        ("@example.com", None),
    ],
)
def test_normalize_email(value: str, expected: str | None) -> None:
    assert normalize_email(value) == expected


def test_same_email_compares_case_insensitively() -> None:
    assert same_email("Dana@OurCo.com", "dana@ourco.com")
    assert not same_email("dana@ourco.com", "dana@ourco.co")
    assert not same_email(None, "dana@ourco.com")


# --------------------------------------------------------------------------------------------
# Reply separation


@pytest.mark.parametrize("name", sorted(GENERATOR.THREAD_EXPECTATIONS))
def test_reply_separation_on_threads(name: str) -> None:
    must, must_not = GENERATOR.THREAD_EXPECTATIONS[name]
    new_text = parsed(name).new_text
    for phrase in must:
        assert phrase in new_text, f"lost {phrase!r}: {new_text!r}"
    for phrase in must_not:
        assert phrase not in new_text, f"kept {phrase!r}: {new_text!r}"


def test_threads_cover_five_languages_and_ten_threads() -> None:
    threads = [n for n in GENERATOR.THREAD_EXPECTATIONS if n.startswith("thread_")]
    assert len(threads) >= 10
    assert len({n.split("_")[1] for n in threads}) >= 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks, that works.\nBest,\nAnna", "Thanks, that works.\nBest,\nAnna"),
        ("Sure.\n\nRegards,\nTom\n", "Sure.\n\nRegards,\nTom"),
        ("Sure.\n-- \nTom Baker\nCEO", "Sure."),
        ("Ok\n\nSent from my iPhone", "Ok"),
        ("Ok\n\nGet Outlook for iOS", "Ok"),
        ("Ok\n\nEnvoyé de mon iPhone", "Ok"),
        ("Yes.\n\n> earlier\n> text", "Yes."),
        ("Needs:\n- SSO\n- audit log", "Needs:\n- SSO\n- audit log"),
        ("On Monday my colleague wrote:\nhello", "On Monday my colleague wrote:\nhello"),
        ("", ""),
        ("> only quoted", ""),
    ],
)
def test_split_reply_rules(text: str, expected: str) -> None:
    assert split_reply(text) == expected


# --------------------------------------------------------------------------------------------
# Helpers


def test_html_to_text_blocks_breaks_and_entities() -> None:
    html = (
        "<div>One&nbsp;&amp;&nbsp;two</div><p>Para</p><br><table><tr><td>a</td><td>b</td></tr>"
        "</table><pre>keep\n  spacing</pre><script>x()</script><style>.a{}</style>"
    )
    assert html_to_text(html) == "One & two\n\nPara\n\na b\n\nkeep\n  spacing"


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>unclosed <b>bold <script>never") == "unclosed bold"
    assert html_to_text("<<<>>><!-- x --><![CDATA[ y ]]>&#xFFFFFFFF;") is not None


@pytest.mark.parametrize(
    ("data", "charset", "expected", "problem"),
    [
        ("café".encode(), "utf-8", "café", None),
        ("café".encode("latin-1"), "ISO-8859-1", "café", None),
        ("“x”".encode("cp1252"), "us-ascii", "“x”", "not valid us-ascii; read as cp1252"),
        ("é".encode(), "us-ascii", "é", "8-bit text declared as us-ascii"),
        ("日本".encode("shift_jis"), "shift_jis", "日本", None),
        ("①".encode("cp932"), "shift_jis", "①", None),
        (b"x", "base64", "x", "unknown charset"),
        ("é".encode(), None, "é", "without a charset"),
        (b"\x81\x8d", "utf-8", None, "could not decode"),
    ],
)
def test_decode_bytes(
    data: bytes, charset: str | None, expected: str | None, problem: str | None
) -> None:
    problems: list[str] = []
    text = decode_bytes(data, charset, problems, "part")
    if expected is not None:
        assert text == expected
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


# --------------------------------------------------------------------------------------------
# Never raises

CORPUS_BYTES = [p.read_bytes() for p in CORPUS_FILES]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(parse_message(raw), ParsedMessage)


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS_BYTES)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "insert":
            token = draw(
                st.sampled_from(
                    [
                        b"\r\n",
                        b"\n\n",
                        b"--",
                        b"=?utf-8?q?",
                        b"?=",
                        b"<",
                        b">",
                        b'"',
                        b"\x00",
                        b"=\r\n",
                        b"Content-Type: multipart/mixed; boundary=x\r\n",
                        b"--x\r\n",
                        b"charset=x-unknown",
                        b"Content-Transfer-Encoding: base64\r\n",
                        b"\xff\xfe",
                    ]
                )
            )
            data[position:position] = token
        elif kind == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=40))]
        elif kind == "truncate":
            del data[position:]
        elif kind == "splice":
            other = draw(st.sampled_from(CORPUS_BYTES))
            data[position:] = other[position:]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_mutated_corpus_messages_never_raise(raw: bytes) -> None:
    message = parse_message(raw)
    json.dumps(message.to_dict())


@pytest.mark.parametrize(
    "raw",
    [
        b"Content-Type: multipart/mixed; boundary=a\n\n"
        + b"--a\nContent-Type: multipart/mixed; boundary=a\n\n" * 200,
        b"Content-Type: message/rfc822\n\n" * 100,
        b"Subject: " + b"=?utf-8?q?" * 5000 + b"\n\n",
        b"From: " + b"<" * 10000 + b"\n\n",
        b"Content-Type: text/html\n\n" + b"<blockquote>" * 5000 + b"x",
        b"Content-Type: text/plain\n\n" + b"On x wrote:\n" * 5000,
        b"Content-Type: text/plain; charset*=''\n\nx",
        b'Content-Type: text/plain; charset="utf-8\x00"\n\nx',
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\n"
        b"Content-Type: message/delivery-status\n\n"
        b"Final-Recipient: rfc822; <>\nAction: failed\n--b--",
        "From: \udcff\n\n".encode("utf-8", "surrogateescape"),
    ],
    ids=[
        "nested-boundaries",
        "nested-rfc822",
        "encoded-word-flood",
        "angle-flood",
        "blockquote-flood",
        "attribution-flood",
        "empty-charset",
        "nul-charset",
        "bad-dsn",
        "8bit-from",
    ],
)
def test_pathological_messages_never_raise(raw: bytes) -> None:
    message = parse_message(raw)
    assert isinstance(message, ParsedMessage)
    json.dumps(message.to_dict())
