"""Text out of a voice-training sample's bytes: PDF, Word (.docx), text, Markdown, email, HTML.

Pure: bytes in, text out, no files and no network.

What a file *is* comes from its bytes (`%PDF-`, a zip holding `word/document.xml`, RFC 822
headers, an HTML start). The declared content type and the file name only choose between the
plain-text kinds (text, Markdown, HTML); they never make a `.pdf` that is really a zip a PDF.

`extract` raises nothing but `ExtractionFailed`, whatever the bytes; its `reason` is a short
sentence that is safe to show to the user (no paths, no library messages).

Guards, because uploads are untrusted:

- Input over `MAX_INPUT_BYTES` is refused before any parsing.
- A DOCX is inspected with `zipfile` before python-docx opens it: more than `MAX_ZIP_MEMBERS`
  members, a large member compressed more than `MAX_COMPRESSION_RATIO`:1, or more than
  `MAX_UNPACKED_BYTES` declared in all is refused. The declared sizes are a real bound:
  `zipfile` never inflates a member past its declared size (it stops and fails the CRC check).
  python-docx parses XML with entity resolution off, so "billion laughs" XML does not expand.
- PDFs are read for at most `MAX_PDF_PAGES` pages and until the text budget is spent; pypdf
  carries its own limits on decompressed stream sizes.
- Every reader stops once it holds a few times `max_chars`, so a huge text costs little.
"""

from __future__ import annotations

import codecs
import html
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from shared.domain.mail import codec_for, html_to_text, parse_message

KINDS = ("pdf", "docx", "text", "markdown", "eml", "html")

MAX_INPUT_BYTES = 50 * 1024 * 1024
MAX_PDF_PAGES = 500
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 1_000
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_MIN_BYTES = 1024 * 1024  # small members legitimately compress very well
MAX_HTML_CHARS = 2_000_000
MAX_TITLE_CHARS = 300

EMPTY = "the file is empty"
NO_TEXT = "no text found"
UNKNOWN = "unknown file type: send a PDF, Word (.docx), text, Markdown, email (.eml) or HTML file"
NOT_DOCX_ZIP = "unknown file type: a zip archive that is not a Word (.docx) document"
LEGACY_OFFICE = "old Word (.doc) and legacy Office files are not read: save it as .docx or PDF"
RTF = "RTF files are not read: save it as .docx or PDF"
IMAGE = "images are not read (text in pictures is not recognised): send a PDF, Word or text file"
TOO_LARGE = "the file is too large (over 50 MB)"
PDF_LOCKED = "the PDF is password-protected"
PDF_CIPHER = "the PDF is encrypted in a way that cannot be read here"
PDF_BROKEN = "the PDF could not be read"
PDF_NO_TEXT = "the PDF has no text (scanned images are not read)"
ZIP_BOMB = "the document looks like a zip bomb"
UNPACKED_TOO_LARGE = "the document is too large once unpacked"
DOCX_BROKEN = "the Word document could not be read"
GENERIC = "the file could not be read"


@dataclass(frozen=True)
class Extracted:
    text: str
    kind: str  # one of KINDS
    title: str | None
    pages: int | None  # PDFs: pages in the document (read or not)
    truncated: bool
    metadata: dict[str, Any] = field(default_factory=dict)


