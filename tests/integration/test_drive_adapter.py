"""Our Drive adapter against the Drive fake, through google-api-python-client and google-auth
(credentials refreshed against the OAuth fake, endpoint from the stack's settings)."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from docx import Document
from fpdf import FPDF
from pypdf import PdfReader

from devstack.fakes import FakeDrive, FakeGoogleOAuth
from devstack.fakes.drive import DOCUMENT, FOLDER, FORM, PRESENTATION, SHORTCUT, SPREADSHEET
from shared.adapters.drive import (
    DRIVE_READONLY_SCOPE,
    DriveChange,
    DriveFiles,
    FileTooLarge,
    InvalidPageToken,
    Unsupported,
)
from shared.adapters.google_auth import GMAIL_SCOPES
from shared.config import get_settings
from shared.errors import (
    AuthorizationRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)
from tests.google_support import fake_credentials

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
    page_size: int = 1000,
    email: str = REP,
) -> DriveFiles:
    settings = get_settings()
    return DriveFiles(
        fake_credentials(local, email, scopes),
        endpoint=settings.drive_api_endpoint,
        sleep=(sleeps if sleeps is not None else []).append,
        max_bytes=max_bytes,
        attempts=attempts,
        page_size=page_size,
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

    assert (file.id, file.name, file.mime_type) == (doc, "Follow-up template", DOCUMENT)
    assert file.web_view_link  # the link a draft cites
    assert file.owner == REP
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


# ---------------------------------------------------------------------- folders


def _list_requests(drive: FakeDrive) -> list[dict[str, Any]]:
    return [r for r in drive.requests_to("/drive/v3/files") if r["path"] == "/drive/v3/files"]


def test_a_folder_is_listed_with_its_subfolders_in_pages_without_trash(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Sales assets")
    sub = drive.add_folder(REP, "Case studies", parents=[folder])
    deeper = drive.add_folder(REP, "2026", parents=[sub])
    top = [
        drive.add_file(REP, f"deck-{n}.pdf", "application/pdf", f"%PDF {n}", parents=[folder])
        for n in range(4)
    ]
    binned = drive.add_file(REP, "old.pdf", "application/pdf", b"%PDF", parents=[folder])
    drive.trash(binned)
    story = drive.add_file(REP, "Story", DOCUMENT, "We won.", parents=[sub])
    latest = drive.add_file(REP, "latest.txt", "text/plain", "new", parents=[deeper])
    drive.add_file(REP, "not-in-the-folder.pdf", "application/pdf", b"%PDF")
    drive.clear_requests()
    files = _files(local, page_size=2)

    everything = files.list_folder(folder)

    assert sorted(f.id for f in everything) == sorted([*top, story, latest])
    # 4 files + 1 folder at the top in pages of 2 -> 3 pages; then one page per subfolder.
    assert len(_list_requests(drive)) == 3 + 1 + 1
    pdf = next(f for f in everything if f.id == top[0])
    assert pdf.name == "deck-0.pdf"
    assert (pdf.owner, pdf.parents, pdf.version, pdf.trashed) == (REP, (folder,), "1", False)
    assert pdf.md5 == hashlib.md5(b"%PDF 0").hexdigest()
    assert pdf.size == 6
    assert pdf.web_view_link == f"https://drive.google.com/file/d/{pdf.id}/view?usp=drivesdk"
    assert isinstance(pdf.modified_time, datetime)
    assert pdf.modified_time.tzinfo is not None
    doc = next(f for f in everything if f.id == story)
    assert (doc.md5, doc.mime_type, doc.parents) == (None, DOCUMENT, (sub,))

    shallow = files.list_folder(folder, recursive=False)
    assert sorted(f.id for f in shallow) == sorted(top)
    assert len(files.list_folder(folder, max_files=3)) == 3


def test_a_shared_folder_of_another_account_is_listed_and_a_private_one_is_not_found(local):
    drive, _ = _fakes(local)
    team = drive.add_folder(OTHER, "Team assets", shared_with=[REP])
    brief = drive.add_file(OTHER, "brief.txt", "text/plain", "brief", parents=[team])
    private = drive.add_folder(OTHER, "Private")
    drive.add_file(OTHER, "secret.txt", "text/plain", "no", parents=[private])
    not_a_folder = drive.add_file(REP, "notes.txt", "text/plain", "hi")
    files = _files(local)

    listed = files.list_folder(team)
    assert [(f.id, f.owner) for f in listed] == [(brief, OTHER)]
    with pytest.raises(NotFound):
        files.list_folder(private)
    with pytest.raises(Unsupported, match="not a Drive folder"):
        files.list_folder(not_a_folder)


def test_listing_a_folder_retries_a_rate_limit(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Assets")
    inside = drive.add_file(REP, "a.txt", "text/plain", "a", parents=[folder])
    drive.inject_fault(429, retry_after=2, path_prefix="/drive/v3/files", method="GET")
    sleeps: list[float] = []

    assert [f.id for f in _files(local, sleeps).list_folder(folder)] == [inside]
    assert sleeps == [2.0]


# ---------------------------------------------------------------------- changes


def _by_id(changes: list[DriveChange]) -> dict[str, DriveChange]:
    by_id = {c.file_id: c for c in changes}
    assert len(by_id) == len(changes), "a file was listed twice"
    return by_id


def test_changes_since_a_token_show_each_changed_file_once(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Assets")
    archive = drive.add_folder(REP, "Archive")
    untouched = drive.add_file(REP, "same.pdf", "application/pdf", b"%PDF", parents=[folder])
    edited = drive.add_file(REP, "edited.txt", "text/plain", "v1", parents=[folder])
    renamed = drive.add_file(REP, "before.txt", "text/plain", "r", parents=[folder])
    binned = drive.add_file(REP, "binned.txt", "text/plain", "t", parents=[folder])
    deleted = drive.add_file(REP, "deleted.txt", "text/plain", "d", parents=[folder])
    moved = drive.add_file(REP, "moved.txt", "text/plain", "m", parents=[folder])
    files = _files(local)
    token = files.start_page_token()

    created = drive.add_file(REP, "new.txt", "text/plain", "n", parents=[folder])
    drive.update_content(edited, "v2")
    drive.update_content(edited, "v3")
    drive.rename(renamed, "after.txt")
    drive.trash(binned)
    drive.delete(deleted)
    drive.move(moved, [archive])

    changes, next_token = files.changes(token)

    by_id = _by_id(changes)
    assert set(by_id) == {created, edited, renamed, binned, deleted, moved}
    assert untouched not in by_id
    assert by_id[created].file is not None
    assert (by_id[created].removed, by_id[created].file.parents) == (False, (folder,))
    edited_file = by_id[edited].file
    assert edited_file is not None
    assert edited_file.version == "3"
    assert edited_file.md5 == hashlib.md5(b"v3").hexdigest()
    assert by_id[renamed].file is not None
    assert by_id[renamed].file.name == "after.txt"
    assert by_id[binned].file is not None
    assert (by_id[binned].removed, by_id[binned].file.trashed) == (False, True)
    assert by_id[deleted] == DriveChange(deleted, removed=True, file=None)
    assert by_id[moved].file is not None
    assert by_id[moved].file.parents == (archive,)  # still there: the caller decides
    assert next_token == drive.start_page_token

    # From the token handed back: only what changed since.
    assert files.changes(next_token) == ([], next_token)
    drive.update_content(untouched, b"%PDF new")
    later, last_token = files.changes(next_token)
    assert [(c.file_id, c.file.version if c.file else None) for c in later] == [(untouched, "2")]
    assert int(last_token) > int(next_token)


def test_an_unshared_file_is_removed_for_the_account_that_lost_it(local):
    drive, _ = _fakes(local)
    team = drive.add_folder(OTHER, "Team assets", shared_with=[REP])
    inside = drive.add_file(OTHER, "brief.txt", "text/plain", "brief", parents=[team])
    direct = drive.add_file(OTHER, "direct.txt", "text/plain", "direct", shared_with=[REP])
    rep = _files(local)
    owner = _files(local, email=OTHER)
    token = rep.start_page_token()

    drive.unshare(team)
    drive.unshare(direct, REP)

    for_rep = _by_id(rep.changes(token)[0])
    assert {i: (c.removed, c.file) for i, c in for_rep.items()} == {
        team: (True, None),
        inside: (True, None),
        direct: (True, None),
    }
    for_owner = _by_id(owner.changes(token)[0])
    assert set(for_owner) == {team, direct}  # the owner still sees both, unchanged inside
    assert all(not c.removed for c in for_owner.values())


def test_changes_over_many_pages_stop_at_max_pages_and_resume(local):
    drive, _ = _fakes(local)
    files = _files(local, page_size=2)
    token = files.start_page_token()
    made = [drive.add_file(REP, f"f{n}.txt", "text/plain", str(n)) for n in range(5)]
    drive.clear_requests()

    first, resume = files.changes(token, max_pages=2)

    assert [c.file_id for c in first] == made[:4]
    assert len(drive.requests_to("/drive/v3/changes")) == 2
    assert int(resume) > int(token)
    assert resume != drive.start_page_token
    rest, final = files.changes(resume)
    assert [c.file_id for c in rest] == made[4:]
    assert final == drive.start_page_token
    whole, same_final = files.changes(token)
    assert ([c.file_id for c in whole], same_final) == (made, final)
    assert len(drive.requests_to("/drive/v3/changes")) == 2 + 1 + 3


def test_a_file_changed_between_pages_is_returned_once_in_its_latest_state(local):
    drive, _ = _fakes(local)
    files = _files(local, page_size=1)
    token = files.start_page_token()
    first = drive.add_file(REP, "first.txt", "text/plain", "1")
    second = drive.add_file(REP, "second.txt", "text/plain", "2")
    drive.clear_requests()
    # The first page is computed, then its answer is held back while `first` is renamed, so
    # Drive lists `first` again on a later page, in its new state.
    drive.inject_fault(0, delay=0.5, path_prefix="/drive/v3/changes")

    def rename_once_the_first_page_is_answered() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any(r["status"] for r in drive.requests_to("/drive/v3/changes")):
                drive.rename(first, "first, renamed.txt")
                return
            time.sleep(0.01)

    renamer = threading.Thread(target=rename_once_the_first_page_is_answered)
    renamer.start()
    changes, _ = files.changes(token)
    renamer.join()

    pages = drive.requests_to("/drive/v3/changes")
    assert len(pages) == 3  # first, second, first again
    assert [c.file_id for c in changes] == [second, first]
    assert changes[-1].file is not None
    assert (changes[-1].file.name, changes[-1].file.version) == ("first, renamed.txt", "2")


def test_a_refused_changes_token_is_its_own_permanent_error(local):
    drive, _ = _fakes(local)
    sleeps: list[float] = []
    files = _files(local, sleeps)

    with pytest.raises(InvalidPageToken) as raised:
        files.changes("not-a-token")

    assert isinstance(raised.value, PermanentExternalError)
    assert raised.value.detail == "invalid"
    assert sleeps == []
    with pytest.raises(InvalidPageToken):
        files.changes(str(int(drive.start_page_token) + 10))


def test_the_changes_feed_is_retried_and_then_fails_transiently(local):
    drive, _ = _fakes(local)
    files = _files(local, attempts=3)
    token = files.start_page_token()
    made = drive.add_file(REP, "a.txt", "text/plain", "a")
    drive.inject_fault(503, count=2, retry_after=1, path_prefix="/drive/v3/changes")

    assert [c.file_id for c in files.changes(token)[0]] == [made]

    drive.inject_fault(500, count=5, path_prefix="/drive/v3/changes")
    with pytest.raises(TransientError):
        files.changes(token)
