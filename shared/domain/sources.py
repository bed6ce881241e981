"""What a submitted voice-training reference points at: a YouTube video, a Drive file, or a
share link to download. Pure: nothing here touches the network.

YouTube and Drive references are read through their APIs by id, so only the id matters and a
plain ``http:`` or scheme-less form is as good as ``https:``. Any other link is downloaded, so
it must be ``https:`` without credentials; Dropbox and OneDrive/SharePoint share links are
rewritten to their direct-download form. Hosts are matched exactly (or as a subdomain of the
service's own domain), never by substring, so ``youtube.com.evil.example`` is just a link.
Whether a link's host is safe to connect to is the downloader's decision
(`shared.adapters.links`), made on the addresses it resolves to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MAX_LINK_LENGTH = 2048

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_DRIVE_ID = re.compile(r"[A-Za-z0-9_-]{25,100}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_PORT_ONLY = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}(?:[/?#]|$)")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")

_YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
_YOUTU_BE_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_YOUTUBE_PATH_PREFIXES = ("shorts", "embed", "live", "v", "e")
_DRIVE_HOSTS = frozenset({"drive.google.com", "drive.usercontent.google.com"})
_DOCS_HOSTS = frozenset({"docs.google.com"})
_DOCS_KINDS = frozenset({"document", "spreadsheets", "presentation", "file"})
_DROPBOX_HOSTS = frozenset({"dropbox.com", "www.dropbox.com"})


@dataclass(frozen=True)
class SourceRef:
    kind: str  # "youtube", "drive", "link"
    id: str | None  # YouTube video id, Drive file id
    url: str | None  # the URL to download for "link" (normalized), or the original


class BadSource(ValueError):
    """A reference we will not use; `reason` is fit to show the person who submitted it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _split(value: str) -> SplitResult | None:
    """The parts of a URL, adding ``https://`` when it has no scheme; None if unreadable."""
    text = value.strip()
    if not text or _UNSAFE_CHARS.search(text):
        return None
    if text.startswith("//"):
        text = "https:" + text
    elif not _SCHEME.match(text) or _PORT_ONLY.match(text):
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def _host(parts: SplitResult) -> str | None:
    """The lower-cased host of an http(s) URL without credentials and on a default port."""
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return None
    if parts.port not in (None, 80, 443):
        return None
    host = (parts.hostname or "").rstrip(".")
    return host or None


def _segments(path: str) -> list[str]:
    return [unquote(s) for s in path.split("/") if s]


def _query(parts: SplitResult) -> dict[str, str]:
    """First value of each query parameter."""
    found: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        found.setdefault(key, value)
    return found


def youtube_video_id(value: str) -> str | None:
    """The 11-character video id of a YouTube video URL, or None.

    Knows ``watch?v=``, ``youtu.be/ID``, ``/shorts/``, ``/embed/``, ``/live/``, ``/v/`` and
    ``/e/`` on youtube.com, www., m., music. and youtube-nocookie.com, with any extra
    parameters (``t=``, ``si=``, ``list=``...). A playlist or channel URL is not a video.
    """
    if not isinstance(value, str) or len(value) > MAX_LINK_LENGTH:
        return None
    parts = _split(value)
    host = _host(parts) if parts else None
    if parts is None or host is None:
        return None
    segments = _segments(parts.path)
    candidate: str | None = None
    if host in _YOUTU_BE_HOSTS:
        candidate = segments[0] if len(segments) == 1 else None
    elif host in _YOUTUBE_HOSTS:
        if segments == ["watch"]:
            candidate = _query(parts).get("v")
        elif len(segments) == 2 and segments[0] in _YOUTUBE_PATH_PREFIXES:
            candidate = segments[1]
    if candidate is not None and _VIDEO_ID.fullmatch(candidate):
        return candidate
    return None


def _is_drive_id(value: str | None) -> bool:
    return value is not None and _DRIVE_ID.fullmatch(value) is not None


def drive_file_id(value: str) -> str | None:
    """The file id of a Google Drive or Docs/Sheets/Slides URL, or of a bare file id; else None.

    Knows ``drive.google.com/file/d/ID/...`` (also ``/file/u/N/d/ID``), ``open?id=``,
    ``uc?id=...&export=download``, ``drive.usercontent.google.com/download?id=``, and
    ``docs.google.com/{document,spreadsheets,presentation}/d/ID/...`` (also ``/u/N/d/ID``).
    A bare id is 25 to 100 characters of letters, digits, ``_`` and ``-``.
    """
    if not isinstance(value, str) or len(value) > MAX_LINK_LENGTH:
        return None
    text = value.strip()
    if _DRIVE_ID.fullmatch(text):
        return text
    parts = _split(text)
    host = _host(parts) if parts else None
    if parts is None or host is None:
        return None
    segments = _segments(parts.path)
    candidate: str | None = None
    if host in _DRIVE_HOSTS:
        if segments and segments[0] == "file":
            candidate = _after_d(segments[1:])
        elif segments in (["open"], ["uc"], ["download"]):
            candidate = _query(parts).get("id")
    elif host in _DOCS_HOSTS and segments and segments[0] in _DOCS_KINDS:
        candidate = _after_d(segments[1:])
    return candidate if _is_drive_id(candidate) else None


