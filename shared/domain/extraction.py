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

Structure, so the asset library can cite "Security one-pager › Data residency (p. 2)", goes in
`metadata` and never changes `text`; every offset is into the final `text`:

- `"page_starts"` (PDFs): where each page read begins, page 1 first. A page with no text
  begins where the next one does; pages cut off by `max_chars` are left out.
- `"headings"` (Word, Markdown, HTML, text): `{"offset", "level", "text"}` in document order,
  with `text == extracted.text[offset:offset + len(heading["text"])]`. Word takes the "Title"
  (level 0) and "Heading N" styles, Markdown its `#` lines, HTML its h1-h6. Plain text has no
  markup, so headings there are guessed conservatively and carry `"guessed": True`.
"""

from __future__ import annotations

import codecs
import html
import re
import unicodedata
import zipfile
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
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
    page_positions: list[int] | None = None  # PDFs: where each page read starts in `text`
    heading_spans: list[tuple[int, int, int]] = field(default_factory=list)  # start, end, level
    heading_lines: list[tuple[int, str]] = field(default_factory=list)  # level, text (HTML)


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
    try:
        structure = _structure(kind, raw, text)
    except Exception:  # structure is an extra: a file whose text was read is never lost to it
        structure = {}
    return Extracted(
        text=text,
        kind=kind,
        title=_title(raw.title),
        pages=raw.pages,
        truncated=cut or raw.truncated,
        metadata={**raw.metadata, **structure},
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
    positions: list[int] = []
    size = unreadable = 0
    truncated = total > MAX_PDF_PAGES
    for number in range(min(total, MAX_PDF_PAGES)):
        positions.append(size + 2 * len(texts))  # where this page starts in "\n\n".join(texts)
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
        page_positions=positions,
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
        headings: list[tuple[int, int, int]] = []
        size = 0
        truncated = False
        for block, level in _docx_blocks(document, 0, {}):
            if level is not None:
                start = size + 2 * len(blocks)  # where it starts in "\n\n".join(blocks)
                headings.append((start, start + len(block), level))
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
    return _Raw(
        text="\n\n".join(blocks),
        title=title,
        truncated=truncated,
        metadata=metadata,
        heading_spans=headings,
    )


def _docx_blocks(
    container: Any, depth: int, levels: dict[str | None, int | None]
) -> Iterator[tuple[str, int | None]]:
    """Paragraphs and table rows in document order (a row's cells joined by " | "), each with
    its heading level; a heading style inside a table makes no heading."""
    from docx.table import Table

    for item in container.iter_inner_content():
        if not isinstance(item, Table):
            yield item.text, _docx_heading_level(item, levels)
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
                blocks = (text for text, _ in _docx_blocks(cell, depth + 1, levels))
                cells.append(" ".join(blocks).strip())
            if any(cells):
                rows.append(" | ".join(cells))
        yield "\n".join(rows), None


_DOCX_HEADING_STYLE = re.compile(r"heading ([1-9])")


def _docx_heading_level(paragraph: Any, levels: dict[str | None, int | None]) -> int | None:
    """0 for the "Title" style, N for "Heading N" (or a style based on one), else None.

    Memoized per style id: looking a style up is a search of the styles part."""
    style_id = paragraph._p.style
    if style_id not in levels:
        level = None
        style = paragraph.style
        for _ in range(4):  # a custom style based on "Heading 2" is a heading too
            if style is None:
                break
            name = (style.name or "").strip().lower()
            match = _DOCX_HEADING_STYLE.fullmatch(name)
            if name == "title" or match:
                level = int(match.group(1)) if match else 0
                break
            style = style.base_style
        levels[style_id] = level
    return levels[style_id]


def _read_text(data: bytes, budget: int) -> _Raw:
    text, encoding = decode_text(data)
    if not text.strip():
        raise ExtractionFailed(EMPTY)
    return _Raw(text=text[:budget], truncated=len(text) > budget, metadata={"encoding": encoding})


def _read_markdown(data: bytes, budget: int) -> _Raw:
    raw = _read_text(data, budget)
    levels = _markdown_heading_levels(raw.text)
    raw.text = strip_markdown(raw.text)
    lines = raw.text.split("\n")
    if len(lines) == len(levels):  # strip_markdown keeps every line break
        position = 0
        for line, level in zip(lines, levels, strict=True):
            if level is not None:
                raw.heading_spans.append((position, position + len(line), level))
            position += len(line) + 1
    return raw


_MD_HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+\S")
_MD_FENCE = re.compile(r" {0,3}(```|~~~)")


def _markdown_heading_levels(markdown: str) -> list[int | None]:
    """For each line, its ATX heading level (`#` to `######`), or None; fenced code has none."""
    levels: list[int | None] = []
    fence = None
    for line in markdown.split("\n"):
        marker = _MD_FENCE.match(line)
        if marker:
            if fence is None:
                fence = marker.group(1)
            elif marker.group(1) == fence:
                fence = None
        heading = None if fence or marker else _MD_HEADING.match(line)
        levels.append(len(heading.group(1)) if heading else None)
    return levels


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
        heading_lines=_html_headings(markup[:limit]),
    )


_HTML_HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1\s*>", re.I | re.S)
_HTML_TAG = re.compile(r"<[^>]*>")
MAX_HTML_HEADINGS = 1_000


def _html_headings(markup: str) -> list[tuple[int, str]]:
    """The h1-h6 of a page as (level, text) in order, their text as `html_to_text` renders it."""
    headings: list[tuple[int, str]] = []
    for match in _HTML_HEADING.finditer(markup):
        text = html.unescape(_HTML_TAG.sub("", match.group(2)))
        text = " ".join(normalize_text(text).split())
        if text:
            headings.append((int(match.group(1)), text))
            if len(headings) >= MAX_HTML_HEADINGS:
                break
    return headings


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


# --------------------------------------------------------------------------------------------
# Structure: pages and headings as offsets into the final text


def _structure(kind: str, raw: _Raw, text: str) -> dict[str, Any]:
    if kind == "text":
        return {"headings": guess_headings(text)}
    if kind == "html":
        return {"headings": _find_heading_lines(text, raw.heading_lines)}
    if kind == "pdf" and raw.page_positions is not None:
        if len(raw.page_positions) <= 1:
            return {"page_starts": [0] if raw.page_positions else []}
        lines = _LineMap.build(raw.text, text)
        if lines is None:
            return {}
        starts = [lines.start(position) for position in raw.page_positions]
        return {"page_starts": [start for start in starts if start < len(text)]}
    if kind not in {"docx", "markdown"}:
        return {}
    lines = _LineMap.build(raw.text, text) if raw.heading_spans else None
    if lines is None:
        return {"headings": []}
    headings: list[dict[str, Any]] = []
    for start, end, level in raw.heading_spans:
        offset, stop = lines.start(start), lines.end(end)
        if offset < stop <= len(text):
            headings.append({"offset": offset, "level": level, "text": text[offset:stop]})
    return {"headings": headings}


_LINE_END = re.compile(_LINE_BREAKS.pattern + "|\n")


@dataclass(frozen=True)
class _LineMap:
    """Where each line of a reader's text lands once `normalize_text` has run over it.

    `normalize_text` works line by line (a line keeps its place or vanishes when blank; runs of
    blank lines become one), so positions at line starts and ends map exactly. `build`
    rebuilds the text this way and gives up (None) unless it agrees with the real one.
    """

    sources: list[int]  # where each non-blank line starts in the reader's text
    starts: list[int]  # ... and where it starts and ends in the normalized text
    ends: list[int]
    size: int

    @classmethod
    def build(cls, source: str, text: str) -> _LineMap | None:
        source = source.encode("utf-8", errors="replace").decode("utf-8")  # same length
        sources: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        parts: list[str] = []
        size = position = 0
        blank = False
        breaks = [*_LINE_END.finditer(source), None]
        for found in breaks:
            stop = len(source) if found is None else found.start()
            line = _normalize_line(source[position:stop])
            if line:
                if parts:
                    parts.append("\n\n" if blank else "\n")
                    size += len(parts[-1])
                sources.append(position)
                starts.append(size)
                parts.append(line)
                size += len(line)
                ends.append(size)
                blank = False
            else:
                blank = True
            position = stop if found is None else found.end()
        rebuilt = "".join(parts)
        if rebuilt[: len(text)] != text:
            return None
        return cls(sources, starts, ends, size)

    def start(self, position: int) -> int:
        """Where the first character from `position` on (a line start) lands."""
        index = bisect_left(self.sources, position)
        return self.starts[index] if index < len(self.sources) else self.size

    def end(self, position: int) -> int:
        """Where the text before `position` (a line end) ends."""
        index = bisect_left(self.sources, position) - 1
        return self.ends[index] if index >= 0 else 0


def _normalize_line(line: str) -> str:
    """One line as `normalize_text` leaves it."""
    line = unicodedata.normalize("NFC", _INVISIBLE.sub("", line))
    return _SPACES.sub(" ", line).strip(" ")


def _find_heading_lines(text: str, headings: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """Each heading at the first whole line of `text` that reads the same, after the last one."""
    if not headings:
        return []
    at: dict[str, list[int]] = {}
    offset = 0
    for line in text.split("\n"):
        at.setdefault(line, []).append(offset)
        offset += len(line) + 1
    found: list[dict[str, Any]] = []
    cursor = 0
    for level, heading in headings:
        offsets = at.get(heading, [])
        index = bisect_left(offsets, cursor)
        if index < len(offsets):
            found.append({"offset": offsets[index], "level": level, "text": heading})
            cursor = offsets[index] + len(heading)
    return found


_GUESS_MAX_CHARS = 80
_GUESS_MAX_WORDS = 12
_SECTION_NUMBER = re.compile(r"(\d{1,2}(?:\.\d{1,2}){0,3})\.?[ \t]+(?=\w)")
_SMALL_WORD = re.compile(
    r"a|an|and|as|at|but|by|for|from|in|into|nor|of|on|or|per|the|to|vs\.?|via|with", re.I
)
_NOT_A_HEADING = re.compile(
    r"(?:hi|hello|hey|dear|greetings|thanks|thank you|many thanks|cheers|regards|best regards|"
    r"best wishes|kind regards|warm regards|sincerely|yours|sent from)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?\u2026][\"')\]\u201d\u2019]*$")


def guess_headings(text: str) -> list[dict[str, Any]]:
    """Lines of plain text that are most likely headings, each marked `"guessed": True`.

    Conservative: a short line (at most 80 characters, 12 words) with no final punctuation,
    in Title Case or ALL CAPS, that starts a block (the text's start, after a blank line or
    after a finished sentence) and is followed by a paragraph. Greetings and sign-offs are not
    headings. ALL CAPS is level 1 and Title Case level 2; a section number ("2.3 Pricing")
    gives the level by its depth instead.
    """
    lines = text.split("\n")
    offsets: list[int] = []
    offset = 0
    for line in lines:
        offsets.append(offset)
        offset += len(line) + 1
    levels = [_heading_like(line) for line in lines]
    headings: list[dict[str, Any]] = []
    for index, level in enumerate(levels):
        if level is None:
            continue
        before = lines[index - 1] if index else ""
        if before and not _SENTENCE_END.search(before):
            continue
        after = index + 1
        if after < len(lines) and not lines[after]:
            after += 1
        if after >= len(lines) or levels[after] is not None or not _is_prose(lines[after]):
            continue
        headings.append(
            {"offset": offsets[index], "level": level, "text": lines[index], "guessed": True}
        )
    return headings


def _heading_like(line: str) -> int | None:
    """The level this line would have as a heading, or None when it does not look like one."""
    if not 2 <= len(line) <= _GUESS_MAX_CHARS or line != line.strip():
        return None
    if not line[0].isalnum() or line[-1] in ".,;:!?" or _NOT_A_HEADING.match(line):
        return None
    if "@" in line or "://" in line or " | " in line:
        return None
    numbered = _SECTION_NUMBER.match(line)
    words = line[numbered.end() :].split() if numbered else line.split()
    if not words or len(words) > _GUESS_MAX_WORDS:
        return None
    cased = [char for char in "".join(words) if char.isupper() or char.islower()]
    if len(cased) < 2:
        return None
    if all(char.isupper() for char in cased):
        level = 1
    elif _title_case(words):
        level = 2
    else:
        return None
    return numbered.group(1).count(".") + 1 if numbered else level


def _title_case(words: list[str]) -> bool:
    for position, word in enumerate(words):
        letters = [char for char in word if char.isalpha()]
        if not letters:
            continue
        if position and _SMALL_WORD.fullmatch(word):
            continue
        if not letters[0].isupper():
            return False
    return True


def _is_prose(line: str) -> bool:
    """A line that reads as the start of a paragraph: a few words or a finished sentence."""
    return len(line.split()) >= 4 or _SENTENCE_END.search(line) is not None


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
    "guess_headings",
    "normalize_text",
    "sniff",
    "strip_markdown",
]
