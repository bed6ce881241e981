"""Google Drive API v3 fake, spoken to by google-api-python-client (``build("drive", "v3", ...)``
with ``client_options={"api_endpoint": "http://127.0.0.1:P/drive/v3/"}``).

Files belong to an account; a file is visible to its owner, to accounts it was shared with and,
when shared with "anyone with the link", to every valid token that names its id (such files do
not show in ``files.list``, as in Drive). Faithful points worth knowing:

- ``files.get`` without ``fields`` returns only ``kind, id, name, mimeType``; ask for more.
- A file you cannot see answers 404 ``File not found: <id>.``, exactly as an unknown id.
- ``alt=media`` honours ``Range`` (206 with ``Content-Range``; 416 for an empty file) and refuses
  Google Docs Editors files (403 ``fileNotDownloadable``).
- ``files.export`` works only for Docs Editors files (403 ``fileNotExportable``); text exports
  start with a UTF-8 byte order mark and use CRLF line ends, like Google's; an export over
  ``export_limit_bytes`` (10 MB) answers 403 ``exportSizeLimitExceeded``.
- Scopes: ``drive``/``drive.readonly`` read everything the account can see; ``drive.metadata*``
  read metadata only (content answers 403 insufficientPermissions); ``drive.file`` sees only the
  files granted to the app (:meth:`FakeDrive.grant_app_access`).
- Folders: a file in a folder is visible to whoever may see the folder or any folder above it
  (shared with them, or with anyone who has the link). ``'<folderId>' in parents`` lists the
  children of a folder the caller can open, link-shared ones included; without it ``files.list``
  shows only files the caller owns or that were shared with them (directly or through a folder).
  Trashing a folder trashes what is inside (``trashed`` true, ``explicitlyTrashed`` false).
- Every change (create, content, rename, move, trash, delete, sharing) bumps the file's
  ``version`` and is recorded for each account that could list the file before or after it.
  ``changes.list`` answers from a token (an integer as a string) with each file once, at its
  latest change, in its current state; a file the caller can no longer list (deleted, unshared,
  moved away from what was shared) comes as ``removed: true`` without ``file``.
  ``newStartPageToken`` is only on the last page; a token never issued is 400 Invalid Value.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Response, g, jsonify, request

from devstack.fakes.base import JSON, FakeHTTPError, ViewResult
from devstack.fakes.google import AccessToken, GoogleAccounts, GoogleApiService

_AUTH = "https://www.googleapis.com/auth/"
FULL_READ_SCOPES = (f"{_AUTH}drive", f"{_AUTH}drive.readonly")
METADATA_SCOPES = (f"{_AUTH}drive.metadata", f"{_AUTH}drive.metadata.readonly")
APP_FILE_SCOPE = f"{_AUTH}drive.file"
DRIVE_SCOPES = (*FULL_READ_SCOPES, *METADATA_SCOPES, APP_FILE_SCOPE)

GOOGLE_APPS = "application/vnd.google-apps."
DOCUMENT = GOOGLE_APPS + "document"
SPREADSHEET = GOOGLE_APPS + "spreadsheet"
PRESENTATION = GOOGLE_APPS + "presentation"
FORM = GOOGLE_APPS + "form"
FOLDER = GOOGLE_APPS + "folder"
SHORTCUT = GOOGLE_APPS + "shortcut"
DRAWING = GOOGLE_APPS + "drawing"

EXPORT_LIMIT_BYTES = 10 * 1024 * 1024
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_TEXT_EXPORTS = {
    DOCUMENT: ("text/plain", "text/markdown", "text/html"),
    PRESENTATION: ("text/plain",),
    SPREADSHEET: ("text/csv", "text/tab-separated-values"),
    DRAWING: (),
}
# Formats Drive lists in exportLinks; the fake serves only the text ones above.
_EXPORT_LINK_TYPES = {
    DOCUMENT: ("text/plain", "text/markdown", "text/html", "application/pdf", _DOCX),
    PRESENTATION: ("text/plain", "application/pdf", _PPTX),
    SPREADSHEET: ("text/csv", "text/tab-separated-values", "application/pdf", _XLSX),
    DRAWING: ("image/png", "image/svg+xml", "application/pdf"),
}
_DRIVE_REASONS = frozenset(
    {
        "notFound",
        "fileNotDownloadable",
        "fileNotExportable",
        "exportSizeLimitExceeded",
        "invalid",
        "invalidParameter",
        "badRequest",
        "required",
    }
)
_DEFAULT_FIELDS = "kind,id,name,mimeType"
_DEFAULT_LIST_FIELDS = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"
_DEFAULT_CHANGES_FIELDS = (
    "kind,nextPageToken,newStartPageToken,"
    "changes(kind,changeType,time,removed,fileId,file(kind,id,name,mimeType))"
)
_SPACES = frozenset({"drive", "appDataFolder", "photos"})
ROOT_FOLDER_ID = "0AFakeRootFolderUk9PVA"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def new_drive_id(google_file: bool = False) -> str:
    """A Drive-looking id: 33 characters for uploaded files, 44 for Docs Editors files."""
    length = 44 if google_file else 33
    return "1" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - 1))


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


@dataclass
class DriveFile:
    id: str
    owner: str
    name: str
    mime_type: str
    content: bytes
    shared_with_anyone: bool = False
    shared_with: set[str] = field(default_factory=set)
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    reported_size: int | None = None
    target_id: str | None = None
    target_mime_type: str | None = None
    trashed: bool = False
    explicitly_trashed: bool = False
    parents: list[str] = field(default_factory=list)
    version: int = 1

    @property
    def is_google_file(self) -> bool:
        return self.mime_type.startswith(GOOGLE_APPS)

    @property
    def is_folder(self) -> bool:
        return self.mime_type == FOLDER

    def readable_by(self, email: str) -> bool:
        """By the file's own sharing only; :meth:`FakeDrive.readable` adds its folders'."""
        key = email.lower()
        return key == self.owner or key in self.shared_with or self.shared_with_anyone

    def listed_for(self, email: str) -> bool:
        """By the file's own sharing only; :meth:`FakeDrive.audience` adds its folders'."""
        key = email.lower()
        return key == self.owner or key in self.shared_with


@dataclass(frozen=True)
class _Change:
    """One recorded change: `seq` is its place in the feed, `audience` who hears of it."""

    seq: int
    file_id: str
    time: float
    audience: frozenset[str]
    owner: str


# ---------------------------------------------------------------------- fields= selection


def parse_fields(spec: str) -> dict[str, Any]:
    """Google's partial-response syntax (``a,b(c,d),e/f``) as a tree; ``*`` selects all."""
    tree: dict[str, Any] = {}
    stack = [tree]
    token = ""

    def flush() -> None:
        nonlocal token
        name = token.strip()
        token = ""
        if not name:
            return
        node = stack[-1]
        parts = name.split("/")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node.setdefault(parts[-1], None)

    for char in spec:
        if char == ",":
            flush()
        elif char == "(":
            name = token.strip()
            token = ""
            node = stack[-1]
            parts = name.split("/")
            for part in parts:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
            stack.append(node)
        elif char == ")":
            flush()
            if len(stack) == 1:
                raise ValueError("unbalanced parentheses")
            stack.pop()
        else:
            token += char
    flush()
    if len(stack) != 1:
        raise ValueError("unbalanced parentheses")
    return tree