def _after_d(segments: list[str]) -> str | None:
    """The id in ``d/ID/...`` or ``u/N/d/ID/...``."""
    if len(segments) >= 3 and segments[0] == "u" and segments[1].isdigit():
        segments = segments[2:]
    if len(segments) >= 2 and segments[0] == "d":
        return segments[1]
    return None


def _is_subdomain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def classify_link(value: str) -> SourceRef:
    """What a submitted reference is: a YouTube video, a Drive file, or an https link.

    Raises BadSource (never anything else) for what we will not fetch: not text, empty, longer
    than 2,048 characters, not https, with credentials, a folder or a page that is not a file.
    """
    if not isinstance(value, str):
        raise BadSource("the link is not text")
    if len(value) > MAX_LINK_LENGTH or len(value.strip()) > MAX_LINK_LENGTH:
        raise BadSource(f"the link is longer than {MAX_LINK_LENGTH:,} characters")
    text = value.strip()
    if not text:
        raise BadSource("the link is empty")
    video = youtube_video_id(text)
    if video is not None:
        return SourceRef("youtube", video, text)
    file_id = drive_file_id(text)
    if file_id is not None:
        return SourceRef("drive", file_id, None if file_id == text else text)
    parts = _split(text)
    if parts is None:
        raise BadSource("this is not a link we can read")
    scheme = parts.scheme.lower()
    if scheme != "https":
        raise BadSource(f"only https links can be used, not {scheme}:")
    if "@" in parts.netloc:
        raise BadSource("the link must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadSource("the link has no host")
    if host in _YOUTUBE_HOSTS or host in _YOUTU_BE_HOSTS:
        raise BadSource("this YouTube link does not point at a single video")
    if host in _DRIVE_HOSTS or host in _DOCS_HOSTS:
        raise BadSource("this Google link does not point at a single file")
    if host in _DROPBOX_HOSTS:
        return SourceRef("link", None, _dropbox_download(parts))
    if host == "1drv.ms" or host == "onedrive.live.com" or _is_subdomain(host, "sharepoint.com"):
        return SourceRef("link", None, _onedrive_download(parts, host))
    return SourceRef("link", None, text if text[:8].lower() == "https://" else parts.geturl())


def _with_query(parts: SplitResult, updates: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    """The URL with `updates` set (replacing earlier values), `drop` removed, no fragment.

    The other parameters are kept byte for byte: share keys are not ours to re-encode.
    """
    kept = [
        item
        for item in parts.query.split("&")
        if item and unquote(item.partition("=")[0]) not in (*updates, *drop)
    ]
    query = "&".join([*kept, urlencode(updates)] if updates else kept)
    return urlunsplit(("https", parts.netloc, parts.path, query, ""))


def _dropbox_download(parts: SplitResult) -> str:
    """A Dropbox file share link with ``dl=1``, which answers with the file itself."""
    segments = _segments(parts.path)
    if segments[:1] == ["sh"] or segments[:2] == ["scl", "fo"]:
        raise BadSource("this is a Dropbox folder; share the file itself")
    if not (segments[:1] == ["s"] or segments[:2] == ["scl", "fi"]):
        raise BadSource("this Dropbox link does not point at a shared file")
    normalized = parts._replace(netloc="www.dropbox.com")
    return _with_query(normalized, {"dl": "1"}, drop=("raw",))


def _onedrive_download(parts: SplitResult, host: str) -> str:
    """OneDrive and SharePoint share links in the form that downloads the file.

    SharePoint's ``/:w:/...`` style links and 1drv.ms short links take ``download=1``;
    onedrive.live.com's ``/redir`` and ``/embed`` pages have a ``/download`` twin.
    """
    segments = _segments(parts.path)
    if segments[:1] == [":f:"] or (host == "1drv.ms" and segments[:1] == ["f"]):
        raise BadSource("this is a shared folder; share the file itself")
    if host == "onedrive.live.com" and segments in (["redir"], ["embed"]):
        return _with_query(parts._replace(path="/download"), {})
    if host == "onedrive.live.com" and segments == ["download"]:
        return _with_query(parts, {})
    return _with_query(parts, {"download": "1"})
