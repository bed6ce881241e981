"""The Drive fake, driven by google-api-python-client with google-auth credentials refreshed
against the OAuth fake (all from the session stack, sharing one accounts registry)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import requests
from google.auth.exceptions import RefreshError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseDownload

from devstack.fakes import FakeDrive, FakeGoogleOAuth
from devstack.fakes.drive import DOCUMENT, FOLDER, SPREADSHEET, parse_fields
from shared.config import get_settings
from tests.google_support import fake_credentials

pytestmark = pytest.mark.stack

REP = "maya@brightline.example"
OTHER = "sam@otherco.example"
READONLY = "https://www.googleapis.com/auth/drive.readonly"
METADATA_ONLY = "https://www.googleapis.com/auth/drive.metadata.readonly"
APP_FILES = "https://www.googleapis.com/auth/drive.file"
GMAIL = "https://www.googleapis.com/auth/gmail.modify"


def _fakes(local: Any) -> tuple[FakeDrive, FakeGoogleOAuth]:
    drive, oauth = local.fakes["drive"][0], local.fakes["oauth"][0]
    assert isinstance(drive, FakeDrive)
    assert isinstance(oauth, FakeGoogleOAuth)
    return drive, oauth


def _credentials(local: Any, email: str, scopes: tuple[str, ...]) -> Any:
    return fake_credentials(local, email, scopes)


def _service(local: Any, email: str = REP, scopes: tuple[str, ...] = (READONLY,)) -> Any:
    http = google_auth_httplib2.AuthorizedHttp(
        _credentials(local, email, scopes), http=httplib2.Http(timeout=10)
    )
    return build(
        "drive",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": get_settings().drive_api_endpoint},
    )


def _error(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as raised:
        call()
    return int(raised.value.resp.status), json.loads(raised.value.content)["error"]


def test_the_stack_points_drive_settings_at_the_fake(local):
    endpoint = get_settings().drive_api_endpoint
    assert endpoint == f"{local.fake_url('drive')}/drive/v3/"


def test_get_returns_only_default_fields_unless_asked(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello there")
    files = _service(local).files()

    assert files.get(fileId=file_id).execute() == {
        "kind": "drive#file",
        "id": file_id,
        "name": "notes.txt",
        "mimeType": "text/plain",
    }
    full = files.get(
        fileId=file_id, fields="id,size,modifiedTime,owners(emailAddress,me)"
    ).execute()
    assert full["size"] == "11"  # int64 as a string, as Drive sends it
    assert full["owners"] == [{"emailAddress": REP, "me": True}]
    assert full["modifiedTime"].endswith("Z")
    assert set(full) == {"id", "size", "modifiedTime", "owners"}


def test_a_private_file_of_another_account_is_not_found_like_an_unknown_id(local):
    drive, _ = _fakes(local)
    private = drive.add_file(OTHER, "plan.txt", "text/plain", "secret")
    files = _service(local).files()

    status, error = _error(lambda: files.get(fileId=private).execute())
    assert status == 404
    assert error["message"] == f"File not found: {private}."
    assert error["errors"][0]["reason"] == "notFound"
    status, _ = _error(lambda: files.get(fileId="1doesNotExistAtAllxxxxxxxxxxxxxxx").execute())
    assert status == 404


def test_a_file_shared_with_anyone_or_with_the_account_can_be_read(local):
    drive, _ = _fakes(local)
    public = drive.add_file(OTHER, "public.txt", "text/plain", "for everyone", shared=True)
    direct = drive.add_file(OTHER, "direct.txt", "text/plain", "for maya", shared_with=[REP])
    files = _service(local).files()

    assert files.get_media(fileId=public).execute() == b"for everyone"
    assert files.get_media(fileId=direct).execute() == b"for maya"
    owner = files.get(fileId=direct, fields="owners(emailAddress,me)").execute()["owners"]
    assert owner == [{"emailAddress": OTHER, "me": False}]


def test_a_google_doc_exports_as_text_with_googles_bom_and_crlf(local):
    drive, _ = _fakes(local)
    doc = drive.add_file(REP, "Pitch", DOCUMENT, "Hi Dana,\nThanks for the call.")
    files = _service(local).files()

    exported = files.export_media(fileId=doc, mimeType="text/plain").execute()
    assert exported == "\ufeffHi Dana,\r\nThanks for the call.".encode()
    status, error = _error(lambda: files.get_media(fileId=doc).execute())
    assert (status, error["errors"][0]["reason"]) == (403, "fileNotDownloadable")
    status, error = _error(lambda: files.export_media(fileId=doc, mimeType="image/png").execute())
    assert status == 400


def test_export_refuses_uploaded_files_and_docs_over_the_export_limit(local):
    drive, _ = _fakes(local)
    pdf = drive.add_file(REP, "deck.pdf", "application/pdf", b"%PDF-1.4 ...")
    doc = drive.add_file(REP, "Long", DOCUMENT, "x" * 500)
    drive.export_limit_bytes = 100
    files = _service(local).files()

    status, error = _error(lambda: files.export_media(fileId=pdf, mimeType="text/plain").execute())
    assert (status, error["errors"][0]["reason"]) == (403, "fileNotExportable")
    status, error = _error(lambda: files.export_media(fileId=doc, mimeType="text/plain").execute())
    assert (status, error["errors"][0]["reason"]) == (403, "exportSizeLimitExceeded")


def test_media_download_honours_range_in_chunks(local):
    drive, _ = _fakes(local)
    content = bytes(range(256)) * 4
    file_id = drive.add_file(REP, "blob.bin", "application/octet-stream", content)
    empty = drive.add_file(REP, "empty.txt", "text/plain", b"")
    files = _service(local).files()

    buffer = io.BytesIO()
    downloader = MediaIoBaseDownload(buffer, files.get_media(fileId=file_id), chunksize=300)
    done = False
    while not done:
        _, done = downloader.next_chunk()
    assert buffer.getvalue() == content
    ranges = [r["headers"].get("Range") for r in drive.requests_to(f"/drive/v3/files/{file_id}")]
    assert ranges == ["bytes=0-299", "bytes=300-599", "bytes=600-899", "bytes=900-1199"]

    buffer = io.BytesIO()
    _, done = MediaIoBaseDownload(buffer, files.get_media(fileId=empty)).next_chunk()
    assert done
    assert buffer.getvalue() == b""


def test_list_searches_the_accounts_own_and_shared_files(local):
    drive, _ = _fakes(local)
    mine = drive.add_file(REP, "Q3 pitch", DOCUMENT, "text")
    drive.add_file(REP, "numbers", SPREADSHEET, "a,b")
    shared = drive.add_file(OTHER, "Q3 brief", DOCUMENT, "text", shared_with=[REP])
    drive.add_file(OTHER, "Q3 public", DOCUMENT, "text", shared=True)  # link only: not listed
    drive.add_file(OTHER, "Q3 private", DOCUMENT, "text")
    files = _service(local).files()

    found = files.list(
        q=f"name contains 'Q3' and mimeType = '{DOCUMENT}' and trashed = false",
        fields="files(id,name),nextPageToken",
    ).execute()
    assert {f["id"] for f in found["files"]} == {mine, shared}
    owned = files.list(q="'me' in owners", fields="files(name)").execute()
    assert sorted(f["name"] for f in owned["files"]) == ["Q3 pitch", "numbers"]

    first = files.list(pageSize=2).execute()
    second = files.list(pageSize=2, pageToken=first["nextPageToken"]).execute()
    assert len(first["files"]) == 2
    assert len(second["files"]) == 1
    assert "nextPageToken" not in second
    status, _ = _error(lambda: files.list(q="name ~ 'x'").execute())
    assert status == 400


def test_scopes_limit_what_a_token_may_read(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    picked = drive.add_file(REP, "picked.txt", "text/plain", "Picked")
    drive.grant_app_access(picked, REP)

    status, error = _error(
        lambda: _service(local, scopes=(GMAIL,)).files().get(fileId=file_id).execute()
    )
    assert (status, error["errors"][0]["reason"]) == (403, "insufficientPermissions")

    metadata_only = _service(local, scopes=(METADATA_ONLY,)).files()
    assert metadata_only.get(fileId=file_id).execute()["name"] == "notes.txt"
    status, _ = _error(lambda: metadata_only.get_media(fileId=file_id).execute())
    assert status == 403

    app_only = _service(local, scopes=(APP_FILES,)).files()
    assert app_only.get_media(fileId=picked).execute() == b"Picked"
    status, _ = _error(lambda: app_only.get(fileId=file_id).execute())
    assert status == 404


def test_a_revoked_grant_stops_working(local):
    drive, oauth = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    service = _service(local)
    assert service.files().get(fileId=file_id).execute()["id"] == file_id

    oauth.accounts.revoke_all(REP)
    with pytest.raises(RefreshError):
        service.files().get(fileId=file_id).execute()


def test_injected_faults_answer_in_googles_shape(local):
    drive, _ = _fakes(local)
    file_id = drive.add_file(REP, "notes.txt", "text/plain", "Hello")
    files = _service(local).files()
    drive.inject_fault(429, retry_after=7, path_prefix="/drive/v3/files/")
    with pytest.raises(HttpError) as raised:
        files.get(fileId=file_id).execute()
    assert raised.value.resp.status == 429
    assert raised.value.resp["retry-after"] == "7"

    drive.fail_downloads(503)
    assert files.get(fileId=file_id).execute()["id"] == file_id  # metadata is not affected
    status, _ = _error(lambda: files.get_media(fileId=file_id).execute())
    assert status == 503
    assert files.get_media(fileId=file_id).execute() == b"Hello"


def test_seed_and_state_over_http(local):
    base = local.fake_url("drive")
    seeded = requests.post(
        f"{base}/_fake/seed",
        json={"files": [{"owner": REP, "name": "Seeded", "mime_type": DOCUMENT, "id": "1seed"}]},
        timeout=5,
    )
    assert seeded.status_code == 200
    state = requests.get(f"{base}/_fake/state", timeout=5).json()
    assert [(f["id"], f["owner"], f["name"]) for f in state["files"]] == [("1seed", REP, "Seeded")]
    assert _service(local).files().get(fileId="1seed").execute()["name"] == "Seeded"


def test_fields_syntax_nests():
    assert parse_fields("files(id,owners(emailAddress)),nextPageToken,a/b") == {
        "files": {"id": None, "owners": {"emailAddress": None}},
        "nextPageToken": None,
        "a": {"b": None},
    }
    with pytest.raises(ValueError, match="unbalanced"):
        parse_fields("files(id")


# ---------------------------------------------------------------------- folders


def _list_all(files: Any, q: str, page_size: int) -> list[dict[str, Any]]:
    """Every page of a files.list, asserting the paging on the way."""
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        page = files.list(
            q=q,
            pageSize=page_size,
            pageToken=token,
            fields="nextPageToken,files(id,name,parents,trashed)",
            supportsAllDrives=True,
            includeItemsFromAllDrives=True,
        ).execute()
        pages.append(page)
        token = page.get("nextPageToken")
        if token is None:
            return pages


def test_a_folder_lists_its_children_in_pages_without_the_trashed_ones(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Sales assets")
    sub = drive.add_folder(REP, "Case studies", parents=[folder])
    kept = [
        drive.add_file(REP, f"deck-{n}.pdf", "application/pdf", b"%PDF", parents=[folder])
        for n in range(4)
    ]
    binned = drive.add_file(REP, "old.pdf", "application/pdf", b"%PDF", parents=[folder])
    drive.trash(binned)
    drive.add_file(REP, "story.pdf", "application/pdf", b"%PDF", parents=[sub])
    drive.add_file(REP, "elsewhere.pdf", "application/pdf", b"%PDF")
    files = _service(local).files()

    pages = _list_all(files, f"'{folder}' in parents and trashed = false", page_size=2)

    assert [len(p["files"]) for p in pages] == [2, 2, 1]
    listed = [f["id"] for p in pages for f in p["files"]]
    assert sorted(listed) == sorted([*kept, sub])
    assert all(
        f["parents"] == [folder] and f["trashed"] is False for p in pages for f in p["files"]
    )
    only_files = files.list(
        q=f"'{folder}' in parents and mimeType != '{FOLDER}' and trashed = false",
        fields="files(id)",
    ).execute()
    assert sorted(f["id"] for f in only_files["files"]) == sorted(kept)
    with_trash = files.list(q=f"'{folder}' in parents", fields="files(id)").execute()
    assert binned in {f["id"] for f in with_trash["files"]}
    roots = files.list(q="'root' in parents", fields="files(name)").execute()
    assert sorted(f["name"] for f in roots["files"]) == ["Sales assets", "elsewhere.pdf"]


def test_a_file_carries_version_checksum_links_owner_and_parents(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Assets")
    pdf = drive.add_file(REP, "deck.pdf", "application/pdf", b"%PDF-1.4", parents=[folder])
    doc = drive.add_file(REP, "Pitch", DOCUMENT, "Hello", parents=[folder])
    files = _service(local).files()
    fields = "id,version,md5Checksum,modifiedTime,webViewLink,owners(emailAddress,displayName),"
    fields += "parents,trashed,mimeType"

    got = files.get(fileId=pdf, fields=fields).execute()
    assert got["version"] == "1"
    assert got["md5Checksum"] == hashlib.md5(b"%PDF-1.4").hexdigest()
    assert got["webViewLink"] == f"https://drive.google.com/file/d/{pdf}/view?usp=drivesdk"
    assert got["owners"][0]["emailAddress"] == REP
    assert got["owners"][0]["displayName"]
    assert (got["parents"], got["trashed"]) == ([folder], False)
    assert "md5Checksum" not in files.get(fileId=doc, fields=fields).execute()
    got_folder = files.get(fileId=folder, fields=fields).execute()
    assert got_folder["mimeType"] == FOLDER
    assert got_folder["webViewLink"] == f"https://drive.google.com/drive/folders/{folder}"

    drive.update_content(pdf, b"%PDF-1.7")
    drive.rename(pdf, "deck-v2.pdf")
    again = files.get(fileId=pdf, fields=fields + ",name").execute()
    assert (again["version"], again["name"]) == ("3", "deck-v2.pdf")
    assert again["md5Checksum"] == hashlib.md5(b"%PDF-1.7").hexdigest()
    assert again["modifiedTime"] >= got["modifiedTime"]


def test_what_a_shared_folder_holds_is_visible_to_whom_it_is_shared_with(local):
    drive, _ = _fakes(local)
    team = drive.add_folder(OTHER, "Team assets", shared_with=[REP])
    nested = drive.add_folder(OTHER, "Nested", parents=[team])
    inside = drive.add_file(OTHER, "brief.txt", "text/plain", "brief", parents=[nested])
    public = drive.add_folder(OTHER, "Public", shared=True)
    in_public = drive.add_file(OTHER, "open.txt", "text/plain", "open", parents=[public])
    private = drive.add_folder(OTHER, "Private")
    hidden = drive.add_file(OTHER, "hidden.txt", "text/plain", "no", parents=[private])
    files = _service(local).files()

    assert files.get_media(fileId=inside).execute() == b"brief"
    assert files.get_media(fileId=in_public).execute() == b"open"
    status, _ = _error(lambda: files.get(fileId=hidden).execute())
    assert status == 404
    everything = files.list(fields="files(id)").execute()
    assert {f["id"] for f in everything["files"]} == {team, nested, inside}  # link: not listed
    by_link = files.list(q=f"'{public}' in parents", fields="files(id)").execute()
    assert [f["id"] for f in by_link["files"]] == [in_public]
    assert files.list(q=f"'{private}' in parents", fields="files(id)").execute()["files"] == []

    drive.unshare(team)
    status, _ = _error(lambda: files.get(fileId=inside).execute())
    assert status == 404


def test_trashing_a_folder_trashes_what_it_holds(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Assets")
    child = drive.add_file(REP, "a.txt", "text/plain", "a", parents=[folder])
    files = _service(local).files()
    fields = "trashed,explicitlyTrashed"

    drive.trash(folder)
    assert files.get(fileId=child, fields=fields).execute() == {
        "trashed": True,
        "explicitlyTrashed": False,
    }
    assert files.list(q=f"'{folder}' in parents and trashed = false").execute()["files"] == []
    drive.untrash(folder)
    assert files.get(fileId=child, fields=fields).execute()["trashed"] is False
    with pytest.raises(ValueError, match="itself"):
        drive.move(folder, [drive.add_folder(REP, "Inner", parents=[folder])])


# ---------------------------------------------------------------------- changes


def _changes(service: Any, token: str, **params: Any) -> dict[str, Any]:
    return dict(
        service.changes()
        .list(
            pageToken=token,
            fields="nextPageToken,newStartPageToken,kind,"
            "changes(kind,changeType,time,removed,fileId,file(id,name,version,trashed,parents))",
            includeRemoved=True,
            spaces="drive",
            supportsAllDrives=True,
            includeItemsFromAllDrives=True,
            restrictToMyDrive=False,
            **params,
        )
        .execute()
    )


def test_the_changes_feed_lists_each_changed_file_once_in_its_latest_state(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(REP, "Assets")
    untouched = drive.add_file(REP, "same.txt", "text/plain", "same", parents=[folder])
    edited = drive.add_file(REP, "edited.txt", "text/plain", "v1", parents=[folder])
    renamed = drive.add_file(REP, "before.txt", "text/plain", "r", parents=[folder])
    binned = drive.add_file(REP, "binned.txt", "text/plain", "t", parents=[folder])
    deleted = drive.add_file(REP, "deleted.txt", "text/plain", "d", parents=[folder])
    service = _service(local)
    start = service.changes().getStartPageToken(supportsAllDrives=True).execute()
    assert start == {"kind": "drive#startPageToken", "startPageToken": start["startPageToken"]}
    token = start["startPageToken"]

    created = drive.add_file(REP, "new.txt", "text/plain", "n", parents=[folder])
    drive.update_content(edited, "v2")
    drive.update_content(edited, "v3")
    drive.rename(renamed, "after.txt")
    drive.trash(binned)
    drive.delete(deleted)
    drive.add_file(OTHER, "theirs.txt", "text/plain", "private")  # not REP's to hear of

    listed = _changes(service, token)

    assert listed["kind"] == "drive#changeList"
    assert "nextPageToken" not in listed
    assert int(listed["newStartPageToken"]) > int(token)
    by_id = {c["fileId"]: c for c in listed["changes"]}
    assert [c["fileId"] for c in listed["changes"]] == [created, edited, renamed, binned, deleted]
    assert untouched not in by_id
    assert all(c["kind"] == "drive#change" and c["changeType"] == "file" for c in by_id.values())
    assert by_id[created]["file"]["parents"] == [folder]
    assert by_id[edited]["file"]["version"] == "3"
    assert by_id[renamed]["file"]["name"] == "after.txt"
    assert (by_id[binned]["removed"], by_id[binned]["file"]["trashed"]) == (False, True)
    assert by_id[deleted]["removed"] is True
    assert "file" not in by_id[deleted]
    assert all(c["time"].endswith("Z") for c in by_id.values())

    # From the new token: nothing until something else changes, then only that.
    newer = listed["newStartPageToken"]
    assert _changes(service, newer)["changes"] == []
    drive.update_content(untouched, "changed at last")
    after = _changes(service, newer)
    assert [c["fileId"] for c in after["changes"]] == [untouched]
    assert int(after["newStartPageToken"]) > int(newer)


def test_changes_come_in_pages_with_the_new_start_token_only_on_the_last(local):
    drive, _ = _fakes(local)
    service = _service(local)
    token = service.changes().getStartPageToken().execute()["startPageToken"]
    made = [drive.add_file(REP, f"f{n}.txt", "text/plain", str(n)) for n in range(5)]
    drive.update_content(made[0], "again")  # moves f0 to the end, listed once

    pages = [_changes(service, token, pageSize=2)]
    while "nextPageToken" in pages[-1]:
        assert "newStartPageToken" not in pages[-1]
        pages.append(_changes(service, pages[-1]["nextPageToken"], pageSize=2))

    assert [len(p["changes"]) for p in pages] == [2, 2, 1]
    assert [c["fileId"] for p in pages for c in p["changes"]] == [*made[1:], made[0]]
    assert pages[-1]["newStartPageToken"] == drive.start_page_token
    assert not any("newStartPageToken" in p for p in pages[:-1])


def test_losing_access_reads_as_removed_for_the_account_that_lost_it(local):
    drive, _ = _fakes(local)
    team = drive.add_folder(OTHER, "Team assets", shared_with=[REP])
    archive = drive.add_folder(OTHER, "Archive")
    other_shared = drive.add_folder(OTHER, "Also shared", shared_with=[REP])
    unshared = drive.add_file(OTHER, "unshared.txt", "text/plain", "u", shared_with=[REP])
    moved_away = drive.add_file(OTHER, "moved.txt", "text/plain", "m", parents=[team])
    moved_over = drive.add_file(OTHER, "over.txt", "text/plain", "o", parents=[team])
    rep, owner = _service(local), _service(local, email=OTHER)
    token = rep.changes().getStartPageToken().execute()["startPageToken"]

    drive.unshare(unshared)
    drive.move(moved_away, [archive])
    drive.move(moved_over, [other_shared])

    for_rep = {c["fileId"]: c for c in _changes(rep, token)["changes"]}
    assert for_rep[unshared]["removed"] is True
    assert for_rep[moved_away]["removed"] is True
    assert for_rep[moved_over]["removed"] is False
    assert for_rep[moved_over]["file"]["parents"] == [other_shared]
    for_owner = {c["fileId"]: c for c in _changes(owner, token)["changes"]}
    assert for_owner[unshared]["removed"] is False
    assert for_owner[moved_away]["file"]["parents"] == [archive]


def test_sharing_a_folder_brings_what_it_holds_into_the_feed(local):
    drive, _ = _fakes(local)
    folder = drive.add_folder(OTHER, "Later shared")
    inside = drive.add_file(OTHER, "inside.txt", "text/plain", "i", parents=[folder])
    rep = _service(local)
    token = rep.changes().getStartPageToken().execute()["startPageToken"]
    assert _changes(rep, token)["changes"] == []

    drive.share(folder, REP)

    listed = _changes(rep, token)["changes"]
    assert [(c["fileId"], c["removed"]) for c in listed] == [(folder, False), (inside, False)]


def test_a_bad_changes_token_is_refused_as_drive_does(local):
    drive, _ = _fakes(local)
    drive.add_file(REP, "a.txt", "text/plain", "a")
    service = _service(local)
    beyond = str(int(drive.start_page_token) + 5)

    for bad in ("not-a-token", "0", beyond):
        status, error = _error(lambda bad=bad: _changes(service, bad))
        assert status == 400
        assert error["message"] == "Invalid Value"
        assert error["errors"][0] == {
            "message": "Invalid Value",
            "domain": "global",
            "reason": "invalid",
            "location": "pageToken",
            "locationType": "parameter",
        }
    status, error = _error(lambda: _changes(service, "1", pageSize=0))
    assert (status, error["errors"][0]["location"]) == (400, "pageSize")
