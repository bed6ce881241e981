"""Cutting extracted assets into cited passages: real DOCX, Markdown and PDF, and any text."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.extraction import Extracted, extract
from shared.domain.passages import Passage, citation, embedding_text, split_passages

# --------------------------------------------------------------------------------------------
# Builders


def sentences(topic: str, count: int) -> str:
    """`count` distinct sentences of about 50 characters each."""
    return " ".join(
        f"{topic} fact number {index:03d} is stated here in full." for index in range(count)
    )


def make_docx(blocks: list[tuple[int | None, str]]) -> bytes:
    """(level, text): a heading of that level (0 is the Title style), or a paragraph (None)."""
    document = docx.Document()
    for level, text in blocks:
        if level is None:
            document.add_paragraph(text)
        else:
            document.add_heading(text, level=level)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def plain(text: str, headings: Sequence[tuple[int, str]] = (), **metadata: Any) -> Extracted:
    """An extraction of `text` whose headings (level, text) are found in it in order."""
    found: list[dict[str, Any]] = []
    cursor = 0
    for level, heading in headings:
        offset = text.index(heading, cursor)
        found.append({"offset": offset, "level": level, "text": heading})
        cursor = offset + len(heading)
    return Extracted(
        text=text,
        kind="text",
        title=None,
        pages=None,
        truncated=False,
        metadata={"headings": found, **metadata},
    )


def heading_spans(extracted: Extracted) -> list[tuple[int, int]]:
    return [(h["offset"], h["offset"] + len(h["text"])) for h in extracted.metadata["headings"]]


def blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def without_headings(extracted: Extracted) -> str:
    return blank(extracted.text, heading_spans(extracted))


def assert_within_sections(extracted: Extracted, passages: list[Passage]) -> None:
    """Every passage lies between two consecutive headings, and is where it says it is."""
    spans = heading_spans(extracted)
    for passage in passages:
        end = passage.start + len(passage.text)
        assert extracted.text[passage.start : end] == passage.text
        for heading_start, heading_end in spans:
            assert heading_end <= passage.start or heading_start >= end, (passage, heading_start)


# --------------------------------------------------------------------------------------------
# Heading paths


SECURITY_DOCX = [
    (0, "Security one-pager"),
    (None, "How Acme keeps customer data safe. " + sentences("Overview", 5)),
    (1, "Hosting"),
    (None, "We run on Google Cloud in two zones. " + sentences("Hosting", 5)),
    (2, "Data residency"),
    (None, "All customer data stays in the EU region. " + sentences("Residency", 5)),
    (1, "Compliance"),
    (None, "We hold SOC 2 Type II and ISO 27001. " + sentences("Compliance", 5)),
]


def test_docx_heading_paths_follow_the_heading_levels() -> None:
    result = extract(make_docx(SECURITY_DOCX), "security.docx")
    passages = split_passages(result, title="Security one-pager")
    assert [(p.heading_path, p.text.split(".")[0]) for p in passages] == [
        (("Security one-pager",), "How Acme keeps customer data safe"),
        (("Security one-pager", "Hosting"), "We run on Google Cloud in two zones"),
        (
            ("Security one-pager", "Hosting", "Data residency"),
            "All customer data stays in the EU region",
        ),
        (("Security one-pager", "Compliance"), "We hold SOC 2 Type II and ISO 27001"),
    ]
    assert [p.index for p in passages] == [0, 1, 2, 3]
    assert all(p.page is None for p in passages)
    residency = passages[2]
    assert citation(residency, "Security one-pager") == (
        "Security one-pager › Hosting › Data residency"
    )
    assert_within_sections(result, passages)


def test_without_a_title_the_path_starts_at_the_first_heading() -> None:
    result = extract(make_docx(SECURITY_DOCX[2:]), "security.docx")
    paths = [p.heading_path for p in split_passages(result)]
    assert paths == [("Hosting",), ("Hosting", "Data residency"), ("Compliance",)]


def test_markdown_heading_paths_pop_back_to_the_right_level() -> None:
    body = sentences("Body", 6)
    markdown = (
        f"Preamble before any heading. {body}\n\n"
        f"# Pricing\n\n{body}\n\n"
        f"### Volume discounts\n\n{body}\n\n"
        f"## Nonprofits\n\n{body}\n\n"
        f"# Support\n\n{body}\n"
    )
    result = extract(markdown.encode(), "pricing.md")
    passages = split_passages(result, title="Pricing sheet")
    assert [p.heading_path for p in passages] == [
        ("Pricing sheet",),
        ("Pricing sheet", "Pricing"),
        ("Pricing sheet", "Pricing", "Volume discounts"),
        ("Pricing sheet", "Pricing", "Nonprofits"),
        ("Pricing sheet", "Support"),
    ]
    assert passages[0].text.startswith("Preamble before any heading.")
    assert all(p.text.endswith("is stated here in full.") for p in passages)
    assert_within_sections(result, passages)


# --------------------------------------------------------------------------------------------
# Pages


def test_pdf_passages_know_the_page_they_start_on() -> None:
    pages = [
        sentences("Overview", 12),
        sentences("Hosting", 6)
        + " Data residency: all customer data stays in the EU region. "
        + sentences("Keys", 6),
        sentences("Compliance", 12),
    ]
    result = extract(make_pdf(pages), "security.pdf")
    starts = result.metadata["page_starts"]
    assert len(starts) == 3
    passages = split_passages(result, title="Security one-pager", target_chars=300)
    assert len(passages) > 6
    for passage in passages:
        expected = sum(1 for start in starts if start <= passage.start)
        assert passage.page == expected
        first_words = " ".join(passage.text.split()[:2])
        assert first_words in " ".join(pages[expected - 1].split())
    residency = next(p for p in passages if "Data residency: all customer data" in p.text)
    assert residency.page == 2
    assert citation(residency, "Security one-pager") == "Security one-pager (p. 2)"
    assert {p.page for p in passages} == {1, 2, 3}


# --------------------------------------------------------------------------------------------
# Boundaries, sizes, and nothing lost


def test_no_passage_crosses_a_heading_and_no_word_is_lost() -> None:
    blocks: list[tuple[int | None, str]] = []
    for number in range(8):
        blocks.append((1 + number % 3, f"Section {number}"))
        blocks.append((None, sentences(f"S{number}", 3 + 7 * (number % 4))))
        blocks.append((None, sentences(f"T{number}", 1 + number)))
    result = extract(make_docx(blocks), "long.docx")
    passages = split_passages(result, target_chars=400, max_chars=600)
    assert_within_sections(result, passages)
    assert " ".join(p.text for p in passages).split() == without_headings(result).split()
    assert all(len(p.text) <= 600 for p in passages)
    assert [p.start for p in passages] == sorted(p.start for p in passages)
    assert len(passages) > len(blocks) // 3  # long sections gave several passages


def test_short_paragraphs_are_packed_up_to_the_target() -> None:
    paragraphs = [f"Paragraph {index} " + "x" * 87 + "." for index in range(10)]
    assert all(len(paragraph) == 100 for paragraph in paragraphs)
    result = plain("\n\n".join(paragraphs))
    passages = split_passages(result, target_chars=350, max_chars=500)
    assert [p.text.count("Paragraph") for p in passages] == [3, 3, 3, 1]
    assert passages[0].text == "\n\n".join(paragraphs[:3])
    assert [p.start for p in passages] == [0, 306, 612, 918]


def test_a_long_paragraph_is_split_at_sentence_ends() -> None:
    paragraph = sentences("Residency", 40)
    result = plain(paragraph)
    passages = split_passages(result, target_chars=400, max_chars=600)
    assert len(passages) == 5
    for passage in passages:
        assert passage.text.count("Residency fact") == 8
        assert passage.text.startswith("Residency fact number")
        assert passage.text.endswith("is stated here in full.")
        assert len(passage.text) <= 400
    assert " ".join(p.text for p in passages) == paragraph


def test_a_huge_sentence_is_cut_at_a_space_within_max_chars() -> None:
    words = " ".join(f"word{index:04d}" for index in range(600))  # 5,999 characters, no period
    passages = split_passages(plain(words), target_chars=300, max_chars=500)
    assert all(250 <= len(p.text) <= 500 for p in passages[:-1])
    assert " ".join(p.text for p in passages).split() == words.split()


def test_a_token_with_no_space_is_cut_hard_at_max_chars() -> None:
    token = "abcdefghij" * 200
    passages = split_passages(plain(f"Intro line.\n\n{token}"), target_chars=300, max_chars=500)
    assert [len(p.text) for p in passages] == [11, 500, 500, 500, 500]
    assert "".join(p.text for p in passages[1:]) == token


def test_overlap_repeats_the_end_of_the_previous_passage_within_a_section() -> None:
    text = f"# Hosting\n\n{sentences('Hosting', 20)}\n\n# Keys\n\n{sentences('Keys', 20)}"
    result = extract(text.encode(), "hosting.md")
    passages = split_passages(result, target_chars=300, max_chars=400, overlap_chars=80)
    plain_cut = split_passages(result, target_chars=300, max_chars=400)
    assert len(passages) == len(plain_cut)
    for before, passage, without in zip(passages, passages[1:], plain_cut[1:], strict=False):
        assert len(passage.text) <= 400
        assert passage.text.endswith(without.text)
        if passage.heading_path != before.heading_path:
            assert passage.start == without.start  # a new section starts clean
            continue
        repeated = passage.text[: len(passage.text) - len(without.text)].strip()
        assert 0 < len(repeated) <= 80
        assert before.text.endswith(repeated)
        assert result.text[passage.start - 1].isspace()  # a whole word
    assert_within_sections(result, passages)


def test_overlap_never_reaches_back_past_the_start_of_the_section() -> None:
    long_sentence = "Keys rotate " + "and rotate " * 24 + "every ninety days."
    assert 280 < len(long_sentence) <= 300
    text = f"# Hosting\n\n{sentences('Hosting', 8)}\n\n# Keys\n\nShort intro.\n\n{long_sentence}"
    result = extract(text.encode(), "keys.md")
    passages = split_passages(result, target_chars=300, max_chars=400, overlap_chars=80)
    keys = [p for p in passages if p.heading_path == ("Keys",)]
    # The overlap may not start where the previous passage starts: it begins at its next word.
    assert [p.text for p in keys] == ["Short intro.", f"intro.\n\n{long_sentence}"]
    assert_within_sections(result, passages)


def assert_overlap_only_adds_words_before(extracted: Extracted, target: int, overlap: int) -> None:
    """With overlap, each passage is the one without it plus at most `overlap` characters just
    before it, with no heading among them."""
    sizes = {"target_chars": target, "max_chars": target * 2}
    without = split_passages(extracted, **sizes)
    passages = split_passages(extracted, overlap_chars=overlap, **sizes)
    assert [p.heading_path for p in passages] == [p.heading_path for p in without]
    for passage, alone in zip(passages, without, strict=True):
        assert passage.text.endswith(alone.text)
        assert alone.start - overlap <= passage.start <= alone.start
        assert len(passage.text) <= target * 2
        for start, _ in heading_spans(extracted):
            assert not passage.start <= start < alone.start


def test_overlap_after_a_merged_tiny_section_is_taken_once() -> None:
    text = f"# Security\n\n## SSO\nSAML and OIDC.\n\n## Keys\n\n{sentences('Keys', 20)}"
    result = extract(text.encode(), "security.md")
    passages = split_passages(result, target_chars=300, max_chars=600, overlap_chars=80)
    assert [p.heading_path for p in passages] == [("Security",)] + [("Security", "Keys")] * 3
    assert passages[0].text.startswith("SSO\nSAML and OIDC.\n\nKeys\n\nKeys fact number 000")
    assert_overlap_only_adds_words_before(result, 300, 80)


# --------------------------------------------------------------------------------------------
# Tiny sections


FAQ = f"""# Security

