"""Writes the mail corpus used by tests/unit/test_mail_parsing.py (run it to regenerate).

Every message is built byte by byte in the shape real clients produce (Gmail, Outlook, Apple
Mail, Exim, Postfix, mailing-list software), including the broken ones. The .eml files are
committed; this script documents how each was made.

    .venv/bin/python tests/corpus/mail/make_corpus.py
"""

from __future__ import annotations

import base64
import quopri
import random
from email.header import Header
from email.utils import formataddr, parseaddr
from pathlib import Path

HERE = Path(__file__).resolve().parent

REP = "Dana Rep <dana@ourco.com>"
SIGNATURE_SEPARATOR = "-- "  # RFC 3676: dash, dash, space
DATE = "Mon, 5 Jan 2026 10:02:11 +0100"


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def message(headers: str, body: bytes | str, *, charset: str = "utf-8") -> bytes:
    head = headers.strip("\n").encode("ascii") + b"\n\n"
    return crlf(head + (body.encode(charset) if isinstance(body, str) else body))


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def qp(data: bytes) -> bytes:
    return quopri.encodestring(data)


def plain_reply(name: str, subject: str, sender: str, body: str, extra: str = "") -> bytes:
    """A text/plain reply to the rep, UTF-8, 8bit (what Gmail sends for plain replies)."""
    display, address = parseaddr(sender)
    headers = f"""
Return-Path: <{address}>
From: {formataddr((display, address), charset="utf-8")}
To: {REP}
Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=
Date: {DATE}
Message-ID: <{name}@mail.example.net>
In-Reply-To: <orig-{name}@ourco.com>
References: <first-{name}@ourco.com> <orig-{name}@ourco.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit
{extra}
"""
    return message(headers, body)


# --------------------------------------------------------------------------------------------
# Reply threads in several languages (used to measure reply separation)

