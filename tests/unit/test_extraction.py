"""Reading voice samples: real PDFs, DOCX, mail, HTML and text files, and hostile bytes."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import docx
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.domain import extraction
from shared.domain.extraction import Extracted, ExtractionFailed, extract, sniff

# --------------------------------------------------------------------------------------------
# Builders


def make_pdf(
    pages: list[str],
    *,
    title: str | None = None,
    author: str | None = None,
    encrypt: Callable[[FPDF], None] | None = None,
) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    if encrypt:
        encrypt(pdf)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_image_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    image = Image.new("RGB", (120, 40), "white")
    for x in range(10, 110):
        image.putpixel((x, 20), (0, 0, 0))
    pdf.image(image, x=10, y=10, w=100)
    pdf.add_page()
    pdf.rect(20, 20, 50, 30)
    return bytes(pdf.output())


def make_docx(
    paragraphs: list[str], rows: list[list[str]] | None = None, title: str | None = None
) -> bytes:
    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.core_properties.author = "Alex Rep"
    document.add_heading(paragraphs[0], level=1)
    for text in paragraphs[1:2]:
        document.add_paragraph(text)
    if rows:
        table = document.add_table(rows=len(rows), cols=len(rows[0]))
        for row, values in zip(table.rows, rows, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    for text in paragraphs[2:]:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zeros_zip(sizes_mb: list[int], *, names: list[str] | None = None) -> bytes:
    """A DOCX-shaped zip whose members are zeros, written in 1 MB chunks (never all in memory)."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for index, size in enumerate(sizes_mb):
            name = names[index] if names else f"word/media/part{index}.bin"
            with archive.open(name, "w", force_zip64=True) as member:
                for _ in range(size):
                    member.write(chunk)
        if not names or "word/document.xml" not in names:
            archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


PROSE = [
    "Thanks for the time today. As promised, here is a short summary of what we discussed.",
    "Your team wants to cut the time to first reply from two days to two hours.",
    "Next step: a pilot with five reps in May, then a review of the numbers in June.",
]

# --------------------------------------------------------------------------------------------
# PDF


def test_three_page_pdf_gives_its_text_in_page_order() -> None:
    result = extract(make_pdf(PROSE), "summary.pdf", "application/pdf")
    assert result.kind == "pdf"
    assert result.pages == 3
    assert not result.truncated
    assert result.title is None
    paragraphs = result.text.split("\n\n")
    assert paragraphs == PROSE
    assert result.metadata["pages_read"] == 3


def test_pdf_title_and_author_come_from_metadata() -> None:
    data = make_pdf(["Hello Dana, here is the deck."], title="Q3 proposal", author="Alex Rep")
    result = extract(data)
    assert result.title == "Q3 proposal"
    assert result.metadata["author"] == "Alex Rep"
    assert result.text == "Hello Dana, here is the deck."


def test_password_protected_pdf_is_refused() -> None:
    def lock(pdf: FPDF) -> None:
        pdf.set_encryption(owner_password="owner-pw", user_password="user-pw")

    with pytest.raises(ExtractionFailed) as failure:
        extract(make_pdf(PROSE, encrypt=lock))
    assert failure.value.reason == "the PDF is password-protected"


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    def restrict(pdf: FPDF) -> None:
        pdf.set_encryption(owner_password="owner-pw")

    result = extract(make_pdf(PROSE[:1], encrypt=restrict))
    assert result.text == PROSE[0]


def test_pdf_without_a_text_layer_is_refused() -> None:
    with pytest.raises(ExtractionFailed) as failure:
        extract(make_image_pdf(), "scan.pdf")
    assert failure.value.reason == "the PDF has no text (scanned images are not read)"


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n this is not really a pdf at all",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>",
    ],
)
def test_broken_pdf_is_refused(data: bytes) -> None:
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "deck.pdf")
    assert failure.value.reason in {"the PDF could not be read", "no text found"}


def outcome(data: bytes, name: str | None = None, max_chars: int = 400_000) -> Extracted | str:
    """The extraction, or the reason it failed; any other exception fails the test."""
    try:
        return extract(data, name, max_chars=max_chars)
    except ExtractionFailed as failure:
        return failure.reason


