"""The gate every draft passes before it reaches Gmail. Pure.

Each check returns a `Check` that is recorded on the draft as it is (`as_json()`), and
`decide` combines them into one `GateResult`:

- `recipient_guard`: To is one bare, strictly parsed address equal to the contact's email or a
  thread participant; every CC/BCC is already in the thread; no internal or blocked domain; no
  CR/LF, display-name trick, several addresses, non-ASCII or punycode (`xn--`) domain, or
  lookalike of the contact's domain; no line break in the subject (header injection).
- `pii_check`: phone, card, IBAN, bank account, SSN and street-address counts from
  `pii.scrub`, and email addresses other than the allowed ones. In the draft they block; in the
  prompt they warn (the caller should have scrubbed it).
- `risk_score`: 0..100 with one reason per finding (weights below).
- `guardrails`: suppressed contacts (unsubscribed, bounced) are never drafted to; blocked
  industries and stages and employee counts outside the range are refused.
- `slots_check`: every meeting time the draft proposes is one the calendar offered.
- the rep's open questions (`questions`): a draft with questions needs the rep's answer.

Verdict: BLOCKED if any check with severity `block` failed (a risk at or above
`risk_block_at` is one), else NEEDS_INPUT if the drafter asked the rep something or the risk is
at or above `risk_review_at`, else READY. A check that raises blocks the draft rather than the
task. Warnings are recorded but do not change the verdict.

Risk weights. The first finding of a kind scores `first` points, each further one `more`, and a
kind never scores more than `cap`; the total is clamped to 0..100. Defaults: review at 30, block
at 70.

| kind           | first | more | cap | what                                                     |
|----------------|------:|-----:|----:|----------------------------------------------------------|
| price          |    35 |   10 |  60 | amount, discount, percentage off, free period or contract|
|                |       |      |     | term not matching an approved phrase verbatim            |
| figure         |    10 |    5 |  20 | any other percentage in the draft                        |
| commitment     |    30 |   10 |  50 | guarantee, promise, warranty, risk-free, SLA, uptime or  |
|                |       |      |     | response-time numbers                                    |
| deadline       |    15 |    5 |  25 | "by Friday", "within 3 days", "if you sign this week",   |
|                |       |      |     | "offer valid until ..."                                  |
| link           |    30 |   10 |  50 | a link neither on the allow-list nor a retrieved asset's |
| attachment     |    15 |    5 |  25 | each attachment                                          |
| hidden         |    30 |    0 |  30 | invisible or direction-changing characters in the draft  |
| oversize       |    30 |    0 |  30 | a draft too long to check in full                        |
| sentiment      |    15 |    5 |  20 | frustration or "not interested" in the inbound text      |
| hostile        |    30 |    0 |  30 | a request to stop writing, legal threats, "spam"         |
| low_confidence |    25 |    0 |  25 | model confidence below `min_confidence` (or not a number)|
| injection      |    40 |   10 |  60 | prompt-injection markers in the inbound text: "ignore    |
|                |       |      |     | previous instructions", role lines ("system:"), "you are |
|                |       |      |     | now", "send ... to x@" (an address not in the thread),   |
|                |       |      |     | base64 blobs, hidden unicode                             |

So one invented discount (35) needs the rep's review, an invented discount with a deadline
(50) too, and two invented prices with a guarantee (45 + 30) are blocked. An unknown link alone
(30) or an injection attempt alone (40) needs review.

Approved phrases (`GatePolicy.approved_prices`) are removed from the draft before it is
scanned, matched case-insensitively with any run of whitespace for a space, and only whole:
"10% annual discount" is approved, "110% annual discount" and "10% discount" are not.

Links: `http(s)://` and `www.` links, and bare domains with a common top-level domain (Gmail
links those too). A link is allowed when an entry of the allow-list or of the retrieved links
has the same host (and scheme, when both have one), its path is the entry's path or below it
(an entry without a path allows the whole host) and, if the entry has a query, the same query.
A leading `www.` is ignored on both sides. A link with user info
(`https://acme.com@evil.example/`) is never allowed.

Addresses are accepted only as bare addr-specs (`dana@northwind.example`): recipients come from
headers and HubSpot in code, so a display name there is already a sign of a mix-up. A contact
whose real address has an internationalized domain is refused too; the rep writes to them by
hand.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.domain.assets import allowed_links
from shared.domain.intent import Intent, asks_to_unsubscribe, classify_intent_rules
from shared.domain.mail import normalize_email, same_email
from shared.domain.pii import scrub

Severity = Literal["info", "warn", "block"]

MAX_SCAN_CHARS = 100_000
MAX_QUOTE_CHARS = 80
MAX_REASONS_PER_KIND = 10
MAX_QUESTION_CHARS = 500


class Verdict(StrEnum):
    READY = "ready"
    NEEDS_INPUT = "needs_input"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    severity: Severity
    reasons: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "severity": self.severity,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class GatePolicy:
    """What config says about whom we write to and what a draft may say."""

    internal_domains: frozenset[str] = frozenset()
    blocked_domains: frozenset[str] = frozenset()
    approved_prices: tuple[str, ...] = ()
    link_allow_list: frozenset[str] = frozenset()
    blocked_industries: frozenset[str] = frozenset()
    allowed_industries: frozenset[str] = frozenset()  # empty: any industry
    blocked_stages: frozenset[str] = frozenset()
    employee_range: tuple[int | None, int | None] = (None, None)
    min_confidence: float = 0.5
    risk_block_at: int = 70
    risk_review_at: int = 30


@dataclass(frozen=True)
class DraftFacts:
    """What the drafter produced plus what we know, all plain data."""

    to: str
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    body: str
    confidence: float
    questions: tuple[str, ...]  # for the rep
    contact_email: str | None
    thread_participants: tuple[str, ...]
    contact_industry: str | None
    company_stage: str | None
    employees: int | None
    suppressed: bool  # unsubscribed or bounced
    retrieved_links: frozenset[str]
    inbound_text: str  # the prospect's latest new text
    attachments: tuple[str, ...] = ()
    proposed_slots: tuple[str, ...] = ()  # ISO 8601, as parsed from the body by the caller
    offered_slots: tuple[str, ...] = ()  # ISO 8601 starts, or `start/end` intervals


@dataclass(frozen=True)
class GateResult:
    verdict: Verdict
    risk: int
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """Reasons of the checks that did not pass, prefixed with the check's name."""
        return tuple(f"{c.name}: {r}" for c in self.checks if not c.passed for r in c.reasons)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "risk": self.risk,
            "reasons": list(self.reasons),
            "checks": [c.as_json() for c in self.checks],
        }


