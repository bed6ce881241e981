"""Reading one email message: senders, best text, the new reply, attachments, bounces. Pure.

`parse_message` never raises, whatever the bytes: what it cannot read is left empty and
described in `ParsedMessage.problems`, so a message is always stored with what could be read.

Addresses are parsed strictly. `email.utils.parseaddr` and the lenient header parser both turn
`alice@example.com <evil@x.com>` into `alice@example.com`; here any defect the parser notices
in an address header, a control character in a name or address, more than one sender, a
display name showing a different address, or an address without one `@` and a dotted domain
makes the whole field unreadable (None or empty) with a problem recorded. Nothing is guessed.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import AddressHeader, DateHeader
from email.message import Message
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any

# The address rules live apart (the Gmail push needs them without the parser); re-exported.
from shared.domain.addresses import normalize_email as normalize_email
from shared.domain.addresses import same_email as same_email

MAX_DEPTH = 12
MAX_PARTS = 300
MAX_TEXT_CHARS = 300_000
MAX_HTML_CHARS = 1_000_000
MAX_HEADER_CHARS = 32_000

INTEREST_HEADERS = (
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "Precedence",
    "List-Id",
    "List-Unsubscribe",
    "Return-Path",
    "X-Failed-Recipients",
    "Content-Type",
)

FORWARD_MARKER = "---------- Forwarded message ---------"

_PARSER = BytesParser(policy=policy.default)
_FACTORY = policy.default.header_factory


# --------------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class Address:
    """One mailbox: the display name as decoded and the addr-spec with its domain lower-cased."""

    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0]

    def same_as(self, other: str | Address | None) -> bool:
        """Same mailbox, compared case-insensitively (local parts are in practice)."""
        if other is None:
            return False
        return same_email(self.email, other.email if isinstance(other, Address) else other)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class DeliveryStatus:
    """What a delivery status notification (or an `X-Failed-Recipients` header) says."""

    failed_recipients: tuple[str, ...] = ()
    action: str | None = None  # failed, delayed, delivered, relayed, expanded
    status: str | None = None  # e.g. 5.1.1
    diagnostic: str | None = None
    reporting_mta: str | None = None
    original_message_id: str | None = None

    @property
    def permanent(self) -> bool:
        return bool(self.failed_recipients) or (self.status or "").startswith("5")


@dataclass(frozen=True)
class Forward:
    """A message forwarded inside this one, as an attached message or as quoted text."""

    from_: Address | None
    subject: str
    date: datetime | None
    text: str
    attached: bool


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str = ""
    from_: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    date: datetime | None = None
    text: str = ""
    new_text: str = ""
    html_present: bool = False
    attachments: tuple[Attachment, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    is_dsn: bool = False
    dsn: DeliveryStatus | None = None
    forwards: tuple[Forward, ...] = ()
    problems: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """One of `INTEREST_HEADERS`, looked up case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, nearest first: In-Reply-To, then References."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids.extend(reversed(self.references))
        return tuple(dict.fromkeys(ids))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (dates as ISO 8601 strings)."""

        def address(value: Address | None) -> dict[str, str] | None:
            return None if value is None else {"name": value.name, "email": value.email}

        def addresses(values: tuple[Address, ...]) -> list[dict[str, str]]:
            return [{"name": a.name, "email": a.email} for a in values]

        def when(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        dsn = self.dsn
        return {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "subject": self.subject,
            "from": address(self.from_),
            "to": addresses(self.to),
            "cc": addresses(self.cc),
            "reply_to": addresses(self.reply_to),
            "date": when(self.date),
            "text": self.text,
            "new_text": self.new_text,
            "html_present": self.html_present,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "inline": a.inline,
                    "content_id": a.content_id,
                }
                for a in self.attachments
            ],
            "headers": dict(self.headers),
            "is_dsn": self.is_dsn,
            "dsn": None
            if dsn is None
            else {
                "failed_recipients": list(dsn.failed_recipients),
                "action": dsn.action,
                "status": dsn.status,
                "diagnostic": dsn.diagnostic,
                "reporting_mta": dsn.reporting_mta,
                "original_message_id": dsn.original_message_id,
            },
            "forwards": [
                {
                    "from": address(f.from_),
                    "subject": f.subject,
                    "date": when(f.date),
                    "text": f.text,
                    "attached": f.attached,
                }
                for f in self.forwards
            ],
            "problems": list(self.problems),
        }


# --------------------------------------------------------------------------------------------
# Addresses

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL_IN_TEXT = re.compile(r"[^\s<>\"'()@,;:]+@[^\s<>\"'()@,;:]+\.[^\s<>\"'()@,;:]+")


# --------------------------------------------------------------------------------------------
# Charsets

_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "shift_jis": ("cp932",),
    "euc_kr": ("cp949",),
    "big5": ("big5hkscs",),
    "iso2022_jp": ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"),
    "tis-620": ("cp874",),
}


def codec_for(charset: str | None) -> str | None:
    """Python's codec name for a declared charset, or None if unknown or not a text codec."""
    if not charset:
        return None
    try:
        info = codecs.lookup(charset.strip().strip("\"'"))
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None, problems: list[str], where: str) -> str:
    """Text from bytes: the declared charset (or its common superset), else UTF-8, else cp1252.

    Latin-1 is read as windows-1252 (as browsers do), so "smart quotes" survive. A charset we do
    not know, or bytes that are not valid in the declared one, are recorded in `problems`.
    """
    declared = (charset or "").strip()[:40]
    codec = codec_for(declared) if declared else None
    if declared and codec is None:
        problems.append(f"{where}: unknown charset {declared!r}")
    if codec is None or codec == "ascii":
        if data.isascii():
            return data.decode("ascii")
        expected = {"utf-8"}
        candidates = ["utf-8", "cp1252"]
    elif codec == "iso8859-1":
        return data.decode("cp1252", errors="strict") if _is_cp1252(data) else data.decode(codec)
    else:
        expected = {codec, *_SUPERSETS.get(codec, ())}
        candidates = [codec, *_SUPERSETS.get(codec, ()), "utf-8", "cp1252"]
    for name in candidates:
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
        if name not in expected:
            problems.append(f"{where}: bytes are not valid {declared or 'utf-8'}; read as {name}")
        elif codec is None and not declared:
            problems.append(f"{where}: 8-bit text without a charset; read as {name}")
        elif codec == "ascii":
            problems.append(f"{where}: 8-bit text declared as {declared}; read as {name}")
        return text
    problems.append(f"{where}: could not decode text; unreadable bytes replaced")
    return data.decode("cp1252", errors="replace")


