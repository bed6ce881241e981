"""A rep's voice, read from their own writing: style statistics, a style guide in words,
exemplar passages and the chunks the drafter searches. Pure.

Statistics are computed per sample once (when it is extracted) and merged for the profile,
so a rebuild after one new sample does not re-read every text. Greetings and sign-offs are
counted only in email-shaped samples (a talk transcript has neither); everything else counts
every sample, weighted by its words.
"""

from __future__ import annotations

import hashlib
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

EMAIL_SHAPED = frozenset({"gmail", "eml", "hubspot"})
TALK_SHAPED = frozenset({"youtube"})
CHUNK_TARGET_CHARS = 900
CHUNK_MAX_CHARS = 1500
MAX_PHRASES = 12
MAX_EXEMPLARS = 6

_GREETING = re.compile(
    r"^\s*(hi|hey|hello|dear|good (?:morning|afternoon|evening)|greetings|hallo|bonjour|hola|"
    r"ciao|moin|servus|guten (?:tag|morgen))\b[ ,]*((?:[A-Z][\w'.-]*\s*){0,3})[,!:.]?\s*$",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(cheers|best|best regards|kind regards|warm regards|regards|thanks|thank you|"
    r"many thanks|thanks again|all the best|talk soon|speak soon|sincerely|yours|take care|"
    r"best wishes|viele grüße|beste grüße|mit freundlichen grüßen|lg|cordialement|"
    r"bien à vous|saludos|un saludo|un abrazo)\s*[,!.]?\s*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ']+")
_CONTRACTION = re.compile(r"\b\w+'(?:s|re|ve|ll|d|m|t)\b", re.IGNORECASE)
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_PLACEHOLDER = re.compile(r"\[(?:PHONE|EMAIL|ADDRESS|CARD|IBAN|ACCOUNT|SSN)\]")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "for",
        "from",
        "had",
        "has",
        "have",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "up",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
        "i'm",
        "it's",
        "we're",
        "you're",
        "i'll",
        "we'll",
        "don't",
        "can't",
        "just",
        "also",
        "very",
        "really",
    }
)
_FRAME_WORDS = frozenset(
    {"hi", "hey", "hello", "dear", "cheers", "thanks", "best", "regards", "kind", "warm"}
)
_FORMAL_MARKERS = ("dear ", "kind regards", "sincerely", "please find", "i would like to")
_CASUAL_MARKERS = ("hey", "cheers", "thanks!", "awesome", "cool", "gonna", "wanna", "btw")


@dataclass(frozen=True)
class SampleStats:
    """What one sample says about the rep's writing (JSON-ready through `as_json`)."""

    words: int
    sentences: int
    paragraphs: int
    questions: int
    exclamations: int
    contractions: int
    emoji: int
    email_shaped: bool
    greeting: str | None = None
    sign_off: str | None = None
    formal_hits: int = 0
    casual_hits: int = 0
    phrases: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "words": self.words,
            "sentences": self.sentences,
            "paragraphs": self.paragraphs,
            "questions": self.questions,
            "exclamations": self.exclamations,
            "contractions": self.contractions,
            "emoji": self.emoji,
            "email_shaped": self.email_shaped,
            "greeting": self.greeting,
            "sign_off": self.sign_off,
            "formal_hits": self.formal_hits,
            "casual_hits": self.casual_hits,
            "phrases": dict(self.phrases),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleStats:
        return cls(
            words=int(data.get("words", 0)),
            sentences=int(data.get("sentences", 0)),
            paragraphs=int(data.get("paragraphs", 0)),
            questions=int(data.get("questions", 0)),
            exclamations=int(data.get("exclamations", 0)),
            contractions=int(data.get("contractions", 0)),
            emoji=int(data.get("emoji", 0)),
            email_shaped=bool(data.get("email_shaped", False)),
            greeting=data.get("greeting"),
            sign_off=data.get("sign_off"),
            formal_hits=int(data.get("formal_hits", 0)),
            casual_hits=int(data.get("casual_hits", 0)),
            phrases={str(k): int(v) for k, v in (data.get("phrases") or {}).items()},
        )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _sentences(text: str) -> list[str]:
    flat = " ".join(_lines(text))
    return [s for s in _SENTENCE_END.split(flat) if _WORD.search(s)]


