"""YouTube transcripts through youtube-transcript-api, as readable text for voice samples.

The library's URLs are fixed to https://www.youtube.com; when `base_url` is another origin (a
local fake), the session rewrites every request to it, including caption URLs and redirects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    import requests

YOUTUBE_ORIGIN = "https://www.youtube.com"
PARAGRAPH_SECONDS = 30.0
LONGEST_PARAGRAPH_SECONDS = 60.0
_VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_HOSTS = {
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
}
_PATH_PREFIXES = ("embed", "shorts", "live", "v", "e")
_CUE_RE = re.compile(
    r"\[[^\]]{0,40}\]"
    r"|\((?:music|applause|laughter|laughs|laughing|inaudible|silence|cheering|crosstalk"
    r"|background noise|coughs?)\)"
    r"|[♪♫]+",
    re.IGNORECASE,
)
_SPEAKER_MARK_RE = re.compile(r"^\s*(?:>>+|-)\s*")
_SENTENCE_END_RE = re.compile(r"[.!?…][\"')\]]*$")


@dataclass(frozen=True)
class Transcript:
    video_id: str
    language: str
    generated: bool
    text: str
    segments: int


class TranscriptUnavailable(Exception):
    """No usable transcript; `reason` is for the rep, `retryable` says if later may work."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def video_id_from_url(url: str) -> str | None:
    """The video id of a YouTube link (watch, youtu.be, shorts, embed, live), else None."""
    candidate = url.strip()
    if _VIDEO_ID_RE.match(candidate):
        return candidate
    if "://" not in candidate:
        candidate = "https://" + candidate
    parts = urlsplit(candidate)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    found: str | None = None
    if host == "youtu.be" and segments:
        found = segments[0]
    elif host in _YOUTUBE_HOSTS:
        if segments[:1] == ["watch"] or not segments:
            values = parse_qs(parts.query).get("v") or []
            found = values[0] if values else None
        elif len(segments) >= 2 and segments[0] in _PATH_PREFIXES:
            found = segments[1]
    return found if found and _VIDEO_ID_RE.match(found) else None


def _rewriting_session(base_url: str, timeout: float) -> requests.Session:
    import requests

    origin = base_url.rstrip("/")

    class RewritingSession(requests.Session):
        """Sends requests for https://www.youtube.com to `origin`, with a default timeout.

        The rewrite happens in ``send`` (after cookies were chosen for youtube.com, so the
        library's consent cookie still applies) and therefore covers redirects as well.
        """

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            url = request.url or ""
            if origin != YOUTUBE_ORIGIN and (
                url == YOUTUBE_ORIGIN or url.startswith(YOUTUBE_ORIGIN + "/")
            ):
                request.url = origin + url[len(YOUTUBE_ORIGIN) :]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, **kwargs)

    return RewritingSession()


