"""What a prospect's reply wants: rules for when no LLM is configured, and the LLM answer's shape.

The rules read only the new text of the reply (never the quoted history, which holds our own
words) and the subject. They are multilingual keyword patterns (English, German, French,
Spanish, with Italian, Dutch and Portuguese where cheap) with conservative confidences: a rule
hit is a hint for the operator page and the drafter, not a certainty.

Precedence when several intents match: unsubscribe, not now, not interested, meeting request,
question, interested. A request to stop always wins; "not now" beats "not interested" because a
dated refusal ("not this quarter") is a different nurture outcome than a final one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Intent(StrEnum):
    INTERESTED = "interested"
    QUESTION = "question"
    MEETING_REQUEST = "meeting_request"
    NOT_NOW = "not_now"
    NOT_INTERESTED = "not_interested"
    UNSUBSCRIBE = "unsubscribe"
    OTHER = "other"


@dataclass(frozen=True)
class IntentResult:
    intent: Intent
    confidence: float
    reasons: tuple[str, ...] = ()
    source: str = "rules"  # "rules" or "llm"


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.UNICODE)


UNSUBSCRIBE_PATTERNS = _rx(
    # English
    r"\bunsubscribe\b",
    r"\bopt(?:\s|-)?out\b",
    r"\bremove (?:me|us|my (?:e-?mail|address|name))\b",
    r"\btake (?:me|us) off\b",
    r"\bstop (?:e-?mailing|emailing|contacting|sending|writing|messaging)\b",
    r"\b(?:do not|don'?t|dont|never) (?:e-?mail|contact|write to|message) (?:me|us)\b",
    r"\bno more (?:e-?mails|emails|messages)\b",
    r"^\s*stop\s*[.!]*\s*$",
    # German
    r"\babmelden\b",
    r"\babbestellen\b",
    r"\baustragen\b",
    r"\b(?:aus|von) (?:dem|ihrem|eurem|deinem|diesem) (?:e-?mail-?)?(?:verteiler|newsletter)\b",
    r"\bkeine (?:weiteren )?(?:e-?mails|nachrichten|werbung)\b",
    r"\b(?:nicht mehr|nie wieder) (?:kontaktieren|anschreiben|anrufen|schreiben)\b",
    r"\bkontaktieren sie mich nicht\b",
    r"\b(?:löschen|entfernen) sie (?:mich|meine (?:daten|adresse|e-?mail))\b",
    # French
    r"d[ée]sabonn",
    r"d[ée]sinscri",
    r"\bne (?:plus|pas) (?:me |nous )?(?:contacter|recontacter|[ée]crire|solliciter)\b",
    r"\bne me (?:contactez|[ée]crivez|sollicitez) plus\b",
    r"\b(?:retirez|supprimez|enlevez)[- ](?:moi|nous)\b",
    r"\barr[êe]tez de (?:m'|me |nous )",
    # Spanish
    r"\bdar(?:me|nos)? de baja\b",
    r"\bdarme de baja\b",
    r"\bcancelar (?:la |mi )?suscripci[óo]n\b",
    r"\bno (?:me|nos) (?:contacte[ns]?|contactes|escriba[ns]?|escribas|env[íi]e[ns]?)\b",
    r"\b(?:elim[íi]n(?:en|e|a)me|b[óo]rr(?:en|e|a)me|qu[íi]t(?:en|e|a)me)\b",
    r"\bdej(?:en|e|a|ad) de (?:enviarme|escribirme|contactarme)\b",
    # Italian, Dutch, Portuguese
    r"\bdisiscriv",
    r"\bcancellatemi\b|\bnon contattatemi\b|\bnon (?:mi )?contattare\b",
    r"\buitschrijven\b|\bafmelden\b|\bniet meer (?:mailen|contacteren|benaderen)\b",
    r"\bdescadastr|\bremova-me\b|\bn[ãa]o me (?:contate|contatem|envie)\b",
)

NOT_INTERESTED_PATTERNS = _rx(
    r"\bnot interested\b",
    r"\bno interest\b",
    r"\bno,? thanks?\b",
    r"\bno thank you\b",
    r"\bnot (?:a (?:good )?fit|relevant|for us)\b",
    r"\bwe(?:'re| are) (?:all set|good|covered|happy with)\b",
    r"\b(?:already (?:have|use|using|work with|signed with|chose|chosen))\b",
    r"\bwe(?:'ll| will) pass\b|\bpass on this\b",
    r"\b(?:don'?t|do not) (?:need|want)\b",
    r"\bnot looking for\b",
    r"\bgo(?:ne|ing) with (?:another|a different)\b",
    r"\bkein (?:interesse|bedarf)\b",
    r"\bnicht interessiert\b",
    r"\bnein,? danke\b",
    r"\b(?:brauchen|benötigen) (?:wir |das |so etwas )*(?:nicht|keine?)\b",
    r"\bhaben (?:bereits|schon) (?:eine?n? )?(?:lösung|anbieter|tool|system)\b",
    r"\bpas int[ée]ress[ée]",
    r"\b(?:aucun|pas d')int[ée]r[êe]t\b",
    r"\bnon,? merci\b",
    r"\bpas besoin\b",
    r"\bnous avons d[ée]j[àa]\b",
    r"\bno (?:me|nos) interesa\b",
    r"\bno (?:estoy|estamos) interesad[oa]s?\b",
    r"\bno,? gracias\b",
    r"\bno (?:lo )?necesitamos\b",
    r"\bya tenemos\b",
    r"\bnon (?:siamo|sono) interessat",
    r"\bgeen interesse\b",
    r"\bn[ãa]o (?:temos|tenho) interesse\b",
)

NOT_NOW_PATTERNS = _rx(
    r"\bnot (?:right )?now\b",
    r"\bnot? (?:\w+ ){0,5}(?:right now|at the moment|at this time|for now|this (?:quarter|year))\b",
    r"\b(?:nicht|kein\w*) (?:\w+ ){0,5}(?:derzeit|momentan|aktuell|im moment|zurzeit|gerade)\b",
    r"\bpas (?:\w+ ){0,5}(?:pour le moment|pour l'instant|en ce moment|actuellement)\b",
    r"\bnot (?:at )?(?:the|this) (?:moment|time)\b",
    r"\bnot this (?:quarter|year|month)\b",
    r"\bmaybe (?:later|next)\b",
    r"\b(?:next|in the new) (?:quarter|year|fiscal year)\b",
    r"\bin (?:a few|two|three|six|\d+) (?:weeks|months)\b",
    r"\b(?:reach|circle|check|follow) (?:out |back |up )?(?:again )?(?:in|next|after|later)\b",
    r"\bcircle back\b",
    r"\b(?:too busy|bad timing|timing is(?:n'?t| not) right)\b",
    r"\bno budget (?:right now|this year|until)\b",
    r"\bafter (?:the )?(?:holidays|summer|new year|q[1-4])\b",
    r"\b(?:derzeit|momentan|aktuell|gerade|im moment|zurzeit) (?:nicht|kein)",
    r"\b(?:später|spaeter)\b",
    r"\b(?:nächste[nms]?|naechste[nms]?|im neuen) (?:quartal|jahr|monat)\b",
    r"\bmelden sie sich (?:in|im|nach|gerne)\b",
    r"\bzu einem späteren zeitpunkt\b",
    r"\bpas (?:pour le moment|maintenant|tout de suite|pour l'instant)\b",
    r"\bplus tard\b",
    r"\b(?:le trimestre prochain|au prochain trimestre|l'ann[ée]e prochaine|le mois prochain)\b",
    r"\brecontacte[zr][- ](?:moi|nous)\b",
    r"\bpas le bon moment\b",
    r"\b(?:ahora|por ahora|por el momento|en este momento) no\b",
    r"\bno (?:\w+ ){0,5}(?:por ahora|de momento|por el momento|en este momento)\b",
    r"\bm[áa]s adelante\b",
    r"\bel (?:pr[óo]ximo (?:trimestre|año|mes)|(?:trimestre|año|mes) que viene)\b",
    r"\bno es (?:un )?buen momento\b",
    r"\bpi[ùu] avanti\b|\bper ora no\b",
    r"\bop dit moment niet\b|\blater dit jaar\b",
    r"\bmais tarde\b|\bagora n[ãa]o\b",
)

MEETING_PATTERNS = _rx(
    r"\b(?:schedule|book|set up|arrange|hop on|jump on|have) (?:a |an |the )?(?:quick |short )?"
    r"(?:call|meeting|demo|chat|time|zoom|teams)\b",
    r"\b(?:are|would) you (?:be )?(?:free|available)\b",
    r"\bwhat (?:time|times|day|days) (?:work|suit|are good)",
    r"\b(?:send|share) (?:me |us )?(?:a |an |your )?(?:calendar|calendly|invite|invitation|"
    r"booking link|meeting link|some times|a few times)\b",
    r"\blet'?s (?:talk|chat|meet|connect|speak|set up)\b",
    r"\b(?:happy|glad) to (?:talk|chat|meet|connect|jump on|hop on)\b",
    r"\b(?:call|meet|talk|speak|chat) (?:on|next|this|tomorrow|at)\b",
    r"\bcall me\b",
    r"\bworks for me\b",
    r"\b(?:termin|telefonat|telefontermin|videocall)\b",
    r"\b(?:kurzes?|ein) (?:gespräch|call|meeting|telefonat)\b",
    r"\b(?:wann haben sie zeit|haben sie (?:am|nächste|diese) \w+ zeit)\b",
    r"\b(?:treffen|sprechen|telefonieren) wir\b",
    r"\b(?:prendre|fixer|planifier|organiser|caler) (?:un )?(?:rendez-vous|rdv|appel|call|"
    r"cr[ée]neau|point|d[ée]mo)\b",
    r"\b(?:rendez-vous|rdv)\b",
    r"\b[êe]tes-vous disponible\b|\bvos disponibilit[ée]s\b",
    r"\b(?:agendar|programar|concertar|organizar|coordinar) (?:una )?(?:llamada|reuni[óo]n|cita|"
    r"demo|videollamada)\b",
    r"\b(?:est[áa]s?|est[áa]n) disponibles?\b",
    r"\bsu disponibilidad\b",
    r"\b(?:fissare|organizzare) (?:una )?(?:call|chiamata|riunione|demo)\b",
    r"\b(?:kunnen we|zullen we) (?:\w+ ){0,3}(?:bellen|afspreken)\b",
    r"\bpodemos (?:conversar|marcar|agendar)\b",
)

QUESTION_PATTERNS = _rx(
    r"\?",
    r"¿",
    r"\b(?:how much|what (?:is|are|does)|how (?:does|do|long|many)|is there|are there|"
    r"do you (?:have|offer|support|integrate)|can you|could you|does it)\b",
    r"\b(?:wie viel|was kostet|gibt es|haben sie|können sie|unterstützt|wie funktioniert)\b",
    r"\b(?:combien|est-ce que|avez-vous|pouvez-vous|proposez-vous|quel (?:est|sont))\b",
    r"\b(?:cu[áa]nto|tienen|pueden|ofrecen|c[óo]mo funciona)\b",
)

INTERESTED_PATTERNS = _rx(
    r"\binterested\b",
    r"\b(?:sounds|looks) (?:good|great|interesting|promising)\b",
    r"\btell me more\b|\blearn more\b|\bmore (?:info|information|details)\b",
    r"\b(?:keen|would love|let'?s do it|count (?:me|us) in|we(?:'re| are) in)\b",
    r"\bsend (?:me |us )?(?:the |some |more )?(?:info|details|pricing|proposal|deck)\b",
    r"\binteressier",
    r"\binteressant\b",
    r"\bklingt (?:gut|spannend|interessant)\b",
    r"\b(?:gerne|gern) mehr\b|\bmehr (?:infos|informationen|erfahren)\b",
    r"\bint[ée]ress[ée]",
    r"\bm'int[ée]resse\b|\bnous int[ée]resse\b",
    r"\ben savoir plus\b|\bavec plaisir\b",
    r"\binteresad[oa]s?\b|\b(?:me|nos) interesa\b",
    r"\bsuena (?:bien|interesante)\b|\bm[áa]s informaci[óo]n\b",
    r"\binteressat[oi]\b|\bgeïnteresseerd\b|\binteressados?\b",
)

_RULES: tuple[tuple[Intent, re.Pattern[str], float], ...] = (
    (Intent.UNSUBSCRIBE, UNSUBSCRIBE_PATTERNS, 0.85),
    (Intent.NOT_NOW, NOT_NOW_PATTERNS, 0.6),
    (Intent.NOT_INTERESTED, NOT_INTERESTED_PATTERNS, 0.7),
    (Intent.MEETING_REQUEST, MEETING_PATTERNS, 0.65),
    (Intent.QUESTION, QUESTION_PATTERNS, 0.55),
    (Intent.INTERESTED, INTERESTED_PATTERNS, 0.55),
)

MAX_RULE_TEXT = 5_000


def _hit(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(0).strip() if match else None


def asks_to_unsubscribe(text: str) -> str | None:
    """The phrase asking us to stop writing, if the text has one (also used by routing)."""
    return _hit(UNSUBSCRIBE_PATTERNS, _prepare(text))


def _prepare(text: str) -> str:
    text = (text or "")[:MAX_RULE_TEXT]
    return text.replace("’", "'").replace("`", "'")


_NEGATIVE = frozenset({Intent.UNSUBSCRIBE, Intent.NOT_NOW, Intent.NOT_INTERESTED})
_POSITIVE = frozenset({Intent.INTERESTED, Intent.MEETING_REQUEST})
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|wg|fwd?|tr|rv|r)\s*:\s*)+", re.IGNORECASE)


def classify_intent_rules(new_text: str, subject: str) -> IntentResult:
    """The intent of a reply by multilingual keyword rules. Pure and deterministic.

    A phrase that made a negative intent match is blanked before the later rules look, so
    "no me interesa" or "not interested" never also counts as interest.
    """
    body = _prepare(new_text)
    subject_text = _prepare(_REPLY_PREFIX.sub("", subject or ""))
    if not body.strip():
        phrase = _hit(UNSUBSCRIBE_PATTERNS, subject_text)
        if phrase is not None:
            return IntentResult(Intent.UNSUBSCRIBE, 0.75, (f"the subject says {phrase!r}",))
        return IntentResult(Intent.OTHER, 0.2, ("the reply has no new text",))
    hits: list[tuple[Intent, float, str]] = []
    remaining = body
    for intent, pattern, confidence in _RULES:
        phrase = _hit(pattern, remaining)
        if phrase is None and intent is Intent.UNSUBSCRIBE:
            phrase = _hit(pattern, subject_text)
            if phrase is not None:
                hits.append((intent, confidence - 0.1, f"the subject says {phrase!r}"))
                continue
        if phrase is None:
            continue
        hits.append((intent, confidence, f"{intent.value}: the reply says {phrase!r}"))
        if intent in _NEGATIVE:
            remaining = pattern.sub(" ", remaining)
    if not hits:
        return IntentResult(Intent.OTHER, 0.3, ("no rule matched",))
    intent, confidence, reason = hits[0]
    reasons = [reason, *(f"also {r}" for _, _, r in hits[1:])]
    others = {other for other, _, _ in hits[1:]}
    conflicting = (intent in _NEGATIVE and others & _POSITIVE) or (
        intent in _POSITIVE | {Intent.QUESTION} and others & _NEGATIVE
    )
    if conflicting:
        confidence -= 0.15
        reasons.append("mixed signals: confidence lowered")
    return IntentResult(intent, round(max(confidence, 0.1), 2), tuple(reasons))


# --------------------------------------------------------------------------------------------
# The LLM path: a strict JSON schema and a validator for its answer

INTENT_SCHEMA_NAME = "reply_intent"

INTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {
            "type": "string",
            "enum": [intent.value for intent in Intent],
            "description": "What the prospect's newest reply wants.",
        },
        "confidence": {
            "type": "number",
            "description": "How sure, from 0 to 1.",
        },
        "reasons": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Short quotes or facts from the reply that support the intent.",
        },
    },
    "required": ["intent", "confidence", "reasons"],
    "additionalProperties": False,
}

MAX_REASONS = 5
MAX_REASON_CHARS = 300


def parse_intent_answer(obj: object) -> IntentResult:
    """An IntentResult from the LLM's answer (a dict or its JSON text). Never raises.

    An unknown intent becomes `other`; a confidence outside 0..1 is clamped; reasons are cut
    to a few short strings. An answer that is not an object gives `other` with confidence 0
    and says why, so the caller can fall back to the rules.
    """
    if isinstance(obj, str | bytes | bytearray):
        try:
            obj = json.loads(obj)
        except (ValueError, UnicodeDecodeError):
            return IntentResult(Intent.OTHER, 0.0, ("invalid answer: not JSON",), "llm")
    if not isinstance(obj, dict):
        return IntentResult(Intent.OTHER, 0.0, ("invalid answer: not an object",), "llm")
    reasons: list[str] = []
    raw_intent = obj.get("intent")
    try:
        intent = Intent(str(raw_intent).strip().lower())
    except ValueError:
        intent = Intent.OTHER
        reasons.append(f"unknown intent {str(raw_intent)[:40]!r} read as other")
    raw_confidence = obj.get("confidence")
    if isinstance(raw_confidence, bool) or not isinstance(raw_confidence, int | float):
        confidence = 0.0
        reasons.append("confidence missing or not a number")
    elif raw_confidence != raw_confidence:  # NaN
        confidence = 0.0
    else:
        confidence = min(max(float(raw_confidence), 0.0), 1.0)
    raw_reasons = obj.get("reasons")
    if isinstance(raw_reasons, list):
        given = [str(r)[:MAX_REASON_CHARS] for r in raw_reasons if isinstance(r, str) and r.strip()]
        reasons = given[:MAX_REASONS] + reasons
    if intent is Intent.OTHER and "unknown intent" in " ".join(reasons):
        confidence = min(confidence, 0.3)
    return IntentResult(intent, round(confidence, 3), tuple(reasons), "llm")