class ExtractionFailed(Exception):
    """The file gave no text. `reason` is short, human-readable and safe to show a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Raw:
    text: str
    title: str | None = None
    pages: int | None = None
    truncated: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# What the bytes are

_HEAD_BYTES = 16 * 1024
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
)
_OTHER_BINARY_MAGIC = (
    b"\x1f\x8b",  # gzip
    b"Rar!\x1a\x07",
    b"7z\xbc\xaf\x27\x1c",
    b"\x7fELF",
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BAD_BYTES = frozenset([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])

_MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")
_HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
_MARKDOWN_TYPES = frozenset(["text/markdown", "text/x-markdown"])
_HTML_TYPES = frozenset(["text/html", "application/xhtml+xml"])

_HEADER_LINE = re.compile(r"^([!-9;-~]+):")
_MAIL_HEADERS = frozenset(
    [
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "received",
        "mime-version",
        "return-path",
        "delivered-to",
        "reply-to",
        "in-reply-to",
        "references",
        "sender",
        "content-type",
        "dkim-signature",
        "authentication-results",
        "x-mailer",
    ]
)
_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]")
_HTML_ELEMENT = re.compile(r"<(?:html|head|body)[\s>]")


def sniff(data: bytes, filename: str | None = None, declared_type: str | None = None) -> str:
    """The kind of file the bytes hold (one of `KINDS`), or "unknown".

    Magic first; `declared_type` and the extension of `filename` only decide between text,
    Markdown and HTML once the bytes are known to be text.
    """
    try:
        return _identify(bytes(data), filename, declared_type)[0]
    except Exception:
        return "unknown"


def _identify(data: bytes, filename: str | None, declared: str | None) -> tuple[str, str]:
    """The kind, and the reason to give when it is "unknown"."""
    head = data[:_HEAD_BYTES]
    if head.lstrip(b"\t\n\r\f \xef\xbb\xbf").startswith(b"%PDF-"):
        return "pdf", ""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _identify_zip(data)
    if head.startswith(_OLE2):
        return "unknown", LEGACY_OFFICE
    if head.startswith(b"{\\rtf"):
        return "unknown", RTF
    if head.startswith(_IMAGE_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "unknown", IMAGE
    if head.startswith(_OTHER_BINARY_MAGIC):
        return "unknown", UNKNOWN
    encoding = _text_encoding(head)
    if encoding is None:
        return "unknown", UNKNOWN
    text_head = _decode_head(head, encoding)
    if _is_junk(text_head):
        return "unknown", UNKNOWN
    if _looks_like_mail(text_head):
        return "eml", ""
    if _looks_like_html(text_head):
        return "html", ""
    return _text_kind(filename, declared), ""


def _identify_zip(data: bytes) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = set(archive.namelist())
    except Exception:
        return "unknown", GENERIC
    if "word/document.xml" in names:
        return "docx", ""
    return "unknown", NOT_DOCX_ZIP


def _text_encoding(head: bytes) -> str | None:
    """The codec to read these bytes as text with, or None if they are binary."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    utf16 = _bomless_utf16(head)
    if utf16:
        return utf16
    if b"\x00" in head:
        return None
    bad = sum(1 for byte in head if byte in _BAD_BYTES)
    if head and bad / len(head) > 0.05:
        return None
    return "utf-8"


def _decode_head(head: bytes, encoding: str) -> str:
    """The start of a text file, read leniently: it may end inside a character."""
    if encoding != "utf-8":
        return head.decode(encoding, errors="replace")
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return head.decode("cp1252", errors="replace")


def _is_junk(text: str) -> bool:
    """Mostly control, unassigned or replacement characters: binary, whatever it claims."""
    bad = sum(
        1
        for char in text
        if char == "\ufffd"
        or (unicodedata.category(char) in {"Cc", "Cn", "Cs", "Co"} and char not in "\t\n\r\f\v")
    )
    return bad / max(len(text), 1) > 0.1


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark, recognised by its zero high bytes (mostly-Latin text)."""
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_zeros, odd_zeros = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_zeros > 0.4 and even_zeros < 0.02:
        return "utf-16-le"
    if even_zeros > 0.4 and odd_zeros < 0.02:
        return "utf-16-be"
    return None


def _looks_like_mail(text: str) -> bool:
    """RFC 822 headers at the start: header lines up to a blank line, two or more known."""
    lines = text.split("\n")
    if lines and lines[0].startswith("From "):  # mbox separator
        lines = lines[1:]
    known = 0
    for index, line in enumerate(lines):
        line = line.rstrip("\r")
        if not line:
            return index > 0 and known >= 2
        if line[0] in " \t":
            if index == 0:
                return False
            continue
        match = _HEADER_LINE.match(line)
        if match is None:
            return False
        known += match.group(1).lower() in _MAIL_HEADERS
    return known >= 2


def _looks_like_html(text: str) -> bool:
    start = text.lstrip("\ufeff \t\r\n")[:4096].lower()
    if _HTML_START.match(start):
        return True
    return start.startswith("<") and _HTML_ELEMENT.search(start) is not None


def _text_kind(filename: str | None, declared: str | None) -> str:
    media_type = (declared or "").split(";")[0].strip().lower()
    name = (filename or "").strip().lower()
    if media_type in _MARKDOWN_TYPES or name.endswith(_MARKDOWN_EXTENSIONS):
        return "markdown"
    if media_type in _HTML_TYPES or name.endswith(_HTML_EXTENSIONS):
        return "html"
    return "text"


# --------------------------------------------------------------------------------------------
# Extraction


def extract(
    data: bytes,
    filename: str | None = None,
    declared_type: str | None = None,
    *,
    max_chars: int = 400_000,
) -> Extracted:
    """The text of one sample file, whitespace normalized and cut at `max_chars`.

    Raises `ExtractionFailed` (and nothing else) when there is no text to be had.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    try:
        return _extract(data, filename, declared_type, max_chars)
    except ExtractionFailed:
        raise
    except Exception as exc:
        raise ExtractionFailed(GENERIC) from exc


