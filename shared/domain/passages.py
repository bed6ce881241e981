"""An extracted document cut into passages that know their heading path and page.

The asset library embeds passages, not whole files, and a draft cites the one it used:
"Security one-pager › Data residency (p. 2)". Pure: an `Extracted` in, passages out.

How a document is cut:

- Headings (`metadata["headings"]`) divide it into sections; a passage never crosses from one
  section into another, with one exception below. A heading's own text is in no passage: it
  is the passage's `heading_path`, the stack of enclosing headings by level, starting with
  the document title when one is given.
- Within a section, paragraphs are packed up to `target_chars`; a longer paragraph is split
  at sentence ends and line breaks, and a sentence over `max_chars` is cut at a space (or
  hard, when it has none). No passage is longer than `max_chars`.
- A tiny section (a heading over one short line, like an FAQ answer) is merged into the next
  passage when both sit under the same top-level heading: the passage then takes their common
  path and keeps the inner headings in its text, so "SSO / SAML and OIDC." still reads as
  such. Under different top-level headings a tiny section stays a passage of its own. A
  heading with no text under it gives no passage.
- `page` is the PDF page (1-based, from `metadata["page_starts"]`) holding the passage's
  first character.

A passage's `text` is a slice of the document text (`text[start:start + len(text)]`), so with
no overlap the passages hold every word of the document outside its headings, once, in order
(plus the inner headings of merged tiny sections).
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.domain.extraction import Extracted

SEPARATOR = " › "

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"')\]”’])\s+|\s*\n\s*")


@dataclass(frozen=True)
class Passage:
    index: int
    text: str
    heading_path: tuple[str, ...]  # e.g. ("Security one-pager", "Data residency")
    page: int | None  # 1-based page where the passage starts (PDFs)
    start: int  # char offset in the document text


@dataclass(frozen=True)
class _Heading:
    offset: int
    end: int
    level: int
    label: str  # on one line, spaces collapsed


@dataclass(frozen=True)
class _Section:
    path: tuple[str, ...]
    top: int | None  # offset of its top-level heading (level 1 or deeper), None outside one
    heading: int | None  # where its own heading starts; None for the text before any heading
    start: int  # its text, without the heading and trimmed
    end: int


@dataclass(frozen=True)
class _Pending:
    """Tiny sections waiting to be merged into the next passage."""

    path: tuple[str, ...]  # the common path of the sections held
    top: int
    first_path: tuple[str, ...]
    first_heading: int
    first_start: int
    end: int

    def start(self, path: tuple[str, ...]) -> int:
        """Where the text starts under `path`: with the first heading when `path` lacks it."""
        return self.first_start if len(path) >= len(self.first_path) else self.first_heading


def split_passages(
    extracted: Extracted,
    *,
    title: str | None = None,
    target_chars: int = 900,
    max_chars: int = 1500,
    overlap_chars: int = 0,
) -> list[Passage]:
    """The document's passages in order (see the module docstring).

    `overlap_chars` > 0 starts each passage after the first of a section with up to that many
    characters (whole words) from the end of the one before, never from another section.
    """
    if target_chars < 1:
        raise ValueError("target_chars must be positive")
    if max_chars < target_chars:
        raise ValueError("max_chars must be at least target_chars")
    if not 0 <= overlap_chars < target_chars:
        raise ValueError("overlap_chars must be at least 0 and below target_chars")
    text = extracted.text
    root = (_one_line(title),) if title and title.strip() else ()
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    pending: _Pending | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            spans.append((pending.start(pending.path), pending.end, pending.path))
            pending = None

    for section in _sections(text, _headings(extracted.metadata.get("headings"), text), root):
        if pending is not None and section.top != pending.top:
            flush()
        body = text[section.start : section.end]
        tiny = "\n" not in body and len(body) <= target_chars // 4
        if tiny and section.top is not None and section.heading is not None:
            pending = _hold(pending, section, section.top, section.heading, target_chars, flush)
            continue
        units = list(_units(text, section.start, section.end, target_chars, max_chars))
        common = section.path
        if pending is not None:
            common = _common_prefix(pending.path, section.path)
            units.insert(0, (pending.start(common), pending.end))
        chunks = _pack(units, target_chars)
        if pending is not None and chunks[0] == units[0]:  # no room: the tiny part stands alone
            flush()
            chunks.pop(0)
        else:
            spans.append((*chunks.pop(0), common))
            pending = None
        for chunk in chunks:
            # Overlap never reaches back to (or before) the previous passage's start.
            floor = max(section.start, spans[-1][0] + 1) if spans else section.start
            start, end = _with_overlap(text, chunk, floor, overlap_chars, max_chars)
            spans.append((start, end, section.path))
    flush()

    page_starts = _page_starts(extracted.metadata.get("page_starts"))
    spans = _split_at_pages(text, spans, page_starts)
    return [
        Passage(
            index=index,
            text=text[start:end],
            heading_path=path,
            page=_page(page_starts, start),
            start=start,
        )
        for index, (start, end, path) in enumerate(spans)
    ]


def _split_at_pages(
    text: str, spans: list[tuple[int, int, tuple[str, ...]]], page_starts: list[int]
) -> list[tuple[int, int, tuple[str, ...]]]:
    """No passage crosses a page break, so "(p. 2)" in a citation is where the words are."""
    if len(page_starts) < 2:
        return spans
    cut: list[tuple[int, int, tuple[str, ...]]] = []
    for start, end, path in spans:
        edges = [start, *(p for p in page_starts if start < p < end), end]
        for left, right in itertools.pairwise(edges):
            piece_start, piece_end = _trim(text, left, right)
            if piece_start < piece_end:
                cut.append((piece_start, piece_end, path))
    return cut


def citation(passage: Passage, title: str) -> str:
    """How a draft names the passage: "Title › Heading › Sub (p. 3)"."""
    label = _label(passage, title)
    if passage.page is not None:
        label = f"{label} (p. {passage.page})".strip()
    return label


def embedding_text(passage: Passage, title: str) -> str:
    """What the embedder reads: "Title › Heading › Sub", a blank line, then the passage."""
    label = _label(passage, title)
    return f"{label}\n\n{passage.text}" if label else passage.text


def _label(passage: Passage, title: str) -> str:
    parts = list(passage.heading_path)
    name = _one_line(title or "")
    if name and (not parts or parts[0].casefold() != name.casefold()):
        parts.insert(0, name)
    return SEPARATOR.join(parts)


# --------------------------------------------------------------------------------------------
# Sections


def _headings(raw: Any, text: str) -> list[_Heading]:
    """The usable headings of the metadata: in the text where they say, in order, apart."""
    if not isinstance(raw, list):
        return []
    found: list[_Heading] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        offset, level, label = item.get("offset"), item.get("level"), item.get("text")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            continue
        if not isinstance(level, int) or not isinstance(label, str) or not label.strip():
            continue
        if text[offset : offset + len(label)] != label:
            continue
        found.append(_Heading(offset, offset + len(label), max(level, 0), _one_line(label)))
    found.sort(key=lambda heading: heading.offset)
    apart: list[_Heading] = []
    for heading in found:
        if not apart or heading.offset >= apart[-1].end:
            apart.append(heading)
    return apart


def _sections(text: str, headings: list[_Heading], root: tuple[str, ...]) -> Iterator[_Section]:
    """The text under each heading (and before the first), trimmed; empty ones left out."""
    stack: list[_Heading] = []
    start = 0
    for heading in [*headings, None]:
        end = len(text) if heading is None else heading.offset
        body_start, body_end = _trim(text, start, end)
        if body_start < body_end:
            yield _Section(
                path=_path(root, stack),
                top=next((h.offset for h in stack if h.level >= 1), None),
                heading=stack[-1].offset if stack else None,
                start=body_start,
                end=body_end,
            )
        if heading is not None:
            while stack and stack[-1].level >= heading.level:
                stack.pop()
            stack.append(heading)
            start = heading.end


def _path(root: tuple[str, ...], stack: list[_Heading]) -> tuple[str, ...]:
    """The title and the enclosing headings; a heading repeating its parent appears once."""
    path: list[str] = []
    for label in [*root, *(heading.label for heading in stack)]:
        if not path or path[-1].casefold() != label.casefold():
            path.append(label)
    return tuple(path)


def _common_prefix(one: tuple[str, ...], other: tuple[str, ...]) -> tuple[str, ...]:
    size = 0
    while size < min(len(one), len(other)) and one[size] == other[size]:
        size += 1
    return one[:size]


def _hold(
    pending: _Pending | None,
    section: _Section,
    top: int,
    heading: int,
    target_chars: int,
    flush: Callable[[], None],
) -> _Pending:
    """A tiny section joins the ones held, if they fit together; else it is held alone."""
    if pending is not None:
        path = _common_prefix(pending.path, section.path)
        if section.end - pending.start(path) <= target_chars:
            return _Pending(
                path=path,
                top=pending.top,
                first_path=pending.first_path,
                first_heading=pending.first_heading,
                first_start=pending.first_start,
                end=section.end,
            )
        flush()
    return _Pending(
        path=section.path,
        top=top,
        first_path=section.path,
        first_heading=heading,
        first_start=section.start,
        end=section.end,
    )


# --------------------------------------------------------------------------------------------
# Cutting and packing


def _units(
    text: str, start: int, end: int, target_chars: int, max_chars: int
) -> Iterator[tuple[int, int]]:
    """Paragraphs up to `target_chars`; longer ones as sentences and lines, each at most
    `max_chars`."""
    for paragraph in _pieces(text, start, end, _PARAGRAPH_BREAK):
        if paragraph[1] - paragraph[0] <= target_chars:
            yield paragraph
            continue
        for sentence in _pieces(text, *paragraph, _SENTENCE_BREAK):
            yield from _cut(text, *sentence, max_chars)


def _pieces(text: str, start: int, end: int, breaks: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """The trimmed, non-empty spans of text[start:end] between matches of `breaks`."""
    position = start
    for found in breaks.finditer(text, start, end):
        piece = _trim(text, position, found.start())
        if piece[0] < piece[1]:
            yield piece
        position = found.end()
    piece = _trim(text, position, end)
    if piece[0] < piece[1]:
        yield piece


def _cut(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Pieces of at most `max_chars`, cut at the last space in the back half of each."""
    while end - start > max_chars:
        cut = start + max_chars
        for position in range(start + max_chars, start + max_chars // 2, -1):
            if text[position].isspace():
                cut = position
                break
        piece = _trim(text, start, cut)
        if piece[0] < piece[1]:
            yield piece
        start = _trim(text, cut, end)[0]
    if start < end:
        yield start, end


def _pack(units: list[tuple[int, int]], target_chars: int) -> list[tuple[int, int]]:
    """Consecutive units joined while the span stays within `target_chars`."""
    chunks: list[tuple[int, int]] = []
    for start, end in units:
        if chunks and end - chunks[-1][0] <= target_chars:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return chunks


def _with_overlap(
    text: str, chunk: tuple[int, int], floor: int, overlap_chars: int, max_chars: int
) -> tuple[int, int]:
    """The chunk starting up to `overlap_chars` earlier, at a word, not before `floor`."""
    start, end = chunk
    if overlap_chars <= 0:
        return chunk
    earlier = max(floor, start - overlap_chars, end - max_chars)
    while earlier < start and earlier > 0 and not text[earlier - 1].isspace():
        earlier += 1  # begin at a whole word
    return _trim(text, earlier, end)[0], end


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _page(page_starts: list[int], offset: int) -> int | None:
    return bisect_right(page_starts, offset) or None


def _page_starts(raw: Any) -> list[int]:
    if not isinstance(raw, list) or not all(isinstance(start, int) for start in raw):
        return []
    return raw if raw == sorted(raw) else []


def _one_line(value: str) -> str:
    return " ".join(value.split())


__all__ = ["SEPARATOR", "Passage", "citation", "embedding_text", "split_passages"]