def select_fields(value: Any, tree: dict[str, Any] | None) -> Any:
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [select_fields(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    picked: JSON = {}
    for key, subtree in tree.items():
        if key in value:
            picked[key] = select_fields(value[key], subtree)
    return picked


# ---------------------------------------------------------------------- q= (files.list)

_CLAUSE_RE = re.compile(
    r"""^\s*(?:
        (?P<field>name|mimeType|fullText)\s*(?P<op>=|!=|contains)\s*'(?P<value>(?:[^'\\]|\\.)*)'
      | '(?P<who>(?:[^'\\]|\\.)*)'\s+in\s+(?P<collection>owners|readers|writers|parents)
      | trashed\s*(?P<trash_op>=|!=)\s*(?P<trash>true|false)
      | sharedWithMe(?:\s*=\s*(?P<shared>true|false))?
    )\s*$""",
    re.VERBOSE | re.IGNORECASE,
)


def _split_and(query: str) -> list[str]:
    parts: list[str] = []
    current = ""
    quoted = False
    index = 0
    while index < len(query):
        char = query[index]
        if char == "\\" and quoted and index + 1 < len(query):
            current += query[index : index + 2]
            index += 2
            continue
        if char == "'":
            quoted = not quoted
        if not quoted and query[index : index + 5].lower() == " and ":
            parts.append(current)
            current = ""
            index += 5
            continue
        current += char
        index += 1
    parts.append(current)
    return [p for p in (part.strip() for part in parts) if p]


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def matches_query(file: DriveFile, query: str, email: str) -> bool:
    """Whether `file` satisfies a Drive search query (``and`` of the basic clauses)."""
    for clause in _split_and(query):
        match = _CLAUSE_RE.match(clause)
        if match is None:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="q")
        if match["field"]:
            value = _unquote(match["value"])
            op = match["op"].lower()
            if match["field"].lower() == "fulltext":
                subject = file.name + "\n" + file.content.decode("utf-8", "replace")
                if op != "contains":
                    raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="q")
                if value.lower() not in subject.lower():
                    return False
                continue
            actual = file.name if match["field"].lower() == "name" else file.mime_type
            if op == "=" and actual != value:
                return False
            if op == "!=" and actual == value:
                return False
            # Drive's `name contains` matches word prefixes; a substring is close enough here.
            if op == "contains" and value.lower() not in actual.lower():
                return False
        elif match["collection"]:
            raw = _unquote(match["who"])
            who = email.lower() if raw.lower() == "me" else raw.lower()
            collection = match["collection"].lower()
            if collection == "owners" and file.owner != who:
                return False
            if collection in {"readers", "writers"} and not (
                file.owner == who or who in file.shared_with
            ):
                return False
            if collection == "parents":
                if raw in {"root", ROOT_FOLDER_ID}:
                    if file.parents or file.owner != email.lower():
                        return False
                elif raw not in file.parents:
                    return False
        elif match["trash"]:
            wanted = match["trash"].lower() == "true"
            if (file.trashed == wanted) != (match["trash_op"] == "="):
                return False
        else:
            shared = (match["shared"] or "true").lower() == "true"
            if (email.lower() in file.shared_with) != shared:
                return False
    return True