def _extract(
    data: bytes, filename: str | None, declared_type: str | None, max_chars: int
) -> Extracted:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ExtractionFailed(GENERIC)
    data = bytes(data)
    if not data.strip():
        raise ExtractionFailed(EMPTY)
    if len(data) > MAX_INPUT_BYTES:
        raise ExtractionFailed(TOO_LARGE)
    kind, reason = _identify(data, filename, declared_type)
    reader = _READERS.get(kind)
    if reader is None:
        raise ExtractionFailed(reason or UNKNOWN)
    raw = reader(data, max_chars * 4)
    text, cut = _truncate(normalize_text(raw.text), max_chars)
    if not text:
        raise ExtractionFailed(NO_TEXT)
    return Extracted(
        text=text,
        kind=kind,
        title=_title(raw.title),
        pages=raw.pages,
        truncated=cut or raw.truncated,
        metadata=raw.metadata,
    )


def _read_pdf(data: bytes, budget: int) -> _Raw:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise ExtractionFailed(PDF_BROKEN) from exc
    if encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError as exc:
            raise ExtractionFailed(PDF_CIPHER) from exc
        except Exception as exc:
            raise ExtractionFailed(PDF_BROKEN) from exc
        if not opened:
            raise ExtractionFailed(PDF_LOCKED)
    try:
        total = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise ExtractionFailed(PDF_LOCKED) from exc
    except Exception as exc:
        raise ExtractionFailed(PDF_BROKEN) from exc

    texts: list[str] = []
    size = unreadable = 0
    truncated = total > MAX_PDF_PAGES
    for number in range(min(total, MAX_PDF_PAGES)):
        try:
            page_text = reader.pages[number].extract_text() or ""
        except Exception:
            unreadable += 1
            continue
        texts.append(page_text)
        size += len(page_text)
        if size >= budget:
            truncated = truncated or number + 1 < total or size > budget
            break
    if not any(text.strip() for text in texts):
        raise ExtractionFailed(PDF_BROKEN if total and not texts else PDF_NO_TEXT)

    title = author = None
    try:
        info = reader.metadata
        if info is not None:
            title, author = info.title, info.author
    except Exception:  # noqa: S110 - metadata is optional; the text was read
        pass
    metadata: dict[str, Any] = {"pages_read": len(texts) + unreadable}
    if unreadable:
        metadata["pages_unreadable"] = unreadable
    if isinstance(author, str) and author.strip():
        metadata["author"] = _title(author)
    return _Raw(
        text="\n\n".join(texts),
        title=title if isinstance(title, str) else None,
        pages=total,
        truncated=truncated,
        metadata=metadata,
    )


def check_zip(data: bytes) -> None:
    """Refuse an archive that would unpack to far more than it weighs, from its directory only."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = archive.infolist()
    except Exception as exc:
        raise ExtractionFailed(DOCX_BROKEN) from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise ExtractionFailed(ZIP_BOMB)
    total = 0
    for member in members:
        size = member.file_size
        if size > RATIO_CHECK_MIN_BYTES and size > MAX_COMPRESSION_RATIO * max(
            member.compress_size, 1
        ):
            raise ExtractionFailed(ZIP_BOMB)
        total += size
    if total > MAX_UNPACKED_BYTES:
        raise ExtractionFailed(UNPACKED_TOO_LARGE)


def _read_docx(data: bytes, budget: int) -> _Raw:
    check_zip(data)
    import docx

    try:
        document = docx.Document(BytesIO(data))
        blocks: list[str] = []
        size = 0
        truncated = False
        for block in _docx_blocks(document, 0):
            blocks.append(block)
            size += len(block)
            if size > budget:
                truncated = True
                break
        properties = document.core_properties
        title, author = properties.title, properties.author
    except Exception as exc:
        raise ExtractionFailed(DOCX_BROKEN) from exc
    metadata: dict[str, Any] = {}
    if author and author.strip():
        metadata["author"] = _title(author)
    return _Raw(text="\n\n".join(blocks), title=title, truncated=truncated, metadata=metadata)


def _docx_blocks(container: Any, depth: int) -> Iterator[str]:
    """Paragraphs and table rows in document order (a row's cells joined by " | ")."""
    from docx.table import Table

    for item in container.iter_inner_content():
        if not isinstance(item, Table):
            yield item.text
            continue
        if depth > 4:
            continue
        rows: list[str] = []
        for row in item.rows:
            seen: set[int] = set()
            cells: list[str] = []
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell repeats in every grid column
                    continue
                seen.add(id(cell._tc))
                cells.append(" ".join(_docx_blocks(cell, depth + 1)).strip())
            if any(cells):
                rows.append(" | ".join(cells))
        yield "\n".join(rows)


def _read_text(data: bytes, budget: int) -> _Raw:
    text, encoding = decode_text(data)
    if not text.strip():
        raise ExtractionFailed(EMPTY)
    return _Raw(text=text[:budget], truncated=len(text) > budget, metadata={"encoding": encoding})


def _read_markdown(data: bytes, budget: int) -> _Raw:
    raw = _read_text(data, budget)
    raw.text = strip_markdown(raw.text)
    return raw


def _read_eml(data: bytes, budget: int) -> _Raw:
    message = parse_message(data)
    text = message.new_text if message.new_text.strip() else message.text
    metadata: dict[str, Any] = {
        "from": message.from_.email if message.from_ else None,
        "date": message.date.isoformat() if message.date else None,
    }
    return _Raw(
        text=text[:budget],
        title=message.subject or None,
        truncated=len(text) > budget,
        metadata=metadata,
    )


def _read_html(data: bytes, budget: int) -> _Raw:
    markup, encoding = decode_text(data, html_meta=True)
    if not markup.strip():
        raise ExtractionFailed(EMPTY)
    limit = max(budget, MAX_HTML_CHARS)
    match = re.search(r"<title[^>]*>(.*?)</title\s*>", markup[:65_536], re.I | re.S)
    title = html.unescape(re.sub(r"<[^>]*>", "", match.group(1))) if match else None
    text = html_to_text(markup[:limit])
    return _Raw(
        text=text[:budget],
        title=title,
        truncated=len(markup) > limit or len(text) > budget,
        metadata={"encoding": encoding},
    )


_READERS: dict[str, Callable[[bytes, int], _Raw]] = {
    "pdf": _read_pdf,
    "docx": _read_docx,
    "text": _read_text,
    "markdown": _read_markdown,
    "eml": _read_eml,
    "html": _read_html,
}


# --------------------------------------------------------------------------------------------
# Text

_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]{1,40})", re.I
)