def test_truncated_pdf_never_raises_anything_else() -> None:
    data = make_pdf(PROSE)
    for cut in (len(data) // 3, len(data) // 2, len(data) - 40):
        result = outcome(data[:cut])
        if isinstance(result, str):
            assert result in {
                "the PDF could not be read",
                "the PDF has no text (scanned images are not read)",
            }
        else:
            assert result.kind == "pdf"
            assert PROSE[0] in result.text


def test_pdf_pages_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extraction, "MAX_PDF_PAGES", 2)
    result = extract(make_pdf(PROSE))
    assert result.pages == 3
    assert result.truncated
    assert result.text.split("\n\n") == PROSE[:2]


def test_pdf_text_is_cut_at_max_chars() -> None:
    result = extract(make_pdf(PROSE), max_chars=60)
    assert result.truncated
    assert len(result.text) <= 60
    assert PROSE[0].startswith(result.text)


# --------------------------------------------------------------------------------------------
# DOCX


def test_docx_paragraphs_and_table_in_document_order() -> None:
    data = make_docx(
        ["Pilot plan", "Here is how the pilot runs.", "Questions welcome."],
        rows=[["Week", "Goal"], ["1", "Connect HubSpot"], ["2", "First drafts"]],
        title="Pilot plan for Acme",
    )
    result = extract(data, "plan.docx")
    assert result.kind == "docx"
    assert result.title == "Pilot plan for Acme"
    assert result.metadata["author"] == "Alex Rep"
    assert result.pages is None
    assert result.text == (
        "Pilot plan\n\nHere is how the pilot runs.\n\n"
        "Week | Goal\n1 | Connect HubSpot\n2 | First drafts\n\nQuestions welcome."
    )


def test_zip_bomb_is_refused_before_it_is_opened() -> None:
    bomb = zeros_zip([200], names=["word/document.xml"])
    assert len(bomb) < 2 * 1024 * 1024
    assert sniff(bomb, "cv.docx") == "docx"
    with pytest.raises(ExtractionFailed) as failure:
        extract(bomb, "cv.docx")
    assert failure.value.reason == "the document looks like a zip bomb"


def test_docx_too_large_once_unpacked_is_refused() -> None:
    data = zeros_zip([1] * 51)  # 1 MB members are below the ratio check, 51 MB in all
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "big.docx")
    assert failure.value.reason == "the document is too large once unpacked"


def test_docx_with_too_many_members_is_refused() -> None:
    members = {f"word/part{index}.xml": b"<x/>" for index in range(1_001)}
    members["word/document.xml"] = b"<w:document/>"
    with pytest.raises(ExtractionFailed) as failure:
        extract(zip_of(members))
    assert failure.value.reason == "the document looks like a zip bomb"


def test_zip_that_is_not_a_docx_is_an_unknown_type() -> None:
    data = zip_of({"notes.txt": b"hello", "img/logo.png": b"\x89PNG"})
    assert sniff(data, "notes.docx", "application/vnd.openxmlformats") == "unknown"
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "notes.docx")
    assert failure.value.reason.startswith("unknown file type")


def test_docx_shaped_zip_that_python_docx_cannot_open_is_refused() -> None:
    data = zip_of({"word/document.xml": b"<not-really/>"})
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "x.docx")
    assert failure.value.reason == "the Word document could not be read"


def test_legacy_doc_gets_a_clear_reason() -> None:
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"Word.Document.8"
    assert sniff(data, "old.doc") == "unknown"
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "old.doc", "application/msword")
    assert ".doc" in failure.value.reason
    assert ".docx or PDF" in failure.value.reason


def test_rtf_gets_a_clear_reason_and_look_alike_text_does_not() -> None:
    with pytest.raises(ExtractionFailed) as failure:
        extract(b"{\\rtf1\\ansi Hello}", "note.rtf")
    assert failure.value.reason == "RTF files are not read: save it as .docx or PDF"
    assert extract(b"BM and MZ: call notes from Tuesday").text.startswith("BM and MZ")


