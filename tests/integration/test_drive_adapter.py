"""Our Drive adapter against the Drive fake, through google-api-python-client and google-auth
(credentials refreshed against the OAuth fake, endpoint from the stack's settings)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from docx import Document
from fpdf import FPDF
from pypdf import PdfReader

from devstack.fakes import FakeDrive, FakeGoogleOAuth
from devstack.fakes.drive import DOCUMENT, FOLDER, FORM, PRESENTATION, SHORTCUT, SPREADSHEET
from shared.adapters.drive import (
    DRIVE_READONLY_SCOPE,
    DriveFile,
    DriveFiles,
    FileTooLarge,
    Unsupported,
)
from shared.adapters.google_auth import GMAIL_SCOPES, user_credentials
from shared.config import get_settings
from shared.errors import (
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)

pytestmark = pytest.mark.stack

REP = "maya@brightline.example"
OTHER = "sam@otherco.example"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _fakes(local: Any) -> tuple[FakeDrive, FakeGoogleOAuth]:
    drive, oauth = local.fakes["drive"][0], local.fakes["oauth"][0]
    assert isinstance(drive, FakeDrive)
    assert isinstance(oauth, FakeGoogleOAuth)
    return drive, oauth


def _files(
    local: Any,
    sleeps: list[float] | None = None,
    *,
    scopes: tuple[str, ...] = (DRIVE_READONLY_SCOPE,),
    max_bytes: int = 20 * 1024 * 1024,
    attempts: int = 5,
) -> DriveFiles:
    _, oauth = _fakes(local)
    refresh = oauth.accounts.issue_refresh_token(REP, scopes, client_id=oauth.client_id)
    settings = get_settings()
    credentials = user_credentials(
        refresh,
        client_id=oauth.client_id or "local-client",
        client_secret=oauth.client_secret or "local-secret",
        token_uri=settings.google_oauth_token_uri,
        scopes=scopes,
    )
    return DriveFiles(
        credentials,
        endpoint=settings.drive_api_endpoint,
        sleep=(sleeps if sleeps is not None else []).append,
        max_bytes=max_bytes,
        attempts=attempts,
    )


def _pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text=text)
    return bytes(pdf.output())


def _docx(text: str) -> bytes:
    document = Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _downloads(drive: FakeDrive, file_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in drive.requests_to(f"/drive/v3/files/{file_id}")
        if r["query"].get("alt") == "media" or r["path"].endswith("/export")
    ]


def test_a_google_doc_comes_back_as_plain_text(local):
    drive, _ = _fakes(local)
    doc = drive.add_file(REP, "Follow-up template", DOCUMENT, "Hi Dana,\nGreat to meet you.\n")

    file, data, mime = _files(local).content(doc)

    assert file == DriveFile(doc, "Follow-up template", DOCUMENT, file.size)
    assert mime == "text/plain"
    assert data.decode("utf-8") == "Hi Dana,\nGreat to meet you.\n"  # no BOM, no CRLF


def test_slides_are_exported_as_text_too(local):
    drive, _ = _fakes(local)
    deck = drive.add_file(REP, "Pitch deck", PRESENTATION, "Why Brightline\nThree reasons")

    _, data, mime = _files(local).content(deck)

    assert (data, mime) == (b"Why Brightline\nThree reasons", "text/plain")


def test_a_pdf_is_downloaded_intact(local):
    drive, _ = _fakes(local)
    pdf = _pdf("We help small teams answer every lead the same day.")
    file_id = drive.add_file(REP, "case-study.pdf", "application/pdf", pdf)

    file, data, mime = _files(local).content(file_id)

    assert (file.name, file.size, mime) == ("case-study.pdf", len(pdf), "application/pdf")
    assert data == pdf
    assert "answer every lead" in PdfReader(io.BytesIO(data)).pages[0].extract_text()


def test_a_docx_is_downloaded_as_its_bytes(local):
    drive, _ = _fakes(local)
    docx = _docx("Thanks for your time today.")
    file_id = drive.add_file(REP, "reply.docx", DOCX, docx)

    _, data, mime = _files(local).content(file_id)

    assert (data, mime) == (docx, DOCX)
    assert Document(io.BytesIO(data)).paragraphs[0].text == "Thanks for your time today."


def test_markdown_and_unknown_types_are_downloaded_for_the_caller_to_sniff(local):
    drive, _ = _fakes(local)
    notes = drive.add_file(REP, "notes.md", "text/markdown", "# Notes\nShort and warm.")
    blob = drive.add_file(REP, "export", "application/octet-stream", b"%PDF-1.4 not really")
    files = _files(local)

    assert files.content(notes)[1:] == (b"# Notes\nShort and warm.", "text/markdown")
    assert files.content(blob)[1:] == (b"%PDF-1.4 not really", "application/octet-stream")


@pytest.mark.parametrize(
    ("mime_type", "words"),
    [
        (SPREADSHEET, "Google Sheets are not used"),
        (FORM, "Google Forms are not used"),
        (FOLDER, "folder"),
        (SHORTCUT, "shortcut"),
        ("application/vnd.google-apps.site", "Google site files cannot"),
    ],
)
def test_google_files_that_hold_no_writing_are_refused_with_a_reason(local, mime_type, words):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "Pipeline", mime_type, "a,b,c")

    with pytest.raises(Unsupported) as raised:
        _files(local).content(file_id)

    assert words in raised.value.reason
    assert _downloads(drive, file_id) == []


def test_a_file_over_the_limit_is_refused_without_downloading_it(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "recording.pdf", "application/pdf", b"%PDF" + b"x" * 4096)

    with pytest.raises(FileTooLarge) as raised:
        _files(local, max_bytes=1024).content(file_id)

    assert "recording.pdf" in raised.value.reason
    assert raised.value.size == 4100
    assert _downloads(drive, file_id) == []


def test_a_file_larger_than_its_metadata_said_is_cut_off_at_the_limit(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "grew.txt", "text/plain", b"y" * 50_000, reported_size=100)

    with pytest.raises(FileTooLarge):
        _files(local, max_bytes=1024).content(file_id)

    downloads = _downloads(drive, file_id)
    assert [(d["headers"].get("Range"), d["status"]) for d in downloads] == [("bytes=0-1024", 206)]


def test_a_doc_over_drives_export_limit_is_refused_with_a_reason(local):
    drive, _ = _fakes(local)
    doc = drive.add_file(REP, "Everything we ever wrote", DOCUMENT, "words " * 100)
    drive.export_limit_bytes = 200
    sleeps: list[float] = []

    with pytest.raises(FileTooLarge) as raised:
        _files(local, sleeps).content(doc)

    assert "too large" in raised.value.reason
    assert sleeps == []


def test_an_unknown_id_is_not_found(local):
    with pytest.raises(NotFound):
        _files(local).content("1nothingHereAtAllxxxxxxxxxxxxxxxx")


def test_another_accounts_private_file_is_not_found_as_drive_answers(local):
    drive, _ = _fakes(local)
    private = drive.add_file(OTHER, "their-plan.pdf", "application/pdf", _pdf("private"))
    public = drive.add_file(OTHER, "public.txt", "text/plain", "shared by link", shared=True)
    files = _files(local)

    with pytest.raises(NotFound):
        files.content(private)
    assert files.content(public)[1] == b"shared by link"


def test_a_429_is_retried_after_the_time_drive_asked_for(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    drive.inject_fault(429, count=2, retry_after=3, path_prefix=f"/drive/v3/files/{file_id}")
    sleeps: list[float] = []

    file, data, _ = _files(local, sleeps).content(file_id)

    assert (file.name, data) == ("notes.txt", b"Hello")
    assert sleeps == [3.0, 3.0]


def test_a_failed_download_and_export_are_retried(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    doc = drive.add_file(REP, "Doc", DOCUMENT, "Doc text")
    drive.fail_downloads(503, count=2, retry_after=1)
    drive.inject_fault(500, path_prefix=f"/drive/v3/files/{doc}/export")
    sleeps: list[float] = []
    files = _files(local, sleeps)

    assert files.content(file_id)[1] == b"Hello"
    assert files.content(doc)[1] == b"Doc text"
    assert sleeps[:2] == [1.0, 1.0]
    assert len(sleeps) == 3
    assert len(_downloads(drive, file_id)) == 3


def test_5xx_that_does_not_pass_becomes_a_transient_error(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    drive.inject_fault(503, count=10, path_prefix=f"/drive/v3/files/{file_id}")
    sleeps: list[float] = []

    with pytest.raises(TransientError):
        _files(local, sleeps, attempts=3).content(file_id)

    assert len(sleeps) == 2


def test_a_revoked_grant_is_refused_for_good(local):
    drive, oauth = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    files = _files(local)
    assert files.metadata(file_id).name == "notes.txt"

    oauth.accounts.revoke_all(REP)

    with pytest.raises(AuthorizationRefused):
        files.content(file_id)


def test_a_grant_without_drive_consent_is_a_permanent_refusal(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    sleeps: list[float] = []

    with pytest.raises(PermanentExternalError) as raised:
        _files(local, sleeps, scopes=GMAIL_SCOPES).content(file_id)

    assert not isinstance(raised.value, AuthorizationRefused)
    assert raised.value.detail == "insufficientPermissions"
    assert sleeps == []
