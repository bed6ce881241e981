"""What an incoming or sent message means for us: one route and the reasons for it. Pure.

The rules run in a fixed order and the first that applies wins:

1. BOUNCE — a delivery status notification, or a mailer-daemon/postmaster sender with failure
   wording. Beats everything: a bounce quotes our own mail and often carries auto-reply headers.
2. REP_SENT — the message carries Gmail's SENT label: the rep answered (and it may be a voice
   sample). Beats auto-reply detection, so the rep's own vacation notice is not a prospect's.
3. No readable sender — a From we refused (spoofed, malformed, several senders) is never acted
   on: UNKNOWN_SENDER, whatever thread it sits in.
4. INTERNAL — a team domain, or the rep's own address without the SENT label.
5. AUTO_REPLY — Auto-Submitted other than "no", X-Autoreply, X-Autorespond, Precedence
   auto_reply, or an out-of-office subject in several languages. Body wording alone never
   decides: "I'm out next week but keen" is a real reply.
6. NEWSLETTER — bulk headers (List-Unsubscribe, Precedence bulk), no-reply senders, receipts,
   Gmail category labels. In a workflow thread or from a known contact only strong signals
   count (a category label, List-Id alone or a receipt-like subject do not).
7. UNSUBSCRIBE — the new text (never the quoted history, which holds our own opt-out line) or
   the subject asks us to stop. Beats interest.
8. PROSPECT_REPLY — the thread belongs to an open workflow, or the sender is a known contact.
9. UNKNOWN_SENDER — everything else: ignored, but recorded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.domain.intent import asks_to_unsubscribe
from shared.domain.mail import ParsedMessage, normalize_email


class Route(StrEnum):
    PROSPECT_REPLY = "prospect_reply"
    REP_SENT = "rep_sent"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"
    NEWSLETTER = "newsletter"
    INTERNAL = "internal"
    UNKNOWN_SENDER = "unknown_sender"


@dataclass(frozen=True)
class RoutingContext:
    mailbox_email: str  # the rep who owns the mailbox
    internal_domains: frozenset[str] = frozenset()
    workflow_id: str | None = None  # the open workflow this message's thread belongs to
    sender_is_contact: bool = False  # the sender is a known HubSpot contact
    labels: frozenset[str] = frozenset()  # Gmail label ids: SENT, INBOX, CATEGORY_PROMOTIONS...


@dataclass(frozen=True)
class RoutingDecision:
    route: Route
    reasons: tuple[str, ...]
    sender: str | None = None  # the normalized From address, when it could be read
    workflow_id: str | None = None
    bounced_address: str | None = None  # set only for a permanent failure: mark it bad
    voice_sample: bool = False  # REP_SENT whose text may train the rep's voice
    signals: tuple[str, ...] = ()  # lesser findings that did not decide the route

    @property
    def drafts(self) -> bool:
        """Whether this message should lead to a draft."""
        return self.route is Route.PROSPECT_REPLY


_DAEMON_LOCAL = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)$", re.I)
_FAILURE_WORDING = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery (?:has )?failed|"
    r"mail delivery (?:failed|failure|subsystem|system)|returned mail|failure notice|"
    r"could not be delivered|couldn'?t be delivered|wasn'?t delivered|address not found|"
    r"user unknown|mailbox unavailable|permanent error|"
    r"unzustellbar|nicht zugestellt|non remis|impossible de remettre|"
    r"no se (?:puede|pudo) entregar|no entregado|non recapitabile|onbestelbaar",
    re.IGNORECASE,
)
_DELAYED_WORDING = re.compile(r"\bdelay(?:ed)?\b|will (?:retry|keep trying)|verzögert", re.I)
_FAILED_IN_TEXT = [
    re.compile(
        r"^\s*(?:final|original)-recipient:\s*rfc822;\s*<?([^\s<>;]+@[^\s<>;]+)>?", re.I | re.M
    ),
    re.compile(
        r"following address(?:es)?(?:\(es\))? failed:\s*\n\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$",
        re.I | re.M,
    ),
    re.compile(r"^\s*<([^\s<>]+@[^\s<>]+)>:\s", re.M),  # Postfix: <addr>: host ... said: 550
    re.compile(r"wasn'?t delivered to\s+<?([^\s<>]+@[^\s<>]+?)>?\s+because", re.I),
]

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:\[?auto(?:matic|matisch|matique)?[- ]?(?:reply|response|antwort|réponse|"
    r"respuesta|risposta|antwoord|resposta)\]?|out of (?:the )?office|ooo\b|abwesen(?:d|heit)|"
    r"automatische antwort|réponse automatique|absence|absent(?:e)?\b|"
    r"fuera de (?:la )?oficina|respuesta automática|ausente|fuori ufficio|risposta automatica|"
    r"afwezig|automatisch antwoord|resposta automática|fora do escritório|frånvaro|"
    r"autosvar|不在|自動返信|自动回复)",
    re.IGNORECASE,
)

_NO_REPLY_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|notifications?|notify|alerts?|"
    r"news(?:letter)?s?|mailer|bounces?|updates|info-noreply|billing-noreply|"
    r"[a-z0-9._-]*[-_.]no[-_.]?reply)(?:[+-][^@]*)?$",
    re.IGNORECASE,
)
_RECEIPT_SUBJECT = re.compile(
    r"\b(?:receipt|invoice|payment (?:received|confirmation)|order confirmation|your order|"
    r"rechnung|quittung|zahlungsbestätigung|bestellbestätigung|facture|reçu|"
    r"confirmation de commande|factura|recibo|confirmación de pedido|fattura|ricevuta)\b",
    re.IGNORECASE,
)
_CATEGORY_LABELS = frozenset(
    {"CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_UPDATES", "CATEGORY_FORUMS", "SPAM"}
)


def route(message: ParsedMessage, ctx: RoutingContext) -> RoutingDecision:
    """The route for one message and the reasons, in the order described in the module doc."""
    sender = message.from_.email if message.from_ is not None else None
    labels = frozenset(label.upper() for label in ctx.labels)

    def decide(
        chosen: Route,
        reasons: Sequence[str],
        *,
        bounced: str | None = None,
        voice: bool = False,
        signals: Sequence[str] = (),
    ) -> RoutingDecision:
        return RoutingDecision(
            route=chosen,
            reasons=tuple(reasons),
            sender=sender,
            workflow_id=ctx.workflow_id,
            bounced_address=bounced,
            voice_sample=voice,
            signals=tuple(signals),
        )

    bounce = _bounce(message)
    if bounce is not None:
        reasons, address = bounce
        return decide(Route.BOUNCE, reasons, bounced=address)

    if "SENT" in labels:
        reasons, voice = _rep_sent(message, ctx)
        return decide(Route.REP_SENT, reasons, voice=voice)

    if message.from_ is None:
        why = next((p for p in message.problems if p.startswith("From:")), "From: missing")
        return decide(
            Route.UNKNOWN_SENDER,
            [f"the sender could not be read safely ({why}); nothing is done with it"],
        )

    internal = _internal(message, ctx)
    if internal is not None:
        return decide(Route.INTERNAL, internal)

    auto = _auto_reply(message)
    if auto:
        return decide(Route.AUTO_REPLY, auto)

    engaged = ctx.workflow_id is not None or ctx.sender_is_contact
    strong, weak = _newsletter(message, labels)
    if strong or (weak and not engaged):
        return decide(Route.NEWSLETTER, strong + weak)
    signals = [f"not decisive because the sender is engaged: {w}" for w in weak]

    phrase = asks_to_unsubscribe(message.new_text)
    where = "the reply"
    if phrase is None:
        phrase = asks_to_unsubscribe(message.subject)
        where = "the subject"
    if phrase is not None:
        return decide(
            Route.UNSUBSCRIBE, [f"{where} asks us to stop writing: {phrase!r}"], signals=signals
        )

    if ctx.workflow_id is not None:
        reasons = [f"reply in the thread of workflow {ctx.workflow_id}"]
        if ctx.sender_is_contact:
            reasons.append(f"{sender} is a known contact")
        return decide(Route.PROSPECT_REPLY, reasons, signals=signals)
    if ctx.sender_is_contact:
        return decide(
            Route.PROSPECT_REPLY,
            [f"{sender} is a known contact (no open workflow in this thread)"],
            signals=signals,
        )
    return decide(
        Route.UNKNOWN_SENDER,
        [f"{sender} is not a known contact and the thread has no open workflow"],
        signals=signals,
    )


def _bounce(message: ParsedMessage) -> tuple[list[str], str | None] | None:
    sender = message.from_
    daemon = sender is not None and bool(_DAEMON_LOCAL.match(sender.local_part))
    null_return_path = (message.header("Return-Path") or "").strip() == "<>"
    wording = _FAILURE_WORDING.search(f"{message.subject}\n{message.text[:5000]}")
    dsn = message.dsn
    if (
        not message.is_dsn
        and not (daemon and wording)
        and not (
            dsn is not None and dsn.failed_recipients and (daemon or null_return_path or wording)
        )
    ):
        return None
    reasons: list[str] = []
    if message.is_dsn:
        reasons.append("a delivery status notification (multipart/report)")
    if daemon and sender is not None:
        reasons.append(f"sent by {sender.email}")
    if wording:
        reasons.append(f"failure wording: {wording.group(0)!r}")
    address = dsn.failed_recipients[0] if dsn is not None and dsn.failed_recipients else None
    if address is None and not _delayed_only(message):
        address = _failed_from_text(message.text)
        if address is not None:
            reasons.append("failed recipient read from the bounce text")
    if dsn is not None and dsn.status:
        reasons.append(f"status {dsn.status}" + (f": {dsn.diagnostic}" if dsn.diagnostic else ""))
    if address is not None:
        reasons.append(f"{address} could not be delivered: mark it bad")
    elif _delayed_only(message):
        reasons.append("delivery is only delayed: the server keeps trying; nothing to mark")
    elif dsn is not None and dsn.action in {"delivered", "relayed", "expanded"}:
        reasons.append(
            f"a delivery report without a failure (action {dsn.action}); nothing to mark"
        )
    else:
        reasons.append("could not tell which address failed")
    return reasons, address


def _delayed_only(message: ParsedMessage) -> bool:
    dsn = message.dsn
    if dsn is not None and (dsn.failed_recipients or (dsn.status or "").startswith("5")):
        return False
    if dsn is not None and dsn.action == "delayed":
        return True
    return bool(_DELAYED_WORDING.search(message.subject))


def _failed_from_text(text: str) -> str | None:
    sample = text[:20_000]
    for pattern in _FAILED_IN_TEXT:
        match = pattern.search(sample)
        if match:
            address = normalize_email(match.group(1).strip(".:,;"))
            if address is not None:
                return address
    return None


def _rep_sent(message: ParsedMessage, ctx: RoutingContext) -> tuple[list[str], bool]:
    reasons = ["the message is in the mailbox's SENT label: the rep wrote it"]
    if message.from_ is not None and not message.from_.same_as(ctx.mailbox_email):
        reasons.append(f"sent as {message.from_.email} (an alias of {ctx.mailbox_email})")
    auto = _auto_reply(message)
    voice = not auto and bool(message.new_text.strip())
    if auto:
        reasons.append("an automatic message, so not a voice sample: " + "; ".join(auto))
    elif not voice:
        reasons.append("no new text, so not a voice sample")
    if ctx.workflow_id is not None:
        reasons.append(f"in the thread of workflow {ctx.workflow_id}: the rep answered")
    return reasons, voice


def _internal(message: ParsedMessage, ctx: RoutingContext) -> list[str] | None:
    sender = message.from_
    if sender is None:
        return None
    domains = {d.lower().lstrip("@") for d in ctx.internal_domains}
    if sender.same_as(ctx.mailbox_email):
        return [
            f"from the mailbox owner {sender.email} but not in SENT "
            "(a self-sent note or a spoof); not a prospect's reply"
        ]
    if sender.domain in domains:
        reasons = [f"from the team domain {sender.domain}"]
        auto = _auto_reply(message)
        if auto:
            reasons.append("also an automatic reply (" + "; ".join(auto) + ")")
        return reasons
    return None


def _auto_reply(message: ParsedMessage) -> list[str]:
    reasons: list[str] = []
    auto_submitted = (message.header("Auto-Submitted") or "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        reasons.append(f"Auto-Submitted: {auto_submitted[:60]}")
    for name in ("X-Autoreply", "X-Autorespond"):
        value = message.header(name)
        if value is not None:
            reasons.append(f"{name}: {value[:60]}")
    precedence = (message.header("Precedence") or "").strip().lower()
    if precedence in {"auto_reply", "auto-reply"}:
        reasons.append(f"Precedence: {precedence}")
    match = _AUTO_SUBJECT.match(message.subject)
    if match:
        reasons.append(f"subject starts with {match.group(0).strip()!r}")
    return reasons


def _newsletter(message: ParsedMessage, labels: frozenset[str]) -> tuple[list[str], list[str]]:
    """(strong, weak) reasons that this is bulk or machine mail."""
    strong: list[str] = []
    weak: list[str] = []
    sender = message.from_
    precedence = (message.header("Precedence") or "").strip().lower()
    list_id = message.header("List-Id")
    unsubscribe = message.header("List-Unsubscribe")
    no_reply = sender is not None and bool(_NO_REPLY_LOCAL.match(sender.local_part))
    if no_reply and sender is not None:
        strong.append(f"sent from an automated address ({sender.email})")
    if precedence in {"bulk", "junk"}:
        strong.append(f"Precedence: {precedence}")
    if unsubscribe:
        # Personal replies never carry it; marketing tools always do, with or without
        # Precedence. Mail through a mailing list (List-Id, Precedence: list) does too.
        strong.append("List-Unsubscribe header (bulk or list mail)")
    elif list_id or precedence == "list":
        weak.append("mailing-list header (List-Id or Precedence: list)")
    receipt = _RECEIPT_SUBJECT.search(message.subject)
    if receipt:
        (strong if no_reply else weak).append(f"receipt or invoice subject ({receipt.group(0)!r})")
    for label in sorted(labels & _CATEGORY_LABELS):
        weak.append(f"Gmail label {label}")
    return strong, weak