def test_a_pdf_named_file_that_is_a_zip_is_not_a_pdf() -> None:
    data = make_docx(["Hello", "Body text here."])
    assert sniff(data, "report.pdf", "application/pdf") == "docx"
    assert extract(data, "report.pdf", "application/pdf").kind == "docx"


# --------------------------------------------------------------------------------------------
# Mail and HTML

EML = (
    b"From: Alex Rep <alex@vendor.io>\r\n"
    b"To: Dana <dana@acme.com>\r\n"
    b"Subject: Re: pilot timing\r\n"
    b"Date: Tue, 11 Mar 2025 09:30:00 +0000\r\n"
    b"Message-ID: <abc@vendor.io>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hi Dana,\r\n\r\nMay works well for us. I'll send the plan on Friday.\r\n\r\nAlex\r\n\r\n"
    b"On Mon, 10 Mar 2025 at 17:00, Dana <dana@acme.com> wrote:\r\n"
    b"> Could we start in May?\r\n"
)


def test_eml_gives_the_new_text_subject_and_sender() -> None:
    result = extract(EML, "reply.eml", "message/rfc822")
    assert result.kind == "eml"
    assert result.title == "Re: pilot timing"
    assert result.metadata == {"from": "alex@vendor.io", "date": "2025-03-11T09:30:00+00:00"}
    assert "May works well for us." in result.text
    assert "Could we start in May?" not in result.text


def test_eml_is_recognised_from_content_whatever_the_name() -> None:
    assert sniff(EML, "reply.txt", "text/plain") == "eml"
    assert sniff(EML) == "eml"
    assert sniff(b"Subject: just one header line\n\nbody", "note.txt") == "text"


def test_html_gives_readable_text_and_its_title() -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Case study &amp; results</title>"
        b"<style>p{color:red}</style><script>alert(1)</script></head>"
        b"<body><h1>Acme cut reply time</h1><p>From <b>two days</b> to two hours.</p>"
        b"<ul><li>5 reps</li><li>1 month</li></ul></body></html>"
    )
    result = extract(page, "case.html")
    assert result.kind == "html"
    assert result.title == "Case study & results"
    assert result.text == (
        "Acme cut reply time\n\nFrom two days to two hours.\n\n- 5 reps\n- 1 month"
    )
    assert "alert" not in result.text


def test_html_fragment_is_html_by_its_name_only() -> None:
    fragment = b"<p>Short <i>note</i></p>"
    assert sniff(fragment, "note.htm") == "html"
    assert extract(fragment, "note.htm").text == "Short note"
    assert sniff(fragment, "note.txt") == "text"


def test_html_in_windows_1252_with_meta_charset() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body>Caf\u00e9 \u201cnow\u201d'
    result = extract(page.encode("cp1252"))
    assert result.text == "Café “now”"
    assert result.metadata["encoding"] == "cp1252"


# --------------------------------------------------------------------------------------------
# Text and Markdown


def test_latin1_text_is_decoded() -> None:
    data = "Grüße aus Köln, à bientôt et merci beaucoup".encode("latin-1")
    result = extract(data, "note.txt", "text/plain")
    assert result.kind == "text"
    assert result.text == "Grüße aus Köln, à bientôt et merci beaucoup"
    assert result.metadata["encoding"] in {"cp1252", "latin-1"}


def test_windows_1252_smart_quotes_survive() -> None:
    data = "It\u2019s \u201cready\u201d \u2013 ship it".encode("cp1252")
    assert extract(data).text == "It’s “ready” – ship it"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_unicode_text_with_a_bom(codec: str) -> None:
    text = "Hello Zoë, 20 seats at 12 € each.\r\nSee you Friday."
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    result = extract(data, "note.txt")
    assert result.text == "Hello Zoë, 20 seats at 12 € each.\nSee you Friday."


def test_utf16_without_bom_is_recognised() -> None:
    data = "Plain note from the rep, no byte-order mark.".encode("utf-16-le")
    assert extract(data).text == "Plain note from the rep, no byte-order mark."


def test_whitespace_is_normalized_and_paragraphs_kept() -> None:
    data = b"  First   line\twith  tabs \r\n\r\n\r\n\r\nSecond\x07 para\x00graph\x0cThird  "
    with pytest.raises(ExtractionFailed):
        extract(data)  # NUL bytes: not text
    result = extract(data.replace(b"\x00", b""))
    assert result.text == "First line with tabs\n\nSecond paragraph\nThird"