## Encryption
AES-256 at rest.

## SSO
SAML and OIDC.

## Data residency

{sentences("Residency", 10)}

# Pricing

## Plans
Starter and Growth.

## Discounts
Nonprofits get 20% off.

# Empty

# Support
Email us.
"""


def test_tiny_sections_merge_only_under_the_same_top_level_heading() -> None:
    result = extract(FAQ.encode(), "faq.md")
    passages = split_passages(result, title="Guide")
    assert [(p.heading_path, p.text[:30]) for p in passages] == [
        (("Guide", "Security"), "Encryption\nAES-256 at rest.\n\nS"),
        (("Guide", "Pricing"), "Plans\nStarter and Growth.\n\nDis"),
        (("Guide", "Support"), "Email us."),
    ]
    assert passages[0].text.endswith("Data residency\n\n" + sentences("Residency", 10))
    assert passages[1].text == "Plans\nStarter and Growth.\n\nDiscounts\nNonprofits get 20% off."
    outside = [
        (h["offset"], h["offset"] + len(h["text"]))
        for h in result.metadata["headings"]
        if not any(p.start <= h["offset"] < p.start + len(p.text) for p in passages)
    ]
    assert [result.text[start:end] for start, end in outside] == [
        "Security",
        "Pricing",
        "Empty",
        "Support",
    ]
    kept = " ".join(p.text for p in passages)
    assert kept.split() == blank(result.text, outside).split()


def test_a_tiny_section_alone_under_its_top_level_heading_stays_a_passage() -> None:
    text = f"# Alpha\n\n## A1\nShort answer.\n\n# Beta\n\n## B1\n\n{sentences('Beta', 8)}"
    result = extract(text.encode(), "x.md")
    passages = split_passages(result)
    assert [(p.heading_path, p.text) for p in passages] == [
        (("Alpha", "A1"), "Short answer."),
        (("Beta", "B1"), sentences("Beta", 8)),
    ]


def test_a_tiny_intro_merges_with_its_first_subsection() -> None:
    text = f"# Security\nOur approach in one line.\n\n## Keys\n\n{sentences('Keys', 4)}"
    passages = split_passages(extract(text.encode(), "x.md"))
    assert len(passages) == 1
    assert passages[0].heading_path == ("Security",)
    assert passages[0].text == f"Our approach in one line.\n\nKeys\n\n{sentences('Keys', 4)}"


def test_tiny_sections_too_long_to_join_the_next_passage_stand_alone() -> None:
    keys = sentences("Keys", 20)
    assert 880 < len(keys) <= 900  # a passage alone, with no room for the SSO answer
    text = f"# Security\n\n## SSO\nSAML and OIDC.\n\n## Keys\n\n{keys}"
    passages = split_passages(extract(text.encode(), "x.md"))
    assert [(p.heading_path, len(p.text) <= 900) for p in passages] == [
        (("Security", "SSO"), True),
        (("Security", "Keys"), True),
    ]
    assert passages[0].text == "SAML and OIDC."


# --------------------------------------------------------------------------------------------
# Citations and embedding text


def test_citation_and_embedding_text() -> None:
    passage = Passage(
        2, "All data stays in the EU.", ("Security one-pager", "Data residency"), 2, 40
    )
    assert citation(passage, "Security one-pager") == "Security one-pager › Data residency (p. 2)"
    assert embedding_text(passage, "Security one-pager") == (
        "Security one-pager › Data residency\n\nAll data stays in the EU."
    )
    untitled = Passage(0, "Body.", ("Data residency",), None, 0)
    assert citation(untitled, "Security  one-pager\n") == "Security one-pager › Data residency"
    assert embedding_text(Passage(0, "Body.", (), None, 0), "") == "Body."
    assert citation(Passage(0, "Body.", (), 3, 0), "Deck") == "Deck (p. 3)"


def test_the_title_is_not_repeated_when_the_document_starts_with_it() -> None:
    result = extract(make_docx(SECURITY_DOCX), "security.docx")
    first = split_passages(result, title="SECURITY one-pager")[0]
    assert first.heading_path == ("SECURITY one-pager",)
    assert citation(first, "Security one-pager") == "SECURITY one-pager"


# --------------------------------------------------------------------------------------------
# Untrusted metadata and bad arguments


def test_headings_that_do_not_match_the_text_are_ignored() -> None:
    text = f"Intro. {sentences('A', 6)}\n\nPricing\n\n{sentences('B', 6)}"
    extracted = Extracted(
        text=text,
        kind="text",
        title=None,
        pages=None,
        truncated=False,
        metadata={
            "headings": [
                {"offset": 3, "level": 1, "text": "Pricing"},  # not what is at offset 3
                {"offset": text.index("Pricing"), "level": "1", "text": "Pricing"},
                "junk",
                {"offset": True, "level": 1, "text": "I"},
            ],
            "page_starts": [5, 0],  # out of order: ignored
        },
    )
    passages = split_passages(extracted)
    assert len(passages) == 1
    assert passages[0].heading_path == ()
    assert passages[0].page is None
    assert passages[0].text == text


def test_a_document_with_only_headings_gives_no_passages() -> None:
    assert split_passages(plain("Pricing\n\nSupport", [(1, "Pricing"), (1, "Support")])) == []


@pytest.mark.parametrize(
    ("target", "maximum", "overlap"), [(0, 10, 0), (100, 99, 0), (100, 200, -1), (100, 200, 100)]
)
def test_bad_sizes_are_refused(target: int, maximum: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="_chars"):
        split_passages(plain("text"), target_chars=target, max_chars=maximum, overlap_chars=overlap)


# --------------------------------------------------------------------------------------------
# Any text


_LINES = st.lists(
    st.tuples(
        st.text(st.characters(codec="utf-8"), max_size=120)
        | st.lists(
            st.sampled_from(["word", "Word.", " ", "\n", "\n\n", "longerword", "x" * 40])
        ).map("".join),
        st.integers(min_value=-1, max_value=4),  # -1: not a heading
    ),
    max_size=12,
)


def build(lines: list[tuple[str, int]]) -> tuple[Extracted, list[tuple[int, int, int]]]:
    """A document of bodies and unique headings "Heading N", and the headings' spans."""
    parts: list[str] = []
    headings: list[dict[str, Any]] = []
    spans: list[tuple[int, int, int]] = []
    size = 0
    for number, (body, level) in enumerate(lines):
        if level >= 0:
            label = f"Heading {number}"
            headings.append({"offset": size, "level": level, "text": label})
            spans.append((size, size + len(label), level))
            parts.append(label + "\n")
            size += len(label) + 1
        parts.append(body + "\n")
        size += len(body) + 1
    text = "".join(parts)
    extracted = Extracted(text, "text", None, None, False, {"headings": headings})
    return extracted, spans


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=_LINES,
    target=st.integers(min_value=1, max_value=200),
    extra=st.integers(min_value=0, max_value=200),
    title=st.none() | st.text(max_size=10),
)
def test_any_text_is_cut_without_losing_a_character(
    lines: list[tuple[str, int]], target: int, extra: int, title: str | None
) -> None:
    extracted, spans = build(lines)
    text = extracted.text
    maximum = target + extra
    passages = split_passages(extracted, title=title, target_chars=target, max_chars=maximum)

    covered = [False] * len(text)
    previous_end = 0
    for index, passage in enumerate(passages):
        end = passage.start + len(passage.text)
        assert passage.index == index
        assert passage.text
        assert passage.text == passage.text.strip()
        assert len(passage.text) <= maximum
        assert text[passage.start : end] == passage.text
        assert passage.start >= previous_end
        previous_end = end
        for position in range(passage.start, end):
            covered[position] = True

    inside_headings = set()
    for start, end, _ in spans:
        inside_headings.update(range(start, end))
    for position, char in enumerate(text):
        if position not in inside_headings and not char.isspace():
            assert covered[position], (position, char)

    labels = {f"Heading {number}" for number, (_, level) in enumerate(lines) if level >= 0}
    for passage in passages:
        path = [part for part in passage.heading_path if part in labels]
        for start, end, _ in spans:
            if passage.start <= start < passage.start + len(passage.text):
                assert path, "only a passage under a top-level heading takes in a heading"
                assert text[start:end] not in path

    if all(len(token) < maximum // 2 for token in text.split()):  # no word needs a hard cut
        body = blank(text, [(start, end) for start, end, _ in spans])
        kept = " ".join(body[p.start : p.start + len(p.text)] for p in passages)
        assert kept.split() == body.split()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=_LINES,
    target=st.integers(min_value=2, max_value=200),
    overlap=st.integers(min_value=1, max_value=199),
)
def test_overlap_only_adds_words_from_just_before_in_the_same_section(
    lines: list[tuple[str, int]], target: int, overlap: int
) -> None:
    extracted, _ = build(lines)
    assert_overlap_only_adds_words_before(extracted, target, min(overlap, target - 1))


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=600),
    target=st.integers(min_value=2, max_value=120),
    overlap=st.integers(min_value=0, max_value=119),
)
def test_any_text_with_overlap_never_raises_and_stays_bounded(
    text: str, target: int, overlap: int
) -> None:
    overlap = min(overlap, target - 1)
    extracted = Extracted(text, "text", None, None, False, {})
    passages = split_passages(
        extracted, target_chars=target, max_chars=target * 2, overlap_chars=overlap
    )
    covered = [False] * len(text)
    for before, passage in zip([None, *passages], passages, strict=False):
        end = passage.start + len(passage.text)
        assert 0 < len(passage.text) <= target * 2
        assert text[passage.start : end] == passage.text
        if before is not None:
            assert before.start < passage.start
            assert passage.start >= before.start + len(before.text) - overlap
        covered[passage.start : end] = [True] * len(passage.text)
    assert all(covered[index] for index, char in enumerate(text) if not char.isspace())
    if not overlap:
        words = "".join(text.split())
        assert "".join("".join(p.text.split()) for p in passages) == words


def test_no_passage_crosses_a_page_break():
    from shared.domain.extraction import Extracted

    text = "First page words. " * 5 + "\n\n" + "Second page words. " * 5
    second = text.index("Second")
    extracted = Extracted(
        text=text,
        kind="pdf",
        title=None,
        pages=2,
        truncated=False,
        metadata={"page_starts": [0, second], "headings": []},
    )

    passages = split_passages(extracted, title="Sheet")

    assert [p.page for p in passages] == [1, 2]
    assert passages[1].text.startswith("Second")
