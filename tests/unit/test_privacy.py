"""The privacy rules without I/O: pseudonyms, recognising a person in text, retention cuts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.privacy import (
    REMOVED,
    NotAnEmail,
    Person,
    body_free_workflow,
    contact_key,
    normalize_email,
    person_key,
)


def test_an_address_is_normalised_and_anything_else_refused():
    assert normalize_email("  Dana@Northwind.Example ") == "dana@northwind.example"
    for bad in ("", "dana", "dana@", "a@b", "dana@northwind.example, tom@acme.example", None):
        with pytest.raises(NotAnEmail):
            normalize_email(bad)


def test_the_pseudonym_is_stable_case_blind_and_names_nobody():
    key = person_key("dana@northwind.example")
    assert key == person_key("DANA@northwind.example ")
    assert key != person_key("dana@northwind.example.org")
    assert len(key) == 64
    assert "dana" not in key
    assert contact_key(701) == contact_key("701") != contact_key(702)
    assert contact_key(701) != person_key("701")


def test_a_person_is_recognised_by_address_and_full_name_only():
    dana = Person.of("dana@northwind.example", ["Dana Whitfield", "Dana", None, "  "])
    assert dana.names == ("Dana Whitfield",)  # a first name alone would erase strangers
    assert dana.mentioned_in("write to DANA@northwind.example today")
    assert dana.mentioned_in("I met dana\n  whitfield at the fair")
    assert not dana.mentioned_in("Dana from accounting called")
    assert not dana.mentioned_in("Dana Whitfieldson is someone else")
    assert not dana.mentioned_in("adana whitfield")
    assert dana.mentioned_anywhere({"to": [{"name": "x", "email": "dana@northwind.example"}]})
    assert dana.mentioned_anywhere({"Dana Whitfield": 1})  # keys count too
    assert not dana.mentioned_anywhere({"n": 701, "b": b"dana@northwind.example"})


def test_a_mention_is_redacted_and_nothing_else():
    dana = Person.of("dana@northwind.example", ["Dana Whitfield"])
    text = "Dana Whitfield (dana@northwind.example) said Dana from accounting agrees."
    assert dana.redact(text) == f"{REMOVED} ({REMOVED}) said Dana from accounting agrees."


@given(st.text(max_size=200))
def test_redacted_text_never_mentions_them(text):
    dana = Person.of("dana@northwind.example", ["Dana Whitfield"])
    mixed = f"{text} Dana Whitfield {text} dana@northwind.example {text}"
    assert not dana.mentioned_in(dana.redact(mixed))


def test_a_finished_workflow_keeps_its_outcome_and_loses_its_texts():
    workflow = {
        "state": "waiting_reply",
        "draft": {
            "subject": "Forecasting",
            "body": "Hi Dana, ...",
            "context": [{"id": "ask", "text": "What does it cost?"}],
            "gate": {"verdict": "ready", "risk": 5},
            "content_hash": "ab" * 32,
            "meeting": {"start": "2026-01-01T10:00", "agenda": "her numbers"},
        },
        "sends": [{"seq": 1, "subject": "Forecasting", "body": "Hi Dana", "gmail_id": "g1"}],
        "instruction": {"text": "shorter", "by": "maya@x"},
    }
    update = body_free_workflow(workflow)
    assert update["draft.body"] is None
    assert update["draft.context"] is None
    assert update["draft.meeting.agenda"] is None
    assert update["instruction"] is None
    assert update["sends"] == [{"seq": 1, "subject": "Forecasting", "gmail_id": "g1"}]
    assert not any(k.startswith(("draft.gate", "draft.content_hash", "state")) for k in update)
    assert body_free_workflow({"state": "closed"}) == {"bodies_removed": True}