def _is_cp1252(data: bytes) -> bool:
    return not any(byte in data for byte in (0x81, 0x8D, 0x8F, 0x90, 0x9D))


def _clean(text: str) -> str:
    """No lone surrogates, NULs or stray control characters (they break storage and JSON)."""
    if not text:
        return ""
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]", "", text)


# --------------------------------------------------------------------------------------------
# HTML to text

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
    ]
)
_PARAGRAPH_TAGS = frozenset(
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote"]
)
_SKIP_TAGS = frozenset(
    ["script", "style", "head", "title", "noscript", "template", "object", "iframe", "svg"]
)
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\u034f\u00ad\ufeff]")


class _HtmlText(HTMLParser):
    """Text of an HTML body: no script or style, a line break per block, `> ` per blockquote."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.buffer: list[str] = []
        self.line_depth = 0
        self.quote_depth = 0
        self.skip: list[str] = []
        self.pre = 0

    def _emit(self, keep_empty: bool = False) -> None:
        raw = "".join(self.buffer)
        self.buffer = []
        text = raw.rstrip() if self.pre else re.sub(r"\s+", " ", raw).strip()
        if text:
            self.lines.append("> " * self.line_depth + text)
        elif keep_empty:
            self.lines.append("")
        self.line_depth = self.quote_depth

    def _paragraph(self) -> None:
        self._emit()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skip = [t for t in self.skip if t != "head"]
        elif tag in _SKIP_TAGS:
            self.skip.append(tag)
        elif tag == "br":
            self._emit(keep_empty=True)
        elif tag in _PARAGRAPH_TAGS:
            self._paragraph()
        elif tag in _BLOCK_TAGS:
            self._emit()
        if tag == "blockquote":
            self.quote_depth += 1
            self.line_depth = self.quote_depth
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.buffer.append("- ")
        elif tag in {"td", "th"}:
            self.buffer.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            if tag in self.skip:
                del self.skip[len(self.skip) - 1 - self.skip[::-1].index(tag) :]
            return
        if tag in _PARAGRAPH_TAGS:
            self._paragraph()
        elif tag in _BLOCK_TAGS:
            self._emit()
        if tag == "blockquote" and self.quote_depth:
            self.quote_depth -= 1
            self.line_depth = self.quote_depth
        elif tag == "pre" and self.pre:
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = _INVISIBLE.sub("", data.replace("\xa0", " "))
        pieces = data.split("\n") if self.pre else [data]
        for index, piece in enumerate(pieces):
            if index:
                self._emit(keep_empty=True)
            if not "".join(self.buffer).strip():
                self.line_depth = self.quote_depth
            self.buffer.append(piece)

    def text(self) -> str:
        self._emit()
        joined = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", joined).strip()


def html_to_text(html: str) -> str:
    """Readable text from HTML with the stdlib parser (never raises)."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: S110 - keep what was read before the parser gave up
        pass
    return parser.text()


