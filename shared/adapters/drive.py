"""Google Drive through google-api-python-client: files as voice-sample material, folders
for the asset library, and Drive's changes feed to keep that library fresh.

Docs and Slides are exported as plain text; uploaded files (PDF, DOCX, text) are downloaded in
one ranged request capped at `max_bytes`, so a file larger than the limit is never read whole.
Errors map as for Gmail: 404 (also a file the account cannot see, as Drive answers) is NotFound,
401 after a refresh is AuthorizationRefused, a permission 403 is PermanentExternalError; rate
limits and 5xx are retried with backoff (honouring Retry-After), then TransientError. A changes
token Drive refuses is InvalidPageToken: start again from a full listing and a new token.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.google_api import GoogleApi, error_locations
from shared.errors import NotFound, PermanentExternalError, TransientError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

T = TypeVar("T")
log = logging.getLogger(__name__)

DRIVE_READONLY_SCOPE = "https://www.googleapis.com/auth/drive.readonly"
DRIVE_EXPORT_LIMIT_BYTES = 10 * 1024 * 1024
GOOGLE_APPS = "application/vnd.google-apps."
FOLDER_MIME_TYPE = GOOGLE_APPS + "folder"
TEXT_EXPORTS = {
    GOOGLE_APPS + "document": "text/plain",
    GOOGLE_APPS + "presentation": "text/plain",
}
_REFUSED_GOOGLE_TYPES = {
    "spreadsheet": "Google Sheets are not used as voice samples: a spreadsheet holds data, not "
    "the rep's writing. Share a Google Doc, PDF, Word or text file instead.",
    "form": "Google Forms are not used as voice samples. Share a Google Doc, PDF, Word or text "
    "file instead.",
    "folder": "This link is a Drive folder. Share a single file (a Google Doc, PDF, Word or text "
    "file) instead.",
    "shortcut": "This link is a Drive shortcut. Share the file it points to instead.",
    "drawing": "Google Drawings hold no text to learn from. Share a Google Doc, PDF, Word or text "
    "file instead.",
}
_METADATA_FIELDS = "id,name,mimeType,size"
_FILE_FIELDS = (
    "id,name,mimeType,size,modifiedTime,webViewLink,owners(emailAddress),parents,version,"
    "md5Checksum,trashed"
)
_LIST_FIELDS = f"nextPageToken,files({_FILE_FIELDS})"
_CHANGES_FIELDS = f"nextPageToken,newStartPageToken,changes(fileId,removed,file({_FILE_FIELDS}))"
_PERMISSION_REASONS = {
    "insufficientPermissions",
    "forbidden",
    "authError",
    "domainPolicy",
    "appNotAuthorizedToFile",
    "cannotDownloadAbusiveFile",
    "fileNotDownloadable",
    "fileNotExportable",
}


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    mime_type: str
    size: int | None
    modified_time: datetime | None = None
    web_view_link: str | None = None
    owner: str | None = None
    parents: tuple[str, ...] = ()
    version: str | None = None
    md5: str | None = None
    trashed: bool = False

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER_MIME_TYPE

    @classmethod
    def from_api(cls, data: dict[str, Any], file_id: str = "") -> DriveFile:
        """From a Drive v3 ``File`` resource (whatever fields it was asked for)."""
        size = data.get("size")
        owners = data.get("owners") or []
        owner = owners[0].get("emailAddress") if owners and isinstance(owners[0], dict) else None
        version = data.get("version")
        md5 = data.get("md5Checksum")
        link = data.get("webViewLink")
        return cls(
            id=str(data.get("id", file_id)),
            name=str(data.get("name", "")),
            mime_type=str(data.get("mimeType", "application/octet-stream")),
            size=int(size) if size is not None else None,
            modified_time=_parse_time(data.get("modifiedTime")),
            web_view_link=str(link) if link else None,
            owner=str(owner) if owner else None,
            parents=tuple(str(p) for p in data.get("parents") or ()),
            version=str(version) if version is not None else None,
            md5=str(md5) if md5 else None,
            trashed=bool(data.get("trashed", False)),
        )


@dataclass(frozen=True)
class DriveChange:
    """One file in the changes feed, in its latest state; `file` is None when `removed` (deleted,
    or no longer visible to the account). A trashed file is not removed: see ``file.trashed``."""

    file_id: str
    removed: bool
    file: DriveFile | None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _quoted(value: str) -> str:
    """A string literal for a Drive query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Unsupported(Exception):
    """The file exists but cannot be used as asked (a voice sample, a folder to index); `reason`
    says why, for the rep."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidPageToken(PermanentExternalError):
    """Drive refused a changes token (400 invalid pageToken): list again, take a new token."""


class FileTooLarge(Unsupported):
    """Larger than the limit (by Drive's metadata, by what was read, or Drive's export cap)."""

    def __init__(self, reason: str, *, limit: int, size: int | None = None) -> None:
        super().__init__(reason)
        self.limit = limit
        self.size = size


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB"


class DriveFiles(GoogleApi):
    """Read files of one Google account (the credentials' user)."""

    api = "drive"
    version = "v3"
    label = "drive"
    permission_reasons = frozenset(_PERMISSION_REASONS)

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str | None = None,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        max_bytes: int = 20 * 1024 * 1024,
        page_size: int = 1000,
    ) -> None:
        super().__init__(
            credentials,
            endpoint=endpoint,
            timeout=timeout,
            attempts=attempts,
            backoff_max=backoff_max,
            sleep=sleep,
        )
        self.max_bytes = max_bytes
        self.page_size = page_size

    # --- public -----------------------------------------------------------------------
    def metadata(self, file_id: str) -> DriveFile:
        data: dict[str, Any] = self._call(
            lambda: (
                self.service.files()
                .get(fileId=file_id, fields=_FILE_FIELDS, supportsAllDrives=True)
                .execute()
            ),
            "files.get",
        )
        return DriveFile.from_api(data, file_id)

    def list_folder(
        self, folder_id: str, *, recursive: bool = True, max_files: int = 5000
    ) -> list[DriveFile]:
        """The files (not trashed) in a folder and, when `recursive`, in the folders below it.

        Folders themselves are not returned. At most `max_files` come back; the rest is left
        out (and logged). NotFound when the account cannot see the folder; Unsupported when the
        id is not a folder.
        """
        folder = self._get(folder_id, "id,mimeType,name")
        if not folder.is_folder:
            raise Unsupported(f"{folder.name or folder_id} is not a Drive folder.")
        files: list[DriveFile] = []
        pending = [folder_id]
        seen = {folder_id}
        while pending:
            for item in self._children(pending.pop(0)):
                if not item.is_folder:
                    if len(files) >= max_files:
                        log.warning(
                            "drive folder %s holds more than %d files; the rest is left out",
                            folder_id,
                            max_files,
                        )
                        return files
                    files.append(item)
                elif recursive and item.id not in seen:
                    seen.add(item.id)
                    pending.append(item.id)
        return files

    def start_page_token(self) -> str:
        """Where the changes feed stands now: changes from here on are listed by ``changes``."""
        data: dict[str, Any] = self._call(
            lambda: (
                self.service.changes()
                .getStartPageToken(supportsAllDrives=True, fields="startPageToken")
                .execute()
            ),
            "changes.getStartPageToken",
        )
        return str(data["startPageToken"])

    def changes(self, page_token: str, *, max_pages: int = 50) -> tuple[list[DriveChange], str]:
        """Changes since `page_token`, each file once in its latest state, and the token to
        continue from: Drive's ``newStartPageToken`` once the feed is read to its end, else
        (after `max_pages` pages) the next page's token, so the next call picks up there.

        InvalidPageToken when Drive refuses the token.
        """
        latest: dict[str, DriveChange] = {}
        token = page_token
        for _ in range(max_pages):
            data = self._changes_page(token)
            for item in data.get("changes") or []:
                change = _change_from_api(item)
                if change is not None:
                    latest.pop(change.file_id, None)
                    latest[change.file_id] = change
            if data.get("newStartPageToken"):
                return list(latest.values()), str(data["newStartPageToken"])
            if not data.get("nextPageToken"):
                raise TransientError("drive changes.list: an answer without a page token")
            token = str(data["nextPageToken"])
        return list(latest.values()), token

    def content(self, file_id: str) -> tuple[DriveFile, bytes, str]:
        """(file, bytes, mime type of the bytes).

        Docs and Slides come back as UTF-8 text (``text/plain``); uploaded files as stored, for
        the caller to recognise. Raises Unsupported (FileTooLarge for size) for what cannot be
        a voice sample, NotFound when the account cannot see the file.
        """
        file = self.metadata(file_id)
        export_type = TEXT_EXPORTS.get(file.mime_type)
        if export_type is not None:
            return file, self._export(file, export_type), export_type
        if file.mime_type.startswith(GOOGLE_APPS):
            kind = file.mime_type[len(GOOGLE_APPS) :]
            raise Unsupported(
                _REFUSED_GOOGLE_TYPES.get(
                    kind,
                    f"Google {kind.replace('-', ' ')} files cannot be downloaded as a voice "
                    "sample. Share a Google Doc, PDF, Word or text file instead.",
                )
            )
        if file.size is not None and file.size > self.max_bytes:
            raise FileTooLarge(
                f"{file.name} is {_megabytes(file.size)}; files over "
                f"{_megabytes(self.max_bytes)} are not used.",
                limit=self.max_bytes,
                size=file.size,
            )
        return file, self._download(file), file.mime_type

    # --- internals --------------------------------------------------------------------
    def _get(self, file_id: str, fields: str) -> DriveFile:
        data: dict[str, Any] = self._call(
            lambda: (
                self.service.files()
                .get(fileId=file_id, fields=fields, supportsAllDrives=True)
                .execute()
            ),
            "files.get",
        )
        return DriveFile.from_api(data, file_id)

    def _children(self, folder_id: str) -> list[DriveFile]:
        found: list[DriveFile] = []
        page_token: str | None = None
        while True:
            data = self._children_page(folder_id, page_token)
            found.extend(DriveFile.from_api(item) for item in data.get("files") or [])
            page_token = data.get("nextPageToken")
            if not page_token:
                return found

    def _children_page(self, folder_id: str, page_token: str | None) -> dict[str, Any]:
        return self._call(
            lambda: (
                self.service.files()
                .list(
                    q=f"{_quoted(folder_id)} in parents and trashed = false",
                    fields=_LIST_FIELDS,
                    pageSize=self.page_size,
                    pageToken=page_token,
                    supportsAllDrives=True,
                    includeItemsFromAllDrives=True,
                )
                .execute()
            ),
            "files.list",
        )

    def _changes_page(self, token: str) -> dict[str, Any]:
        return self._call(
            lambda: (
                self.service.changes()
                .list(
                    pageToken=token,
                    pageSize=self.page_size,
                    fields=_CHANGES_FIELDS,
                    includeRemoved=True,
                    spaces="drive",
                    supportsAllDrives=True,
                    includeItemsFromAllDrives=True,
                    restrictToMyDrive=False,
                )
                .execute()
            ),
            "changes.list",
        )

    def _export(self, file: DriveFile, mime_type: str) -> bytes:
        try:
            data = self._read_capped(
                lambda: self.service.files().export_media(fileId=file.id, mimeType=mime_type),
                file,
                "files.export",
                ranged=False,
            )
        except _ExportTooLarge:
            raise FileTooLarge(
                f"{file.name} is too large for Google Drive to export as text (over 10 MB).",
                limit=DRIVE_EXPORT_LIMIT_BYTES,
            ) from None
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return data.replace(b"\r\n", b"\n")

    def _download(self, file: DriveFile) -> bytes:
        return self._read_capped(
            lambda: self.service.files().get_media(fileId=file.id, supportsAllDrives=True),
            file,
            "files.get_media",
            ranged=True,
        )

    def _read_capped(
        self, request_factory: Callable[[], Any], file: DriveFile, what: str, *, ranged: bool
    ) -> bytes:
        """Read a media request; more than `max_bytes` is refused as soon as it is seen.

        A ranged read asks for ``max_bytes + 1`` bytes at most (Drive honours Range), so an
        oversized file costs one capped request, never a whole download.
        """
        if not ranged:
            data: bytes = self._call(lambda: request_factory().execute(), what)
            self._check_read(file, len(data))
            return data

        from googleapiclient.http import MediaIoBaseDownload

        buffer = io.BytesIO()
        downloader = MediaIoBaseDownload(buffer, request_factory(), chunksize=self.max_bytes + 1)
        done = False
        while not done:
            _status, done = self._call(downloader.next_chunk, what)
            self._check_read(file, buffer.tell())
        return buffer.getvalue()

    def _check_read(self, file: DriveFile, count: int) -> None:
        if count > self.max_bytes:
            raise FileTooLarge(
                f"{file.name} is larger than {_megabytes(self.max_bytes)}; it is not used.",
                limit=self.max_bytes,
            )

    def _not_found(self, what: str) -> NotFound:
        return NotFound(f"drive {what}: the file does not exist or is not shared with this account")

    def _special_error(
        self, status: int, reasons: set[str], exc: Any, what: str
    ) -> Exception | None:
        if status == 403 and "exportSizeLimitExceeded" in reasons:
            return _ExportTooLarge()
        if status == 400 and "pageToken" in error_locations(exc):
            return InvalidPageToken(
                f"drive {what}: the page token was refused", detail=",".join(sorted(reasons))
            )
        return None


def _change_from_api(item: dict[str, Any]) -> DriveChange | None:
    file_id = item.get("fileId")
    if not file_id:
        return None
    removed = bool(item.get("removed", False))
    data = item.get("file")
    file = (
        DriveFile.from_api(data, str(file_id)) if isinstance(data, dict) and not removed else None
    )
    return DriveChange(file_id=str(file_id), removed=removed or file is None, file=file)


class _ExportTooLarge(Exception):
    """Drive refused an export over its 10 MB limit (403 exportSizeLimitExceeded)."""