THREADS: dict[str, tuple[str, str, str]] = {
    "thread_en_gmail": (
        "Anna Lee <anna@northwind.io>",
        "Re: Onboarding",
        """Hi Dana,

Thanks, that sounds great. Could you send over pricing for 50 seats?
We'd also need SSO.

Best,
Anna

On Mon, Jan 5, 2026 at 10:02 AM Dana Rep <dana@ourco.com> wrote:

> Hi Anna,
>
> Following up on our chat about onboarding. Would a short demo help?
>
> Thanks,
> Dana
""",
    ),
    "thread_en_wrapped_attribution": (
        "Ben Ode <ben@odeworks.com>",
        "Re: Quick call?",
        """Yes, Tuesday at 3pm works for me.

On Mon, Jan 5, 2026 at 10:02 AM Dana Rep from Our Company Incorporated <
dana.rep@ourco.com> wrote:

> Would Tuesday or Wednesday afternoon work for a 20-minute call?
""",
    ),
    "thread_en_outlook": (
        "Tom Baker <tom@bakerlogistics.com>",
        "RE: Proposal",
        """Hi Dana,

We reviewed the proposal internally. A few questions:
- does the plan include onboarding?
- can we pay annually?

Regards,
Tom Baker
Head of Operations | Baker Logistics
+1 555 0100

________________________________
From: Dana Rep <dana@ourco.com>
Sent: Monday, January 5, 2026 10:02 AM
To: Tom Baker <tom@bakerlogistics.com>
Subject: RE: Proposal

Hi Tom, attached is the proposal we discussed.
""",
    ),
    "thread_en_original_message": (
        "Mark Lee <mark@leeandco.com>",
        "RE: Quick question",
        """Please call me tomorrow morning, my number is in my signature.

Mark

-----Original Message-----
From: Dana Rep [mailto:dana@ourco.com]
Sent: Monday, January 05, 2026 10:02 AM
To: Mark Lee
Subject: Quick question

Do you have time this week?
""",
    ),
    "thread_en_mobile": (
        "Sara Kim <sara@kimdesign.co>",
        "Re: Thursday",
        """Sounds good, let's do Thursday.

Sent from my iPhone

> On Jan 5, 2026, at 10:02, Dana Rep <dana@ourco.com> wrote:
>
> Would Thursday work?
""",
    ),
    "thread_en_signature": (
        "Priya Shah <priya@acme.io>",
        "Re: Overview",
        f"""Happy to take a look. What integrations do you support?

{SIGNATURE_SEPARATOR}
Priya Shah
VP Engineering, Acme Corp
priya@acme.io | +44 20 7946 0000

On Tue, 6 Jan 2026 at 09:15, Dana Rep <dana@ourco.com> wrote:
> Here's the overview deck.
""",
    ),
    "thread_en_bottom_post": (
        "Olu Ade <olu@adeventures.ng>",
        "Re: A few questions",
        """On Mon, Jan 5, 2026 at 10:02 AM Dana Rep <dana@ourco.com> wrote:
> Do you use Salesforce or HubSpot today?

HubSpot, for about two years.

> How many reps are on the team?

Twelve, soon fifteen.
""",
    ),
    "thread_en_hyphen_list": (
        "Ella Stone <ella@stonebridge.com>",
        "Re: Next steps",
        """Hi Dana,

Before we go further we need:
- a security questionnaire
- a DPA
- references from two customers

Thanks,
Ella

On Mon, Jan 5, 2026 at 10:02 AM Dana Rep <dana@ourco.com> wrote:
> Great to hear from you.
""",
    ),
    "thread_de_gmail": (
        "Jonas Weber <jonas.weber@beispiel.de>",
        "Re: Unterlagen",
        """Hallo Dana,

danke für die Infos. Wir hätten Interesse an einer Demo nächste Woche.
Passt Ihnen Dienstag um 14 Uhr?

Viele Grüße
Jonas Weber

Am Mo., 5. Jan. 2026 um 10:02 Uhr schrieb Dana Rep <dana@ourco.com>:

> Hallo Jonas,
>
> anbei die Unterlagen zu unserem Angebot.
""",
    ),
    "thread_de_outlook": (
        "Petra Schmidt <p.schmidt@beispiel.de>",
        "AW: Ihre Anfrage",
        """Guten Tag Frau Rep,

vielen Dank. Können Sie mir bitte ein Angebot für 20 Lizenzen schicken?

Mit freundlichen Grüßen
Petra Schmidt

Von: Dana Rep <dana@ourco.com>
Gesendet: Montag, 5. Januar 2026 10:02
An: Petra Schmidt <p.schmidt@beispiel.de>
Betreff: Ihre Anfrage

Sehr geehrte Frau Schmidt, vielen Dank für Ihre Anfrage.
""",
    ),
    "thread_de_apple": (
        "Lena Vogel <lena@vogel-gmbh.de>",
        "Re: Termin",
        """Klingt gut, bis Donnerstag!

Gesendet von meinem iPhone

> Am 05.01.2026 um 10:02 schrieb Dana Rep <dana@ourco.com>:
>
> Wollen wir uns am Donnerstag kurz abstimmen?
""",
    ),
    "thread_fr_gmail": (
        "Julien Martin <julien.martin@exemple.fr>",
        "Re: Notre solution",
        """Bonjour Dana,

Merci pour votre message. Pouvez-vous m'envoyer une documentation détaillée ?

Cordialement,
Julien Martin

Le lun. 5 janv. 2026 à 10:02, Dana Rep <dana@ourco.com> a écrit :

> Bonjour Julien,
>
> Je me permets de vous relancer concernant notre solution.
""",
    ),
    "thread_fr_outlook": (
        "Claire Dubois <claire@exemple.fr>",
        "RE: Notre solution",
        """Bonjour,

Pas pour le moment, merci. Recontactez-moi au prochain trimestre.

Claire

De : Dana Rep <dana@ourco.com>
Envoyé : lundi 5 janvier 2026 10:02
À : Claire Dubois <claire@exemple.fr>
Objet : Notre solution

Bonjour Claire, avez-vous eu le temps de regarder notre proposition ?
""",
    ),
    "thread_es_gmail": (
        "Lucía García <lucia@ejemplo.es>",
        "Re: Presentación",
        """Hola Dana,

Gracias por la información. ¿Podemos agendar una llamada el jueves?

Saludos,
Lucía

El lun, 5 ene 2026 a las 10:02, Dana Rep (<dana@ourco.com>) escribió:

> Hola Lucía,
>
> ¿Tienes unos minutos esta semana para hablar?
""",
    ),
    "thread_it_gmail": (
        "Marco Rossi <marco@esempio.it>",
        "Re: La nostra piattaforma",
        """Ciao Dana,

grazie, siamo interessati. Potete inviarmi un preventivo?

Cordiali saluti
Marco

Il giorno lun 5 gen 2026 alle ore 10:02 Dana Rep <dana@ourco.com> ha
scritto:

> Ciao Marco,
> ti scrivo per presentarti la nostra piattaforma.
""",
    ),
    "thread_nl_gmail": (
        "Sanne de Vries <sanne@voorbeeld.nl>",
        "Re: Kennismaking",
        """Hoi Dana,

Bedankt voor je bericht. Kunnen we volgende week bellen?

Groet,
Sanne

Op ma 5 jan 2026 om 10:02 schreef Dana Rep <dana@ourco.com>:

> Hoi Sanne,
> Heb je tijd voor een korte kennismaking?
""",
    ),
    "thread_pt_gmail": (
        "Rafael Souza <rafael@exemplo.com.br>",
        "Re: Apresentação",
        """Olá Dana,

Obrigado pelo contato. Podemos conversar na próxima semana?

Abraços,
Rafael

Em seg., 5 de jan. de 2026 às 10:02, Dana Rep <dana@ourco.com> escreveu:

> Olá Rafael,
> Gostaria de apresentar nossa solução.
""",
    ),
    "thread_ja_gmail": (
        "Yamada Taro <yamada@example.jp>",
        "Re: ご紹介",
        """ダナ様

ご連絡ありがとうございます。来週、打ち合わせは可能でしょうか。

よろしくお願いいたします。
山田

2026年1月5日(月) 10:02 Dana Rep <dana@ourco.com>:

> 山田様
> 弊社サービスのご紹介です。
""",
    ),
    "thread_en_yahoo": (
        "Greg Hall <greg_hall@yahoo.com>",
        "Re: Trial",
        """Extend the trial by two weeks please, our IT team is slow.

On Monday, January 5, 2026 at 10:02:11 AM GMT+1, Dana Rep <dana@ourco.com> wrote:

Your trial ends on Friday. Want me to extend it?
""",
    ),
    "thread_en_thunderbird": (
        "Ines Park <ines@parkfamily.org>",
        "Re: Workshop",
        """We can host the workshop in our office.

Ines

On 05/01/2026 10:02, Dana Rep wrote:
> Where should we hold the workshop?
""",
    ),
    "thread_es_outlook": (
        "Carlos Ruiz <carlos@ejemplo.mx>",
        "RE: Propuesta",
        """Buenos días Dana,

No nos interesa por ahora, gracias.

Carlos Ruiz

De: Dana Rep <dana@ourco.com>
Enviado: lunes, 5 de enero de 2026 10:02
Para: Carlos Ruiz <carlos@ejemplo.mx>
Asunto: Propuesta

Hola Carlos, ¿pudiste revisar la propuesta?
""",
    ),
    "thread_en_colleague_wrote": (
        "Ravi Nair <ravi@nairtech.in>",
        "Re: Requirements",
        """Hi Dana,

Quick context for the call.
On Monday my colleague wrote:
"we need the export feature before renewal"
That is still our main requirement.

Thanks,
Ravi
""",
    ),
}