class YouTubeTranscripts:
    """Fetch one video's transcript in the best available language."""

    def __init__(self, base_url: str = YOUTUBE_ORIGIN, *, timeout: float = 20.0) -> None:
        self.base_url = base_url
        self.timeout = timeout

    def fetch(self, video_id: str, languages: list[str]) -> Transcript:
        """Uploaded captions in a preferred language first, then generated ones in a preferred
        language, then uploaded, then generated captions in any other language."""
        import requests
        from youtube_transcript_api import YouTubeTranscriptApi

        if not _VIDEO_ID_RE.match(video_id):
            raise TranscriptUnavailable(f"{video_id!r} is not a YouTube video id.")
        session = _rewriting_session(self.base_url, self.timeout)
        api = YouTubeTranscriptApi(http_client=session)
        try:
            listing = list(api.list(video_id))
            chosen = _choose(listing, languages)
            if chosen is None:
                raise TranscriptUnavailable("The video has no transcript in any language.")
            fetched = chosen.fetch()
        except TranscriptUnavailable:
            raise
        except requests.exceptions.JSONDecodeError:
            raise TranscriptUnavailable(
                "YouTube answered with something that is not a transcript; try again later.",
                retryable=True,
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TranscriptUnavailable(
                f"YouTube could not be reached ({type(exc).__name__}); try again later.",
                retryable=True,
            ) from None
        except Exception as exc:
            raise _unavailable(exc) from None
        finally:
            session.close()
        text, count = transcript_text(
            (snippet.start, snippet.duration, snippet.text) for snippet in fetched
        )
        if not text:
            raise TranscriptUnavailable("The transcript holds no spoken words.")
        return Transcript(
            video_id=video_id,
            language=chosen.language_code,
            generated=bool(chosen.is_generated),
            text=text,
            segments=count,
        )


def _same_language(code: str, wanted: str) -> bool:
    return code.lower().split("-")[0] == wanted.lower().split("-")[0]


def _choose(transcripts: Sequence[Any], languages: Sequence[str]) -> Any:
    for generated in (False, True):
        pool = [t for t in transcripts if bool(t.is_generated) == generated]
        for wanted in languages:
            exact = [t for t in pool if t.language_code.lower() == wanted.lower()]
            close = [t for t in pool if _same_language(t.language_code, wanted)]
            if exact or close:
                return (exact or close)[0]
    for generated in (False, True):
        for transcript in transcripts:
            if bool(transcript.is_generated) == generated:
                return transcript
    return None


def _unavailable(exc: Exception) -> TranscriptUnavailable:
    from xml.etree.ElementTree import ParseError

    from youtube_transcript_api import (
        AgeRestricted,
        FailedToCreateConsentCookie,
        InvalidVideoId,
        NoTranscriptFound,
        PoTokenRequired,
        RequestBlocked,
        TranscriptsDisabled,
        VideoUnavailable,
        VideoUnplayable,
        YouTubeDataUnparsable,
        YouTubeRequestFailed,
    )

    if isinstance(exc, TranscriptsDisabled):
        return TranscriptUnavailable("Captions are turned off for this video.")
    if isinstance(exc, NoTranscriptFound):
        return TranscriptUnavailable("The video has no transcript in the wanted languages.")
    if isinstance(exc, (VideoUnavailable, InvalidVideoId)):
        return TranscriptUnavailable(
            "The video is unavailable (removed, private, or the link is wrong)."
        )
    if isinstance(exc, AgeRestricted):
        return TranscriptUnavailable("The video is age-restricted; its captions need a sign-in.")
    if isinstance(exc, RequestBlocked):
        return TranscriptUnavailable(
            "YouTube is refusing requests from this server (blocked or rate limited); "
            "try again later.",
            retryable=True,
        )
    if isinstance(exc, PoTokenRequired):
        return TranscriptUnavailable(
            "YouTube asks for a proof-of-origin token for this video's captions; "
            "they cannot be read here."
        )
    if isinstance(exc, VideoUnplayable):
        return TranscriptUnavailable(f"The video cannot be played ({exc.reason or 'no reason'}).")
    if isinstance(exc, YouTubeRequestFailed):
        status = _http_status(exc)
        return TranscriptUnavailable(
            f"YouTube answered with an error ({status or 'no status'}); "
            + ("try again later." if _worth_retrying(status) else "it will not pass by itself."),
            retryable=_worth_retrying(status),
        )
    if isinstance(exc, FailedToCreateConsentCookie):
        return TranscriptUnavailable(
            "YouTube's cookie consent page could not be passed; try again later.",
            retryable=True,
        )
    if isinstance(exc, (YouTubeDataUnparsable, ParseError)):
        return TranscriptUnavailable("YouTube's answer could not be read.")
    return TranscriptUnavailable(f"The transcript could not be fetched ({type(exc).__name__}).")


def _http_status(exc: Exception) -> int:
    """The HTTP status behind YouTubeRequestFailed (it keeps only the message)."""
    response = getattr(exc.__context__, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    match = re.match(r"\s*(\d{3})\b", str(getattr(exc, "reason", "")))
    return int(match.group(1)) if match else 0


def _worth_retrying(status: int) -> bool:
    return status == 0 or status >= 500 or status in (403, 408)


def transcript_text(snippets: Iterable[tuple[float, float, str]]) -> tuple[str, int]:
    """Caption snippets as paragraphs (about 30 s each, broken after a sentence when there is
    punctuation) without ``[Music]``-style cues; returns (text, snippets kept)."""
    paragraphs: list[str] = []
    words: list[str] = []
    started: float | None = None
    kept = 0
    for start, _duration, raw in snippets:
        text = _SPEAKER_MARK_RE.sub("", _CUE_RE.sub(" ", raw.replace("\n", " ")))
        text = " ".join(text.split())
        if not text:
            continue
        kept += 1
        if started is None:
            started = start
        words.append(text)
        elapsed = start - started
        sentence_done = bool(_SENTENCE_END_RE.search(text))
        has_punctuation = any(_SENTENCE_END_RE.search(w) for w in words)
        if elapsed >= LONGEST_PARAGRAPH_SECONDS or (
            elapsed >= PARAGRAPH_SECONDS and (sentence_done or not has_punctuation)
        ):
            paragraphs.append(" ".join(words))
            words, started = [], None
    if words:
        paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs), kept