def _greeting_of(lines: list[str]) -> str | None:
    if not lines:
        return None
    match = _GREETING.match(lines[0])
    return match.group(1).strip().capitalize() if match else None


def _sign_off_of(lines: list[str]) -> str | None:
    for line in reversed(lines[-4:]):
        match = _SIGN_OFF.match(line)
        if match:
            return match.group(1).strip().capitalize()
    return None


def _phrases(text: str) -> Counter[str]:
    words = [w.lower() for w in _WORD.findall(_PLACEHOLDER.sub(" ", text))]
    found: Counter[str] = Counter()
    for size in (2, 3, 4):
        for index in range(len(words) - size + 1):
            gram = words[index : index + size]
            if gram[0] in _STOPWORDS or gram[-1] in _STOPWORDS or gram[0] in _FRAME_WORDS:
                continue  # greetings and sign-offs are counted on their own
            found[" ".join(gram)] += 1
    return found


def sample_stats(text: str, source_type: str) -> SampleStats:
    lines = _lines(text)
    lowered = text.lower()
    # Mail, and any document that reads like one (a greeting first or a sign-off last);
    # talks and articles are not.
    email_shaped = source_type in EMAIL_SHAPED or (
        source_type not in TALK_SHAPED
        and (_greeting_of(lines) is not None or _sign_off_of(lines) is not None)
    )
    sentences = _sentences(text)
    return SampleStats(
        words=len(_WORD.findall(text)),
        sentences=len(sentences),
        paragraphs=len(_paragraphs(text)),
        questions=sum(1 for s in sentences if s.rstrip().endswith("?")),
        exclamations=text.count("!"),
        contractions=len(_CONTRACTION.findall(text)),
        emoji=len(_EMOJI.findall(text)),
        email_shaped=email_shaped,
        greeting=_greeting_of(lines) if email_shaped else None,
        sign_off=_sign_off_of(lines) if email_shaped else None,
        formal_hits=sum(lowered.count(m) for m in _FORMAL_MARKERS),
        casual_hits=sum(lowered.count(m) for m in _CASUAL_MARKERS),
        phrases=dict(_phrases(text).most_common(40)),
    )


@dataclass(frozen=True)
class StyleProfile:
    samples: int
    email_samples: int
    typical_words: int  # median words of an email-shaped sample (all samples when none)
    words_per_sentence: float
    sentences_per_paragraph: float
    question_rate: float  # questions per email-shaped sample
    exclamations_per_100_words: float
    contractions_per_100_words: float
    emoji_per_100_words: float
    formality: str  # "formal", "neutral", "casual"
    greetings: list[tuple[str, int]]
    sign_offs: list[tuple[str, int]]
    phrases: list[str]
    never: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "email_samples": self.email_samples,
            "typical_words": self.typical_words,
            "words_per_sentence": self.words_per_sentence,
            "sentences_per_paragraph": self.sentences_per_paragraph,
            "question_rate": self.question_rate,
            "exclamations_per_100_words": self.exclamations_per_100_words,
            "contractions_per_100_words": self.contractions_per_100_words,
            "emoji_per_100_words": self.emoji_per_100_words,
            "formality": self.formality,
            "greetings": [{"text": t, "count": c} for t, c in self.greetings],
            "sign_offs": [{"text": t, "count": c} for t, c in self.sign_offs],
            "phrases": list(self.phrases),
            "never": list(self.never),
        }


def _per_100(count: int, words: int) -> float:
    return round(100.0 * count / words, 2) if words else 0.0