# What the new text of each thread must and must not contain (sign-offs are not judged).
THREAD_EXPECTATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "thread_en_gmail": (
        ("Thanks, that sounds great", "pricing for 50 seats", "We'd also need SSO"),
        ("Following up on our chat", "wrote:"),
    ),
    "thread_en_wrapped_attribution": (
        ("Tuesday at 3pm works",),
        ("Would Tuesday or Wednesday", "wrote:", "dana.rep@ourco.com"),
    ),
    "thread_en_outlook": (
        ("A few questions", "does the plan include onboarding", "can we pay annually"),
        ("attached is the proposal", "Sent: Monday"),
    ),
    "thread_en_original_message": (
        ("Please call me tomorrow morning",),
        ("Original Message", "Do you have time this week"),
    ),
    "thread_en_mobile": (("let's do Thursday",), ("Sent from my iPhone", "Would Thursday work")),
    "thread_en_signature": (
        ("What integrations do you support",),
        ("VP Engineering", "overview deck"),
    ),
    "thread_en_bottom_post": (
        ("HubSpot, for about two years", "Twelve, soon fifteen"),
        ("Do you use Salesforce", "How many reps"),
    ),
    "thread_en_hyphen_list": (
        ("a security questionnaire", "a DPA", "references from two customers"),
        ("Great to hear from you",),
    ),
    "thread_de_gmail": (
        ("Interesse an einer Demo", "Dienstag um 14 Uhr"),
        ("anbei die Unterlagen", "schrieb"),
    ),
    "thread_de_outlook": (
        ("Angebot für 20 Lizenzen",),
        ("Gesendet: Montag", "vielen Dank für Ihre Anfrage"),
    ),
    "thread_de_apple": (
        ("Klingt gut, bis Donnerstag",),
        ("Gesendet von meinem iPhone", "Wollen wir uns"),
    ),
    "thread_fr_gmail": (("documentation détaillée",), ("Je me permets", "a écrit")),
    "thread_fr_outlook": (
        ("Pas pour le moment", "Recontactez-moi au prochain trimestre"),
        ("Envoyé :", "avez-vous eu le temps"),
    ),
    "thread_es_gmail": (("agendar una llamada el jueves",), ("Tienes unos minutos", "escribió")),
    "thread_it_gmail": (
        ("siamo interessati", "preventivo"),
        ("presentarti la nostra piattaforma", "scritto:"),
    ),
    "thread_nl_gmail": (("Kunnen we volgende week bellen",), ("korte kennismaking", "schreef")),
    "thread_pt_gmail": (
        ("Podemos conversar na próxima semana",),
        ("Gostaria de apresentar", "escreveu"),
    ),
    "thread_ja_gmail": (
        ("打ち合わせは可能でしょうか",),
        ("弊社サービスのご紹介です", "<dana@ourco.com>:"),
    ),
    "thread_en_yahoo": (("Extend the trial by two weeks",), ("Your trial ends on Friday",)),
    "thread_en_thunderbird": (("host the workshop in our office",), ("Where should we hold",)),
    "thread_es_outlook": (
        ("No nos interesa por ahora",),
        ("Enviado: lunes", "pudiste revisar la propuesta"),
    ),
    "thread_en_colleague_wrote": (
        ("Quick context", "export feature before renewal", "still our main requirement"),
        (),
    ),
    # Whole messages of other shapes in the corpus (HTML-only, Outlook HTML+plain, deep thread).
    "alternative": (("yes, let's talk on Friday",), ("Would Friday work",)),
    "html_only_script_style": (
        ("demo next week", "Tuesday works best", "Team size: 12"),
        ("Shall we book a demo", "Older quoted text", "never shown", "Ignore this title"),
    ),
    "outlook_reply": (("Yes, please send the contract",), ("shall I send the contract",)),
    "long_thread": (("we sign on Monday",), ("Message at level", "wrote:")),
}


