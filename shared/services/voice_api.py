"""The voice API's requests, turned into service calls. Every input is checked here and a
bad one answers 400 before anything is written."""

from __future__ import annotations

import hashlib
from typing import Any

from shared.domain.mail import normalize_email
from shared.errors import BadRequest, PayloadTooLarge
from shared.services.voice import VoiceService, public_sample

HUBSPOT_TYPES = ("contact", "deal")
MAX_VALUE_CHARS = 2_048


def rep_of(value: Any) -> str:
    rep = normalize_email(str(value or ""))
    if rep is None:
        raise BadRequest("rep must be the rep's email address")
    return rep


def submit_upload(
    service: VoiceService,
    rep: str,
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    title: str | None,
    max_bytes: int,
) -> tuple[dict[str, Any], bool]:
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:200] or None
    return service.accept(
        rep,
        "upload",
        key=hashlib.sha256(data).hexdigest(),
        source_id=None,
        title=title or name,
        upload=data,
        filename=name,
        content_type=(content_type or "")[:100] or None,
    )


def submit_reference(
    service: VoiceService, body: dict[str, Any], allow_hosts: tuple[str, ...] = ()
) -> tuple[dict[str, Any], bool]:
    """A JSON submission: `{"rep", "source": "drive"|"youtube"|"link"|"hubspot"|"auto",
    "value": url or id, "object_type": "contact"|"deal" (hubspot), "title"?}`."""
    from shared.domain.sources import BadSource, classify_link, drive_file_id, youtube_video_id

    rep = rep_of(body.get("rep"))
    source = str(body.get("source") or "auto").strip().lower()
    value = str(body.get("value") or body.get("url") or body.get("id") or "").strip()
    title = str(body.get("title") or "").strip()[:300] or None
    if not value or len(value) > MAX_VALUE_CHARS:
        raise BadRequest("value must be a link or an id (at most 2,048 characters)")
    if source == "hubspot":
        object_type = str(body.get("object_type") or "").strip().lower()
        if object_type not in HUBSPOT_TYPES or not value.isdigit():
            raise BadRequest("a HubSpot sample needs object_type contact or deal and a numeric id")
        return service.accept(
            rep,
            "hubspot",
            key=f"{object_type}:{value}",
            source_id=value,
            title=title or f"HubSpot {object_type} {value}",
            metadata={"object_type": object_type},
        )
    if source == "youtube":
        video = youtube_video_id(value)
        if video is None:
            raise BadRequest("not a YouTube video link")
        return _youtube(service, rep, video, value, title)
    if source == "drive":
        file_id = drive_file_id(value)
        if file_id is None:
            raise BadRequest("not a Google Drive link or file id")
        return _drive(service, rep, file_id, value, title)
    if source not in ("auto", "link"):
        raise BadRequest(f"unknown source {source!r}")
    if _allowed_plain_http(value, allow_hosts):
        return service.accept(rep, "link", key=value, source_url=value, title=title)
    try:
        ref = classify_link(value)
    except BadSource as exc:
        raise BadRequest(exc.reason) from None
    if ref.kind == "youtube" and ref.id:
        return _youtube(service, rep, ref.id, value, title)
    if ref.kind == "drive" and ref.id:
        return _drive(service, rep, ref.id, value, title)
    url = ref.url or value
    return service.accept(rep, "link", key=url, source_url=url, title=title)


def _youtube(
    service: VoiceService, rep: str, video: str, url: str, title: str | None
) -> tuple[dict[str, Any], bool]:
    return service.accept(
        rep,
        "youtube",
        key=video,
        source_id=video,
        source_url=f"https://www.youtube.com/watch?v={video}",
        title=title or f"YouTube video {video}",
    )


def _drive(
    service: VoiceService, rep: str, file_id: str, url: str, title: str | None
) -> tuple[dict[str, Any], bool]:
    return service.accept(
        rep,
        "drive",
        key=file_id,
        source_id=file_id,
        source_url=url if url.startswith("https://") else None,
        title=title or f"Drive file {file_id}",
    )


def accepted(sample: dict[str, Any], created: bool) -> tuple[dict[str, Any], int]:
    return {"sample": public_sample(sample), "created": created}, 202 if created else 200


def _allowed_plain_http(value: str, allow_hosts: tuple[str, ...]) -> bool:
    """A local file server the devstack allows (LINK_FETCH_ALLOW_HOSTS, empty in production)."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    return parts.scheme == "http" and bool(allow_hosts) and parts.netloc in allow_hosts


def asset_folder(value: Any) -> str:
    """A Drive folder link or id."""
    import re

    text = str(value or "").strip()
    match = re.search(r"/folders/([A-Za-z0-9_-]{10,100})", text)
    folder = match.group(1) if match else text
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,100}", folder):
        raise BadRequest("folder must be a Google Drive folder link or id")
    return folder


def situation_of(body: dict[str, Any]) -> Any:
    from shared.domain.assets import Situation

    text = str(body.get("text") or "").strip()
    if not text or len(text) > 4000:
        raise BadRequest("text must describe the situation (at most 4,000 characters)")

    def tag(name: str) -> str | None:
        value = body.get(name)
        return str(value)[:60] if isinstance(value, str) and value.strip() else None

    return Situation(text, tag("industry"), tag("product"), tag("stage"))