def merge_stats(all_stats: Sequence[SampleStats]) -> StyleProfile:
    """The rep's style from every sample's statistics."""
    emails = [s for s in all_stats if s.email_shaped]
    basis = emails or list(all_stats)
    words = sum(s.words for s in all_stats)
    sentences = sum(s.sentences for s in all_stats)
    paragraphs = sum(s.paragraphs for s in all_stats)
    greetings = Counter(s.greeting for s in emails if s.greeting)
    sign_offs = Counter(s.sign_off for s in emails if s.sign_off)
    phrases: Counter[str] = Counter()
    spread: Counter[str] = Counter()  # in how many samples a phrase appears
    for stats in all_stats:
        phrases.update(stats.phrases)
        spread.update(stats.phrases.keys())
    recurring = [
        p for p, _ in phrases.most_common(200) if spread[p] >= max(2, math.ceil(len(all_stats) / 4))
    ]
    formal = sum(s.formal_hits for s in all_stats)
    casual = sum(s.casual_hits for s in all_stats) + sum(s.contractions for s in all_stats) / 10
    formality = (
        "formal" if formal > casual * 1.5 else "casual" if casual > formal * 1.5 else "neutral"
    )
    exclamations = sum(s.exclamations for s in all_stats)
    emoji = sum(s.emoji for s in all_stats)
    never: list[str] = []
    if all_stats and words >= 150:
        if exclamations == 0:
            never.append("uses exclamation marks")
        if emoji == 0:
            never.append("uses emoji")
        if emails and not any(s.greeting == "Dear" for s in emails):
            never.append('opens with "Dear"')
        if sum(s.contractions for s in all_stats) == 0:
            never.append("uses contractions (it's, we're)")
    return StyleProfile(
        samples=len(all_stats),
        email_samples=len(emails),
        typical_words=int(statistics.median([s.words for s in basis])) if basis else 0,
        words_per_sentence=round(words / sentences, 1) if sentences else 0.0,
        sentences_per_paragraph=round(sentences / paragraphs, 1) if paragraphs else 0.0,
        question_rate=round(sum(s.questions for s in emails) / len(emails), 2) if emails else 0.0,
        exclamations_per_100_words=_per_100(exclamations, words),
        contractions_per_100_words=_per_100(sum(s.contractions for s in all_stats), words),
        emoji_per_100_words=_per_100(emoji, words),
        formality=formality,
        greetings=greetings.most_common(3),
        sign_offs=sign_offs.most_common(3),
        phrases=_distinct(recurring)[:MAX_PHRASES],
        never=never,
    )


def _distinct(phrases: list[str]) -> list[str]:
    """Drop a phrase contained in a longer one already kept ("next week" in "call next week")."""
    kept: list[str] = []
    for phrase in sorted(phrases, key=lambda p: -len(p.split())):
        if not any(f" {phrase} " in f" {k} " for k in kept):
            kept.append(phrase)
    order = {p: i for i, p in enumerate(phrases)}
    return sorted(kept, key=lambda p: order[p])


def guide_from_stats(style: StyleProfile) -> str:
    """The style guide in words, from the statistics alone (no LLM)."""
    if style.samples == 0:
        return "No samples yet: write plainly, briefly and politely."
    lines = [
        f"Typical email length: about {style.typical_words} words, "
        f"{style.sentences_per_paragraph:g} sentences per paragraph, "
        f"{style.words_per_sentence:g} words per sentence.",
        f"Tone: {style.formality}"
        + (", uses contractions" if style.contractions_per_100_words >= 1 else "")
        + ".",
    ]
    if style.greetings:
        top = style.greetings[0][0]
        lines.append(f'Greeting: usually "{top} <first name>,".')
    if style.sign_offs:
        top = style.sign_offs[0][0]
        lines.append(f'Sign-off: usually "{top},".')
    if style.question_rate:
        lines.append(
            f"Asks about {style.question_rate:g} question(s) per email, often to propose a next "
            "step."
        )
    if style.phrases:
        lines.append("Phrases used often: " + "; ".join(f'"{p}"' for p in style.phrases[:8]) + ".")
    if style.never:
        lines.append("Never: " + "; ".join(style.never) + ".")
    return "\n".join(lines)