# --------------------------------------------------------------------------------------------
# MIME shapes, charsets, bounces, automatic mail, hostile input


def alternative() -> bytes:
    return message(
        f"""
From: Anna Lee <anna@northwind.io>
To: {REP}
Subject: Re: Onboarding
Date: {DATE}
Message-ID: <alt-1@mail.gmail.com>
In-Reply-To: <orig-1@ourco.com>
References: <orig-1@ourco.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"
""",
        """--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"

Plain part: yes, let's talk on Friday.

On Mon, Jan 5, 2026 at 10:02 AM Dana Rep <dana@ourco.com> wrote:

> Would Friday work?

--000000000000a1b2c3
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">HTML part: yes, let&#39;s talk on Friday.</div><br><div cl=
ass=3D"gmail_quote"><div class=3D"gmail_attr">On Mon, Jan 5, 2026 at 10:02 =
AM Dana Rep &lt;dana@ourco.com&gt; wrote:<br></div><blockquote class=3D"gma=
il_quote">Would Friday work?</blockquote></div>

--000000000000a1b2c3--
""",
    )


def html_only() -> bytes:
    return message(
        f"""
From: Ben Ode <ben@odeworks.com>
To: {REP}
Subject: Re: Quick call?
Date: {DATE}
Message-ID: <html-only@odeworks.com>
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: 7bit
""",
        """<html><head><title>Ignore this title</title>
<style>p { color: red; } .x { display:none }</style>
<script>alert("never shown");</script></head>
<body>
<p>Hello Dana,</p>
<p>We would like a <b>demo</b>&nbsp;next week.<br>Tuesday works best.</p>
<ul><li>Team size: 12</li><li>CRM: HubSpot</li></ul>
<p>Cheers,<br>Ben</p>
<div class="gmail_quote"><div class="gmail_attr">On Mon, Jan 5, 2026 at 10:02 AM
Dana Rep &lt;dana@ourco.com&gt; wrote:<br></div>
<blockquote class="gmail_quote"><div>Shall we book a demo?</div>
<blockquote><div>Older quoted text</div></blockquote></blockquote></div>
<script type="text/javascript">document.write("also hidden")</script>
</body></html>
""",
    )


