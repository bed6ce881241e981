"""Intent of a prospect's reply: multilingual rules, and the LLM answer's schema and validator."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.intent import (
    INTENT_SCHEMA,
    Intent,
    IntentResult,
    asks_to_unsubscribe,
    classify_intent_rules,
    parse_intent_answer,
)

CASES: dict[Intent, list[str]] = {
    Intent.INTERESTED: [
        "Sounds great, tell me more.",
        "We are interested.",
        "Klingt gut, wir sind interessiert.",
        "Ça m'intéresse, je veux en savoir plus.",
        "Me interesa, suena bien.",
    ],
    Intent.QUESTION: [
        "What does it cost for 50 users?",
        "Do you support SAML single sign-on",
        "Was kostet das für 50 Nutzer?",
        "Combien coûte la licence ?",
        "¿Cuánto cuesta la licencia?",
    ],
    Intent.MEETING_REQUEST: [
        "Can we schedule a call next Tuesday?",
        "Tuesday at 3pm works for me.",
        "Können wir einen Termin für Dienstag finden?",
        "Pouvons-nous prendre rendez-vous jeudi ?",
        "¿Podemos agendar una llamada el jueves?",
    ],
    Intent.NOT_NOW: [
        "Not right now, maybe next quarter.",
        "Derzeit nicht, melden Sie sich im nächsten Quartal.",
        "Pas pour le moment, recontactez-moi l'année prochaine.",
        "Ahora no, quizás más adelante.",
        "No nos interesa por ahora, gracias.",
    ],
    Intent.NOT_INTERESTED: [
        "We're not interested, thanks.",
        "We already use Salesforce for this.",
        "Kein Interesse, danke.",
        "Pas intéressé, merci.",
        "No nos interesa, gracias.",
    ],
    Intent.UNSUBSCRIBE: [
        "Please unsubscribe me.",
        "Stop emailing me.",
        "Bitte tragen Sie mich aus dem Verteiler aus.",
        "Merci de ne plus me contacter.",
        "Por favor, darme de baja.",
    ],
    Intent.OTHER: [
        "Thanks for the note.",
        "Danke für die Nachricht.",
        "Bien reçu.",
        "Recibido.",
    ],
}


@pytest.mark.parametrize(
    ("intent", "text"),
    [(intent, text) for intent, texts in CASES.items() for text in texts],
)
def test_rules_by_intent_and_language(intent: Intent, text: str) -> None:
    result = classify_intent_rules(text, "Re: Demo")
    assert result.intent is intent, result
    assert 0.0 < result.confidence <= 0.85
    assert result.reasons
    assert result.source == "rules"


def test_rule_confidences_are_conservative() -> None:
    for texts in CASES.values():
        for text in texts:
            assert classify_intent_rules(text, "").confidence <= 0.85


def test_unsubscribe_beats_interest() -> None:
    result = classify_intent_rules("Looks interesting, but please remove me from your list.", "")
    assert result.intent is Intent.UNSUBSCRIBE
    assert any("interested" in r for r in result.reasons)
    assert "mixed signals: confidence lowered" in result.reasons


def test_negation_is_not_read_as_interest() -> None:
    for text in ("We're not interested.", "No nos interesa.", "Pas intéressé."):
        result = classify_intent_rules(text, "")
        assert result.intent is Intent.NOT_INTERESTED
        assert not any(r.startswith("also interested") for r in result.reasons)


def test_not_now_with_interest_is_not_now_with_lower_confidence() -> None:
    result = classify_intent_rules("Not interested right now, but tell me more next year.", "")
    assert result.intent is Intent.NOT_NOW
    assert result.confidence < 0.6


def test_meeting_request_beats_the_question_mark() -> None:
    result = classify_intent_rules("Are you free on Thursday?", "")
    assert result.intent is Intent.MEETING_REQUEST
    assert "also question: the reply says '?'" in result.reasons


def test_question_beats_plain_interest() -> None:
    assert classify_intent_rules("Interested! What's the price?", "").intent is Intent.QUESTION


def test_subject_counts_only_for_unsubscribe() -> None:
    assert classify_intent_rules("", "Unsubscribe").intent is Intent.UNSUBSCRIBE
    assert classify_intent_rules("Thanks.", "Re: interested in a demo?").intent is Intent.OTHER


def test_empty_reply_is_other_with_low_confidence() -> None:
    result = classify_intent_rules("", "Re: Demo")
    assert (result.intent, result.confidence) == (Intent.OTHER, 0.2)


def test_curly_apostrophes_are_understood() -> None:
    assert classify_intent_rules("We’re not interested.", "").intent is Intent.NOT_INTERESTED


def test_asks_to_unsubscribe_returns_the_phrase() -> None:
    assert asks_to_unsubscribe("Hi, please unsubscribe me") == "unsubscribe"
    assert asks_to_unsubscribe("Happy to talk") is None


def test_rules_are_deterministic() -> None:
    text = "Not interested right now, but tell me more next year."
    assert classify_intent_rules(text, "x") == classify_intent_rules(text, "x")


# --------------------------------------------------------------------------------------------
# The LLM path


def _objects(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        types = schema.get("type")
        if types == "object" or (isinstance(types, list) and "object" in types):
            found.append(schema)
        for value in schema.values():
            found.extend(_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_objects(value))
    return found


def test_schema_is_strict() -> None:
    objects = _objects(INTENT_SCHEMA)
    assert objects
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert set(obj["required"]) == set(obj["properties"])


def test_schema_enum_lists_every_intent() -> None:
    assert INTENT_SCHEMA["properties"]["intent"]["enum"] == [i.value for i in Intent]


def test_valid_answer() -> None:
    answer = {"intent": "meeting_request", "confidence": 0.92, "reasons": ["asks for Tuesday"]}
    assert parse_intent_answer(answer) == IntentResult(
        Intent.MEETING_REQUEST, 0.92, ("asks for Tuesday",), "llm"
    )


def test_valid_answer_as_json_text() -> None:
    result = parse_intent_answer('{"intent": "question", "confidence": 1, "reasons": []}')
    assert (result.intent, result.confidence) == (Intent.QUESTION, 1.0)


def test_unknown_intent_becomes_other() -> None:
    result = parse_intent_answer({"intent": "buy_now", "confidence": 0.99, "reasons": []})
    assert result.intent is Intent.OTHER
    assert result.confidence <= 0.3
    assert any("unknown intent 'buy_now'" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("answer", "confidence"),
    [
        ({"intent": "interested", "confidence": 7, "reasons": []}, 1.0),
        ({"intent": "interested", "confidence": -1, "reasons": []}, 0.0),
        ({"intent": "interested", "confidence": "high", "reasons": []}, 0.0),
        ({"intent": "interested", "confidence": True, "reasons": []}, 0.0),
        ({"intent": "interested", "confidence": float("nan"), "reasons": []}, 0.0),
        ({"intent": "interested"}, 0.0),
    ],
)
def test_confidence_is_clamped_or_zeroed(answer: dict[str, Any], confidence: float) -> None:
    result = parse_intent_answer(answer)
    assert result.intent is Intent.INTERESTED
    assert result.confidence == confidence


def test_reasons_are_cut_and_non_strings_dropped() -> None:
    answer = {"intent": "other", "confidence": 0.5, "reasons": ["x" * 1000, 5, None, *"abcdef"]}
    result = parse_intent_answer(answer)
    assert len(result.reasons) == 5
    assert len(result.reasons[0]) == 300


@pytest.mark.parametrize("answer", [None, [], "not json", b"\xff", 42, '["list"]'])
def test_invalid_answers_are_other_with_zero_confidence(answer: object) -> None:
    result = parse_intent_answer(answer)
    assert (result.intent, result.confidence, result.source) == (Intent.OTHER, 0.0, "llm")
    assert result.reasons[0].startswith("invalid answer")