def decode_text(data: bytes, *, html_meta: bool = False) -> tuple[str, str]:
    """Text and the codec used: a byte-order mark, else UTF-8, else (HTML) the meta charset,
    else windows-1252 when every byte is defined there, else Latin-1."""
    encoding = _text_encoding(data[:_HEAD_BYTES]) or "utf-8"
    if encoding != "utf-8":
        return data.decode(encoding, errors="replace"), encoding.removesuffix("-sig")
    candidates = ["utf-8"]
    if html_meta:
        match = _META_CHARSET.search(data[:4096])
        declared = codec_for(match.group(1).decode("ascii")) if match else None
        if declared:
            candidates.append(declared)
    candidates += ["cp1252", "latin-1"]
    for codec in candidates:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1"), "latin-1"  # pragma: no cover - latin-1 decodes any bytes


_MARKDOWN_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^ {0,3}(?:```|~~~).*$", re.M), ""),
    (re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M), r"\1"),
    (re.compile(r"^ {0,3}#{1,6}[ \t]*$", re.M), ""),
    (re.compile(r"^ {0,3}(?:[-*_][ \t]*){3,}$", re.M), ""),
    (re.compile(r"^ {0,3}=+[ \t]*$", re.M), ""),
    (re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*\S+.*$", re.M), ""),
    (re.compile(r"^ {0,3}(?:>[ \t]?)+", re.M), ""),
    (re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)"), r"\1"),
    (re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)"), r"\1"),
    (re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
)


def strip_markdown(text: str) -> str:
    """Markdown as plain prose: headings, emphasis, code marks, quotes and link targets removed.

    Light by design: list markers and tables stay as they are; HTML inside Markdown is kept.
    """
    for pattern, replacement in _MARKDOWN_RULES:
        text = pattern.sub(replacement, text)
    return text


_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u00ad\u200b-\u200d\u2060\ufeff\ufffe\uffff]"
)
_SPACES = re.compile(r"[^\S\n]+")
_PARAGRAPHS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Control characters out, runs of spaces collapsed, lines trimmed, at most one blank line."""
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text))
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    return _PARAGRAPHS.sub("\n\n", text).strip()


def _truncate(text: str, max_chars: int) -> tuple[str, bool]:
    """At most `max_chars`, cut at a space when one is near the limit."""
    if len(text) <= max_chars:
        return text, False
    cut = text[:max_chars]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > max_chars - 200:
        cut = cut[:space]
    return cut.rstrip(), True


def _title(value: str | None) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(normalize_text(value).split())
    return text[:MAX_TITLE_CHARS] or None


__all__ = [
    "KINDS",
    "MAX_INPUT_BYTES",
    "MAX_PDF_PAGES",
    "MAX_UNPACKED_BYTES",
    "Extracted",
    "ExtractionFailed",
    "check_zip",
    "decode_text",
    "extract",
    "normalize_text",
    "sniff",
    "strip_markdown",
]