def related_inline_image() -> bytes:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    pdf = b"%PDF-1.4\n% fake pdf for the corpus\n" + b"0" * 200 + b"\n%%EOF\n"
    return message(
        f"""
From: Tom Baker <tom@bakerlogistics.com>
To: {REP}
Subject: Logo and contract
Date: {DATE}
Message-ID: <related-1@bakerlogistics.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"
""",
        b"""--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=us-ascii

See our logo below and the signed contract attached.

--alt
Content-Type: multipart/related; boundary="rel"; type="text/html"

--rel
Content-Type: text/html; charset=us-ascii

<p>See our logo below and the signed contract attached.</p><img src="cid:logo@baker">

--rel
Content-Type: image/png; name="logo.png"
Content-Disposition: inline; filename="logo.png"
Content-ID: <logo@baker>
Content-Transfer-Encoding: base64

"""
        + b64(png)
        + b"""
--rel--

--alt--

--outer
Content-Type: application/pdf; name="contract.pdf"
Content-Disposition: attachment; filename="contract.pdf"
Content-Transfer-Encoding: base64

"""
        + b64(pdf)
        + b"""
--outer--
""",
    )


def qp_latin1() -> bytes:
    text = (
        "Grüß Gott Frau Rep,\n\nwir möchten gerne ein Angebot für unser Büro in Köln. "
        "Das Café im Erdgeschoß gehört auch dazu — nein, kein Scherz.\n\n"
        "Mit freundlichen Grüßen\nJürgen Weiß\n"
    ).replace("—", "-")
    return message(
        f"""
From: =?iso-8859-1?q?J=FCrgen_Wei=DF?= <juergen@weiss-gmbh.de>
To: {REP}
Subject: =?iso-8859-1?q?Angebot_f=FCr_K=F6ln?=
Date: {DATE}
Message-ID: <qp-latin1@weiss-gmbh.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable
""",
        qp(text.encode("latin-1")),
    )


def base64_utf8() -> bytes:
    text = "Γειά σου Dana! Pricing looks fine 👍. Can we start on the 1st? — Νίκος\n"
    return message(
        f"""
From: =?UTF-8?B?zp3Or866zr/PgiDOoM6xz4DOsc60z4zPgM6/z4XOu86/z4I=?= <nikos@example.gr>
To: {REP}
Subject: =?UTF-8?B?UmU6IM6gz4HPjM+EzrHPg863?=
Date: {DATE}
Message-ID: <b64-utf8@example.gr>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64
""",
        b64(text.encode("utf-8")),
    )


def iso2022jp() -> bytes:
    subject = Header("お見積もりについて", "iso-2022-jp").encode()
    name = Header("山田 太郎", "iso-2022-jp").encode()
    text = "ダナ様\n\nお世話になっております。お見積もりをお願いできますでしょうか。\n\n山田\n"
    return message(
        f"""
From: {name} <yamada@example.co.jp>
To: {REP}
Subject: {subject}
Date: {DATE}
Message-ID: <iso2022jp@example.co.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit
""",
        text.encode("iso2022_jp"),
    )


def windows1252() -> bytes:
    text = "We’re “very” interested – budget is €5,000.\n\nBest,\nChloé\n"
    return message(
        f"""
From: Chloe Durand <chloe@durand.example.com>
To: {REP}
Subject: Re: Budget
Date: {DATE}
Message-ID: <cp1252@durand.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="windows-1252"
Content-Transfer-Encoding: 8bit
""",
        text.encode("cp1252"),
    )


def latin1_declared_smart_quotes() -> bytes:
    """Outlook habit: declares iso-8859-1 but writes windows-1252 quotes."""
    text = "It\u2019s \u201cdone\u201d.\n"
    return message(
        f"""
From: Chloe Durand <chloe@durand.example.com>
To: {REP}
Subject: Re: Contract
Date: {DATE}
Message-ID: <latin1-smart@durand.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: 8bit
""",
        text.encode("cp1252"),
    )


