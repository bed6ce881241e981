"""The voice profile's pure parts: statistics, the guide in words, chunks, exemplars."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.voice_profile import (
    CHUNK_MAX_CHARS,
    SampleStats,
    choose_exemplars,
    chunk_text,
    content_hash,
    guide_from_answer,
    guide_from_stats,
    merge_stats,
    profile_fingerprint,
    sample_stats,
)

MAYA = [
    "Hi Lena,\n\nGood question. Across our retail customers last quarter, median forecast "
    "error came in around 8%, down from 14%.\n\nHappy to walk you through how we measure it. "
    "Does Thursday at 10 work?\n\nCheers,\nMaya",
    "Hi Sam,\n\nThanks for asking. For 20 seats you'd be on our Team plan; I'll send the exact "
    "quote once I know which data sources you need.\n\nCould you share those in a line or "
    "two?\n\nCheers,\nMaya",
    "Hi Priya,\n\nGreat to hear from you. I'm happy to walk you through the pilot next week, "
    "and we can look at your seasonal peaks together.\n\nWould Tuesday suit?\n\nCheers,\nMaya",
]
FORMAL = [
    "Dear Mr Smith,\n\nPlease find attached the proposal we discussed. I would like to "
    "arrange a meeting at your convenience.\n\nKind regards,\nRobert",
    "Dear Ms Jones,\n\nThank you for your enquiry. Please find our price list attached. I "
    "would like to confirm the details by telephone.\n\nKind regards,\nRobert",
]


def test_a_rep_who_signs_off_with_cheers_gets_that_in_the_stats_and_the_guide():
    style = merge_stats([sample_stats(text, "gmail") for text in MAYA])

    assert style.sign_offs[0] == ("Cheers", 3)
    assert style.greetings[0] == ("Hi", 3)
    assert style.formality == "casual"
    guide = guide_from_stats(style)
    assert 'Sign-off: usually "Cheers,"' in guide
    assert 'Greeting: usually "Hi <first name>,"' in guide
    assert "walk you through" in " ".join(style.phrases)


def test_a_formal_writer_reads_as_formal():
    style = merge_stats([sample_stats(text, "eml") for text in FORMAL])

    assert style.formality == "formal"
    assert style.sign_offs[0] == ("Kind regards", 2)
    assert style.greetings[0] == ("Dear", 2)


def test_talk_transcripts_count_for_style_but_not_for_greetings():
    talk = "hi everyone so today I want to talk about forecasting. " * 20
    stats = sample_stats(talk, "youtube")
    assert stats.greeting is None
    assert stats.sign_off is None
    style = merge_stats([stats, *(sample_stats(t, "gmail") for t in MAYA)])
    assert style.email_samples == 3
    assert style.greetings == [("Hi", 3)]


def test_what_the_rep_never_does():
    style = merge_stats([sample_stats(text, "gmail") for text in MAYA * 3])

    assert "uses exclamation marks" in style.never
    assert "uses emoji" in style.never
    assert 'opens with "Dear"' in style.never
    assert "Never: " in guide_from_stats(style)


def test_stats_survive_a_round_trip_through_firestore_json():
    stats = sample_stats(MAYA[0], "gmail")
    assert SampleStats.from_json(stats.as_json()) == stats


def test_no_samples_gives_a_plain_default_guide():
    assert "No samples yet" in guide_from_stats(merge_stats([]))


def test_chunks_keep_paragraphs_and_stay_under_the_limit():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(15))
    chunks = chunk_text(text)
    assert len(chunks) > 3
    assert all(len(c) <= CHUNK_MAX_CHARS for c in chunks)
    assert re.sub(r"\s+", " ", " ".join(chunks)) == re.sub(r"\s+", " ", text).strip()


def test_one_enormous_sentence_is_cut_hard():
    chunks = chunk_text("x" * 5000)
    assert all(len(c) <= CHUNK_MAX_CHARS for c in chunks)
    assert "".join(chunks) == "x" * 5000


@given(st.text(min_size=0, max_size=3000))
def test_chunking_never_loses_words(text):
    chunks = chunk_text(text)
    assert all(len(c) <= CHUNK_MAX_CHARS for c in chunks)
    assert "".join(text.split()) == "".join("".join(chunks).split())


def test_content_hash_ignores_case_and_spacing_only():
    assert content_hash("Hello  World\n") == content_hash("hello world")
    assert content_hash("hello world") != content_hash("hello, world")


def test_exemplars_are_chosen_for_variety():
    near_a = [1.0, 0.0, 0.0]
    near_b = [0.0, 1.0, 0.0]
    text = "A well sized passage. " * 10
    passages = [
        ("a1", text, near_a),
        ("a2", text, [0.99, 0.05, 0.0]),
        ("a3", text, [0.98, 0.0, 0.05]),
        ("b1", text, near_b),
    ]
    chosen = choose_exemplars(passages, k=2)
    assert len(chosen) == 2
    assert "b1" in chosen


def test_llm_guide_keeps_the_measured_length_and_adds_never_rules():
    style = merge_stats([sample_stats(text, "gmail") for text in MAYA * 3])
    answer = {
        "summary": "Friendly and concise.",
        "length": "short",
        "formality": "casual but professional",
        "greeting": "Hi <name>,",
        "sign_off": "Cheers,",
        "sentences_and_paragraphs": "short paragraphs",
        "vocabulary": ["walk you through", 7],
        "never": ["uses jargon"],
    }
    guide = guide_from_answer(answer, style)
    assert f"typically about {style.typical_words} words" in guide
    assert "uses jargon" in guide
    assert "uses exclamation marks" in guide
    assert "7" not in guide.split("Vocabulary")[1].split("\n")[0]


def test_fingerprint_depends_on_the_set_not_the_order():
    a = profile_fingerprint([("s1", "h1"), ("s2", "h2")])
    assert a == profile_fingerprint([("s2", "h2"), ("s1", "h1")])
    assert a != profile_fingerprint([("s1", "h1"), ("s2", "h3")])