def chunk_text(
    text: str, target: int = CHUNK_TARGET_CHARS, limit: int = CHUNK_MAX_CHARS
) -> list[str]:
    """Paragraph-aligned passages of about `target` characters (a long paragraph is split at
    sentence ends, a very long sentence hard at `limit`)."""
    pieces: list[str] = []
    for paragraph in _paragraphs(text):
        if len(paragraph) <= limit:
            pieces.append(paragraph)
            continue
        sentence_buffer = ""
        for sentence in _SENTENCE_END.split(paragraph):
            while len(sentence) > limit:
                pieces.append(sentence[:limit])
                sentence = sentence[limit:]
            if sentence_buffer and len(sentence_buffer) + len(sentence) + 1 > target:
                pieces.append(sentence_buffer)
                sentence_buffer = ""
            sentence_buffer = f"{sentence_buffer} {sentence}".strip()
        if sentence_buffer:
            pieces.append(sentence_buffer)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 2 > target:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{piece}".strip()
    if current:
        chunks.append(current)
    return chunks


def content_hash(text: str) -> str:
    """Identity of a sample's content: whitespace and case do not make a new sample."""
    normal = re.sub(r"\s+", " ", text).strip().lower()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def choose_exemplars(
    passages: Sequence[tuple[str, str, Sequence[float] | None]], k: int = MAX_EXEMPLARS
) -> list[str]:
    """Up to `k` passage ids that differ from each other: greedy farthest-point selection on
    their embeddings (the longest well-sized passage first), by length spread without them.

    `passages` are (id, text, embedding or None).
    """
    usable = [p for p in passages if 120 <= len(p[1]) <= CHUNK_MAX_CHARS] or list(passages)
    if not usable:
        return []
    if any(p[2] is None for p in usable):
        ordered = sorted(usable, key=lambda p: len(p[1]))
        step = max(1, len(ordered) // k)
        return [p[0] for p in ordered[::step][:k]]
    first = max(usable, key=lambda p: min(len(p[1]), CHUNK_TARGET_CHARS))
    chosen = [first]
    while len(chosen) < min(k, len(usable)):
        best = max(
            (p for p in usable if p not in chosen),
            key=lambda p: min(_distance(p[2], c[2]) for c in chosen),
        )
        chosen.append(best)
    return [p[0] for p in chosen]


def _distance(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    if a is None or b is None:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return 1.0 - (dot / norm if norm else 0.0)


STYLE_GUIDE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "Two sentences on how this rep writes."},
        "length": {"type": "string"},
        "formality": {"type": "string"},
        "greeting": {"type": "string"},
        "sign_off": {"type": "string"},
        "sentences_and_paragraphs": {"type": "string"},
        "vocabulary": {"type": "array", "items": {"type": "string"}},
        "never": {"type": "array", "items": {"type": "string"}},
    },
    "required": [
        "summary",
        "length",
        "formality",
        "greeting",
        "sign_off",
        "sentences_and_paragraphs",
        "vocabulary",
        "never",
    ],
    "additionalProperties": False,
}


def guide_from_answer(answer: dict[str, Any], style: StyleProfile) -> str:
    """The LLM's structured style guide as text; the statistics' facts win on numbers."""

    def text(key: str) -> str:
        value = answer.get(key)
        return str(value).strip()[:400] if isinstance(value, str) else ""

    def items(key: str) -> list[str]:
        value = answer.get(key)
        if not isinstance(value, list):
            return []
        return [str(v).strip()[:120] for v in value if isinstance(v, str) and v.strip()][:12]

    lines = [
        text("summary"),
        f"Length: {text('length')} (typically about {style.typical_words} words).",
        f"Formality: {text('formality')}.",
        f"Greeting: {text('greeting')}.",
        f"Sign-off: {text('sign_off')}.",
        f"Sentences and paragraphs: {text('sentences_and_paragraphs')}.",
    ]
    vocabulary = items("vocabulary")
    if vocabulary:
        lines.append("Vocabulary and phrases: " + "; ".join(vocabulary) + ".")
    never = list(dict.fromkeys(items("never") + style.never))
    if never:
        lines.append("Never: " + "; ".join(never) + ".")
    return "\n".join(line for line in lines if line and not line.endswith(": ."))


def profile_fingerprint(samples: Iterable[tuple[str, str]]) -> str:
    """Which samples (id, content hash) a profile is built from: equal means nothing to do."""
    joined = "\n".join(f"{sid}:{digest}" for sid, digest in sorted(samples))
    return hashlib.sha256(joined.encode()).hexdigest()
