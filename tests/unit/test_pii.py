"""Scrubbing personal data from voice samples: what goes, what stays, and idempotency."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.pii import PLACEHOLDERS, iban_is_valid, luhn_is_valid, scrub

# --------------------------------------------------------------------------------------------
# Phone numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call me at (415) 555-0132 tomorrow.", "Call me at [PHONE] tomorrow."),
        ("Call me at 415.555.0199 tomorrow.", "Call me at [PHONE] tomorrow."),
        ("Direct: +1 212-555-0143 x204, thanks", "Direct: [PHONE], thanks"),
        ("Toll free 1-800-555-0199.", "Toll free [PHONE]."),
        ("London office +44 20 7946 0958, mobile +44 7911 123456.",
         "London office [PHONE], mobile [PHONE]."),
        ("Berlin: +49 30 12345678 oder +49 (0)30 1234 5678", "Berlin: [PHONE] oder [PHONE]"),
        ("Handy +49 151 23456789.", "Handy [PHONE]."),
        ("Paris +33 1 42 68 53 00", "Paris [PHONE]"),
        ("ring me on 0044 20 7946 0958", "ring me on [PHONE]"),
        ("glued: call+44 20 7946 0958now", "glued: call[PHONE]now"),
        ("odd grouping +1 415 555 01 32 still", "odd grouping [PHONE] still"),
    ],
)  # fmt: skip
def test_phone_numbers_are_replaced(text: str, expected: str) -> None:
    result = scrub(text)
    assert result.text == expected
    assert result.counts == {"phone": expected.count("[PHONE]")}


def test_region_decides_national_numbers() -> None:
    text = "Ruf mich an: 030 12345678"
    assert scrub(text, region="US").text == text
    assert scrub(text, region="DE").text == "Ruf mich an: [PHONE]"
    assert scrub(text, region="de").counts == {"phone": 1}
    assert scrub("Call +44 20 7946 0958", region="not-a-region").text == "Call [PHONE]"


# --------------------------------------------------------------------------------------------
# Emails, cards, IBANs, accounts, SSNs


def test_emails_are_replaced() -> None:
    text = "Write to jane.doe+sales@acme.co.uk or (ops@example.com); not @handles or a@b."
    result = scrub(text)
    assert result.text == "Write to [EMAIL] or ([EMAIL]); not @handles or a@b."
    assert result.counts == {"email": 2}


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # Amex
        "6011000990139424",
    ],
)
def test_luhn_valid_cards_are_replaced(card: str) -> None:
    result = scrub(f"Card on file: {card}. Thanks!")
    assert result.text == "Card on file: [CARD]. Thanks!"
    assert result.counts == {"card": 1}


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1112", "4111111111111121", "1234 5678 9012 3456"]
)
def test_luhn_invalid_numbers_are_left(number: str) -> None:
    text = f"Reference {number} attached."
    assert scrub(text).text == text


def test_luhn_and_iban_checks() -> None:
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")
    assert iban_is_valid("DE89 3704 0044 0532 0130 00")
    assert iban_is_valid("GB29NWBK60161331926819")
    assert not iban_is_valid("DE89 3704 0044 0532 0130 01")  # checksum
    assert not iban_is_valid("DE89 3704 0044 0532 0130")  # length for DE


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB29 NWBK 6016 1331 9268 19",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
    ],
)
def test_valid_ibans_are_replaced(iban: str) -> None:
    result = scrub(f"Please pay to {iban} by Friday.")
    assert result.text == "Please pay to [IBAN] by Friday."
    assert result.counts == {"iban": 1}


def test_iban_is_cut_before_following_words() -> None:
    result = scrub("Pay DE89 3704 0044 0532 0130 00 AND confirm")
    assert result.text == "Pay [IBAN] AND confirm"


def test_invalid_iban_after_the_word_iban_is_an_account() -> None:
    result = scrub("IBAN: DE89 3704 0044 0532 0130 01 (typo?)")
    assert result.text == "IBAN: [ACCOUNT] (typo?)"
    assert result.counts == {"account": 1}


def test_invalid_iban_alone_is_left() -> None:
    text = "Code DE89 3704 0044 0532 0130 01 here"
    assert scrub(text).text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My account number is 12345678.", "My account number is [ACCOUNT]."),
        ("Acct #: 000123456789", "Acct #: [ACCOUNT]"),
        ("routing 021000021, account 9876543210",
         "routing [ACCOUNT], account [ACCOUNT]"),
        ("Sort code 12-34-56", "Sort code [ACCOUNT]"),
        ("Kontonummer: 1234567890, BLZ 370 400 44", "Kontonummer: [ACCOUNT], BLZ [ACCOUNT]"),
        ("Konto 532013000", "Konto [ACCOUNT]"),
        ("Numéro de compte 12345678901", "Numéro de compte [ACCOUNT]"),
    ],
)  # fmt: skip
def test_bank_accounts_after_a_keyword_are_replaced(text: str, expected: str) -> None:
    result = scrub(text)
    assert result.text == expected
    assert result.counts == {"account": expected.count("[ACCOUNT]")}


def test_ssns_are_replaced() -> None:
    result = scrub("SSN 123-45-6789; social security number: 123 45 6789.")
    assert result.text == "SSN [SSN]; social security number: [SSN]."
    assert result.counts == {"ssn": 2}
    assert scrub("not an SSN: 000-12-3456 or 666-12-3456").counts == {}


# --------------------------------------------------------------------------------------------
# Addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Send it to 221B Baker Street please.", "Send it to [ADDRESS] please."),
        ("HQ: 1600 Pennsylvania Ave NW, Suite 200, Washington, DC 20500.", "HQ: [ADDRESS]."),
        ("Office at 350 5th Ave, New York.", "Office at [ADDRESS], New York."),
        ("We moved to 42 Oak Lane last May.", "We moved to [ADDRESS] last May."),
        ("Drop by 77 Massachusetts Avenue Apt 4B anytime", "Drop by [ADDRESS] anytime"),
        ("Büro: Hauptstraße 5, 10115 Berlin.", "Büro: [ADDRESS]."),
        ("Lieferung an Karl-Marx-Allee 12a", "Lieferung an [ADDRESS]"),
        ("Treffen in der Berliner Straße 7", "Treffen in der [ADDRESS]"),
        ("Rendez-vous au 12 rue de la Paix, 75002 Paris.", "Rendez-vous au [ADDRESS]."),
        ("Le bureau: 5 Avenue des Champs-Élysées", "Le bureau: [ADDRESS]"),
    ],
)
def test_street_addresses_are_replaced(text: str, expected: str) -> None:
    result = scrub(text)
    assert result.text == expected
    assert result.counts == {"address": 1}


# --------------------------------------------------------------------------------------------
# What must come through unchanged

INNOCENT = [
    "We'd need 20 seats to start, maybe 35 by Q3 2025.",
    "Our error rate dropped from 8% to 2.5% after the rollout.",
    "The Pro plan is $1,200 per month, or $12,000 billed annually.",
    "Can we move the call to 10:30 am PT on Thursday?",
    "Meeting 10:30-11:15 works, or 14:00 CET.",
    "The contract runs from 03/14/2025 to 03/13/2026.",
    "Renewal date is 2025-03-14; invoice sent on 14.03.2025.",
    "We're on version 2.10.3 and plan to upgrade to 3.0 next sprint.",
    "Our office zip is 94105 if that helps with tax.",
    "PO number PO-2025-0042 is attached.",
    "Ticket #48213 was closed yesterday.",
    "We have 1,500 employees across 12 countries.",
    "The platform handles 1 200 000 events a day.",
    "Pricing tiers: 12, 24 or 36 months.",
    "100,000 API calls are included; overage is 0.002 per call.",
    "We're ISO 27001 certified and SOC 2 Type II audited.",
    "ARR grew from 1.2M to 2.4M in 2024.",
    "Between 2020 and 2024 we tripled the team.",
    "Happy to do a 30-minute demo on the 5th.",
    "Net 30 payment terms are standard; Net 60 needs approval.",
    "Page 3 of 12 covers the SLA (99.9% uptime).",
    "Your account manager will follow up this week.",
    "We manage 3 accounts in EMEA and 14 in North America.",
    "Top 10 Great Place to Work two years running!",
    "The 3 Day Workshop starts Monday.",
    "Room 402 is booked from 9 to 5.",
    "Delivery in 6-8 weeks after signature.",
    "We saw a 3x lift in reply rate over 90 days.",
    "Discount of 15% applies to orders above 50 licences.",
    "Call volume was 4,321 in week 12.",
    "Dr. Patel joins the call at 4pm.",
    "Wir brauchen 25 Lizenzen für 5.000 EUR im Jahr.",
    "Der Termin am 14.03. um 10 Uhr passt gut.",
    "Le devis est de 12 500 € HT pour 40 utilisateurs.",
    "Nous avons 3 avenues de croissance pour 2025.",
    "Step 1 of 4: connect your CRM.",
    "In 2023 we had 18 customers, in 2024 we had 41.",
    "The RFP lists 7 requirements and 2 nice-to-haves.",
    "Reply by Friday 5/9 so we can lock the price.",
    "Our NPS is 62 and churn is under 4%.",
    "Use code SPRING25 for 25% off.",
    "Python 3.11 and Node 20 are supported.",
    "Ref: INV-000123 for 2 400,00 €.",
    "Look at slide 14 and the appendix (pp. 22-31).",
    "Ticket 2024-000123 is resolved; see case 2024-3000123 too.",
    "I've shared 3 Google Drive links with the team.",
    "Budget is €1.200.000 or USD 1 200 000 over 3 years.",
    "Plan for 2025 2026 2027 2028 is in the deck.",
    "We're +20% YoY; add +1 seat for the intern.",
    "Call at 9:00-10:00 (GMT+1), ratio 1:1000.",
    "ISBN 978-3-16-148410-0 is the playbook we mentioned.",
    "[PHONE] and [EMAIL] were already removed.",
]


@pytest.mark.parametrize("sentence", INNOCENT)
def test_innocent_sentences_come_through_unchanged(sentence: str) -> None:
    result = scrub(sentence)
    assert result.text == sentence
    assert result.counts == {}


def test_a_whole_email_keeps_its_prose_and_loses_its_pii() -> None:
    text = (
        "Hi Sam,\n\nThanks for the call at 10:30. As discussed, 20 seats at $1,200 each.\n"
        "Reach me on +1 (415) 555-0132 or sam.rep@vendor.io.\n\n"
        "Best,\nAlex\n1 Market St, San Francisco, CA 94105"
    )
    result = scrub(text)
    assert result.text == (
        "Hi Sam,\n\nThanks for the call at 10:30. As discussed, 20 seats at $1,200 each.\n"
        "Reach me on [PHONE] or [EMAIL].\n\n"
        "Best,\nAlex\n[ADDRESS]"
    )
    assert result.counts == {"phone": 1, "email": 1, "address": 1}


# --------------------------------------------------------------------------------------------
# Idempotency

_PIECES = st.sampled_from(
    [
        "call (415) 555-0132",
        "+44 20 7946 0958",
        "jane@acme.com",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "account 12345678",
        "123-45-6789",
        "221B Baker Street",
        "Hauptstraße 5",
        "12 rue de la Paix",
        "20 seats",
        "Q3 2025",
        "$1,200",
        "10:30",
        " ",
        "\n",
        ", ",
        "-",
        "x",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=12).map("".join))
def test_scrub_is_idempotent(text: str) -> None:
    once = scrub(text)
    twice = scrub(once.text)
    assert twice.text == once.text
    assert twice.counts == {}


_PLACEHOLDER_TEXT = st.lists(
    st.one_of(st.sampled_from(list(PLACEHOLDERS.values())), st.sampled_from([" ", "\n", ", "])),
    max_size=20,
).map("".join)


@settings(max_examples=100, deadline=None)
@given(_PLACEHOLDER_TEXT)
def test_placeholder_only_text_is_left_alone(text: str) -> None:
    result = scrub(text)
    assert result.text == text
    assert result.counts == {}
