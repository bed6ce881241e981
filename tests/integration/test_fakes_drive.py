"""The Drive fake, driven by google-api-python-client with google-auth credentials refreshed
against the OAuth fake (all from the session stack, sharing one accounts registry)."""

from __future__ import annotations

import io
import json
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseDownload

from devstack.fakes import FakeDrive, FakeGoogleOAuth
from devstack.fakes.drive import DOCUMENT, SPREADSHEET, parse_fields
from shared.config import get_settings

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


def _credentials(local: Any, email: str, scopes: tuple[str, ...]) -> Credentials:
    _, oauth = _fakes(local)
    refresh = oauth.accounts.issue_refresh_token(email, scopes, client_id=oauth.client_id)
    return Credentials(
        token=None,
        refresh_token=refresh,
        token_uri=f"{local.fake_url('oauth')}/token",
        client_id=oauth.client_id or "local-client",
        client_secret=getattr(oauth, "client_secret", None) or "local-secret",
    )


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
