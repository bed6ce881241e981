"""Gmail push notifications and history pages: decoding, candidates, cursors, resync, names."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.gmail_history import (
    MAX_PUSH_BYTES,
    Candidate,
    PushNotice,
    ResyncWindow,
    UndecodablePush,
    candidates,
    decode_push,
    forward,
    message_doc_id,
    page_cursor,
    readable,
    resync_window,
    thread_doc_id,
    token_secret_name,
)

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# Chosen so the payload's base64 holds `+` and `/` (standard) / `-` and `_` (url-safe).
FILLER = "??>>~~??>>~~"
_MISSING = object()


# --------------------------------------------------------------------------------------------
# Helpers


def encode(payload: Any, *, urlsafe: bool = True, pad: bool = True) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if pad else text.rstrip("=")


def body_with(data: Any, **message_extra: Any) -> bytes:
    return json.dumps({"message": {"data": data, **message_extra}, "subscription": "s"}).encode()


def push(payload: Any, *, urlsafe: bool = True, pad: bool = True, **message_extra: Any) -> bytes:
    return body_with(encode(payload, urlsafe=urlsafe, pad=pad), **message_extra)


def notice_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"emailAddress": "maya@ourco.com", "historyId": 4242}
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not _MISSING}


def msg(gmail_id: Any, *labels: str, thread: Any = _MISSING) -> dict[str, Any]:
    message: dict[str, Any] = {"id": gmail_id, "labelIds": list(labels)}
    if thread is not _MISSING:
        message["threadId"] = thread
    else:
        message["threadId"] = f"t-{gmail_id}"
    return message


def added(message: dict[str, Any], record_id: str = "100") -> dict[str, Any]:
    return {"id": record_id, "messages": [message], "messagesAdded": [{"message": message}]}


def labelled(message: dict[str, Any], *label_ids: str, record_id: str = "200") -> dict[str, Any]:
    return {
        "id": record_id,
        "messages": [message],
        "labelsAdded": [{"message": message, "labelIds": list(label_ids)}],
    }


def page(*records: Any, **extra: Any) -> dict[str, Any]:
    return {"history": list(records), **extra}


def ids(found: list[Candidate]) -> list[str]:
    return [c.gmail_id for c in found]


# --------------------------------------------------------------------------------------------
# decode_push: what a readable push gives


def test_decode_push_reads_mailbox_history_and_pubsub_id() -> None:
    notice = decode_push(push(notice_payload(), messageId="2070443601311540"))
    assert notice == PushNotice("maya@ourco.com", 4242, "2070443601311540")
    assert type(notice.history_id) is int


def test_decode_push_history_id_as_string() -> None:
    assert decode_push(push(notice_payload(historyId="987654321"))).history_id == 987654321


def test_decode_push_history_id_string_is_stripped() -> None:
    assert decode_push(push(notice_payload(historyId="  77 "))).history_id == 77


@pytest.mark.parametrize("value", ["9" * 20, 10**19, 0, "0"])
def test_decode_push_history_id_bounds_accepted(value: Any) -> None:
    assert decode_push(push(notice_payload(historyId=value))).history_id == int(value)


@pytest.mark.parametrize("urlsafe", [True, False], ids=["urlsafe", "standard"])
@pytest.mark.parametrize("pad", [True, False], ids=["padded", "unpadded"])
def test_decode_push_base64_alphabets_and_padding(urlsafe: bool, pad: bool) -> None:
    payload = notice_payload(historyId="31337", filler=FILLER)
    data = encode(payload, urlsafe=urlsafe, pad=pad)
    # The case really exercises what it names.
    if urlsafe:
        assert {"-", "_"} <= set(data)
        assert not {"+", "/"} & set(data)
    else:
        assert {"+", "/"} <= set(data)
        assert not {"-", "_"} & set(data)
    if not pad:
        assert not data.endswith("=")
        assert len(data) % 4 != 0
    notice = decode_push(body_with(data))
    assert notice == PushNotice("maya@ourco.com", 31337, None)


def test_decode_push_missing_padding_every_remainder() -> None:
    for extra in ("", "a", "ab", "abc"):
        data = encode(notice_payload(filler=extra), pad=False)
        assert decode_push(body_with(data)).history_id == 4242


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"messageId": "111"}, "111"),
        ({"message_id": "222"}, "222"),
        ({"messageId": "111", "message_id": "222"}, "111"),
        ({"messageId": "", "message_id": "222"}, "222"),
        ({"messageId": 333}, "333"),
        ({}, None),
        ({"messageId": ""}, None),
        ({"messageId": None}, None),
    ],
)
def test_decode_push_pubsub_message_id(extra: dict[str, Any], expected: str | None) -> None:
    assert decode_push(push(notice_payload(), **extra)).message_id == expected


def test_decode_push_normalises_email_domain_case() -> None:
    notice = decode_push(push(notice_payload(emailAddress="  Maya.X@OurCo.COM ")))
    assert notice.email == "Maya.X@ourco.com"


def test_decode_push_ignores_extra_fields() -> None:
    body = json.dumps(
        {
            "message": {
                "data": encode(notice_payload(extra={"nested": [1, 2]})),
                "attributes": {"k": "v"},
                "publishTime": "2024-05-10T12:00:00Z",
            },
            "subscription": "projects/p/subscriptions/gmail",
            "deliveryAttempt": 3,
        }
    ).encode()
    assert decode_push(body) == PushNotice("maya@ourco.com", 4242, None)


def test_decode_push_accepts_a_body_of_str_json_in_utf8_bytes() -> None:
    body = push(notice_payload(emailAddress="josé@exämple.com"))
    assert decode_push(body).email == "josé@exämple.com"


# --------------------------------------------------------------------------------------------
# decode_push: every undecodable push


def _raw_data(raw: bytes) -> bytes:
    return body_with(base64.urlsafe_b64encode(raw).decode())


UNDECODABLE: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "body is not JSON"),
    ("not json", b"hello", "body is not JSON"),
    ("truncated json", b'{"message": {"data": "ab', "body is not JSON"),
    ("invalid utf8", b"\xff\xfe\xfa\x00\x81", "body is not JSON"),
    ("json null", b"null", "no message object"),
    ("json list", b'[{"message": {"data": "e30"}}]', "no message object"),
    ("json string", b'"message"', "no message object"),
    ("no message", b'{"subscription": "s"}', "no message object"),
    ("message null", b'{"message": null}', "no message object"),
    ("message string", b'{"message": "eyJ9"}', "no message object"),
    ("message list", b'{"message": [{"data": "e30"}]}', "no message object"),
    ("message number", b'{"message": 5}', "no message object"),
    ("data missing", b'{"message": {"messageId": "1"}}', "message has no data"),
    ("data empty", b'{"message": {"data": ""}}', "message has no data"),
    ("data null", b'{"message": {"data": null}}', "message has no data"),
    ("data number", b'{"message": {"data": 12}}', "message has no data"),
    ("data object", b'{"message": {"data": {"historyId": 1}}}', "message has no data"),
    ("data list", b'{"message": {"data": ["e30"]}}', "message has no data"),
    ("data not base64", body_with("!!!! ****"), "data is not base64 JSON"),
    ("data one char", body_with("a"), "data is not base64 JSON"),
    ("data five chars", body_with("abcde"), "data is not base64 JSON"),
    ("data non-ascii", body_with("ëÿ€"), "data is not base64 JSON"),
    ("base64 of text", _raw_data(b"hello, world"), "data is not base64 JSON"),
    ("base64 of bad utf8", _raw_data(b"\xff\xfe\x80{"), "data is not base64 JSON"),
    ("base64 of huge int", _raw_data(b'{"historyId": ' + b"9" * 5000 + b"}"), "base64 JSON"),
    ("json list payload", _raw_data(b'[{"emailAddress": "a@b.com"}]'), "not a JSON object"),
    ("json string payload", _raw_data(b'"a@b.com"'), "not a JSON object"),
    ("json number payload", _raw_data(b"12"), "not a JSON object"),
    ("json null payload", _raw_data(b"null"), "not a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "reason"), [(b, r) for _, b, r in UNDECODABLE], ids=[n for n, _, _ in UNDECODABLE]
)
def test_decode_push_undecodable(body: bytes, reason: str) -> None:
    with pytest.raises(UndecodablePush, match=re.escape(reason)):
        decode_push(body)


def test_undecodable_push_is_a_value_error() -> None:
    assert issubclass(UndecodablePush, ValueError)


@pytest.mark.parametrize(
    "email",
    [
        _MISSING,
        None,
        "",
        "   ",
        "maya",
        "maya@",
        "@ourco.com",
        "maya@ourco",
        "maya@localhost",
        "maya@[10.0.0.1]",
        "maya@1.2.3.4",
        "a@b.com <evil@x.com>",
        "Maya <maya@ourco.com>",
        "<maya@ourco.com>",
        '"maya"@ourco.com',
        "maya@ourco.com,evil@x.com",
        "maya@ourco.com evil@x.com",
        "maya@ourco.com\r\nBcc: evil@x.com",
        "maya@ourco.com\x00",
        "maya@@ourco.com",
        "ma..ya@ourco.com",
        ".maya@ourco.com",
        "maya@-ourco.com",
        "x" * 65 + "@ourco.com",
        0,
        12,
        ["maya@ourco.com"],
        {"address": "maya@ourco.com"},
        True,
    ],
)
def test_decode_push_rejects_missing_or_invalid_email(email: Any) -> None:
    with pytest.raises(UndecodablePush, match="emailAddress missing or invalid"):
        decode_push(push(notice_payload(emailAddress=email)))


@pytest.mark.parametrize("history_id", [_MISSING, None, True, False, 12.0, 12.5, [12], {"id": 12}])
def test_decode_push_rejects_missing_history_id(history_id: Any) -> None:
    with pytest.raises(UndecodablePush, match="historyId missing"):
        decode_push(push(notice_payload(historyId=history_id)))


@pytest.mark.parametrize(
    "history_id",
    [
        -1,
        "-1",
        "",
        "   ",
        "12; drop",
        "12 13",
        "12\n13",
        "1e5",
        "0x10",
        "+12",
        "12.0",
        "１２",  # full-width digits
        "١٢",  # Arabic-Indic digits
        "9" * 21,
        10**20,
        "true",
    ],
)
def test_decode_push_rejects_non_numeric_history_id(history_id: Any) -> None:
    with pytest.raises(UndecodablePush, match="historyId is not a number"):
        decode_push(push(notice_payload(historyId=history_id)))


@pytest.mark.parametrize("where", ["body", "data"])
def test_decode_push_deeply_nested_json_is_undecodable(where: str) -> None:
    # Regression: json.loads raised RecursionError past ~1000 levels, well within the size cap.
    nested = b"[" * 40_000
    body = nested if where == "body" else _raw_data(nested)
    assert len(body) <= MAX_PUSH_BYTES
    with pytest.raises(UndecodablePush):
        decode_push(body)


ARBITRARY_BODIES = st.one_of(
    st.binary(max_size=512),
    st.binary(max_size=200).map(lambda raw: b'{"message": {"data": "' + raw + b'"}}'),
    st.binary(max_size=200).map(_raw_data),
    st.binary(max_size=200).map(lambda raw: b'{"message": ' + raw + b"}"),
)


@settings(max_examples=300, deadline=None)
@given(ARBITRARY_BODIES)
def test_decode_push_arbitrary_bytes_only_undecodable(body: bytes) -> None:
    try:
        notice = decode_push(body)
    except UndecodablePush:
        return
    assert isinstance(notice, PushNotice)
    assert type(notice.history_id) is int


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
EMAILS = st.one_of(st.emails(), st.text(max_size=30), JSON)
HISTORY_IDS = st.one_of(
    st.integers(min_value=-(10**22), max_value=10**22),
    st.integers(min_value=0, max_value=10**22).map(str),
    st.text(max_size=25),
    JSON,
)


@st.composite
def push_bodies(draw: st.DrawFn) -> bytes:
    payload: dict[str, Any] = draw(st.dictionaries(st.text(max_size=5), JSON, max_size=2))
    if draw(st.booleans()):
        payload["emailAddress"] = draw(EMAILS)
    if draw(st.booleans()):
        payload["historyId"] = draw(HISTORY_IDS)
    raw = draw(st.one_of(st.just(json.dumps(payload).encode()), st.binary(max_size=40)))
    data = draw(
        st.one_of(
            st.just(encode(raw, urlsafe=draw(st.booleans()), pad=draw(st.booleans()))),
            st.text(max_size=40),
            JSON,
        )
    )
    message: Any = draw(st.one_of(st.just({"data": data, "messageId": draw(JSON)}), JSON))
    envelope: Any = draw(st.one_of(st.just({"message": message}), JSON))
    return json.dumps(envelope).encode()


@FAST
@given(push_bodies())
def test_decode_push_structured_fuzz(body: bytes) -> None:
    try:
        notice = decode_push(body)
    except UndecodablePush:
        return
    assert notice.email.count("@") == 1
    assert not any(ch.isspace() or ch in '<>",' for ch in notice.email)
    assert type(notice.history_id) is int
    assert 0 <= notice.history_id < 10**20
    assert notice.message_id is None or isinstance(notice.message_id, str)


@FAST
@given(st.emails(), st.integers(min_value=0, max_value=10**20 - 1), st.booleans(), st.booleans())
def test_decode_push_round_trip(email: str, history_id: int, urlsafe: bool, pad: bool) -> None:
    body = push({"emailAddress": email, "historyId": str(history_id)}, urlsafe=urlsafe, pad=pad)
    notice = decode_push(body)
    local, _, domain = email.partition("@")
    assert notice == PushNotice(f"{local}@{domain.lower()}", history_id, None)


# --------------------------------------------------------------------------------------------
# readable


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["INBOX"], True),
        (["SENT"], True),
        (["inbox"], True),
        (["Sent"], True),
        (["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "Label_12"], True),
        (["INBOX", "SENT"], True),
        (["DRAFT"], False),
        (["SENT", "DRAFT"], False),
        (["INBOX", "draft"], False),
        (["INBOX", "SPAM"], False),
        (["INBOX", "TRASH"], False),
        (["SENT", "TRASH"], False),
        (["INBOX", "CHAT"], False),
        (["UNREAD", "IMPORTANT", "STARRED"], False),
        ([], False),
    ],
)
def test_readable(labels: list[str], expected: bool) -> None:
    assert readable(labels) is expected


def test_readable_accepts_any_iterable() -> None:
    assert readable(label for label in ("UNREAD", "INBOX")) is True
    assert readable(frozenset({"SENT"})) is True
    assert readable(()) is False


# --------------------------------------------------------------------------------------------
# candidates


def test_candidates_inbox_message_added() -> None:
    found = candidates(page(added(msg("m1", "INBOX", "UNREAD", thread="t1"))))
    assert found == [Candidate("m1", "t1", frozenset({"INBOX", "UNREAD"}))]


def test_candidates_sent_message_added() -> None:
    found = candidates(page(added(msg("m2", "SENT", thread="t9"))))
    assert found == [Candidate("m2", "t9", frozenset({"SENT"}))]


def test_candidates_labels_are_upper_cased() -> None:
    found = candidates(page(added(msg("m1", "inbox", "Label_1"))))
    assert found[0].labels == frozenset({"INBOX", "LABEL_1"})


@pytest.mark.parametrize(
    "labels",
    [
        ("DRAFT",),
        ("SENT", "DRAFT"),
        ("INBOX", "SPAM"),
        ("SPAM",),
        ("INBOX", "TRASH"),
        ("SENT", "TRASH"),
        ("TRASH",),
        ("INBOX", "CHAT"),
        ("UNREAD", "IMPORTANT"),
        (),
    ],
)
def test_candidates_skips_unreadable_added_messages(labels: tuple[str, ...]) -> None:
    assert candidates(page(added(msg("m1", *labels)))) == []


def test_candidates_skips_drafts_among_others() -> None:
    found = candidates(
        page(
            added(msg("d1", "DRAFT")),
            added(msg("m1", "INBOX")),
            added(msg("s1", "SPAM", "INBOX")),
            added(msg("m2", "SENT")),
            added(msg("t1", "TRASH")),
        )
    )
    assert ids(found) == ["m1", "m2"]


@pytest.mark.parametrize("label", ["INBOX", "SENT", "inbox"])
def test_candidates_labels_added_read_label_makes_candidate(label: str) -> None:
    found = candidates(page(labelled(msg("m1", "UNREAD", thread="t1"), label)))
    assert found == [Candidate("m1", "t1", frozenset({"UNREAD", label.upper()}))]


def test_candidates_labels_added_without_message_labels() -> None:
    message = {"id": "m1", "threadId": "t1"}
    found = candidates(page(labelled(message, "INBOX")))
    assert found == [Candidate("m1", "t1", frozenset({"INBOX"}))]


@pytest.mark.parametrize("label", ["STARRED", "IMPORTANT", "UNREAD", "Label_7", "CATEGORY_SOCIAL"])
def test_candidates_labels_added_other_labels_ignored(label: str) -> None:
    # Even when the message already sits in the inbox: a label change is not a new message.
    assert candidates(page(labelled(msg("m1", "INBOX", label), label))) == []


def test_candidates_labels_added_inbox_to_trashed_message_skipped() -> None:
    assert candidates(page(labelled(msg("m1", "INBOX", "TRASH"), "INBOX"))) == []


def test_candidates_labels_removed_and_deleted_ignored() -> None:
    message = msg("m1", "INBOX")
    found = candidates(
        page(
            {"id": "1", "labelsRemoved": [{"message": message, "labelIds": ["UNREAD"]}]},
            {"id": "2", "messagesDeleted": [{"message": message}]},
            {"id": "3", "messages": [message]},
        )
    )
    assert found == []


def test_candidates_duplicates_once_in_first_seen_order() -> None:
    found = candidates(
        page(
            added(msg("m1", "INBOX", thread="t1"), "101"),
            added(msg("m2", "SENT", thread="t2"), "102"),
            labelled(msg("m1", "INBOX", "UNREAD", thread="t1"), "INBOX", record_id="103"),
            added(msg("m3", "INBOX", thread="t3"), "104"),
            added(msg("m2", "SENT", thread="t2"), "105"),
            labelled(msg("m3", "INBOX", thread="t3"), "INBOX", record_id="106"),
        )
    )
    assert ids(found) == ["m1", "m2", "m3"]
    assert len({c.gmail_id for c in found}) == 3


def test_candidates_duplicates_within_one_record() -> None:
    message = msg("m1", "INBOX")
    record = {
        "id": "1",
        "messagesAdded": [{"message": message}, {"message": message}],
        "labelsAdded": [{"message": message, "labelIds": ["INBOX"]}],
    }
    assert ids(candidates(page(record))) == ["m1"]


@pytest.mark.parametrize("later", [("INBOX", "DRAFT"), ("DRAFT",), ("INBOX", "TRASH"), ("SPAM",)])
def test_candidates_added_then_re_added_unreadable_is_dropped(later: tuple[str, ...]) -> None:
    found = candidates(
        page(
            added(msg("m1", "INBOX"), "1"),
            added(msg("m2", "INBOX"), "2"),
            added(msg("m1", *later), "3"),
        )
    )
    assert ids(found) == ["m2"]


def test_candidates_added_then_labelled_inbox_while_trashed_is_dropped() -> None:
    found = candidates(
        page(
            added(msg("m1", "INBOX"), "1"),
            labelled(msg("m1", "INBOX", "TRASH"), "INBOX", "TRASH", record_id="2"),
        )
    )
    assert found == []


@pytest.mark.parametrize("label", ["TRASH", "SPAM", "DRAFT"])
def test_candidates_added_then_given_skip_label_is_dropped(label: str) -> None:
    # Regression: a labelsAdded of only DRAFT/SPAM/TRASH used to be ignored, so it stayed.
    found = candidates(
        page(
            added(msg("m1", "INBOX"), "1"),
            labelled(msg("m1", "INBOX", label), label, record_id="2"),
        )
    )
    assert found == []


def test_candidates_dropped_then_restored_comes_back() -> None:
    found = candidates(
        page(
            added(msg("m1", "INBOX"), "1"),
            added(msg("m2", "INBOX"), "2"),
            added(msg("m1", "INBOX", "TRASH"), "3"),
            labelled(msg("m1", "INBOX"), "INBOX", record_id="4"),
        )
    )
    assert ids(found) == ["m2", "m1"]


def test_candidates_latest_labels_win() -> None:
    found = candidates(
        page(
            added(msg("m1", "INBOX", "UNREAD"), "1"),
            labelled(msg("m1", "INBOX", "IMPORTANT"), "INBOX", record_id="2"),
        )
    )
    assert found == [Candidate("m1", "t-m1", frozenset({"INBOX", "IMPORTANT"}))]


@pytest.mark.parametrize("thread", [_MISSING, None, ""])
def test_candidates_thread_defaults_to_message_id(thread: Any) -> None:
    message = msg("m1", "INBOX", thread=thread)
    if thread is _MISSING:
        del message["threadId"]
    assert candidates(page(added(message))) == [Candidate("m1", "m1", frozenset({"INBOX"}))]


def test_candidates_numeric_ids_become_strings() -> None:
    found = candidates(page(added(msg(12345, "INBOX", thread=678))))
    assert found == [Candidate("12345", "678", frozenset({"INBOX"}))]


@pytest.mark.parametrize(
    "the_page",
    [
        {},
        {"history": None},
        {"history": []},
        {"historyId": "55"},
        {"history": [None, "junk", 5, [], {}]},
        {"history": [{"messagesAdded": None, "labelsAdded": None}]},
        {"history": [{"messagesAdded": [], "labelsAdded": []}]},
        {"history": [{"messagesAdded": [{}]}]},
        {"history": [{"messagesAdded": [{"message": None}]}]},
        {"history": [{"messagesAdded": [{"message": "m1"}]}]},
        {"history": [{"messagesAdded": [{"message": ["m1"]}]}]},
        {"history": [{"messagesAdded": [{"message": {"labelIds": ["INBOX"]}}]}]},
        {"history": [{"messagesAdded": [{"message": {"id": "", "labelIds": ["INBOX"]}}]}]},
        {"history": [{"messagesAdded": [{"message": {"id": None, "labelIds": ["INBOX"]}}]}]},
        {"history": [{"messagesAdded": [{"message": {"id": "m1", "labelIds": None}}]}]},
        {"history": [{"labelsAdded": [{"message": {"id": "m1"}, "labelIds": None}]}]},
        {"history": [{"labelsAdded": [{"message": {"id": "m1"}}]}]},
        {"history": [{"labelsAdded": [{"labelIds": ["INBOX"]}]}]},
        {"history": [{"labelsAdded": [{"message": None, "labelIds": ["INBOX"]}]}]},
    ],
)
def test_candidates_malformed_records_ignored(the_page: dict[str, Any]) -> None:
    assert candidates(the_page) == []


def test_candidates_malformed_records_do_not_hide_good_ones() -> None:
    found = candidates(
        page(
            None,
            "junk",
            {"messagesAdded": [{"message": None}]},
            added(msg("m1", "INBOX")),
            {"labelsAdded": [{"message": {"id": ""}, "labelIds": ["INBOX"]}]},
            added(msg("m2", "SENT")),
        )
    )
    assert ids(found) == ["m1", "m2"]


@pytest.mark.parametrize(
    "record",
    [
        {"messagesAdded": ["junk"]},
        {"messagesAdded": [None]},
        {"messagesAdded": "abc"},
        {"messagesAdded": {"message": {"id": "m1"}}},
        {"labelsAdded": [None]},
        {"labelsAdded": [5]},
    ],
    ids=["str-entry", "null-entry", "str-list", "dict-list", "labels-null", "labels-int"],
)
def test_candidates_malformed_entries_ignored(record: dict[str, Any]) -> None:
    # Regression: non-object entries raised AttributeError instead of being skipped.
    assert candidates(page(record, added(msg("m1", "INBOX")))) == [
        Candidate("m1", "t-m1", frozenset({"INBOX"}))
    ]


# --------------------------------------------------------------------------------------------
# page_cursor


def test_page_cursor_last_page_uses_page_history_id() -> None:
    the_page = page({"id": "100"}, {"id": "200"}, historyId="900")
    assert page_cursor(the_page) == 900


def test_page_cursor_last_page_history_id_as_int() -> None:
    assert page_cursor(page({"id": "100"}, historyId=901)) == 901


def test_page_cursor_last_page_without_records() -> None:
    assert page_cursor({"historyId": "902"}) == 902
    assert page_cursor({"history": [], "historyId": "903"}) == 903


def test_page_cursor_middle_page_uses_max_record_id() -> None:
    the_page = page({"id": "100"}, {"id": "300"}, {"id": 250}, nextPageToken="tok", historyId="900")
    assert page_cursor(the_page) == 300


def test_page_cursor_middle_page_compares_numerically() -> None:
    the_page = page({"id": "99"}, {"id": "1000"}, {"id": "200"}, nextPageToken="tok")
    assert page_cursor(the_page) == 1000


def test_page_cursor_middle_page_without_records_is_none() -> None:
    assert page_cursor({"nextPageToken": "tok", "historyId": "900"}) is None
    assert page_cursor({"nextPageToken": "tok", "history": []}) is None


@pytest.mark.parametrize("the_page", [{}, {"history": []}, {"history": None}])
def test_page_cursor_empty_page_without_history_id_is_none(the_page: dict[str, Any]) -> None:
    assert page_cursor(the_page) is None


def test_page_cursor_empty_token_counts_as_last_page() -> None:
    assert page_cursor(page({"id": "5"}, nextPageToken="", historyId="10")) == 10
    assert page_cursor(page({"id": "5"}, nextPageToken=None, historyId="10")) == 10


@pytest.mark.parametrize("bad", ["abc", "", "-1", "12; drop", "9" * 21, True, None, 1.5])
def test_page_cursor_invalid_page_history_id_falls_back_to_records(bad: Any) -> None:
    assert page_cursor(page({"id": "100"}, {"id": "150"}, historyId=bad)) == 150


def test_page_cursor_skips_invalid_record_ids() -> None:
    the_page = page(
        {"id": "x"},
        {"id": None},
        {"id": "-5"},
        {"id": "1; 2"},
        {"id": "9" * 21},
        {},
        {"id": "70"},
        nextPageToken="tok",
    )
    assert page_cursor(the_page) == 70


def test_page_cursor_no_valid_records_is_none() -> None:
    assert page_cursor(page({"id": "x"}, {}, nextPageToken="tok")) is None


def test_page_cursor_ignores_malformed_records_like_candidates() -> None:
    # Regression: page_cursor raised AttributeError on records candidates() skips.
    the_page = page("junk", None, {"id": "70"}, nextPageToken="tok")
    assert candidates(the_page) == []
    assert page_cursor(the_page) == 70


# --------------------------------------------------------------------------------------------
# forward


@pytest.mark.parametrize(
    ("stored", "candidate", "expected"),
    [
        (None, None, None),
        (None, 5, 5),
        (10, None, 10),
        ("10", None, 10),
        (10, 5, 10),
        ("10", 5, 10),
        (10, 10, 10),
        ("10", 50, 50),
        (10, 50, 50),
        ("999", 1000, 1000),  # numeric, not string, comparison
        ("1000", 999, 1000),
        ("abc", 5, 5),
        ("abc", None, None),
        ("", 7, 7),
        ("-3", 2, 2),
        (0, None, 0),
        ("0", 3, 3),
    ],
)
def test_forward(stored: Any, candidate: int | None, expected: int | None) -> None:
    result = forward(stored, candidate)
    assert result == expected
    assert result is None or type(result) is int


HISTORY = st.integers(min_value=0, max_value=10**20 - 1)


@FAST
@given(st.one_of(st.none(), HISTORY, HISTORY.map(str)), st.one_of(st.none(), HISTORY))
def test_forward_never_moves_back(stored: int | str | None, candidate: int | None) -> None:
    result = forward(stored, candidate)
    known = [int(v) for v in (stored, candidate) if v is not None]
    assert result == (max(known) if known else None)
    if stored is not None:
        assert result is not None
        assert result >= int(stored)


@FAST
@given(st.lists(st.one_of(st.none(), HISTORY), max_size=20), st.one_of(st.none(), HISTORY))
def test_forward_folded_cursor_is_monotonic(steps: list[int | None], start: int | None) -> None:
    cursor: int | str | None = None if start is None else str(start)
    seen: list[int] = []
    for step in steps:
        cursor = forward(cursor, step)
        if cursor is not None:
            assert not seen or cursor >= seen[-1]
            seen.append(cursor)
            cursor = str(cursor)  # stored as a string between syncs
    values = [v for v in [start, *steps] if v is not None]
    final = seen[-1] if seen else start
    assert final == (max(values) if values else None)


# --------------------------------------------------------------------------------------------
# resync_window

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
EXCLUSIONS = ["-in:drafts", "-in:spam", "-in:trash", "-in:chats"]


def test_resync_window_applies_margin() -> None:
    window = resync_window(NOW - timedelta(days=2), NOW, max_days=7, margin=timedelta(hours=1))
    assert window == ResyncWindow(
        "after:1715166000 -in:drafts -in:spam -in:trash -in:chats",
        datetime(2024, 5, 8, 11, 0, tzinfo=UTC),
        False,
    )


def test_resync_window_clipped_when_too_old() -> None:
    window = resync_window(NOW - timedelta(days=30), NOW, max_days=7, margin=timedelta(hours=1))
    assert window.since == NOW - timedelta(days=7)
    assert window.clipped is True
    assert window.query.startswith(f"after:{int((NOW - timedelta(days=7)).timestamp())} ")


def test_resync_window_margin_alone_can_clip() -> None:
    last = NOW - timedelta(days=7) + timedelta(minutes=30)
    window = resync_window(last, NOW, max_days=7, margin=timedelta(hours=1))
    assert window.since == NOW - timedelta(days=7)
    assert window.clipped is True


def test_resync_window_exactly_at_the_limit_is_not_clipped() -> None:
    last = NOW - timedelta(days=7) + timedelta(hours=1)
    window = resync_window(last, NOW, max_days=7, margin=timedelta(hours=1))
    assert window.since == NOW - timedelta(days=7)
    assert window.clipped is False


def test_resync_window_without_last_sync_goes_max_days_back() -> None:
    window = resync_window(None, NOW, max_days=3, margin=timedelta(hours=1))
    assert window.since == datetime(2024, 5, 7, 12, 0, tzinfo=UTC)
    assert window.clipped is False
    assert window.query == "after:1715083200 -in:drafts -in:spam -in:trash -in:chats"


def test_resync_window_query_uses_whole_epoch_seconds() -> None:
    last = datetime(2024, 5, 9, 8, 30, 15, 987654, tzinfo=UTC)
    window = resync_window(last, NOW, max_days=7, margin=timedelta(seconds=0))
    after, *rest = window.query.split()
    assert after == "after:1715243415"
    assert re.fullmatch(r"after:[0-9]+", after)
    assert rest == EXCLUSIONS
    assert window.since == last


def test_resync_window_time_zone_does_not_change_epoch() -> None:
    plus_two = timezone(timedelta(hours=2))
    last_utc = datetime(2024, 5, 9, 6, 0, tzinfo=UTC)
    utc = resync_window(last_utc, NOW, max_days=7, margin=timedelta(minutes=5))
    local = resync_window(
        last_utc.astimezone(plus_two),
        NOW.astimezone(plus_two),
        max_days=7,
        margin=timedelta(minutes=5),
    )
    assert utc.query == local.query == "after:1715234100 " + " ".join(EXCLUSIONS)


def test_resync_window_query_excludes_drafts_spam_trash_chats() -> None:
    query = resync_window(NOW, NOW, max_days=1, margin=timedelta(minutes=10)).query
    tokens = query.split()
    for excluded in EXCLUSIONS:
        assert excluded in tokens
    assert not any(t.startswith(("in:", "before:", "is:")) for t in tokens)


@FAST
@given(
    st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        ),
    ),
    st.integers(min_value=1, max_value=400),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_resync_window_properties(last: datetime | None, max_days: int, margin: timedelta) -> None:
    window = resync_window(last, NOW, max_days=max_days, margin=margin)
    oldest = NOW - timedelta(days=max_days)
    assert window.since >= oldest
    if last is not None:
        assert window.since == max(last - margin, oldest)
        assert window.clipped is (last - margin < oldest)
    else:
        assert window.since == oldest
        assert window.clipped is False
    assert window.query == f"after:{int(window.since.timestamp())} " + " ".join(EXCLUSIONS)


# --------------------------------------------------------------------------------------------
# token_secret_name


def _digest(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()[:10]


def test_token_secret_name_readable_and_hashed() -> None:
    assert token_secret_name("maya@ourco.com") == (
        f"gmail-refresh-maya-ourco-com-{_digest('maya@ourco.com')}"
    )


def test_token_secret_name_distinct_for_same_slug() -> None:
    dotted = token_secret_name("maya.x@a.com")
    dashed = token_secret_name("maya-x@a.com")
    plus = token_secret_name("maya+x@a.com")
    assert dotted.startswith("gmail-refresh-maya-x-a-com-")
    assert dashed.startswith("gmail-refresh-maya-x-a-com-")
    assert len({dotted, dashed, plus}) == 3


def test_token_secret_name_case_and_whitespace_insensitive() -> None:
    expected = token_secret_name("maya@a.com")
    assert token_secret_name("Maya@A.com") == expected
    assert token_secret_name("MAYA@A.COM") == expected
    assert token_secret_name("  maya@a.com\n") == expected


def test_token_secret_name_very_long_address() -> None:
    base = "a" * 400 + "@" + "b" * 300 + ".com"
    first = token_secret_name(base)
    second = token_secret_name(base.replace(".com", ".org"))
    for name in (first, second):
        assert SECRET_ID.match(name)
        assert len(name) <= 255
    assert first != second  # same truncated slug, different address


@pytest.mark.parametrize("address", ["josé@exämple.com", "用户@例子.广告", "", "@@@", "---", "\t"])
def test_token_secret_name_odd_addresses_still_valid(address: str) -> None:
    assert SECRET_ID.match(token_secret_name(address))


@FAST
@given(st.text(max_size=600))
def test_token_secret_name_always_a_valid_secret_id(address: str) -> None:
    name = token_secret_name(address)
    assert SECRET_ID.match(name), name
    assert name.startswith("gmail-refresh-")


@settings(max_examples=30, deadline=None)
@given(st.emails())
def test_token_secret_name_ignores_ascii_case(address: str) -> None:
    name = token_secret_name(address)
    assert token_secret_name(address.upper()) == name
    assert token_secret_name(address.lower()) == name


def test_token_secret_name_distinct_for_every_address_sharing_a_slug() -> None:
    separators = [".", "-", "_", "+", "=", "--", ".-"]
    addresses = {f"maya{a}x@ourco{b}com" for a in separators for b in (".", "-")}
    names = {token_secret_name(address) for address in addresses}
    slugs = {name.rsplit("-", 1)[0] for name in names}
    assert len(names) == len(addresses)
    assert slugs == {"gmail-refresh-maya-x-ourco-com"}


# --------------------------------------------------------------------------------------------
# document ids


def test_message_and_thread_doc_ids() -> None:
    assert message_doc_id("maya@ourco.com", "18f2a") == "maya@ourco.com:18f2a"
    assert thread_doc_id("maya@ourco.com", "18f00") == "maya@ourco.com:18f00"


def test_doc_ids_differ_per_mailbox() -> None:
    assert message_doc_id("a@x.com", "1") != message_doc_id("b@x.com", "1")
    assert thread_doc_id("a@x.com", "1") != thread_doc_id("b@x.com", "1")