# ---------------------------------------------------------------------- the fake


class FakeDrive(GoogleApiService):
    """Drive v3 fake. Seed JSON::

    {"files": [{"owner": "rep@acme.test", "name": "Assets", "id": "1assets",
                "mime_type": "application/vnd.google-apps.folder", "shared_with": ["..."]},
               {"owner": "rep@acme.test", "name": "Pitch", "mime_type":
                "application/vnd.google-apps.document", "content": "text",
                "shared": false, "id": "optional fixed id", "parents": ["1assets"]},
               {"owner": "...", "name": "deck.pdf", "mime_type": "application/pdf",
                "content_base64": "JVBERi0..."}]}

    Folders come before what they hold.
    """

    name = "drive"

    def __init__(self, accounts: GoogleAccounts | None = None) -> None:
        super().__init__(accounts if accounts is not None else GoogleAccounts())
        self.files: dict[str, DriveFile] = {}
        self.app_access: set[tuple[str, str]] = set()
        self.export_limit_bytes = EXPORT_LIMIT_BYTES
        self._media_faults: list[tuple[int, float | None]] = []
        self._changes: list[_Change] = []
        self._next_change = 1
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def add_file(
        self,
        owner_email: str,
        name: str,
        mime_type: str,
        content: bytes | str = b"",
        shared: bool = False,
        *,
        file_id: str | None = None,
        shared_with: Iterable[str] = (),
        reported_size: int | None = None,
        target_id: str | None = None,
        parents: Iterable[str] = (),
    ) -> str:
        """Store a file owned by `owner_email`; returns its id.

        Docs Editors files (``application/vnd.google-apps.*``) hold their text, which is what
        ``files.export`` serves. `shared` means "anyone with the link can view".
        `reported_size` makes ``files.get`` report a size other than the content's (a file
        that changed between two calls). `target_id` makes a shortcut point at a file.
        `parents` are folder ids (none: the owner's My Drive root).
        """
        account = self.accounts.add(owner_email)
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        with self.lock:
            parent_ids = self._checked_parents(parents)
            new_id = file_id or new_drive_id(mime_type.startswith(GOOGLE_APPS))
            target = self.files.get(target_id) if target_id else None
            for email in shared_with:
                self.accounts.add(email)
            file = DriveFile(
                id=new_id,
                owner=account.email,
                name=name,
                mime_type=mime_type,
                content=data,
                shared_with_anyone=shared,
                shared_with={email.lower() for email in shared_with},
                reported_size=reported_size,
                target_id=target_id,
                target_mime_type=target.mime_type if target else None,
                parents=parent_ids,
            )
            self.files[new_id] = file
            file.trashed = self._inherits_trash(file)
            self._log_change(new_id, self.audience(file), file.owner, file.created)
            return new_id

    def add_folder(
        self,
        owner_email: str,
        name: str,
        parents: Iterable[str] = (),
        shared: bool = False,
        *,
        shared_with: Iterable[str] = (),
        folder_id: str | None = None,
    ) -> str:
        """A folder; what is put in it is visible to whoever the folder is shared with."""
        return self.add_file(
            owner_email,
            name,
            FOLDER,
            shared=shared,
            shared_with=shared_with,
            parents=parents,
            file_id=folder_id or new_drive_id(),
        )

    def share(self, file_id: str, email: str | None = None) -> None:
        """Share with one account, or (no `email`) with anyone who has the link."""
        if email is not None:
            self.accounts.add(email)
        with self._changing(file_id) as file:
            if email is None:
                file.shared_with_anyone = True
            else:
                file.shared_with.add(email.lower())

    def unshare(self, file_id: str, email: str | None = None) -> None:
        """Stop sharing with one account, or (no `email`) with everyone."""
        with self._changing(file_id) as file:
            if email is None:
                file.shared_with_anyone = False
                file.shared_with.clear()
            else:
                file.shared_with.discard(email.lower())

    def update_content(self, file_id: str, content: bytes | str) -> None:
        with self._changing(file_id) as file:
            file.content = content.encode("utf-8") if isinstance(content, str) else content
            file.modified = time.time()

    def rename(self, file_id: str, name: str) -> None:
        with self._changing(file_id) as file:
            file.name = name
            file.modified = time.time()

    def move(self, file_id: str, new_parents: Iterable[str]) -> None:
        """Put the file (a folder with all it holds) in `new_parents` (none: the My Drive root)."""
        with self.lock:
            parent_ids = self._checked_parents(new_parents)
            moved = {file_id, *self._descendants(file_id)}
            if moved & set(parent_ids):
                raise ValueError("a folder cannot be moved into itself")
            with self._changing(file_id) as file:
                file.parents = parent_ids

    def trash(self, file_id: str) -> None:
        """Trash the file; in a folder, everything it holds is trashed with it."""
        with self._changing(file_id, cascade=True) as file:
            file.explicitly_trashed = True

    def untrash(self, file_id: str) -> None:
        with self._changing(file_id, cascade=True) as file:
            file.explicitly_trashed = False

    def delete(self, file_id: str) -> None:
        """Delete for good; a folder's content goes with it."""
        with self.lock:
            if file_id not in self.files:
                return
            with self._changing(file_id, cascade=True):
                for gone in [file_id, *self._descendants(file_id)]:
                    self.files.pop(gone, None)

    @property
    def start_page_token(self) -> str:
        """What ``changes.getStartPageToken`` answers now."""
        with self.lock:
            return str(self._next_change)

    def grant_app_access(self, file_id: str, email: str) -> None:
        """The user picked this file for the app: a ``drive.file`` token may now open it."""
        with self.lock:
            self.app_access.add((email.lower(), file_id))

    def fail_downloads(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """The next `count` ``alt=media`` downloads answer `status` (metadata calls, on the same
        path, are not affected, unlike :meth:`inject_fault`)."""
        with self.lock:
            self._media_faults.extend([(status, retry_after)] * count)

    # ----------------------------------------------------------------- FakeService hooks

    def _reset_state(self) -> None:
        self.files.clear()
        self.app_access.clear()
        self.export_limit_bytes = EXPORT_LIMIT_BYTES
        self._media_faults.clear()
        self._changes.clear()
        self._next_change = 1

    def _seed(self, data: JSON) -> None:
        for item in data.get("files", []):
            content: bytes | str = (
                base64.b64decode(item["content_base64"])
                if "content_base64" in item
                else str(item.get("content", ""))
            )
            self.add_file(
                item["owner"],
                item["name"],
                item.get("mime_type", "text/plain"),
                content,
                shared=bool(item.get("shared", False)),
                file_id=item.get("id"),
                shared_with=item.get("shared_with", ()),
                parents=item.get("parents", ()),
            )
        if "export_limit_bytes" in data:
            self.export_limit_bytes = int(data["export_limit_bytes"])

    def _state(self) -> JSON:
        return {
            "files": [
                {
                    "id": f.id,
                    "owner": f.owner,
                    "name": f.name,
                    "mimeType": f.mime_type,
                    "bytes": len(f.content),
                    "shared_with_anyone": f.shared_with_anyone,
                    "shared_with": sorted(f.shared_with),
                    "parents": list(f.parents),
                    "trashed": f.trashed,
                    "version": f.version,
                }
                for f in self.files.values()
            ],
            "start_page_token": str(self._next_change),
        }

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        body = super().error_body(status, message, **details)
        error = body["error"]
        item = error["errors"][0]
        if details.get("reason") in _DRIVE_REASONS:
            item["message"] = message
        if details.get("location"):
            item.update(location=details["location"], locationType="parameter")
        for detail in error.get("details", []):
            metadata = detail.get("metadata")
            if isinstance(metadata, dict) and "service" in metadata:
                metadata["service"] = "drive.googleapis.com"
        return body

    # ----------------------------------------------------------------- folders and changes

    def _checked_parents(self, parents: Iterable[str]) -> list[str]:
        ids = [p for p in parents if p != ROOT_FOLDER_ID]
        for parent_id in ids:
            parent = self.files.get(parent_id)
            if parent is None or not parent.is_folder:
                raise ValueError(f"no folder {parent_id!r}")
        return ids

    def _ancestors(self, file: DriveFile) -> list[DriveFile]:
        found: list[DriveFile] = []
        seen = {file.id}
        pending = list(file.parents)
        while pending:
            parent_id = pending.pop()
            parent = self.files.get(parent_id)
            if parent is None or parent_id in seen:
                continue
            seen.add(parent_id)
            found.append(parent)
            pending.extend(parent.parents)
        return found

    def _descendants(self, file_id: str) -> list[str]:
        found: list[str] = []
        pending = [file_id]
        seen = {file_id}
        while pending:
            current = pending.pop()
            for child in self.files.values():
                if current in child.parents and child.id not in seen:
                    seen.add(child.id)
                    found.append(child.id)
                    pending.append(child.id)
        return found

    def audience(self, file: DriveFile) -> frozenset[str]:
        """Who can list `file`: its owner, whoever it or a folder above it was shared with, and
        the owners of those folders. Link sharing gives access, not a place in these lists."""
        people = {file.owner, *file.shared_with}
        for folder in self._ancestors(file):
            people.add(folder.owner)
            people.update(folder.shared_with)
        return frozenset(people)

    def readable(self, email: str, file: DriveFile) -> bool:
        """Whether `email` may open `file` (by its own sharing or a folder's, link included)."""
        if email.lower() in self.audience(file):
            return True
        return file.shared_with_anyone or any(f.shared_with_anyone for f in self._ancestors(file))

    def _inherits_trash(self, file: DriveFile) -> bool:
        return file.explicitly_trashed or any(f.explicitly_trashed for f in self._ancestors(file))

    @contextmanager
    def _changing(self, file_id: str, *, cascade: bool = False) -> Iterator[DriveFile]:
        """Change a file and record it in the feed.

        Whoever could list the file before or after hears of it. What a folder holds is
        reported to everyone when it shares the folder's fate (`cascade`: trash, delete), else
        only to the accounts that gained or lost it (sharing, moving).
        """
        with self.lock:
            file = self.files[file_id]
            affected = [file_id, *self._descendants(file_id)]
            before = {
                fid: (self.audience(self.files[fid]), self.files[fid].owner) for fid in affected
            }
            yield file
            for fid in affected:
                current = self.files.get(fid)
                if current is not None:
                    current.trashed = self._inherits_trash(current)
            stamp = time.time()
            for fid, (was, owner) in before.items():
                current = self.files.get(fid)
                now = self.audience(current) if current is not None else frozenset()
                heard = was | now if fid == file_id or cascade else was ^ now
                if not heard:
                    continue
                if current is not None:
                    current.version += 1
                self._log_change(fid, heard, owner, stamp)

    def _log_change(self, file_id: str, audience: frozenset[str], owner: str, stamp: float) -> None:
        self._changes.append(_Change(self._next_change, file_id, stamp, audience, owner))
        self._next_change += 1

    # ----------------------------------------------------------------- access

    def _caller(self) -> AccessToken:
        return self.authenticate(DRIVE_SCOPES)

    @staticmethod
    def _has_any(grant: AccessToken, scopes: Iterable[str]) -> bool:
        return bool(set(scopes) & set(grant.scopes))

    def _visible(self, grant: AccessToken, file: DriveFile) -> bool:
        return self.readable(grant.email, file) and self._in_scope(grant, file.id)

    def _in_scope(self, grant: AccessToken, file_id: str) -> bool:
        if self._has_any(grant, FULL_READ_SCOPES + METADATA_SCOPES):
            return True
        return (grant.email, file_id) in self.app_access

    def _file(self, grant: AccessToken, file_id: str) -> DriveFile:
        file = self.files.get(file_id)
        if file is None or not self._visible(grant, file):
            raise FakeHTTPError(
                404, f"File not found: {file_id}.", reason="notFound", location="fileId"
            )
        return file

    def _require_content_scope(self, grant: AccessToken) -> None:
        if not self._has_any(grant, (*FULL_READ_SCOPES, APP_FILE_SCOPE)):
            raise FakeHTTPError(
                403,
                "Request had insufficient authentication scopes.",
                reason="insufficientPermissions",
            )

    # ----------------------------------------------------------------- resources

    def _resource(self, file: DriveFile, grant: AccessToken, base_url: str) -> JSON:
        owner = self.accounts.add(file.owner)
        resource: JSON = {
            "kind": "drive#file",
            "id": file.id,
            "name": file.name,
            "mimeType": file.mime_type,
            "starred": False,
            "trashed": file.trashed,
            "explicitlyTrashed": file.explicitly_trashed,
            "parents": self._parents_seen_by(file, grant.email),
            "spaces": ["drive"],
            "version": str(file.version),
            "webViewLink": self._web_view_link(file),
            "createdTime": _rfc3339(file.created),
            "modifiedTime": _rfc3339(file.modified),
            "owners": [
                {
                    "kind": "drive#user",
                    "displayName": owner.name,
                    "me": owner.email == grant.email,
                    "permissionId": owner.sub[:20],
                    "emailAddress": owner.email,
                }
            ],
            "shared": file.shared_with_anyone or bool(file.shared_with),
            "ownedByMe": owner.email == grant.email,
            "capabilities": {"canDownload": True, "canEdit": owner.email == grant.email},
        }
        if file.mime_type not in {FOLDER, SHORTCUT}:
            size = file.reported_size if file.reported_size is not None else len(file.content)
            resource["size"] = str(size)
            resource["quotaBytesUsed"] = str(size)
        if not file.is_google_file:
            resource["md5Checksum"] = hashlib.md5(file.content).hexdigest()
            resource["originalFilename"] = file.name
            if "." in file.name:
                extension = file.name.rsplit(".", 1)[1]
                resource["fileExtension"] = extension
                resource["fullFileExtension"] = extension
            resource["webContentLink"] = f"https://drive.google.com/uc?id={file.id}&export=download"
        elif file.mime_type in _EXPORT_LINK_TYPES:
            resource["exportLinks"] = {
                kind: f"{base_url}drive/v3/files/{file.id}/export?mimeType={kind}"
                for kind in _EXPORT_LINK_TYPES[file.mime_type]
            }
        if file.mime_type == SHORTCUT:
            resource["shortcutDetails"] = {
                "targetId": file.target_id or "",
                "targetMimeType": file.target_mime_type or "application/octet-stream",
            }
        return resource

    def _parents_seen_by(self, file: DriveFile, email: str) -> list[str]:
        """The folders holding `file` that `email` may open (the root only for its owner)."""
        if not file.parents:
            return [ROOT_FOLDER_ID] if file.owner == email.lower() else []
        return [
            parent_id
            for parent_id in file.parents
            if parent_id in self.files and self.readable(email, self.files[parent_id])
        ]

    @staticmethod
    def _web_view_link(file: DriveFile) -> str:
        kinds = {
            DOCUMENT: "document",
            SPREADSHEET: "spreadsheets",
            PRESENTATION: "presentation",
            FORM: "forms",
        }
        if file.mime_type in kinds:
            return f"https://docs.google.com/{kinds[file.mime_type]}/d/{file.id}/edit?usp=drivesdk"
        if file.mime_type == FOLDER:
            return f"https://drive.google.com/drive/folders/{file.id}"
        return f"https://drive.google.com/file/d/{file.id}/view?usp=drivesdk"

    @staticmethod
    def _fields(default: str) -> dict[str, Any]:
        try:
            return parse_fields(request.args.get("fields") or default)
        except ValueError:
            raise FakeHTTPError(
                400, "Invalid field selection fields", reason="invalidParameter", location="fields"
            ) from None

    # ----------------------------------------------------------------- routes

    @staticmethod
    def _page_size(default: int, maximum: int) -> int:
        size = request.args.get("pageSize", str(default))
        page_size = int(size) if size.isdigit() else 0
        if not 1 <= page_size <= maximum:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="pageSize")
        return page_size

    @staticmethod
    def _flag(name: str, default: bool) -> bool:
        value = request.args.get(name)
        if value is None:
            return default
        if value.lower() not in {"true", "false"}:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location=name)
        return value.lower() == "true"

    def _add_routes(self) -> None:
        self.route("/drive/v3/files")(self._list)
        self.route("/drive/v3/files/<file_id>")(self._get)
        self.route("/drive/v3/files/<file_id>/export")(self._export)
        self.route("/drive/v3/changes/startPageToken")(self._start_page_token)
        self.route("/drive/v3/changes")(self._list_changes)

    def _get(self, file_id: str) -> ViewResult:
        grant = self._caller()
        file = self._file(grant, file_id)
        if request.args.get("alt") == "media":
            return self._download(grant, file)
        if request.args.get("alt", "json") != "json":
            raise FakeHTTPError(400, "Invalid value for alt", reason="invalid", location="alt")
        fields = self._fields(_DEFAULT_FIELDS)
        return jsonify(select_fields(self._resource(file, grant, request.host_url), fields))

    def _download(self, grant: AccessToken, file: DriveFile) -> Response:
        self._require_content_scope(grant)
        if self._media_faults:
            status, retry_after = self._media_faults.pop(0)
            g.fake_entry["fault"] = status
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            return self.error_response(
                status, headers=headers, injected=True, retry_after=retry_after
            )
        if file.is_google_file:
            raise FakeHTTPError(
                403,
                "Only files with binary content can be downloaded. Use Export with Docs Editors "
                "files.",
                reason="fileNotDownloadable",
                location="alt",
            )
        return _ranged(file.content, file.mime_type)

    def _export(self, file_id: str) -> ViewResult:
        grant = self._caller()
        file = self._file(grant, file_id)
        self._require_content_scope(grant)
        wanted = request.args.get("mimeType", "")
        if not wanted:
            raise FakeHTTPError(
                400, "Required parameter: mimeType", reason="required", location="mimeType"
            )
        if not file.is_google_file or file.mime_type in {FOLDER, SHORTCUT, FORM}:
            raise FakeHTTPError(
                403,
                "Export only supports Docs Editors files.",
                reason="fileNotExportable",
                location="fileId",
            )
        if wanted not in _TEXT_EXPORTS.get(file.mime_type, ()):
            raise FakeHTTPError(
                400,
                "The requested conversion is not supported.",
                reason="badRequest",
                location="convertTo",
            )
        exported = _export_text(file, wanted)
        if len(exported) > self.export_limit_bytes:
            raise FakeHTTPError(
                403,
                "This file is too large to be exported.",
                reason="exportSizeLimitExceeded",
            )
        response = Response(exported, status=200, mimetype=wanted)
        if wanted.startswith("text/"):
            response.headers["Content-Type"] = f"{wanted}; charset=utf-8"
        return response

    def _list(self) -> ViewResult:
        grant = self._caller()
        query = request.args.get("q", "")
        page_size = self._page_size(100, 1000)
        by_folder = _PARENT_CLAUSE_RE.search(query) is not None
        start = 0
        token = request.args.get("pageToken")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise FakeHTTPError(
                    400, "Invalid Value", reason="invalid", location="pageToken"
                ) from None
        found = [
            f
            for f in sorted(self.files.values(), key=lambda f: (-f.modified, f.id))
            if (grant.email in self.audience(f) or by_folder)
            and self._visible(grant, f)
            and (not query or matches_query(f, query, grant.email))
        ]
        page = found[start : start + page_size]
        body: JSON = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [self._resource(f, grant, request.host_url) for f in page],
        }
        if start + page_size < len(found):
            next_start = str(start + page_size).encode()
            body["nextPageToken"] = base64.urlsafe_b64encode(next_start).decode()
        return jsonify(select_fields(body, self._fields(_DEFAULT_LIST_FIELDS)))

    def _start_page_token(self) -> ViewResult:
        self._caller()
        body = {"kind": "drive#startPageToken", "startPageToken": str(self._next_change)}
        return jsonify(select_fields(body, self._fields("kind,startPageToken")))

    def _list_changes(self) -> ViewResult:
        grant = self._caller()
        token = request.args.get("pageToken")
        if token is None:
            raise FakeHTTPError(
                400, "Required parameter: pageToken", reason="required", location="pageToken"
            )
        if not token.isdigit() or not 1 <= int(token) <= self._next_change:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="pageToken")
        page_size = self._page_size(100, 1000)
        include_removed = self._flag("includeRemoved", True)
        my_drive_only = self._flag("restrictToMyDrive", False)
        self._flag("supportsAllDrives", False)
        self._flag("includeItemsFromAllDrives", False)
        spaces = {s.strip() for s in request.args.get("spaces", "drive").split(",") if s.strip()}
        if not spaces or not spaces <= _SPACES:
            raise FakeHTTPError(400, "Invalid Value", reason="invalid", location="spaces")

        latest: dict[str, _Change] = {}
        if "drive" in spaces:
            for change in self._changes[int(token) - 1 :]:
                if grant.email in change.audience and self._in_scope(grant, change.file_id):
                    latest.pop(change.file_id, None)
                    latest[change.file_id] = change
        entries: list[tuple[_Change, DriveFile | None]] = []
        for change in latest.values():
            file = self.files.get(change.file_id)
            if file is not None and grant.email not in self.audience(file):
                file = None
            if file is None and not include_removed:
                continue
            if my_drive_only and change.owner != grant.email:
                continue
            entries.append((change, file))

        page = entries[:page_size]
        body: JSON = {"kind": "drive#changeList"}
        if len(entries) > page_size:
            body["nextPageToken"] = str(page[-1][0].seq + 1)
        else:
            body["newStartPageToken"] = str(self._next_change)
        body["changes"] = [self._change_resource(change, file, grant) for change, file in page]
        return jsonify(select_fields(body, self._fields(_DEFAULT_CHANGES_FIELDS)))

    def _change_resource(self, change: _Change, file: DriveFile | None, grant: AccessToken) -> JSON:
        resource: JSON = {
            "kind": "drive#change",
            "changeType": "file",
            "time": _rfc3339(change.time),
            "removed": file is None,
            "fileId": change.file_id,
        }
        if file is not None:
            resource["file"] = self._resource(file, grant, request.host_url)
        return resource