def unknown_charset() -> bytes:
    return message(
        f"""
From: Max Mustermann <max@beispiel.de>
To: {REP}
Subject: =?x-mac-klingon?q?Gr=C3=BC=C3=9Fe?= aus Berlin
Date: {DATE}
Message-ID: <unknown-charset@beispiel.de>
MIME-Version: 1.0
Content-Type: text/plain; charset="x-mac-klingon"
Content-Transfer-Encoding: quoted-printable
""",
        qp("Schöne Grüße aus Berlin, wir melden uns.\n".encode()),
    )


def wrong_charset() -> bytes:
    """Declares UTF-8 but the bytes are Latin-1."""
    return message(
        f"""
From: Max Mustermann <max@beispiel.de>
To: {REP}
Subject: Re: Preise
Date: {DATE}
Message-ID: <wrong-charset@beispiel.de>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit
""",
        "Die Preise sind in Ordnung. Grüße, Max\n".encode("latin-1"),
    )


def rfc2047_headers() -> bytes:
    return message(
        f"""
From: =?UTF-8?Q?Jos=C3=A9_M=C3=BCller?= <Jose.Mueller@Example.COM>
To: =?ISO-8859-1?Q?Dana_R=E9p?= <dana@ourco.com>, "Ops Team" <ops@example.com>
Cc: =?utf-8?b?w4lsb2RpZSBCbGFuYw==?= <elodie@example.com>
Reply-To: Jose <jose@example.com>
Subject: =?UTF-8?Q?Re:_Caf=C3=A9_m=C3=BCnchen_=E2=80=93?=
 =?ISO-8859-1?Q?_r=E9union?= =?UTF-8?B?IOKckw==?=
Date: {DATE}
Message-ID: <rfc2047@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Ok.
""",
        "",
    )


def dsn_bounce() -> bytes:
    return message(
        f"""
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {REP}
Subject: Delivery Status Notification (Failure)
Date: {DATE}
Message-ID: <dsn-1@mx.google.com>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; boundary="dsn"; report-type=delivery-status
""",
        f"""--dsn
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to ghost@prospect-gone.com because the address couldn't be found.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Arrival-Date: {DATE}

Final-Recipient: rfc822; ghost@Prospect-Gone.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.prospect-gone.com. (192.0.2.1, the server for the domain.)
Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist.
Last-Attempt-Date: {DATE}

--dsn
Content-Type: message/rfc822

From: {REP}
To: ghost@prospect-gone.com
Subject: Following up
Date: {DATE}
Message-ID: <sent-42@ourco.com>

Hi, just following up.

--dsn--
""",
    )


def bounce_exim_text() -> bytes:
    return message(
        f"""
Return-Path: <>
From: Mail Delivery System <Mailer-Daemon@mx.hosting.example>
To: dana@ourco.com
Subject: Mail delivery failed: returning message to sender
Date: {DATE}
Message-ID: <exim-bounce@mx.hosting.example>
X-Failed-Recipients: nobody@closed-company.example
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=us-ascii
""",
        """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  nobody@closed-company.example
    host mx.closed-company.example [192.0.2.7]
    SMTP error from remote mail server after RCPT TO:<nobody@closed-company.example>:
    550 5.1.1 User unknown
""",
    )


def out_of_office_gmail() -> bytes:
    return message(
        f"""
From: Anna Lee <anna@northwind.io>
To: {REP}
Subject: Re: Onboarding
Date: {DATE}
Message-ID: <ooo-gmail@mail.gmail.com>
In-Reply-To: <orig-1@ourco.com>
References: <orig-1@ourco.com>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: text/plain; charset="UTF-8"
""",
        "I am out of the office until January 12 with limited access to email.\n",
    )


def out_of_office_outlook_de() -> bytes:
    return message(
        f"""
From: Petra Schmidt <p.schmidt@beispiel.de>
To: {REP}
Subject: =?utf-8?q?Automatische_Antwort:_Ihre_Anfrage?=
Date: {DATE}
Message-ID: <ooo-outlook@beispiel.de>
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: p.schmidt@beispiel.de
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit
""",
        "Vielen Dank für Ihre Nachricht. Ich bin bis zum 12.01. nicht im Büro.\n",
    )


def outlook_reply() -> bytes:
    plain = """Hi Dana,

Yes, please send the contract. We can sign this week.

Thanks,
Tom

________________________________
From: Dana Rep <dana@ourco.com>
Sent: Monday, January 5, 2026 10:02 AM
To: Tom Baker <tom@bakerlogistics.com>
Subject: Proposal

Hi Tom, shall I send the contract?
"""
    html = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>