# --------------------------------------------------------------------------------------------
# Separating the new reply from quoted history and signatures

_ATTRIBUTION_PATTERNS = [
    r"on\b.{3,240}\bwrote\s*:?",
    r"am\b.{3,240}\bschrieb\b.{0,240}:",
    r".{1,240}\bschrieb am\b.{1,120}:",
    r"le\b.{3,240}\ba\s+[ée]crit\s*:",
    r".{1,240}\ba\s+[ée]crit\s*:",
    r"el\b.{3,240}\bescribi[óo]\s*:",
    r".{1,240}\bescribi[óo]\s*:",
    r"il\b.{3,240}\bha scritto\s*:",
    r"op\b.{3,240}\b(?:schreef|geschreven)\b.{0,240}:",
    r"em\b.{3,240}\bescreveu\s*:",
    r"(?:den\b)?.{3,240}\bskrev\b.{0,120}:",
    r"dnia\b.{3,240}\bnapisał.{0,20}:",
    r"\d{4}年\d{1,2}月\d{1,2}日.{0,240}[:：]",
    r".{0,240}写道\s*[:：]",
]
_ATTRIBUTION = re.compile(
    r"^(?:" + "|".join(_ATTRIBUTION_PATTERNS) + r")$", re.IGNORECASE | re.UNICODE
)