def _check(name: str, blocks: list[str], warns: list[str], notes: Iterable[str] = ()) -> Check:
    if blocks:
        return Check(name, False, "block", tuple(blocks + warns))
    if warns:
        return Check(name, False, "warn", tuple(warns))
    return Check(name, True, "info", tuple(notes))


def _quote(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_QUOTE_CHARS:
        text = text[: MAX_QUOTE_CHARS - 1] + "…"
    return f'"{text}"'


# --------------------------------------------------------------------------------------------
# Recipients

_LINE_BREAK = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DISPLAY = re.compile(r"[<>\"()]")

_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "і": "i", "ї": "i", "ј": "j", "к": "k",
        "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
        "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ь": "b",
        # Greek
        "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u",
        "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c",
        # Latin lookalikes and digits
        "ɑ": "a", "ɡ": "g", "ı": "i", "ȷ": "j", "ɩ": "i", "ʟ": "l", "0": "o", "1": "l",
        "|": "l",
    }
)  # fmt: skip


def _skeleton(domain: str) -> str:
    """The domain as a reader sees it: accents dropped, homoglyphs mapped to Latin letters."""
    text = unicodedata.normalize("NFKD", domain)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.translate(_CONFUSABLES)
    return text.replace("rn", "m").replace("vv", "w")