</head><body dir="ltr"><div style="font-family: Calibri">Hi Dana,</div>
<div>Yes, please send the contract. We can sign this week.</div><div>Thanks,<br>Tom</div>
<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Dana Rep
&lt;dana@ourco.com&gt;<br><b>Sent:</b> Monday, January 5, 2026 10:02 AM<br><b>To:</b> Tom
Baker &lt;tom@bakerlogistics.com&gt;<br><b>Subject:</b> Proposal</font><div>&nbsp;</div></div>
<div>Hi Tom, shall I send the contract?</div></body></html>
"""
    return message(
        f"""
From: Tom Baker <tom@bakerlogistics.com>
To: {REP}
Subject: RE: Proposal
Thread-Topic: Proposal
Thread-Index: AQHZ1234abcd
Date: {DATE}
Message-ID: <DB9PR01MB1234@DB9PR01MB1234.eurprd01.prod.outlook.com>
In-Reply-To: <proposal-1@ourco.com>
References: <proposal-1@ourco.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="_000_DB9PR01MB_"
""",
        "--_000_DB9PR01MB_\n"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: base64\n\n"
        + b64(plain.encode()).decode()
        + "\n--_000_DB9PR01MB_\n"
        'Content-Type: text/html; charset="utf-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n\n"
        + qp(html.encode()).decode()
        + "\n--_000_DB9PR01MB_--\n",
    )


def forward_rfc822() -> bytes:
    return message(
        f"""
From: {REP}
To: Sam Boss <sam@ourco.com>
Subject: Fwd: Interested in your product
Date: {DATE}
Message-ID: <fwd-attached@ourco.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd"
""",
        f"""--fwd
Content-Type: text/plain; charset=utf-8

Sam, see below - a warm lead.

--fwd
Content-Type: message/rfc822
Content-Disposition: attachment; filename="Interested.eml"

From: Nora Field <nora@fieldfarms.com>
To: {REP}
Subject: Interested in your product
Date: Sun, 4 Jan 2026 18:00:00 -0500
Message-ID: <inner-1@fieldfarms.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

We have 30 people and want a demo.

--fwd--
""",
    )


def forward_inline() -> bytes:
    return message(
        f"""
From: {REP}
To: Sam Boss <sam@ourco.com>
Subject: Fwd: Pricing question
Date: {DATE}
Message-ID: <fwd-inline@ourco.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
""",
        """FYI, can you answer this one?

---------- Forwarded message ---------
From: Nora Field <nora@fieldfarms.com>
Date: Sun, Jan 4, 2026 at 6:00 PM
Subject: Pricing question
To: Dana Rep <dana@ourco.com>

Is there a discount for nonprofits?
""",
    )


def long_thread() -> bytes:
    body = ["Final answer: we sign on Monday.", ""]
    for level in range(1, 11):
        prefix = "> " * (level - 1)
        body.append(
            f"{prefix}On Mon, Jan {level}, 2026 at 9:00 AM Person {level} "
            f"<p{level}@example.com> wrote:"
        )
        quote = "> " * level
        body.append(f"{quote}Message at level {level}.")
        body.append(quote.rstrip())
    return plain_reply(
        "long-thread",
        "Re: Re: Re: Contract",
        "Ann Chain <ann@chain.example>",
        "\n".join(body) + "\n",
    )


def newsletter() -> bytes:
    return message(
        f"""
From: Growth Weekly <news@growthweekly.example>
To: dana@ourco.com
Subject: 10 tips for pipeline growth
Date: {DATE}
Message-ID: <nl-2026-01@growthweekly.example>
List-Id: Growth Weekly <weekly.growthweekly.example>
List-Unsubscribe: <https://growthweekly.example/u/abc>, <mailto:unsub@growthweekly.example>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
""",
        "<p>This week: ten tips.</p><p><a href='https://growthweekly.example/u/abc'>"
        "Unsubscribe</a></p>\n",
    )


def receipt_noreply() -> bytes:
    return message(
        f"""
From: Stripe <noreply@stripe.com>
To: dana@ourco.com
Subject: Your receipt from Example SaaS #1234-5678
Date: {DATE}
Message-ID: <receipt-1@stripe.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
""",
        "Receipt #1234-5678\nAmount paid: $49.00\n",
    )


def spoof(from_line: str, name: str) -> bytes:
    return message(
        f"""
