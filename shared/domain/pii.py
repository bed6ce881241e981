"""Personal data out of a voice sample's text before it is stored. Pure.

Each find is replaced by a typed placeholder: `[EMAIL]`, `[IBAN]`, `[CARD]`, `[SSN]`,
`[ACCOUNT]`, `[PHONE]`, `[ADDRESS]`. When two finds overlap, the first kind in this order
wins: email, IBAN, account, card, SSN, phone, address (a valid IBAN after the word "IBAN" is an
`[IBAN]`; digits after "account" are an `[ACCOUNT]` even when they would pass as a card).

What is found, and what is not:

- Emails: a plain `local@domain.tld`. Obfuscated forms ("jane at acme dot com") are not.
- Phone numbers: `phonenumbers.PhoneNumberMatcher` for the given region at leniency VALID, so
  only numbers valid in the numbering plan count; a number without `+` must also be grouped
  the way the region writes numbers (STRICT_GROUPING), so "Ticket 2024-000123" stays. Any `+`
  or `00` international number that is valid is found, even glued to letters. Dates and
  times are hidden from the matcher first ("2025-03-14 14" is not a phone). Not found: a
  national number of another region (a UK `020 ...` in US text). Found although not a phone:
  a bare 10-digit figure that is a valid US number ("4155550132 requests"), a meeting ID.
- Cards: 13–19 digits, contiguous or in the usual 4-4-4-4 / 4-6-5 groups with one kind of
  separator, and Luhn-valid. Invalid ones are left alone.
- IBANs: country code, check digits, the country's length where known, mod-97 checksum.
- Bank accounts: 6+ digits (or an IBAN-shaped code) right after a word such as account,
  acct, routing, sort code, Konto, BLZ, IBAN, compte. Bare account numbers are not found.
- SSNs: the US `123-45-6789` pattern (excluding impossible 000/666/9xx areas), or nine digits
  after "SSN" / "social security".
- Street addresses, pragmatic patterns only: US/UK `number + capitalised name + suffix`
  ("221B Baker Street", "1600 Pennsylvania Ave NW, Suite 200, Washington, DC 20500"),
  German `name + straße/weg/platz... + number` ("Hauptstraße 5, 10115 Berlin"), French
  `number + rue/avenue/boulevard... + name` ("12 rue de la Paix, 75002 Paris"). Not found:
  lower-case street names, P.O. boxes, addresses without a house number, other languages.
  A number before a capitalised phrase ending in a suffix word ("5 Accounts Way") is taken
  for an address; a few common phrases ("3 Google Drive links") are excluded by name.

Ordinary numbers in prose (counts, percentages, quarters, years, prices, times, dates,
versions, a zip code alone) are left as they are. Scrubbing is idempotent: it repeats until a
pass finds nothing, and the placeholders themselves never match.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

PLACEHOLDERS = {
    "email": "[EMAIL]",
    "iban": "[IBAN]",
    "card": "[CARD]",
    "ssn": "[SSN]",
    "account": "[ACCOUNT]",
    "phone": "[PHONE]",
    "address": "[ADDRESS]",
}
MAX_PASSES = 4


@dataclass(frozen=True)
class Scrubbed:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # e.g. {"phone": 2, "email": 1}


def scrub(text: str, region: str = "US") -> Scrubbed:
    """`text` with personal data replaced by typed placeholders, and how many of each."""
    region = region.upper() if region.upper() in phonenumbers.SUPPORTED_REGIONS else "ZZ"
    counts: Counter[str] = Counter()
    for _ in range(MAX_PASSES):
        text, found = _scrub_once(text, region)
        if not found:
            break
        counts.update(found)
    return Scrubbed(text=text, counts=dict(counts))


def _scrub_once(text: str, region: str) -> tuple[str, Counter[str]]:
    taken = bytearray(len(text))
    accepted: list[tuple[int, int, str]] = []
    for kind, finder in _FINDERS:
        for start, end in finder(text, region):
            if start < end and taken.find(1, start, end) == -1:
                taken[start:end] = b"\x01" * (end - start)
                accepted.append((start, end, kind))
    if not accepted:
        return text, Counter()
    accepted.sort()
    pieces: list[str] = []
    position = 0
    for start, end, kind in accepted:
        pieces.append(text[position:start])
        pieces.append(PLACEHOLDERS[kind])
        position = end
    pieces.append(text[position:])
    return "".join(pieces), Counter(kind for _, _, kind in accepted)


Spans = Iterator[tuple[int, int]]


# --------------------------------------------------------------------------------------------
# Emails

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]*\w@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63}(?![\w-])"
)


def _emails(text: str, region: str) -> Spans:
    for match in _EMAIL.finditer(text):
        yield match.span()


# --------------------------------------------------------------------------------------------
# IBANs

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11,30}(?![A-Za-z0-9])")


def iban_is_valid(candidate: str) -> bool:
    """Country length (where known) and the ISO 13616 mod-97 checksum."""
    code = re.sub(r"[ -]", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", code):
        return False
    expected = _IBAN_LENGTHS.get(code[:2])
    if expected is not None and len(code) != expected:
        return False
    digits = "".join(str(int(char, 36)) for char in code[4:] + code[:4])
    return int(digits) % 97 == 1


def _ibans(text: str, region: str) -> Spans:
    for match in _IBAN.finditer(text):
        start, end = match.span()
        # the greedy match may run into a following code or word: try each shorter end
        for cut in range(end, start + 14, -1):
            if (cut == end or not text[cut].isalnum()) and iban_is_valid(text[start:cut]):
                yield start, cut
                break


# --------------------------------------------------------------------------------------------
# Cards

_CARD = re.compile(
    r"(?<![\w.,/-])(?:"
    r"\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5}"
    r")(?![\w/-]|[.,]\d)"
)


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_GROUP_BEFORE = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9]*[ -]$")
_GROUP_AFTER = re.compile(r"[ -][A-Za-z0-9]*\d")


def _cards(text: str, region: str) -> Spans:
    for match in _CARD.finditer(text):
        start, end = match.span()
        if _GROUP_BEFORE.search(text, max(0, start - 12), start) or _GROUP_AFTER.match(text, end):
            continue  # one group of a longer code (an IBAN, a reference), not a card
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_is_valid(digits):
            yield match.span()


# --------------------------------------------------------------------------------------------
# SSNs and bank accounts

_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
_SSN_AFTER_WORD = re.compile(
    r"(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\s*[:#]?\s*)"
    r"(\d{3}[ .]?\d{2}[ .]?\d{4})(?![\w-])"
)
_ACCOUNT = re.compile(
    r"(?i:\b(?:bank\s+)?(?:account|acct|a/c|routing|aba|sort[\s-]?code|konto(?:nummer|nr)?|kto"
    r"|iban|blz|bankleitzahl|bsb|compte|rib)\b\.?"
    r"(?:\s*(?:number|num|no|nr|n°|#)\.?)?(?:\s+(?:is|ist|est))?\s*[:#=]?\s*)"
    r"((?:[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){10,30})|\d(?:[ -]?\d){5,33})(?![\w-])"
)


def _ssns(text: str, region: str) -> Spans:
    for match in _SSN.finditer(text):
        yield match.span()
    for match in _SSN_AFTER_WORD.finditer(text):
        yield match.span(1)


def _accounts(text: str, region: str) -> Spans:
    for match in _ACCOUNT.finditer(text):
        yield match.span(1)


# --------------------------------------------------------------------------------------------
# Phone numbers

_NOT_PHONES = re.compile(
    r"(?<![\d./-])(?:"
    r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?"  # ISO date (and time)
    r"|(?:[0-3]?\d[./-][01]?\d|[01]?\d[./-][0-3]?\d)[./-](?:\d{4}|\d{2})"  # 14.03.2025, 3/14/25
    r"|\d{1,2}:\d{2}(?::\d{2})?(?:\s*[-–]\s*\d{1,2}:\d{2})?"  # 10:30, 10:30-11:15
    r"|v\d+(?:\.\d+)+|\d{1,2}(?:\.\d{1,3}){2,3}"  # versions
    r")(?![\d./-]\d)"
)
_INTERNATIONAL = re.compile(r"(?:\+|(?<!\d)00)[1-9]\d{0,2}(?:[ .()/-]{0,3}\d){5,15}")


def _grouped_like_a_phone(raw: str, region: str) -> bool:
    """A national number must also be grouped as the region writes numbers: "2024-000123" is
    a valid Washington DC number to VALID leniency, but a reference number to a reader."""
    return any(True for _ in PhoneNumberMatcher(raw, region, leniency=Leniency.STRICT_GROUPING))


def _phones(text: str, region: str) -> Spans:
    masked = _NOT_PHONES.sub(lambda m: "_" * len(m.group()), text)
    for found in PhoneNumberMatcher(masked, region, leniency=Leniency.VALID):
        if found.raw_string.startswith("+") or _grouped_like_a_phone(found.raw_string, region):
            yield found.start, found.end
    for match in _INTERNATIONAL.finditer(masked):
        candidate = match.group()
        number = "+" + candidate[2:] if candidate.startswith("00") else candidate
        # the greedy match may run into a following number: try shorter ends at digits
        for cut in range(len(number), 7, -1):
            if not number[cut - 1].isdigit():
                continue
            try:
                parsed = phonenumbers.parse(number[:cut], None)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                yield match.start(), match.start() + cut - (len(number) - len(candidate))
                break


# --------------------------------------------------------------------------------------------
# Street addresses

_US_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl"
    r"|Terrace|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Plaza|Trail|Crescent|Close|Mews)"
)
_UNIT = r"(?:Suite|Ste\.?|Apt\.?|Apartment|Unit|Floor|Fl\.?|Room|Rm\.?|#)"
_US_ADDRESS = re.compile(
    r"(?<![\w$€£.,-])\d{1,6}[A-Za-z]?(?:-\d{1,4})?\s+"
    r"(?:(?:North|South|East|West|[NSEW]\.?)\s+)?"
    r"(?:(?:\d{1,3}(?:st|nd|rd|th)|[A-Z][A-Za-z'’.-]*)\s+){1,4}"
    rf"{_US_SUFFIX}\b(?!\s+(?:to|of)\b)\.?"
    r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b\.?)?"
    rf"(?:,?\s+{_UNIT}\s*#?\s*[A-Za-z0-9-]+)?"
    r"(?:,\s+[A-Z][A-Za-z.'-]+(?:\s[A-Z][A-Za-z.'-]+){0,3},\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b)?"
)
_DE_TYPE = r"(?:straße|strasse|str\.|allee|platz|gasse|weg|damm|ufer|chaussee)"
_DE_ADDRESS = re.compile(
    r"(?<![\w-])(?:"
    rf"[A-ZÄÖÜ][a-zäöüß]*(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*-?(?i:{_DE_TYPE})"
    rf"|(?:[A-ZÄÖÜ][a-zäöüß.-]+\s+){{1,3}}(?i:{_DE_TYPE})"
    r")\s+\d{1,4}(?:\s?[a-zA-Z](?![\w]))?(?:\s?[-–]\s?\d{1,4})?"
    r"(?:,?\s+(?:D-)?\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+(?:\s(?:am|an der|im)\s[A-ZÄÖÜ][\wäöüß-]+)?)?"
)
_FR_TYPE = r"(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai)"
_FR_NAME = r"[A-ZÉÈÀÂÎÔÛÇ][\w'’-]*"
_FR_LINK = r"(?:(?:de la|de l['’]|du|des|de|la|le|les)\s+|[ld]['’])"
_FR_ADDRESS = re.compile(
    r"(?<![\w$€£.,-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+"
    rf"(?i:{_FR_TYPE})\s+"
    rf"{_FR_LINK}*{_FR_NAME}(?:[ -]{_FR_LINK}*{_FR_NAME}){{0,4}}"
    rf"(?:,?\s+\d{{5}}\s+{_FR_NAME}(?:[ -]{_FR_NAME}){{0,3}})?"
)


_NOT_STREETS = re.compile(
    r"\b(?:Google|Hard|Test|Flash|Shared|Team|USB|Network|Great|Best|Market|Supreme|High"
    r"|District|Bankruptcy|Federal|Food|Times|Town)\s+(?:Drive|Place|Court|Square)\b"
)


def _addresses(text: str, region: str) -> Spans:
    for pattern in (_US_ADDRESS, _DE_ADDRESS, _FR_ADDRESS):
        for match in pattern.finditer(text):
            if not _NOT_STREETS.search(match.group()):
                yield match.span()


_FINDERS = (
    ("email", _emails),
    ("iban", _ibans),
    ("account", _accounts),
    ("card", _cards),
    ("ssn", _ssns),
    ("phone", _phones),
    ("address", _addresses),
)


__all__ = ["PLACEHOLDERS", "Scrubbed", "iban_is_valid", "luhn_is_valid", "scrub"]
