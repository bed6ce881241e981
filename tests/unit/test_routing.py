"""Routing: each route with its reasons, and the order in which the rules apply."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shared.domain.mail import ParsedMessage, parse_message
from shared.domain.routing import Route, RoutingContext, RoutingDecision, route

CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus" / "mail"

CTX = RoutingContext(
    mailbox_email="dana@ourco.com",
    internal_domains=frozenset({"ourco.com", "ourco.io"}),
    labels=frozenset({"INBOX"}),
)
IN_WORKFLOW = replace(CTX, workflow_id="wf-1")
CONTACT = replace(CTX, sender_is_contact=True)


def corpus(name: str) -> ParsedMessage:
    return parse_message((CORPUS_DIR / f"{name}.eml").read_bytes())


def mail(
    body: str = "Sounds good, let's talk.",
    *,
    sender: str = "Anna Lee <anna@northwind.io>",
    subject: str = "Re: Onboarding",
    headers: str = "",
) -> ParsedMessage:
    raw = (
        f"From: {sender}\nTo: Dana Rep <dana@ourco.com>\nSubject: {subject}\n"
        f"Date: Mon, 5 Jan 2026 10:00:00 +0000\nMessage-ID: <m1@northwind.io>\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
    return parse_message(raw.encode())


def joined(decision: RoutingDecision) -> str:
    return " | ".join(decision.reasons)


# --------------------------------------------------------------------------------------------
# Each route


def test_prospect_reply_in_a_workflow_thread() -> None:
    decision = route(corpus("thread_en_gmail"), IN_WORKFLOW)
    assert decision.route is Route.PROSPECT_REPLY
    assert decision.drafts
    assert decision.workflow_id == "wf-1"
    assert decision.sender == "anna@northwind.io"
    assert "reply in the thread of workflow wf-1" in decision.reasons


def test_prospect_reply_from_a_known_contact_outside_a_workflow() -> None:
    decision = route(mail(), CONTACT)
    assert decision.route is Route.PROSPECT_REPLY
    assert "anna@northwind.io is a known contact" in joined(decision)


def test_unknown_sender_is_ignored_but_recorded() -> None:
    decision = route(mail(), CTX)
    assert decision.route is Route.UNKNOWN_SENDER
    assert not decision.drafts
    assert "not a known contact" in joined(decision)


def test_rep_sent_is_a_voice_sample_and_marks_the_rep_answered() -> None:
    message = mail("Hi Anna, here is the deck.", sender="Dana Rep <dana@ourco.com>")
    decision = route(message, replace(IN_WORKFLOW, labels=frozenset({"SENT"})))
    assert decision.route is Route.REP_SENT
    assert decision.voice_sample
    assert "the rep answered" in joined(decision)


def test_rep_sent_from_an_alias() -> None:
    message = mail("Hi.", sender="Dana <dana@ourco.io>")
    decision = route(message, replace(CTX, labels=frozenset({"SENT"})))
    assert decision.route is Route.REP_SENT
    assert "alias" in joined(decision)


@pytest.mark.parametrize(
    ("headers", "subject", "reason"),
    [
        ("Auto-Submitted: auto-replied\n", "Re: Onboarding", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated\n", "Re: Onboarding", "Auto-Submitted: auto-generated"),
        ("X-Autoreply: yes\n", "Re: Onboarding", "X-Autoreply: yes"),
        ("X-Autorespond: Out of office\n", "Re: Onboarding", "X-Autorespond"),
        ("Precedence: auto_reply\n", "Re: Onboarding", "Precedence: auto_reply"),
        ("", "Out of Office: Onboarding", "Out of Office"),
        ("", "Automatic reply: Onboarding", "Automatic reply"),
        ("", "Abwesend: Ihre Anfrage", "Abwesend"),
        ("", "Abwesenheitsnotiz: Ihre Anfrage", "Abwesenheit"),
        ("", "Réponse automatique : Votre message", "Réponse automatique"),
        ("", "Absence du bureau", "Absence"),
        ("", "Respuesta automática: Propuesta", "Respuesta automática"),
        ("", "Fuera de la oficina", "Fuera de la oficina"),
    ],
)
def test_auto_reply_by_headers_and_subject(headers: str, subject: str, reason: str) -> None:
    message = mail("I am away until Monday.", subject=subject, headers=headers)
    decision = route(message, IN_WORKFLOW)
    assert decision.route is Route.AUTO_REPLY
    assert reason in joined(decision)
    assert not decision.drafts


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    message = mail(headers="Auto-Submitted: no\n")
    assert route(message, IN_WORKFLOW).route is Route.PROSPECT_REPLY


def test_out_of_office_wording_in_the_body_alone_is_a_real_reply() -> None:
    message = mail("I'm out of the office next week, but very keen - let's talk after.")
    assert route(message, IN_WORKFLOW).route is Route.PROSPECT_REPLY


def test_gmail_and_outlook_out_of_office_from_the_corpus() -> None:
    assert route(corpus("out_of_office_gmail"), IN_WORKFLOW).route is Route.AUTO_REPLY
    assert route(corpus("out_of_office_outlook_de"), CONTACT).route is Route.AUTO_REPLY


def test_dsn_bounce_marks_the_failed_address() -> None:
    decision = route(corpus("dsn_bounce"), IN_WORKFLOW)
    assert decision.route is Route.BOUNCE
    assert decision.bounced_address == "ghost@prospect-gone.com"
    assert "delivery status notification" in joined(decision)
    assert "status 5.1.1" in joined(decision)
    assert not decision.drafts


def test_plain_text_bounce_from_mailer_daemon() -> None:
    decision = route(corpus("bounce_exim_text"), CTX)
    assert decision.route is Route.BOUNCE
    assert decision.bounced_address == "nobody@closed-company.example"


def test_postfix_style_bounce_reads_the_address_from_the_text() -> None:
    body = (
        "This is the mail system at host mx.example.net.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "<lost@prospect.example>: host mx.prospect.example said: 550 5.1.1 User unknown\n"
    )
    message = mail(
        body,
        sender="MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        subject="Undelivered Mail Returned to Sender",
    )
    decision = route(message, CTX)
    assert decision.route is Route.BOUNCE
    assert decision.bounced_address == "lost@prospect.example"
    assert "read from the bounce text" in joined(decision)


def test_delayed_delivery_report_marks_nothing() -> None:
    raw = (
        b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        b"Subject: Delivery Status Notification (Delay)\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nStill trying.\n--b\n"
        b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; googlemail.com\n\n"
        b"Final-Recipient: rfc822; slow@prospect.example\nAction: delayed\nStatus: 4.4.7\n\n--b--\n"
    )
    decision = route(parse_message(raw), IN_WORKFLOW)
    assert decision.route is Route.BOUNCE
    assert decision.bounced_address is None
    assert "only delayed" in joined(decision)


def test_mailer_daemon_without_failure_wording_is_not_a_bounce() -> None:
    message = mail(
        "Your mailbox quota report is attached.",
        sender="postmaster@northwind.io",
        subject="Quota report",
    )
    assert route(message, CTX).route is not Route.BOUNCE


@pytest.mark.parametrize(
    "body",
    [
        "Please unsubscribe me from these emails.",
        "Remove me from your list.",
        "Stop emailing me.",
        "Please don't contact me again.",
        "Bitte tragen Sie mich aus dem Verteiler aus.",
        "Bitte nicht mehr kontaktieren.",
        "Merci de ne plus me contacter.",
        "Je souhaite me désinscrire.",
        "Por favor, darme de baja.",
        "No me escriban más, por favor.",
        "STOP",
    ],
)
def test_unsubscribe_requests_in_several_languages(body: str) -> None:
    decision = route(mail(body), IN_WORKFLOW)
    assert decision.route is Route.UNSUBSCRIBE
    assert "asks us to stop writing" in joined(decision)
    assert not decision.drafts


def test_unsubscribe_in_the_subject() -> None:
    decision = route(mail("", subject="Unsubscribe"), CONTACT)
    assert decision.route is Route.UNSUBSCRIBE
    assert "the subject asks" in joined(decision)


def test_unsubscribe_in_our_own_quoted_footer_does_not_count() -> None:
    body = (
        "Sounds great, send me the pricing.\n\n"
        "On Mon, Jan 5, 2026 at 10:02 AM Dana Rep <dana@ourco.com> wrote:\n"
        "> Here is the overview.\n> If you'd rather not hear from me, reply unsubscribe.\n"
    )
    assert route(mail(body), IN_WORKFLOW).route is Route.PROSPECT_REPLY


def test_newsletter_with_list_headers() -> None:
    decision = route(corpus("newsletter"), CTX)
    assert decision.route is Route.NEWSLETTER
    assert "Precedence: bulk" in decision.reasons
    assert "List-Unsubscribe" in joined(decision)


def test_receipt_from_a_no_reply_sender() -> None:
    decision = route(corpus("receipt_noreply"), CTX)
    assert decision.route is Route.NEWSLETTER
    assert "automated address (noreply@stripe.com)" in joined(decision)
    assert "receipt" in joined(decision)


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@vendor.example",
        "no-reply@vendor.example",
        "do-not-reply@vendor.example",
        "donotreply@vendor.example",
        "notifications@vendor.example",
        "billing-noreply@vendor.example",
    ],
)
def test_no_reply_senders_are_newsletters_even_for_contacts(sender: str) -> None:
    decision = route(mail(sender=sender), CONTACT)
    assert decision.route is Route.NEWSLETTER


def test_category_label_alone_decides_only_for_strangers() -> None:
    promo = frozenset({"INBOX", "CATEGORY_PROMOTIONS"})
    assert route(mail(), replace(CTX, labels=promo)).route is Route.NEWSLETTER
    engaged = route(mail(), replace(IN_WORKFLOW, labels=promo))
    assert engaged.route is Route.PROSPECT_REPLY
    assert any("CATEGORY_PROMOTIONS" in s for s in engaged.signals)


def test_internal_sender() -> None:
    decision = route(mail(sender="Sam Boss <sam@ourco.com>"), IN_WORKFLOW)
    assert decision.route is Route.INTERNAL
    assert "team domain ourco.com" in joined(decision)


def test_rep_address_without_sent_label_is_internal_not_a_prospect() -> None:
    decision = route(corpus("forward_inline"), IN_WORKFLOW)
    assert decision.route is Route.INTERNAL
    assert "not in SENT" in joined(decision)


def test_spoofed_sender_in_a_workflow_thread_is_never_drafted() -> None:
    for name in ("spoof_quoted_name", "spoof_unquoted_name", "crlf_injection", "two_senders"):
        decision = route(corpus(name), replace(IN_WORKFLOW, sender_is_contact=True))
        assert decision.route is Route.UNKNOWN_SENDER, name
        assert decision.sender is None
        assert "could not be read safely" in joined(decision)


# --------------------------------------------------------------------------------------------
# Order


def test_bounce_beats_everything() -> None:
    ctx = replace(IN_WORKFLOW, sender_is_contact=True, labels=frozenset({"SENT", "INBOX"}))
    assert route(corpus("dsn_bounce"), ctx).route is Route.BOUNCE


def test_rep_sent_beats_auto_reply_but_is_not_a_voice_sample() -> None:
    message = mail("I am away.", sender="dana@ourco.com", headers="Auto-Submitted: auto-replied\n")
    decision = route(message, replace(IN_WORKFLOW, labels=frozenset({"SENT"})))
    assert decision.route is Route.REP_SENT
    assert not decision.voice_sample
    assert "not a voice sample" in joined(decision)


def test_internal_out_of_office_stays_internal() -> None:
    message = mail(sender="sam@ourco.com", subject="Out of Office: Onboarding")
    decision = route(message, IN_WORKFLOW)
    assert decision.route is Route.INTERNAL
    assert "also an automatic reply" in joined(decision)


def test_auto_reply_beats_unsubscribe_wording() -> None:
    message = mail(
        "I am away. To unsubscribe from our newsletter click here.",
        headers="Auto-Submitted: auto-replied\n",
    )
    assert route(message, IN_WORKFLOW).route is Route.AUTO_REPLY


def test_unsubscribe_beats_interest() -> None:
    message = mail("Interesting product, but please remove me from your list.")
    assert route(message, IN_WORKFLOW).route is Route.UNSUBSCRIBE


def test_unsubscribe_from_a_stranger_is_still_honoured() -> None:
    assert route(mail("Unsubscribe"), CTX).route is Route.UNSUBSCRIBE


def test_every_corpus_message_gets_a_route_with_reasons_and_is_deterministic() -> None:
    for path in sorted(CORPUS_DIR.glob("*.eml")):
        message = parse_message(path.read_bytes())
        for ctx in (CTX, IN_WORKFLOW, CONTACT, replace(CTX, labels=frozenset({"SENT"}))):
            first = route(message, ctx)
            assert first.reasons, path.name
            assert route(message, ctx) == first