_MARKER = re.compile(
    r"^(?:-{2,}\s*(?:original message|ursprüngliche nachricht|originalnachricht|"
    r"message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|"
    r"originalmeddelande|oprindelig meddelelse|mensagem original|"
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada|vidarebefordrat meddelande)"
    r"\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|"
    r"début du message réexpédié\s?:|inicio del mensaje reenviado:)$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"forwarded message|weitergeleitet|transféré|réexpédié|reenviado|inoltrato|"
    r"doorgestuurd|encaminhada|vidarebefordrat",
    re.IGNORECASE,
)
_FROM_LABEL = re.compile(
    r"^\*?(?:from|von|de|da|van|från|fra|od|expéditeur|remitente)\s*\*?\s*:\s*\*?\s*\S",
    re.IGNORECASE,
)
_OTHER_LABEL = re.compile(
    r"^\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|enviado|fecha|"
    r"para|asunto|inviato|data|a|oggetto|verzonden|aan|onderwerp|skickat|till|ämne|sendt|til|"
    r"emne|wysłano|do|temat)\s*\*?\s*:",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^(?:_{10,}|-{10,})$")
_SIGNATURE_LINE = re.compile(
    r"^(?:--|-- |—)$|"
    r"^(?:sent from my|sent from (?:mail|outlook|yahoo mail)|get outlook for|"
    r"gesendet von meinem|von meinem \S+ gesendet|envoyé de mon|envoyé depuis mon|"
    r"enviado desde mi|enviado de mi|inviato dal mio|inviato da (?:iphone|ipad|outlook)|"
    r"verzonden (?:vanaf|met) mijn|enviado do meu|skickat från min|sendt fra min)\b.{0,60}$",
    re.IGNORECASE,
)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_at(lines: list[str], index: int) -> int:
    """How many lines (1-3) form a quote attribution starting at `index`, or 0."""
    first = lines[index].strip()
    if not first or _is_quoted(first) or len(first) > 300:
        return 0
    joined = first
    for width in range(1, 4):
        if width > 1:
            if index + width - 1 >= len(lines):
                break
            extra = lines[index + width - 1].strip()
            if not extra or _is_quoted(extra):
                break
            joined = f"{joined} {extra}"
        if (
            joined.endswith((":", "："))
            and _ATTRIBUTION.match(joined)
            and (re.search(r"\d", joined) or "@" in joined)
        ):
            return width
    return 0


def _header_block_at(lines: list[str], index: int) -> bool:
    """An Outlook-style `From: ... Sent: ... To: ...` block starting at `index`."""
    if not _FROM_LABEL.match(lines[index].strip()):
        return False
    labels = 0
    for line in lines[index + 1 : index + 7]:
        stripped = line.strip()
        if _OTHER_LABEL.match(stripped):
            labels += 1
    return labels >= 1


def _history_start(lines: list[str]) -> tuple[int, int]:
    """Index of the first line of quoted history and the lines its header spans (or len, 0)."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _MARKER.match(stripped):
            return index, 1
        width = _attribution_at(lines, index)
        if width:
            return index, width
        if _header_block_at(lines, index):
            start = index
            back = index - 1
            while back >= 0 and not lines[back].strip():
                back -= 1
            if back >= 0 and (
                _SEPARATOR.match(lines[back].strip()) or _MARKER.match(lines[back].strip())
            ):
                start = back
            return start, index - start + 1
    return len(lines), 0


def _cut_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _SIGNATURE_LINE.match(line.strip()):
            return lines[:index]
    return lines


def _tidy(lines: list[str]) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in lines)).strip()


def split_reply(text: str) -> str:
    """The newly written part of a message: no quoted history, no signature block.

    Cuts at the first quote attribution ("On ... wrote:" and its German, French, Spanish,
    Italian, Dutch, Portuguese, Scandinavian, Polish, Japanese and Chinese forms, also when
    wrapped over two or three lines), Outlook's `From:/Sent:` block, "-----Original
    Message-----" and forward markers; drops `>`-quoted lines; cuts at an RFC 3676 `-- `
    separator or a "Sent from my ..." line. Sign-offs like "Best," or "Thanks," are kept: they
    are part of what the person wrote. A reply written below or between quoted lines keeps the
    unquoted lines.
    """
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start, width = _history_start(lines)
    head = [line for line in lines[:start] if not _is_quoted(line)]
    head = _cut_signature(head)
    if _tidy(head):
        return _tidy(head)
    # Nothing above the history: the reply is written below or between the quoted lines.
    rest = lines[start + width :] if width else lines[start:]
    if not rest:
        return ""
    next_start, _ = _history_start(rest)
    below = [line for line in rest[:next_start] if not _is_quoted(line)]
    return _tidy(_cut_signature(below))


def _inline_forwards(text: str, problems: list[str]) -> list[Forward]:
    """Forwards pasted as text ("---------- Forwarded message ---------" and a header block)."""
    forwards: list[Forward] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines) and len(forwards) < 10:
        stripped = lines[index].strip()
        if _MARKER.match(stripped) and _FORWARD_MARKER.search(stripped):
            fields: dict[str, str] = {}
            cursor = index + 1
            while cursor < len(lines) and cursor < index + 12:
                line = lines[cursor].strip().strip("*")
                if not line:
                    if fields:
                        break
                    cursor += 1
                    continue
                key, sep, value = line.partition(":")
                if not sep or len(key) > 20:
                    break
                fields[key.strip().strip("*").lower()] = value.strip().strip("*").strip()
                cursor += 1
            body_lines = []
            end = cursor
            while end < len(lines):
                if _MARKER.match(lines[end].strip()) and _FORWARD_MARKER.search(lines[end]):
                    break
                body_lines.append(lines[end])
                end += 1
            sender_raw = fields.get("from") or fields.get("von") or fields.get("de") or ""
            sender = _single_address(sender_raw, problems, "forwarded From") if sender_raw else None
            date_raw = fields.get("date") or fields.get("datum") or fields.get("sent") or ""
            forwards.append(
                Forward(
                    from_=sender,
                    subject=fields.get("subject") or fields.get("betreff") or "",
                    date=_date_value(date_raw) if date_raw else None,
                    text=_tidy(body_lines),
                    attached=False,
                )
            )
            index = end
            continue
        index += 1
    return forwards


# --------------------------------------------------------------------------------------------
# Headers


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")


def _fix_8bit(value: str, problems: list[str], name: str) -> str:
    """Raw 8-bit bytes in a header (kept by the parser as surrogates) decoded as UTF-8/cp1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", errors="surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{name}: raw 8-bit header is not UTF-8; read as cp1252")
        return data.decode("cp1252", errors="replace")


_ENCODED_WORD_CHARSET = re.compile(r"=\?([^?*\s]+)(?:\*[^?\s]*)?\?[QqBb]\?")


def _check_encoded_words(value: str, problems: list[str], name: str) -> None:
    for charset in set(_ENCODED_WORD_CHARSET.findall(value)):
        if codec_for(charset) is None:
            problems.append(f"{name}: unknown charset {charset[:40]!r} in an encoded word")


def _date_value(value: str) -> datetime | None:
    try:
        header = _FACTORY("date", _unfold(value)[:MAX_HEADER_CHARS])
    except Exception:
        return None
    if not isinstance(header, DateHeader):
        return None
    when = header.datetime
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _address_of(name: str, display: str, addr_spec: str) -> Address | str:
    """An Address, or the reason it is refused."""
    if _CONTROL.search(display) or _CONTROL.search(addr_spec):
        return "control character in the address"
    normalized = normalize_email(addr_spec)
    if normalized is None:
        return f"{addr_spec[:80]!r} is not a valid address"
    for shown in _EMAIL_IN_TEXT.findall(display):
        if not same_email(shown.strip(".'\""), normalized):
            return f"display name shows another address ({shown[:80]!r})"
    return Address(name=_clean(display).strip(), email=normalized)


def _parse_address_header(
    name: str, value: str, problems: list[str], label: str | None = None
) -> tuple[Address, ...] | None:
    """Addresses of one header occurrence, or None (with a problem) if it is refused."""
    label = label or name
    value = _unfold(value)
    if len(value) > MAX_HEADER_CHARS:
        problems.append(f"{label}: refused, longer than {MAX_HEADER_CHARS} characters")
        return None
    value = _fix_8bit(value, problems, label)
    try:
        header = _FACTORY(name.lower(), value)
    except Exception as exc:
        if "CR or LF" in str(exc):
            problems.append(f"{label}: refused, a line break (CR/LF) inside the address")
        else:
            problems.append(f"{label}: refused, the parser failed ({type(exc).__name__})")
        return None
    if not isinstance(header, AddressHeader):
        problems.append(f"{label}: refused, not an address header")
        return None
    defects = getattr(header, "defects", ())
    if defects:
        kinds = ", ".join(sorted({type(d).__name__ for d in defects}))
        problems.append(f"{label}: refused, the header has defects ({kinds})")
        return None
    found: list[Address] = []
    try:
        pairs = [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception as exc:
        problems.append(f"{label}: refused, the parser failed ({type(exc).__name__})")
        return None
    for display, addr_spec in pairs:
        result = _address_of(name, display or "", addr_spec or "")
        if isinstance(result, str):
            problems.append(f"{label}: refused, {result}")
            return None
        found.append(result)
    return tuple(found)


def _single_address(value: str, problems: list[str], name: str) -> Address | None:
    found = _parse_address_header("From", value, problems, name)
    if found is None:
        return None
    if len(found) != 1:
        problems.append(f"{name}: refused, {len(found)} addresses where one is expected")
        return None
    return found[0]


_MSG_ID = re.compile(r"<[^<>\s]{1,900}>")


def _message_ids(value: str) -> list[str]:
    return _MSG_ID.findall(value)


def _bare_message_id(value: str) -> list[str]:
    """A Message-ID some clients write without angle brackets, bracketed as it should be."""
    value = value.strip()
    if "@" in value and 3 <= len(value) <= 900 and not re.search(r"[\s<>]", value):
        return [f"<{value}>"]
    return []


# --------------------------------------------------------------------------------------------
# The reader


class _Reader:
    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self.problems: list[str] = []
        self.attachments: list[Attachment] = []
        self.forwards: list[Forward] = []
        self.html_present = False
        self.parts = 0
        self.dsn_blocks: list[dict[str, str]] = []
        self.dsn_original_id: str | None = None
        self.is_dsn = False

    # headers -----------------------------------------------------------------------------

    def raw_headers(self, msg: Message) -> list[tuple[str, str]]:
        try:
            return [(str(k), str(v)) for k, v in msg.raw_items()]
        except Exception as exc:
            self.problems.append(f"headers unreadable ({type(exc).__name__})")
            return []

    def text_header(self, raw: list[tuple[str, str]], name: str) -> str | None:
        values = [v for k, v in raw if k.lower() == name.lower()]
        if not values:
            return None
        value = _fix_8bit(_unfold(values[0])[:MAX_HEADER_CHARS], self.problems, name)
        _check_encoded_words(value, self.problems, name)
        try:
            decoded = str(_FACTORY(name.lower(), value))
        except Exception as exc:
            self.problems.append(f"{name}: could not decode ({type(exc).__name__})")
            decoded = value
        if "\r" in decoded or "\n" in decoded:
            self.problems.append(f"{name}: line breaks inside the decoded header were removed")
        return re.sub(r"\s*\n\s*", " ", _clean(decoded)).strip()

    def addresses(self, raw: list[tuple[str, str]], name: str) -> tuple[Address, ...]:
        values = [v for k, v in raw if k.lower() == name.lower()]
        found: list[Address] = []
        for value in values:
            parsed = _parse_address_header(name, value, self.problems)
            if parsed is None:
                return ()
            found.extend(parsed)
        return tuple(found)

    def sender(self, raw: list[tuple[str, str]]) -> Address | None:
        values = [v for k, v in raw if k.lower() == "from"]
        if not values:
            self.problems.append("From: missing")
            return None
        if len(values) > 1:
            self.problems.append(f"From: refused, the header appears {len(values)} times")
            return None
        return _single_address(values[0], self.problems, "From")

    # bodies ------------------------------------------------------------------------------

    def content_type(self, part: Message) -> str:
        try:
            return part.get_content_type().lower()
        except Exception:
            return "application/octet-stream"

    def disposition(self, part: Message) -> str | None:
        try:
            value = part.get_content_disposition()
        except Exception:
            return None
        return value.lower() if value else None

    def payload_bytes(self, part: Message, where: str) -> bytes:
        try:
            payload = part.get_payload(decode=True)
        except Exception as exc:
            self.problems.append(f"{where}: body undecodable ({type(exc).__name__})")
            return b""
        if isinstance(payload, bytes):
            return payload
        return b""

    def charset(self, part: Message) -> str | None:
        try:
            value = part.get_param("charset")
        except Exception:
            return None
        if isinstance(value, tuple):  # RFC 2231 form
            value = value[2]
        return str(value) if value else None

    def note_defects(self, part: Message, where: str) -> None:
        for defect in getattr(part, "defects", [])[:5]:
            self.problems.append(f"{where}: {type(defect).__name__}")

    def add_attachment(self, part: Message, ctype: str, disposition: str | None) -> None:
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
            self.problems.append("attachment: filename unreadable")
        content_id = None
        try:
            raw_id = part.get("Content-ID")
            if raw_id is not None:
                content_id = _clean(str(raw_id)).strip() or None
        except Exception:
            content_id = None
        size = len(self.payload_bytes(part, ctype))
        self.attachments.append(
            Attachment(
                filename=_clean(str(filename))[:500] if filename else None,
                content_type=ctype,
                size=size,
                inline=disposition == "inline" or (disposition is None and bool(content_id)),
                content_id=content_id,
            )
        )

    def body(self, part: Message, depth: int) -> tuple[str, bool]:
        """(text, came from HTML) of a part and everything below it."""
        if depth > MAX_DEPTH:
            self.problems.append(f"MIME nesting deeper than {MAX_DEPTH}; rest skipped")
            return "", False
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.problems.append(f"more than {MAX_PARTS} MIME parts; rest skipped")
            return "", False
        ctype = self.content_type(part)
        self.note_defects(part, ctype)
        disposition = self.disposition(part)

        if ctype == "message/delivery-status":
            self.read_delivery_status(part)
            return "", False
        if ctype in {"message/rfc822", "message/global"}:
            return self.read_forward(part), False
        if ctype == "text/rfc822-headers":
            self.read_original_headers(self.decoded_text(part, ctype))
            return "", False
        if ctype.startswith("multipart/"):
            children = part.get_payload() if part.is_multipart() else None
            if not isinstance(children, list):
                self.problems.append(f"{ctype}: no parts found; read as text")
                return self.decoded_text(part, ctype), False
            if ctype == "multipart/report":
                try:
                    report_type = str(part.get_param("report-type") or "").lower()
                except Exception:
                    report_type = ""
                if report_type == "delivery-status":
                    self.is_dsn = True
            if ctype == "multipart/alternative":
                return self.alternative(children, depth)
            return self.join(
                [self.body(child, depth + 1) for child in children if isinstance(child, Message)]
            )
        if disposition == "attachment" or not ctype.startswith("text/"):
            self.add_attachment(part, ctype, disposition)
            return "", False
        if ctype == "text/plain":
            return self.decoded_text(part, ctype), False
        if ctype == "text/html":
            self.html_present = True
            html = self.decoded_text(part, ctype)
            if len(html) > MAX_HTML_CHARS:
                self.problems.append(f"text/html: longer than {MAX_HTML_CHARS} characters; cut")
                html = html[:MAX_HTML_CHARS]
            return html_to_text(html), True
        self.add_attachment(part, ctype, disposition)
        return "", False

    def decoded_text(self, part: Message, where: str) -> str:
        data = self.payload_bytes(part, where)
        return _clean(decode_bytes(data, self.charset(part), self.problems, where))

    def alternative(self, children: list[Any], depth: int) -> tuple[str, bool]:
        results = [self.body(child, depth + 1) for child in children if isinstance(child, Message)]
        for text, from_html in results:
            if text.strip() and not from_html:
                return text, False
        for text, from_html in results:
            if text.strip():
                return text, from_html
        return "", False

    @staticmethod
    def join(results: list[tuple[str, bool]]) -> tuple[str, bool]:
        texts = [text.strip("\n") for text, _ in results if text.strip()]
        return "\n\n".join(texts), any(from_html for text, from_html in results if text.strip())

    # forwards and reports ----------------------------------------------------------------

    def read_forward(self, part: Message) -> str:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            self.problems.append("message/rfc822: the attached message is unreadable")
            return ""
        reader = _Reader(depth=self.depth + 1)
        if reader.depth > 3:
            self.problems.append("forwarded messages nested too deep; rest skipped")
            return ""
        forwarded = reader.read(inner)
        self.problems.extend(f"forwarded message: {p}" for p in forwarded.problems[:10])
        self.attachments.extend(forwarded.attachments)
        self.html_present = self.html_present or forwarded.html_present
        if self.is_dsn:
            self.dsn_original_id = self.dsn_original_id or forwarded.message_id
            return ""
        self.forwards.append(
            Forward(
                from_=forwarded.from_,
                subject=forwarded.subject,
                date=forwarded.date,
                text=forwarded.text,
                attached=True,
            )
        )
        lines = [FORWARD_MARKER]
        if forwarded.from_ is not None:
            lines.append(f"From: {forwarded.from_}")
        if forwarded.date is not None:
            lines.append(f"Date: {forwarded.date.isoformat()}")
        if forwarded.subject:
            lines.append(f"Subject: {forwarded.subject}")
        return "\n".join(lines) + "\n\n" + forwarded.text

    def read_delivery_status(self, part: Message) -> None:
        self.is_dsn = True
        payload = part.get_payload()
        blocks: list[dict[str, str]] = []
        if isinstance(payload, list):
            for block in payload:
                if isinstance(block, Message):
                    blocks.append(
                        {k.lower(): _unfold(v).strip() for k, v in self.raw_headers(block)}
                    )
        else:
            text = self.decoded_text(part, "message/delivery-status")
            current: dict[str, str] = {}
            last = ""
            for line in text.split("\n"):
                if not line.strip():
                    if current:
                        blocks.append(current)
                    current, last = {}, ""
                elif line[:1] in {" ", "\t"} and last:
                    current[last] += " " + line.strip()
                else:
                    key, sep, value = line.partition(":")
                    if sep:
                        last = key.strip().lower()
                        current[last] = value.strip()
            if current:
                blocks.append(current)
        if not blocks:
            self.problems.append("message/delivery-status: empty")
        self.dsn_blocks.extend(blocks)

    def read_original_headers(self, text: str) -> None:
        match = re.search(r"^message-id:\s*(<[^<>\s]+>)", text, re.IGNORECASE | re.MULTILINE)
        if match:
            self.dsn_original_id = match.group(1)

    def delivery_status(self, failed_header: str | None) -> DeliveryStatus | None:
        failed: list[str] = []
        action = status = diagnostic = reporting = None
        for block in self.dsn_blocks:
            reporting = (
                reporting or block.get("reporting-mta", "").partition(";")[2].strip() or None
            )
            recipient_raw = block.get("final-recipient") or block.get("original-recipient")
            if not recipient_raw:
                continue
            block_action = block.get("action", "").lower() or None
            block_status = block.get("status", "").split(" ")[0] or None
            is_failure = block_action == "failed" or (block_status or "").startswith("5")
            if action is None or is_failure:
                action = block_action
                status = block_status
                diagnostic = block.get("diagnostic-code", "").partition(";")[2].strip() or None
            recipient = recipient_raw.partition(";")[2] or recipient_raw
            address = normalize_email(recipient.strip().strip("<>"))
            if address is None:
                self.problems.append("delivery status: unreadable recipient")
            elif is_failure and address not in failed:
                failed.append(address)
        if failed_header:
            for piece in failed_header.split(","):
                address = normalize_email(piece.strip().strip("<>"))
                if address is not None and address not in failed:
                    failed.append(address)
        if not self.is_dsn and not failed:
            return None
        return DeliveryStatus(
            failed_recipients=tuple(failed),
            action=action,
            status=status,
            diagnostic=(diagnostic or "")[:500] or None,
            reporting_mta=reporting,
            original_message_id=self.dsn_original_id,
        )

    # the whole message -------------------------------------------------------------------

    def read(self, msg: Message) -> ParsedMessage:
        raw = self.raw_headers(msg)
        if not raw:
            self.problems.append("no headers")
        interest: dict[str, str] = {}
        for name in INTEREST_HEADERS:
            value = self.text_header(raw, name)
            if value is not None:
                interest[name] = value[:2000]

        subject = self.text_header(raw, "Subject") or ""
        from_ = self.sender(raw)
        to = self.addresses(raw, "To")
        cc = self.addresses(raw, "Cc")
        reply_to = self.addresses(raw, "Reply-To")
        date_raw = next((v for k, v in raw if k.lower() == "date"), None)
        date = _date_value(date_raw) if date_raw is not None else None
        if date_raw is not None and date is None:
            self.problems.append("Date: unreadable")
        message_id_raw = _unfold(next((v for k, v in raw if k.lower() == "message-id"), ""))
        message_ids = _message_ids(message_id_raw) or _bare_message_id(message_id_raw)
        in_reply_to = _message_ids(
            _unfold(next((v for k, v in raw if k.lower() == "in-reply-to"), ""))
        )
        references = _message_ids(
            _unfold(next((v for k, v in raw if k.lower() == "references"), ""))
        )

        try:
            text, _ = self.body(msg, 0)
        except RecursionError:
            self.problems.append("MIME structure too deep to read")
            text = ""
        text = text.strip("\n")
        if len(text) > MAX_TEXT_CHARS:
            self.problems.append(f"text longer than {MAX_TEXT_CHARS} characters; cut")
            text = text[:MAX_TEXT_CHARS]
        forwards = list(self.forwards)
        if not any(f.attached for f in forwards):
            forwards.extend(_inline_forwards(text, self.problems))
        try:
            new_text = split_reply(text)
        except RecursionError:
            new_text = text
        dsn = self.delivery_status(interest.get("X-Failed-Recipients"))
        return ParsedMessage(
            message_id=message_ids[0] if message_ids else None,
            in_reply_to=in_reply_to[0] if in_reply_to else None,
            references=tuple(references[:100]),
            subject=subject,
            from_=from_,
            to=to,
            cc=cc,
            reply_to=reply_to,
            date=date,
            text=text,
            new_text=new_text,
            html_present=self.html_present,
            attachments=tuple(self.attachments),
            headers=interest,
            is_dsn=self.is_dsn,
            dsn=dsn,
            forwards=tuple(forwards),
            problems=tuple(dict.fromkeys(self.problems)),
        )


def parse_message(raw: bytes) -> ParsedMessage:
    """Everything we can read from one RFC 5322 message. Never raises."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        return ParsedMessage(problems=("not bytes",))
    data = bytes(raw)
    if not data.strip():
        return ParsedMessage(problems=("empty message",))
    try:
        msg = _PARSER.parsebytes(data)
    except Exception as exc:
        return ParsedMessage(problems=(f"unparseable message ({type(exc).__name__})",))
    try:
        return _Reader().read(msg)
    except Exception as exc:
        return _salvage(msg, exc)


def _salvage(msg: Message, exc: Exception) -> ParsedMessage:
    """Last resort after an unexpected failure: the subject and the reason."""
    problem = f"message only partly readable ({type(exc).__name__})"
    try:
        subject = _Reader().text_header([(str(k), str(v)) for k, v in msg.raw_items()], "Subject")
    except Exception:
        subject = None
    return ParsedMessage(subject=subject or "", problems=(problem,))


__all__ = [
    "FORWARD_MARKER",
    "INTEREST_HEADERS",
    "Address",
    "Attachment",
    "DeliveryStatus",
    "Forward",
    "ParsedMessage",
    "codec_for",
    "decode_bytes",
    "html_to_text",
    "normalize_email",
    "parse_message",
    "same_email",
    "split_reply",
]