def test_markdown_markup_is_lightly_stripped() -> None:
    data = (
        b"# Pricing notes\n\n"
        b"We offer **three** plans, see [the page](https://example.com/pricing).\n\n"
        b"> Quote from _Dana_: `fast`\n\n"
        b"## Next steps ##\n\n- call on *Friday*\n- keep snake_case_names\n\n---\n\n"
        b"![logo](logo.png) done"
    )
    result = extract(data, "notes.md")
    assert result.kind == "markdown"
    assert result.text == (
        "Pricing notes\n\nWe offer three plans, see the page.\n\nQuote from Dana: fast\n\n"
        "Next steps\n\n- call on Friday\n- keep snake_case_names\n\nlogo done"
    )
    assert sniff(data, None, "text/markdown; charset=utf-8") == "markdown"
    assert sniff(data, "notes.txt") == "text"


def test_text_is_cut_at_max_chars_on_a_word_boundary() -> None:
    data = ("word " * 1000).encode()
    result = extract(data, max_chars=103)
    assert result.truncated
    assert result.text == ("word " * 20).strip()
    assert not extract(data, max_chars=10_000).truncated


def test_pdf_named_file_that_is_text_is_read_as_text() -> None:
    data = b"Just a plain note, saved with the wrong extension."
    assert sniff(data, "deck.pdf", "application/pdf") == "text"
    result = extract(data, "deck.pdf", "application/pdf")
    assert result.kind == "text"
    assert result.text == "Just a plain note, saved with the wrong extension."


# --------------------------------------------------------------------------------------------
# Nothing to read


@pytest.mark.parametrize("data", [b"", b"   \n\t  \r\n", "\ufeff  ".encode("utf-8")])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "empty.txt")
    assert failure.value.reason == "the file is empty"


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 4,
        b"\x00\x01\x02\x03" * 100,
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"\x1f\x8b\x08\x00" + bytes(50),
        b"\x01\x02\x03\x04\x05\x06abc\x0e\x0f\x10\x11" * 20,
    ],
)
def test_binary_junk_is_an_unknown_type(data: bytes) -> None:
    assert sniff(data, "notes.txt", "text/plain") == "unknown"
    with pytest.raises(ExtractionFailed) as failure:
        extract(data, "notes.txt", "text/plain")
    assert "not read" in failure.value.reason or failure.value.reason.startswith("unknown")


def test_html_with_no_text() -> None:
    with pytest.raises(ExtractionFailed) as failure:
        extract(b"<html><body><img src=x><script>x()</script></body></html>")
    assert failure.value.reason == "no text found"


def test_eml_with_an_empty_body() -> None:
    data = b"From: a@b.com\r\nTo: c@d.com\r\nSubject: hi\r\n\r\n"
    with pytest.raises(ExtractionFailed) as failure:
        extract(data)
    assert failure.value.reason == "no text found"


def test_too_large_input_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extraction, "MAX_INPUT_BYTES", 100)
    with pytest.raises(ExtractionFailed) as failure:
        extract(b"x" * 101)
    assert failure.value.reason == "the file is too large (over 50 MB)"


def test_reasons_are_safe_to_show() -> None:
    bad_inputs = [b"%PDF-1.7 junk", b"PK\x03\x04junk", b"\x00" * 10, b"", b"PK\x05\x06" + bytes(18)]
    for data in bad_inputs:
        with pytest.raises(ExtractionFailed) as failure:
            extract(data, "/home/alex/secret/path.pdf")
        reason = failure.value.reason
        assert reason == str(failure.value)
        assert "/" not in reason.replace("and/or", "")
        assert "Error" not in reason
        assert len(reason) < 120


# --------------------------------------------------------------------------------------------
# Hostile bytes