From: {from_line}
To: {REP}
Subject: Re: Invoice
Date: {DATE}
Message-ID: <{name}@x.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
""",
        "Please wire the payment to the new account.\n",
    )


def crlf_injection() -> bytes:
    return message(
        f"""
From: =?utf-8?q?Alice=0D=0ABcc=3A_evil=40x=2Ecom?= <alice@example.com>
To: {REP}
Subject: =?utf-8?q?Hello=0D=0ABcc=3A_evil=40x=2Ecom?=
Date: {DATE}
Message-ID: <crlf@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
""",
        "Injected?\n",
    )


def two_senders() -> bytes:
    return message(
        f"""
From: Alice <alice@example.com>, Bob <bob@example.com>
To: {REP}
Subject: Two senders
Date: {DATE}
Message-ID: <two-from@example.com>
Content-Type: text/plain

Which one is it?
""",
        "",
    )


def truncated() -> bytes:
    full = message(
        f"""
From: Tom Baker <tom@bakerlogistics.com>
To: {REP}
Subject: Big attachment
Date: {DATE}
Message-ID: <truncated@bakerlogistics.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="cut"
""",
        b"--cut\nContent-Type: text/plain; charset=utf-8\n\nHere is the file.\n\n"
        b'--cut\nContent-Type: application/zip; name="data.zip"\n'
        b'Content-Disposition: attachment; filename="data.zip"\n'
        b"Content-Transfer-Encoding: base64\n\n" + b64(bytes(range(256)) * 8) + b"--cut--\n",
    )
    return full[: len(full) * 2 // 3]


def garbage() -> bytes:
    rng = random.Random(20260105)
    return bytes(rng.randrange(256) for _ in range(4096))


def no_boundary() -> bytes:
    return message(
        f"""
From: Broken Mailer <bot@broken.example>
To: {REP}
Subject: multipart without a boundary
Date: not a date at all
Message-ID: <no-boundary@broken.example>
MIME-Version: 1.0
Content-Type: multipart/mixed
""",
        "Text where parts should be.\n",
    )


def eight_bit_headers() -> bytes:
    """Raw UTF-8 in headers without RFC 2047 (common from badly configured servers)."""
    return crlf(
        (
            "From: Zoë Ångström <zoe@example.se>\n"
            f"To: {REP}\n"
            "Subject: Förslag på möte\n"
            f"Date: {DATE}\n"
            "Message-ID: <8bit-headers@example.se>\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            "Hej! Kan vi ses på torsdag?\n"
        ).encode()
    )


CORPUS = {
    "alternative": alternative,
    "html_only_script_style": html_only,
    "related_inline_image": related_inline_image,
    "qp_latin1": qp_latin1,
    "base64_utf8": base64_utf8,
    "iso2022jp": iso2022jp,
    "windows1252_smart_quotes": windows1252,
    "latin1_declared_smart_quotes": latin1_declared_smart_quotes,
    "unknown_charset": unknown_charset,
    "wrong_charset": wrong_charset,
    "rfc2047_headers": rfc2047_headers,
    "eight_bit_headers": eight_bit_headers,
    "dsn_bounce": dsn_bounce,
    "bounce_exim_text": bounce_exim_text,
    "out_of_office_gmail": out_of_office_gmail,
    "out_of_office_outlook_de": out_of_office_outlook_de,
    "outlook_reply": outlook_reply,
    "forward_rfc822": forward_rfc822,
    "forward_inline": forward_inline,
    "long_thread": long_thread,
    "newsletter": newsletter,
    "receipt_noreply": receipt_noreply,
    "spoof_quoted_name": lambda: spoof('"alice@example.com" <evil@x.com>', "spoof-quoted"),
    "spoof_unquoted_name": lambda: spoof("alice@example.com <evil@x.com>", "spoof-unquoted"),
    "crlf_injection": crlf_injection,
    "two_senders": two_senders,
    "no_boundary": no_boundary,
    "truncated": truncated,
    "garbage": garbage,
    "empty": lambda: b"",
}


def main() -> None:
    written = 0
    for name, build in CORPUS.items():
        (HERE / f"{name}.eml").write_bytes(build())
        written += 1
    for name, (sender, subject, body) in THREADS.items():
        (HERE / f"{name}.eml").write_bytes(plain_reply(name, subject, sender, body))
        written += 1
    print(f"wrote {written} messages to {HERE}")


if __name__ == "__main__":
    main()