def _distance_at_most_one(a: str, b: str) -> bool:
    """Levenshtein distance of a and b is 0 or 1."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _decoded_domain(domain: str) -> str | None:
    """The Unicode form of a punycode domain, or None if it does not decode."""
    try:
        return domain.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):
        return None


def _looks_like(domain: str, contact_domain: str) -> bool:
    if domain == contact_domain:
        return False
    if _skeleton(domain) == _skeleton(contact_domain):
        return True
    if min(len(domain), len(contact_domain)) >= 5 and _distance_at_most_one(domain, contact_domain):
        return True
    return domain.startswith((contact_domain + ".", contact_domain + "-"))


def _scripts(text: str) -> list[str]:
    found = {unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in text if ch.isalpha()}
    return sorted(found)


def _lookalike_reasons(email: str, contact_domain: str | None) -> list[str]:
    local, _, domain = email.rpartition("@")
    reasons: list[str] = []
    if not local.isascii():
        reasons.append("non-ASCII characters in the local part (possible homoglyphs)")
    shown = domain
    if not domain.isascii():
        scripts = _scripts(domain)
        kind = "mixed-script" if len(scripts) > 1 else "non-ASCII"
        reasons.append(f"a {kind} internationalized domain ({', '.join(scripts)})")
    if any(label.startswith("xn--") for label in domain.split(".")):
        decoded = _decoded_domain(domain)
        shown = decoded or domain
        reasons.append("a punycode (xn--) domain" + (f" that reads {decoded!r}" if decoded else ""))
    if contact_domain and domain != contact_domain and _looks_like(shown, contact_domain):
        reasons.append(f"a lookalike of the contact's domain {contact_domain}")
    return reasons


def _strict_address(raw: object, contact_domain: str | None) -> tuple[str | None, list[str]]:
    """The normalized bare address, or None and why it is refused."""
    if not isinstance(raw, str) or not raw.strip():
        return None, ["empty address"]
    reasons: list[str] = []
    if _LINE_BREAK.search(raw):
        reasons.append("a line break (CR/LF) in the address")
    elif _CONTROL.search(raw):
        reasons.append("a control character in the address")
    several = raw.count("@") > 1 or "," in raw or ";" in raw
    if _DISPLAY.search(raw):
        if raw.count("@") > 1:
            reasons.append("a display name that shows another address")
        else:
            reasons.append("a display name, comment or angle brackets (only a bare address)")
    elif several:
        reasons.append("several addresses where one is expected")
    if reasons:
        return None, reasons
    email = normalize_email(raw)
    if email is None:
        return None, [f"{_quote(raw)} is not a valid address"]
    reasons = _lookalike_reasons(email, contact_domain)
    return (None, reasons) if reasons else (email, [])


def _norm_domains(domains: Iterable[str]) -> frozenset[str]:
    return frozenset(d.strip().lower().lstrip("@.").rstrip(".") for d in domains if d.strip())


def _domain_in(domain: str, domains: frozenset[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in domains if d)


def recipient_guard(facts: DraftFacts, policy: GatePolicy) -> Check:
    """To is the contact or a thread participant; nothing the model added; nothing tricky."""
    blocks: list[str] = []
    notes: list[str] = []
    contact = normalize_email(facts.contact_email) if facts.contact_email else None
    contact_domain = contact.rpartition("@")[2] if contact else None
    participants = [p for p in map(normalize_email, facts.thread_participants) if p]
    internal = _norm_domains(policy.internal_domains)
    blocked = _norm_domains(policy.blocked_domains)

    def domain_reasons(email: str) -> list[str]:
        domain = email.rpartition("@")[2]
        found = []
        if _domain_in(domain, internal):
            found.append(f"{email} is at an internal domain")
        if _domain_in(domain, blocked):
            found.append(f"{email} is at a blocked domain")
        return found

    def in_thread(email: str) -> bool:
        return same_email(email, contact) or any(same_email(email, p) for p in participants)

    if _LINE_BREAK.search(facts.subject):
        blocks.append("Subject: a line break (CR/LF) could inject headers")
    to, refused = _strict_address(facts.to, contact_domain)
    blocks.extend(f"To: {reason}" for reason in refused)
    if to is not None:
        if same_email(to, contact):
            notes.append(f"To {to} is the contact's address")
        elif any(same_email(to, p) for p in participants):
            notes.append(f"To {to} is already in the thread")
        elif contact is None and not participants:
            blocks.append(f"To: {to} cannot be checked: no contact email and no thread")
        else:
            blocks.append(f"To: {to} is neither the contact's address nor in the thread")
        blocks.extend(f"To: {reason}" for reason in domain_reasons(to))
    for field, values in (("Cc", facts.cc), ("Bcc", facts.bcc)):
        for raw in values:
            email, refused = _strict_address(raw, contact_domain)
            blocks.extend(f"{field}: {reason}" for reason in refused)
            if email is None:
                continue
            if not in_thread(email):
                blocks.append(f"{field}: {email} is not in the thread (added by the model?)")
            else:
                notes.append(f"{field} {email} is already in the thread")
            blocks.extend(f"{field}: {reason}" for reason in domain_reasons(email))
    return _check("recipient", blocks, [], notes)


# --------------------------------------------------------------------------------------------
# Personal data

_PII_LABELS = {
    "phone": ("phone number", "phone numbers"),
    "card": ("card number", "card numbers"),
    "iban": ("IBAN", "IBANs"),
    "account": ("bank account number", "bank account numbers"),
    "ssn": ("social security number", "social security numbers"),
    "address": ("street address", "street addresses"),
    "email": (
        "email address other than the allowed ones",
        "email addresses other than the allowed ones",
    ),
}


def _pii_counts(text: str, allowed_emails: frozenset[str], region: str) -> dict[str, int]:
    text = text[:MAX_SCAN_CHARS]
    allowed = sorted({e for e in map(normalize_email, allowed_emails) if e}, key=len, reverse=True)
    if allowed:
        pattern = re.compile(
            r"(?<![\w.%+-])(?:" + "|".join(map(re.escape, allowed)) + r")(?![\w-]|\.[\w-])",
            re.IGNORECASE,
        )
        text = pattern.sub("[EMAIL]", text)
    return {kind: n for kind, n in scrub(text, region).counts.items() if n}


def _describe_pii(where: str, counts: dict[str, int]) -> list[str]:
    reasons = []
    for kind, (one, many) in _PII_LABELS.items():
        n = counts.get(kind, 0)
        if n:
            reasons.append(f"the {where} contains {n} {one if n == 1 else many}")
    reasons.extend(
        f"the {where} contains {n} {kind}" for kind, n in counts.items() if kind not in _PII_LABELS
    )
    return reasons


def pii_check(
    prompt_text: str, draft_body: str, allowed_emails: frozenset[str], *, region: str = "US"
) -> Check:
    """No personal data in the draft (block) or the prompt (warn), only allowed addresses.

    Reasons say what kind and how many, never the data itself (they end up in logs).
    """
    blocks = _describe_pii("draft", _pii_counts(draft_body, allowed_emails, region))
    warns = _describe_pii("prompt", _pii_counts(prompt_text, allowed_emails, region))
    return _check("pii", blocks, warns, ["no personal data beyond the allowed addresses"])


# --------------------------------------------------------------------------------------------
# Risk


@dataclass(frozen=True)
class Weight:
    first: int
    more: int
    cap: int


WEIGHTS: dict[str, Weight] = {
    "price": Weight(35, 10, 60),
    "figure": Weight(10, 5, 20),
    "commitment": Weight(30, 10, 50),
    "deadline": Weight(15, 5, 25),
    "link": Weight(30, 10, 50),
    "attachment": Weight(15, 5, 25),
    "hidden": Weight(30, 0, 30),
    "oversize": Weight(30, 0, 30),
    "sentiment": Weight(15, 5, 20),
    "hostile": Weight(30, 0, 30),
    "low_confidence": Weight(25, 0, 25),
    "injection": Weight(40, 10, 60),
}

_I = re.IGNORECASE
_NUM = r"(?<![\d.,'])\d+(?:[.,']\d+)*"
_NUMWORD = r"(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_UNIT = r"(?:days?|weeks?|months?|years?)"
_SYMBOL = r"[$€£¥₹]"
_CODE = r"(?:USD|EUR|GBP|CHF|CAD|AUD|JPY|INR|SEK|NOK|DKK|PLN)"
_CURRENCY_WORD = r"(?:dollars?|euros?|pounds?|bucks|francs?)"
_PER = (
    r"(?:\s*(?:/|\bper\b|\ba\b|\ban\b)\s*(?:seat|user|licen[cs]e|month|mo|year|yr|annum|head"
    r"|agent|employee|hour|hr|week)s?\b){0,3}"
)
_PCT = rf"{_NUM}\s?(?:%|percent\b|per cent\b|pct\b|prozent\b|pour ?cent\b|por ciento\b)"
_OFF = r"(?:off|discount|rabatt|nachlass|remise|descuento|sconto|korting|reduction|savings?)"
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)

# Order matters: a span taken by an earlier pattern is not counted again by a later one.
_DRAFT_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "commitment",
        "an SLA or uptime number",
        re.compile(rf"{_NUM}\s?%\s*(?:uptime|up-time|availability|sla)\b|\bSLAs?\b", _I),
    ),
    (
        "commitment",
        "a response-time commitment",
        re.compile(
            r"\b(?:respond|response|resolution|resolve|reply|replies|turnaround|support)\b"
            r"[^.\n]{0,30}?\b(?:within|in under|under)\s+\d+\s*"
            r"(?:min(?:ute)?s?|hours?|hrs?|h|(?:business |working )?days?)\b",
            _I,
        ),
    ),
    (
        "commitment",
        "a guarantee or promise",
        re.compile(
            r"\b(?:guarantee[sd]?|guaranteeing|promise[sd]?|promising|warrant(?:y|ies|ed)"
            r"|risk[- ]free|no[- ]risk|garantier\w*|garanti[e]?\w*)\b",
            _I,
        ),
    ),
    (
        "deadline",
        "an offer condition or deadline",
        re.compile(
            r"\bif you (?:sign|commit|buy|purchase|order|close|book|decide)\b[^.,;!?\n]{0,40}"
            r"|\b(?:offer|price|pricing|discount|deal|rate)s? (?:is |are )?(?:only )?"
            r"(?:valid|good|available|expires?|ends?|stands?)\b[^.,;!?\n]{0,30}"
            r"|\b(?:only|just) (?:until|till|through) [^.,;!?\n]{1,30}",
            _I,
        ),
    ),
    (
        "deadline",
        "a date commitment",
        re.compile(
            rf"\bby (?:the )?(?:end of (?:the )?(?:day|week|month|quarter|year)|eod|eow|eom|eoq"
            rf"|tomorrow|tonight|(?:this |next )?(?:{_WEEKDAY}|week|month)"
            rf"|{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)(?: of {_MONTH})?"
            rf"|q[1-4])\b"
            rf"|\bwithin \d+\s*(?:hours?|h|(?:business |working )?days?|weeks?|months?)\b",
            _I,
        ),
    ),
    (
        "price",
        "a price",
        re.compile(
            rf"(?:{_SYMBOL}|\b{_CODE}\b)\s?{_NUM}(?:\s?[kKmM]\b)?{_PER}"
            rf"|\b{_NUM}(?:\s?[kKmM])?\s?(?:{_SYMBOL}|{_CODE}\b|{_CURRENCY_WORD}\b){_PER}"
            r"|\b\d+(?:[.,]\d+)?\s*(?:/|\bper\b|\ba\b)\s*(?:seat|user|licen[cs]e|agent|head)s?\b"
            rf"{_PER}",
            _I,
        ),
    ),
    (
        "price",
        "a discount",
        re.compile(
            rf"(?<![\w.,]){_PCT}\s*{_OFF}\b"
            rf"|\b(?:{_OFF}|save|saving) (?:of |von |de )?(?:up to |bis zu )?{_PCT}",
            _I,
        ),
    ),
    (
        "price",
        "a free period or trial",
        re.compile(
            rf"\bfree (?:for )?(?:(?:the )?(?:first|next) )?{_NUMWORD} {_UNIT}\b"
            rf"|\b{_NUMWORD} {_UNIT} (?:for )?(?:free|on us)\b"
            rf"|\b(?:first|1st) (?:{_NUMWORD} )?{_UNIT} (?:is |are )?(?:free|on us)\b"
            r"|\b(?:\d+[- ]day )?free (?:trial|pilot|onboarding|setup|set-up|implementation"
            r"|upgrade|seats?|licen[cs]es?)\b"
            r"|\b\d+[- ]day (?:trial|pilot)\b",
            _I,
        ),
    ),
    (
        "price",
        "a contract or payment term",
        re.compile(
            rf"\bnet[- ]?(?:10|15|30|45|60|90)\b"
            rf"|\b(?:payment terms?|prepay(?:ment)?|pay(?:ment)? (?:upfront|up front|quarterly"
            rf"|annually|monthly)|invoiced? (?:annually|quarterly|monthly))\b"
            rf"|\b{_NUMWORD}[- ](?:months?|years?)[- ](?:contract|commitment|term|agreement"
            rf"|subscription|deal)\b"
            rf"|\b(?:annual|yearly|multi-year|monthly) (?:contract|commitment|billing|prepay)\b"
            rf"|\b(?:cancel (?:at )?any ?time|no (?:long-term )?(?:contract|commitment)"
            rf"|month-to-month|no (?:setup|set-up|implementation|onboarding) fees?)\b",
            _I,
        ),
    ),
    (
        "price",
        "discount or pricing language",
        re.compile(
            r"\b(?:discount(?:s|ed)?|special (?:price|pricing|offer|rate|deal)|promo(?:tion)?"
            r"(?: code)?|coupon|rebate|rabatt|nachlass|remise|r[ée]duction|descuento|sconto"
            r"|half[- ]price|price (?:match|lock|freeze|cut|reduction)|lock in (?:the |this |"
            r"your |our )?(?:price|rate|pricing)|waive[ds]?|no charge|at no (?:extra )?cost"
            r"|complimentary|on the house|money[- ]back|refunds?|refunded)\b",
            _I,
        ),
    ),
    ("figure", "a percentage", re.compile(rf"(?<![\w.,]){_PCT}", _I)),
)

_DRAFT_KIND_LABEL = {
    "price": " not on the approved list",
    "figure": " not on the approved list (check it against the sources)",
    "commitment": "",
    "deadline": "",
}

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`\[\]{}|\\^]+", _I)
_BARE_DOMAIN = re.compile(
    r"(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|io|co|ai|app|dev|info|biz|xyz|me|ly|gl|to|link|site|online|us|uk|de|fr"
    r"|eu|ru|cn|tk|top|click|zip|mov|gg|sh|so)\b(?![@.-]?\w)(?:/[^\s<>\"'`]*)?",
    _I,
)
_TRAILING = ".,;:!?)]}'\"*_>"

_HIDDEN = re.compile(
    "[\u115f\u1160\u180e\u200b\u2060-\u2064\u206a-\u206f\u202a-\u202e\u2066-\u2069\u3164"
    "\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
    "|[\u200c\u200d]{3,}"
)

_INJECTION: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "an instruction to ignore instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}?"
            r"\b(?:instructions?|prompts?|guidelines|directives|system message|rules)\b"
            r"|\b(?:ignorier\w*|vergiss|missachte)\b[^.\n]{0,40}?\banweisung\w*"
            r"|\b(?:ignora\w*|olvida\w*)\b[^.\n]{0,40}?\binstrucciones\b"
            r"|\boublie[zr]?\b[^.\n]{0,40}?\binstructions\b",
            _I,
        ),
    ),
    (
        "a role line",
        re.compile(
            r"(?m)^[ \t>]*(?:system|assistant|developer)\s*:"
            r"|<\|?(?:system|im_start|im_end|endoftext)\|?>|</?system>|\[/?(?:INST|SYS)\]|<<SYS>>",
            _I,
        ),
    ),
    (
        "a role change",
        re.compile(
            r"\byou are now\b|\bfrom now on,? you\b|\bact as (?:an? )?(?:ai|assistant|gpt|llm"
            r"|language model|system|admin)\b|\bpretend (?:to be|you are)\b|\bnew instructions\b"
            r"|\bdeveloper mode\b|\bjailbreak\w*|\b(?:reveal|print|show|repeat|output) (?:your|the)"
            r" (?:system )?(?:prompt|instructions)\b",
            _I,
        ),
    ),
)
_SEND_TO = re.compile(
    r"\b(?:send|forward|e-?mail|mail|copy|cc|bcc|reply|share)\b[^\n]{0,80}?"
    r"\b(?:to|at|cc|bcc)\b:?\s*<?([\w.%+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|\b(?:cc|bcc)\b:?\s*<?([\w.%+-]+@[\w-]+(?:\.[\w-]+)+)",
    _I,
)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{60,}={0,2}(?![A-Za-z0-9+/=])")

_NEGATIVE = re.compile(
    r"\b(?:disappoint\w*|frustrat\w*|annoy\w*|angry|upset|unhappy|not happy|unacceptable"
    r"|terrible|awful|horrible|worst|useless|ridiculous|waste of (?:my |our )?time|fed up"
    r"|sick of|rude|pushy|misleading|enttäusch\w*|ärgerlich|inakzeptabel|déçu\w*|inacceptable"
    r"|decepcionad\w*|inaceptable)\b",
    _I,
)
_HOSTILE = re.compile(
    r"\b(?:lawyers?|attorneys?|legal action|lawsuit|su(?:e|ing) you|cease and desist"
    r"|(?:gdpr|dsgvo|rgpd) (?:complaint|violation|breach)|data protection authority"
    r"|report (?:you|this|your company)|(?:this is|stop(?: sending)?|your) spam\w*|spamm(?:ing|er)"
    r"|scam(?:mer)?s?|harass\w*|blacklist\w*)\b",
    _I,
)


def _normalized_phrase(phrase: str) -> re.Pattern[str] | None:
    words = phrase.split()
    if not words:
        return None
    body = r"\s+".join(map(re.escape, words))
    return re.compile(rf"(?<![\w.,]){body}(?![\w]|[.,]\d)", re.IGNORECASE)


def _without_approved(text: str, approved: Iterable[str]) -> str:
    """The text with each approved phrase (whole, case-insensitive) blanked out."""
    for phrase in sorted({p for p in approved if p.strip()}, key=len, reverse=True):
        pattern = _normalized_phrase(phrase)
        if pattern is not None:
            text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text


def _draft_findings(text: str) -> Iterator[tuple[str, str]]:
    taken = bytearray(len(text))
    found: list[tuple[int, str, str]] = []
    for kind, label, pattern in _DRAFT_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if start == end or taken.find(1, start, end) != -1:
                continue
            taken[start:end] = b"\x01" * (end - start)
            what = _quote(match.group())
            found.append((start, kind, f"{label}{_DRAFT_KIND_LABEL[kind]}: {what}"))
    for _, kind, description in sorted(found):
        yield kind, description


@dataclass(frozen=True)
class _Link:
    scheme: str  # "" when the text had none: matches either
    host: str
    path: str
    query: str


def _parse_link(raw: str) -> _Link | None:
    raw = raw.strip()
    has_scheme = "://" in raw
    try:
        parts = urlsplit(raw if has_scheme else "https://" + raw)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host or "@" in parts.netloc:
        return None
    if port not in (None, 80, 443):
        host = f"{host}:{port}"
    scheme = parts.scheme.lower() if has_scheme else ""
    host = host.lower().rstrip(".")
    return _Link(scheme, host.removeprefix("www."), parts.path, parts.query)


def _link_allowed(link: _Link, entries: Iterable[_Link]) -> bool:
    for entry in entries:
        if entry.host != link.host:
            continue
        if entry.scheme and link.scheme and entry.scheme != link.scheme:
            continue
        base = entry.path.rstrip("/")
        if base and link.path.rstrip("/") != base and not link.path.startswith(base + "/"):
            continue
        if entry.query and entry.query != link.query:
            continue
        return True
    return False


def links_in(text: str) -> list[str]:
    """Links in plain text as a mail client would make them clickable, in order."""
    found: list[tuple[int, str]] = []
    masked = text
    for match in _URL.finditer(text):
        found.append((match.start(), match.group().rstrip(_TRAILING)))
        masked = masked[: match.start()] + " " * len(match.group()) + masked[match.end() :]
    for match in _BARE_DOMAIN.finditer(masked):
        found.append((match.start(), match.group().rstrip(_TRAILING)))
    return [link for _, link in sorted(found) if link]


def _link_findings(text: str, allowed: frozenset[str]) -> Iterator[tuple[str, str]]:
    entries = [e for e in map(_parse_link, allowed) if e is not None]
    seen: set[str] = set()
    for raw in links_in(text):
        if raw in seen:
            continue
        seen.add(raw)
        link = _parse_link(raw)
        if link is None:
            yield "link", f"a link that hides or garbles its host: {_quote(raw)}"
        elif not _link_allowed(link, entries):
            yield "link", f"a link not on the allow-list nor a retrieved asset: {_quote(raw)}"


def _hidden_description(found: list[str], where: str) -> str:
    chars = "".join(found)
    codes = ", ".join(sorted({f"U+{ord(ch):04X}" for ch in chars})[:3])
    many = "s" if len(chars) != 1 else ""
    return f"{len(chars)} hidden or direction-changing character{many} in {where} ({codes})"


def _hidden_in(text: str) -> list[str]:
    return [m.group() for m in _HIDDEN.finditer(text)]


def _injection_findings(text: str, known: list[str]) -> Iterator[tuple[str, str]]:
    for label, pattern in _INJECTION:
        match = pattern.search(text)
        if match:
            yield (
                "injection",
                f"prompt-injection marker in the inbound text, {label}: " + (_quote(match.group())),
            )
    for match in _SEND_TO.finditer(text):
        target = match.group(1) or match.group(2) or ""
        if not any(same_email(target, k) for k in known):
            yield (
                "injection",
                (
                    "the inbound text asks to send to an address not in the thread: "
                    + _quote(match.group())
                ),
            )
            break
    without_links = _URL.sub(" ", text)
    for match in _BASE64.finditer(without_links):
        blob = match.group()
        if re.search(r"[a-z]", blob) and re.search(r"[A-Z]", blob) and re.search(r"\d", blob):
            yield "injection", f"a base64-like blob of {len(blob)} characters in the inbound text"
            break
    hidden = _hidden_in(text)
    if hidden:
        yield "injection", _hidden_description(hidden, "the inbound text")


def _sentiment_findings(text: str) -> Iterator[tuple[str, str]]:
    stop = asks_to_unsubscribe(text)
    if stop:
        yield "hostile", f"the inbound text asks us to stop writing: {_quote(stop)}"
    hostile = _HOSTILE.search(text)
    if hostile:
        yield "hostile", f"hostile inbound text: {_quote(hostile.group())}"
    intent = classify_intent_rules(text, "")
    if intent.intent is Intent.NOT_INTERESTED:
        yield "sentiment", f"the prospect sounds not interested ({intent.reasons[0]})"
    for match in list(_NEGATIVE.finditer(text))[:3]:
        yield "sentiment", f"negative inbound text: {_quote(match.group())}"


def _confidence(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def risk_findings(facts: DraftFacts, policy: GatePolicy) -> list[tuple[str, str]]:
    """Every (kind, description) the risk score counts, in the order found."""
    findings: list[tuple[str, str]] = []
    draft = f"{facts.subject}\n{facts.body}"
    if len(draft) > MAX_SCAN_CHARS:
        findings.append(("oversize", f"the draft is longer than {MAX_SCAN_CHARS} characters"))
        draft = draft[:MAX_SCAN_CHARS]
    findings.extend(_draft_findings(_without_approved(draft, policy.approved_prices)))
    allowed = allowed_links(
        [{"link": link} for link in facts.retrieved_links], policy.link_allow_list
    )
    findings.extend(_link_findings(draft, allowed))
    findings.extend(("attachment", f"an attachment: {_quote(name)}") for name in facts.attachments)
    hidden = _hidden_in(draft)
    if hidden:
        findings.append(("hidden", _hidden_description(hidden, "the draft")))
    inbound = facts.inbound_text[:MAX_SCAN_CHARS]
    findings.extend(_sentiment_findings(inbound))
    confidence = _confidence(facts.confidence)
    if confidence is None:
        findings.append(("low_confidence", "the model's confidence is missing or not a number"))
    elif confidence < policy.min_confidence:
        findings.append(
            (
                "low_confidence",
                f"low model confidence {confidence:.2f} (below {policy.min_confidence:.2f})",
            )
        )
    known = [e for e in (facts.contact_email, *facts.thread_participants) if e]
    findings.extend(_injection_findings(inbound, known))
    return findings


def score_findings(findings: Iterable[tuple[str, str]]) -> tuple[int, tuple[str, ...]]:
    """The clamped total and one reason per finding with the points it added."""
    scored: dict[str, int] = {}
    shown: dict[str, int] = {}
    reasons: list[str] = []
    total = 0
    for kind, description in findings:
        weight = WEIGHTS[kind]
        already = scored.get(kind, 0)
        step = weight.more if kind in shown else weight.first
        points = max(0, min(step, weight.cap - already))
        scored[kind] = already + points
        shown[kind] = shown.get(kind, 0) + 1
        total += points
        if shown[kind] <= MAX_REASONS_PER_KIND:
            reasons.append(f"{description} (+{points})")
    return max(0, min(100, total)), tuple(reasons)


def risk_score(facts: DraftFacts, policy: GatePolicy) -> tuple[int, Check]:
    """0..100 with the reasons, weighted as documented in `WEIGHTS` and the module doc."""
    risk, reasons = score_findings(risk_findings(facts, policy))
    if risk >= policy.risk_block_at:
        severity: Severity = "block"
    elif risk >= policy.risk_review_at:
        severity = "warn"
    else:
        severity = "info"
    return risk, Check(
        "risk",
        risk < policy.risk_review_at,
        severity,
        reasons or ("no risk signals",),
    )


# --------------------------------------------------------------------------------------------
# Guardrails


def _label(value: str) -> str:
    """HubSpot enums and config spellings alike: `COMPUTER_SOFTWARE` == `computer software`."""
    return " ".join(re.sub(r"[_\-]+", " ", value).casefold().split())


def guardrails(facts: DraftFacts, policy: GatePolicy) -> Check:
    """Whom we never write to: suppressed contacts, and industries, stages, sizes config refuses."""
    blocks: list[str] = []
    warns: list[str] = []
    if facts.suppressed:
        blocks.append("the contact is unsubscribed or bounced: never drafted to")
    blocked_industries = {_label(i) for i in policy.blocked_industries if i.strip()}
    allowed_industries = {_label(i) for i in policy.allowed_industries if i.strip()}
    industry = _label(facts.contact_industry) if facts.contact_industry else ""
    if industry and industry in blocked_industries:
        blocks.append(f"industry {facts.contact_industry!r} is one we do not contact")
    elif allowed_industries and industry and industry not in allowed_industries:
        blocks.append(f"industry {facts.contact_industry!r} is not one we contact")
    elif allowed_industries and not industry:
        warns.append("industry unknown; only some industries are contacted")
    stage = _label(facts.company_stage) if facts.company_stage else ""
    if stage and stage in {_label(s) for s in policy.blocked_stages if s.strip()}:
        blocks.append(f"company stage {facts.company_stage!r} is one we do not contact")
    low, high = policy.employee_range
    employees = facts.employees
    if low is not None or high is not None:
        if employees is None or isinstance(employees, bool) or employees < 0:
            warns.append("employee count unknown; config limits company size")
        elif low is not None and employees < low:
            blocks.append(f"{employees} employees is below the minimum of {low}")
        elif high is not None and employees > high:
            blocks.append(f"{employees} employees is above the maximum of {high}")
    return _check("guardrails", blocks, warns, ["contact and company are ones we write to"])


# --------------------------------------------------------------------------------------------
# Meeting slots


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except (ValueError, TypeError):
        return None


def _slot(text: str) -> tuple[datetime, datetime | None] | None:
    start_text, _, end_text = text.partition("/")
    start = _instant(start_text)
    if start is None:
        return None
    if not end_text:
        return start, None
    end = _instant(end_text)
    return None if end is None else (start, end)


def _comparable(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


def _within(
    proposed: tuple[datetime, datetime | None], offered: tuple[datetime, datetime | None]
) -> bool:
    p_start, p_end = proposed
    o_start, o_end = offered
    if not _comparable(p_start, o_start):
        return False
    if o_end is None:
        return p_start == o_start and (p_end is None or p_end <= p_start)
    if not _comparable(p_start, o_end):
        return False
    if p_end is not None and not _comparable(p_end, o_end):
        return False
    return o_start <= p_start < o_end and (p_end is None or p_end <= o_end)


def slots_check(facts: DraftFacts) -> Check:
    """Every time the draft proposes is one the calendar offered (start, or inside an interval)."""
    blocks: list[str] = []
    offered = [s for s in map(_slot, facts.offered_slots) if s is not None]
    for raw in facts.proposed_slots:
        proposed = _slot(raw)
        if proposed is None:
            blocks.append(f"proposed time {_quote(raw)} is not a readable ISO 8601 time")
        elif not any(_within(proposed, o) for o in offered):
            blocks.append(f"proposed time {raw.strip()} is not one of the offered slots")
    count = len(facts.proposed_slots)
    notes = [f"{count} proposed time{'s' if count != 1 else ''}, all offered"] if count else []
    return _check("slots", blocks, [], notes)


# --------------------------------------------------------------------------------------------
# The decision


def questions_check(facts: DraftFacts) -> Check:
    questions = [q.strip() for q in facts.questions if isinstance(q, str) and q.strip()]
    if not questions:
        return Check("questions", True, "info", ())
    return Check("questions", False, "warn", tuple(q[:MAX_QUESTION_CHARS] for q in questions[:10]))


def _failed(name: str, exc: Exception) -> Check:
    return Check(name, False, "block", (f"the check failed ({type(exc).__name__}); blocked",))


def _safely(name: str, run: Callable[[], Check]) -> Check:
    try:
        return run()
    except Exception as exc:
        return _failed(name, exc)


def allowed_emails(facts: DraftFacts) -> frozenset[str]:
    """Addresses a draft may name: the contact, the To address and everyone in the thread."""
    return frozenset(e for e in (facts.contact_email, facts.to, *facts.thread_participants) if e)


def decide(facts: DraftFacts, policy: GatePolicy, prompt_text: str) -> GateResult:
    """All checks, and the verdict they add up to. Never raises: a failing check blocks."""
    try:
        risk, risk_check = risk_score(facts, policy)
    except Exception as exc:
        risk, risk_check = 100, _failed("risk", exc)
    checks = (
        _safely("recipient", lambda: recipient_guard(facts, policy)),
        _safely(
            "pii",
            lambda: pii_check(prompt_text, f"{facts.subject}\n{facts.body}", allowed_emails(facts)),
        ),
        risk_check,
        _safely("guardrails", lambda: guardrails(facts, policy)),
        _safely("slots", lambda: slots_check(facts)),
        _safely("questions", lambda: questions_check(facts)),
    )
    if risk >= policy.risk_block_at or any(not c.passed and c.severity == "block" for c in checks):
        verdict = Verdict.BLOCKED
    elif risk >= policy.risk_review_at or any(
        c.name == "questions" and not c.passed for c in checks
    ):
        verdict = Verdict.NEEDS_INPUT
    else:
        verdict = Verdict.READY
    return GateResult(verdict, risk, checks)