_PREFIXES = st.sampled_from(
    [b"", b"%PDF-1.7\n", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\xff\xfe", b"\xef\xbb\xbf"]
)
_REAL_FILES = [make_pdf(PROSE[:1]), make_docx(["Hi", "Body"]), EML]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=_PREFIXES,
    body=st.binary(max_size=400),
    name=st.sampled_from([None, "x.pdf", "x.docx", "x.md", "x.html", "x.eml", "x.txt"]),
)
def test_arbitrary_bytes_raise_only_extraction_failed(
    prefix: bytes, body: bytes, name: str | None
) -> None:
    data = prefix + body
    kind = sniff(data, name)
    assert kind in {*extraction.KINDS, "unknown"}
    result = outcome(data, name, max_chars=500)
    if isinstance(result, str):
        assert result
    else:
        assert result.kind in extraction.KINDS
        assert result.text
        assert result.text.strip() == result.text
        assert len(result.text) <= 500
        assert "\x00" not in result.text


@settings(max_examples=60, deadline=None)
@given(
    which=st.sampled_from(range(len(_REAL_FILES))),
    position=st.integers(min_value=0, max_value=10_000),
    junk=st.binary(min_size=1, max_size=30),
)
def test_corrupted_real_files_raise_only_extraction_failed(
    which: int, position: int, junk: bytes
) -> None:
    original = _REAL_FILES[which]
    at = position % len(original)
    data = original[:at] + junk + original[at + len(junk) :]
    result = outcome(data)
    assert isinstance(result, str | Extracted)
    if isinstance(result, str):
        assert result


# --------------------------------------------------------------------------------------------
# Structure: page starts and headings, as offsets into the final text


def heading_at(result: Extracted, text: str) -> dict[str, object]:
    """The heading whose text is `text`, after checking it sits where it says."""
    matches = [h for h in result.metadata["headings"] if h["text"] == text]
    assert len(matches) == 1, result.metadata["headings"]
    heading = matches[0]
    offset = heading["offset"]
    assert isinstance(offset, int)
    assert result.text[offset : offset + len(text)] == text
    return heading


def test_pdf_page_starts_point_at_each_page_after_normalization() -> None:
    pages = [
        "Security   one-pager\n\n\n\n   with   loose   spacing   everywhere.",
        "Data residency: all customer data stays in the EU region.",
        "Encryption uses AES-256 at rest.",
    ]
    result = extract(make_pdf(pages))
    starts = result.metadata["page_starts"]
    assert len(starts) == 3
    assert starts[0] == 0
    assert starts[1] == result.text.index("Data residency: all customer data")
    assert starts[2] == result.text.index("Encryption uses AES-256")
    assert starts[1] < len(pages[0])  # the loose spacing of page 1 was squeezed out
    second = result.text[starts[1] : starts[2]].strip()
    assert second == "Data residency: all customer data stays in the EU region."


def test_pdf_empty_page_starts_where_the_next_one_does() -> None:
    result = extract(make_pdf(["Page one text.", "", "Page three text."]))
    assert result.text == "Page one text.\n\nPage three text."
    assert result.metadata["page_starts"] == [0, 16, 16]


def test_pdf_pages_cut_off_by_max_chars_have_no_start() -> None:
    result = extract(make_pdf(PROSE), max_chars=120)
    assert result.truncated
    assert result.metadata["page_starts"] == [0, len(PROSE[0]) + 2]


def test_single_page_pdf_starts_at_zero() -> None:
    assert extract(make_pdf(PROSE[:1])).metadata["page_starts"] == [0]