def _export_text(file: DriveFile, mime_type: str) -> bytes:
    text = file.content.decode("utf-8", "replace")
    if mime_type == "text/html":
        import html

        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
        return f"<html><body>{paragraphs}</body></html>".encode()
    if mime_type == "text/plain":
        return ("\ufeff" + text.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")
    return text.encode("utf-8")


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_PARENT_CLAUSE_RE = re.compile(r"'(?:[^'\\]|\\.)*'\s+in\s+parents", re.IGNORECASE)


def _ranged(content: bytes, mime_type: str) -> Response:
    """The whole content (200) or the asked byte range (206), as Google's media download."""
    header = request.headers.get("Range", "").strip()
    total = len(content)
    match = _RANGE_RE.match(header) if header else None
    if match is None or (not match[1] and not match[2]):
        return Response(content, status=200, mimetype=mime_type)
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), total - 1) if match[2] else total - 1
    else:
        first = max(0, total - int(match[2]))
        last = total - 1
    if first >= total or first > last:
        response = Response(b"", status=416)
        response.headers["Content-Range"] = f"bytes */{total}"
        return response
    response = Response(content[first : last + 1], status=206, mimetype=mime_type)
    response.headers["Content-Range"] = f"bytes {first}-{last}/{total}"
    return response


__all__ = [
    "DOCUMENT",
    "DRIVE_SCOPES",
    "EXPORT_LIMIT_BYTES",
    "FOLDER",
    "FORM",
    "PRESENTATION",
    "ROOT_FOLDER_ID",
    "SHORTCUT",
    "SPREADSHEET",
    "FakeDrive",
    "new_drive_id",
]