def make_structured_docx() -> bytes:
    from docx.enum.style import WD_STYLE_TYPE

    document = docx.Document()
    document.add_heading("Security one-pager", level=0)
    document.add_paragraph("How Acme keeps customer data safe.")
    document.add_heading("Hosting", level=1)
    document.add_paragraph("We run on Google Cloud.")
    document.add_heading("Data residency", level=2)
    document.add_paragraph("All customer data stays in the EU region.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Region"
    table.cell(0, 1).paragraphs[0].add_run("europe-west1")
    table.cell(0, 1).paragraphs[0].style = document.styles["Heading 3"]  # in a table: not one
    custom = document.styles.add_style("Acme Section", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Heading 2"]
    document.add_paragraph("Sub-processors", style="Acme Section")
    document.add_paragraph("Listed on our trust page.")
    document.add_paragraph("   ", style="Heading 1")  # an empty heading is no heading
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_headings_come_from_title_and_heading_styles() -> None:
    result = extract(make_structured_docx(), "security.docx")
    assert [(h["text"], h["level"]) for h in result.metadata["headings"]] == [
        ("Security one-pager", 0),
        ("Hosting", 1),
        ("Data residency", 2),
        ("Sub-processors", 2),
    ]
    residency = heading_at(result, "Data residency")
    assert residency["offset"] == result.text.index("Data residency")
    assert result.text[residency["offset"] :].startswith(  # type: ignore[index]
        "Data residency\n\nAll customer data stays in the EU region."
    )
    assert heading_at(result, "Security one-pager")["offset"] == 0
    assert "guessed" not in residency
    assert result.text.endswith("Sub-processors\n\nListed on our trust page.")  # text unchanged


def test_docx_heading_with_a_line_break_keeps_both_lines() -> None:
    document = docx.Document()
    heading = document.add_heading("Pricing", level=1)
    heading.add_run().add_break()
    heading.add_run("for   2025")
    document.add_paragraph("Seats are billed monthly.")
    buffer = io.BytesIO()
    document.save(buffer)
    result = extract(buffer.getvalue())
    assert result.text == "Pricing\nfor 2025\n\nSeats are billed monthly."
    assert result.metadata["headings"] == [{"offset": 0, "level": 1, "text": "Pricing\nfor 2025"}]


def test_docx_without_headings_has_an_empty_list() -> None:
    result = extract(make_docx(["Hello", "Body text here."]))
    assert result.metadata["headings"] == [{"offset": 0, "level": 1, "text": "Hello"}]
    document = docx.Document()
    document.add_paragraph("Only a paragraph.")
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract(buffer.getvalue()).metadata["headings"] == []


def test_docx_heading_cut_off_by_max_chars_is_left_out() -> None:
    data = make_structured_docx()
    full = extract(data).text
    cut = full.index("Sub-processors") + 5
    result = extract(data, max_chars=cut)
    assert result.truncated
    assert [h["text"] for h in result.metadata["headings"]] == [
        "Security one-pager",
        "Hosting",
        "Data residency",
    ]


MARKDOWN = (
    "# Security *one-pager*\n"
    "\n"
    "Intro   paragraph with **bold** text.\n"
    "\n\n\n"
    "## Data residency ##\n"
    "All data stays in the EU.\n"
    "```bash\n"
    "# not a heading: a shell comment\n"
    "```\n"
    "#hashtag is not a heading either\n"
    "### [Sub-processors](https://example.com/sub)\n"
    "Listed on the trust page.\n"
    "> # quoted, not a heading\n"
)


def test_markdown_headings_are_found_with_their_markup_stripped() -> None:
    result = extract(MARKDOWN.encode(), "security.md")
    assert result.text == (
        "Security one-pager\n\nIntro paragraph with bold text.\n\nData residency\n"
        "All data stays in the EU.\n\nnot a heading: a shell comment\n\n"
        "#hashtag is not a heading either\nSub-processors\nListed on the trust page.\n"
        "# quoted, not a heading"
    )
    assert result.metadata["headings"] == [
        {"offset": 0, "level": 1, "text": "Security one-pager"},
        {"offset": 53, "level": 2, "text": "Data residency"},
        {"offset": 160, "level": 3, "text": "Sub-processors"},
    ]
    for heading in result.metadata["headings"]:
        heading_at(result, heading["text"])


def test_markdown_headings_with_crlf_line_ends() -> None:
    data = b"# Pricing\r\n\r\nSeats are billed monthly.\r\n\r\n## Discounts\r\nFor nonprofits."
    result = extract(data, "pricing.md")
    assert result.text == "Pricing\n\nSeats are billed monthly.\n\nDiscounts\nFor nonprofits."
    assert result.metadata["headings"] == [
        {"offset": 0, "level": 1, "text": "Pricing"},
        {"offset": 36, "level": 2, "text": "Discounts"},
    ]


def test_html_headings_are_found_in_the_text() -> None:
    page = (
        b"<html><head><title>Case study</title>"
        b"<script>document.write('<h3>Hidden</h3>')</script></head><body>"
        b"<h1>Acme &amp; Co</h1><p>Acme cut reply time.</p>"
        b"<h2 class='x'>Result<b>s</b></h2><p>From two days to two hours.</p>"
        b"<h3>Notes</h3><p>Pilot first.</p><h3>Notes</h3><p>Then roll out.</p></body></html>"
    )
    result = extract(page, "case.html")
    assert result.text == (
        "Acme & Co\n\nAcme cut reply time.\n\nResults\n\nFrom two days to two hours.\n\n"
        "Notes\n\nPilot first.\n\nNotes\n\nThen roll out."
    )
    assert result.metadata["headings"] == [
        {"offset": 0, "level": 1, "text": "Acme & Co"},
        {"offset": 33, "level": 2, "text": "Results"},
        {"offset": 71, "level": 3, "text": "Notes"},
        {"offset": 92, "level": 3, "text": "Notes"},
    ]


PLAIN = """SECURITY OVERVIEW

We take security seriously, and this note explains how.

Data Residency
All customer data stays in the EU region, in Belgium.
2.1 Encryption at Rest
Every disk is encrypted with AES-256 and keys live in KMS.

Hi Dana
Thanks for the call today, here are the notes I promised.

The plan for next week
We meet on Tuesday to review the numbers together.

Short Lines
Like This

This Line Ends With a Period.
The next paragraph is prose, with enough words.

Best Regards
Alex Rep

Closing Title"""


def test_plain_text_headings_are_guessed_conservatively() -> None:
    result = extract(PLAIN.encode(), "notes.txt")
    assert result.kind == "text"
    assert result.text == PLAIN
    headings = result.metadata["headings"]
    assert [(h["text"], h["level"]) for h in headings] == [
        ("SECURITY OVERVIEW", 1),
        ("Data Residency", 2),
        ("2.1 Encryption at Rest", 2),
    ]
    assert all(h["guessed"] is True for h in headings)
    for heading in headings:
        heading_at(result, heading["text"])


def test_plain_text_heading_after_an_unfinished_line_is_not_guessed() -> None:
    text = "Call notes, in no order\nPricing Update\nWe will hold the current price until June."
    assert extract(text.encode()).metadata["headings"] == []


def test_mail_has_no_structure_keys() -> None:
    assert set(extract(EML).metadata) == {"from", "date"}


_AWKWARD_PIECES = [
    *["word", "Word", " ", "  ", "\t", "\n", "\n\n", "\r", "\r\n", "\u2028", "\x0c", "\u200b"],
    *["\xa0", "e\u0301", "\u00e9", "*", "> ", "`", "\ufeff", "."],
]
_AWKWARD = st.sampled_from(_AWKWARD_PIECES)


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(
        st.tuples(st.lists(_AWKWARD, max_size=12).map("".join), st.integers(0, 6)),
        min_size=1,
        max_size=8,
    )
)
def test_markdown_heading_offsets_survive_any_normalization(
    chunks: list[tuple[str, int]],
) -> None:
    """Headings land exactly, and the text is what strip + normalize alone would give."""
    lines: list[str] = []
    expected: list[tuple[str, int]] = []
    for index, (body, level) in enumerate(chunks):
        if level:
            lines.append("#" * level + f" Heading  {index}")
            expected.append((f"Heading {index}", level))
        lines.append(body)
    source = "\n".join(lines) + "\nend"
    result = extract(source.encode(), "doc.md")
    decoded, _ = extraction.decode_text(source.encode())
    assert result.text == extraction.normalize_text(extraction.strip_markdown(decoded))
    found = [(h["text"], h["level"]) for h in result.metadata["headings"]]
    assert found == expected
    for heading in result.metadata["headings"]:
        offset = heading["offset"]
        assert result.text[offset : offset + len(heading["text"])] == heading["text"]
        assert offset == 0 or result.text[offset - 1] == "\n"


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(st.sampled_from([*_AWKWARD_PIECES, "\x85", "\x1e", "\ud800"]), max_size=40).map(
        "".join
    )
)
def test_line_map_agrees_with_normalize_text(text: str) -> None:
    lines = extraction._LineMap.build(text, extraction.normalize_text(text))
    assert lines is not None
