"""YouTube fake serving what youtube-transcript-api 1.2 reads, on the paths it asks for.

The library's URLs are hard-coded to ``https://www.youtube.com``; a client points it here with a
``requests.Session`` that rewrites that origin. It then asks, in order:

1. ``GET /watch?v=ID``: an HTML page holding ``"INNERTUBE_API_KEY": "..."`` (or a cookie consent
   form, see :meth:`FakeYouTube.require_consent`, or a reCAPTCHA page when the IP is blocked);
2. ``POST /youtubei/v1/player?key=KEY``: JSON with ``playabilityStatus`` and
   ``captions.playerCaptionsTracklistRenderer.captionTracks`` (each with a signed ``baseUrl`` on
   this fake, ``languageCode``, ``name.runs[0].text`` and ``kind: "asr"`` when generated);
3. ``GET /api/timedtext?...``: the track as ``<transcript><text start dur>`` XML, its text
   HTML-escaped inside the XML as YouTube does (``I&amp;#39;m``).

What each failure looks like to the library:

- unknown or removed video: player ``ERROR`` "This video is unavailable" -> ``VideoUnavailable``;
- captions disabled: no ``captions`` in the player answer -> ``TranscriptsDisabled``;
- :meth:`FakeYouTube.block_ip` ``"bot"``: player ``LOGIN_REQUIRED`` "Sign in to confirm you're
  not a bot" -> ``RequestBlocked``; ``"captcha"``: the watch page is a reCAPTCHA form ->
  ``IpBlocked``; ``"429"``: every request answers 429 -> ``IpBlocked``;
- an injected 5xx -> ``YouTubeRequestFailed``.
"""

from __future__ import annotations

import hashlib
import html
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape as xml_escape

from flask import Response, jsonify, request

from devstack.fakes.base import JSON, FakeHTTPError, FakeService, ViewResult

INNERTUBE_API_KEY = "AIzaSyFakeInnertubeKeyForLocalTests0000"
BOT_REASON = "Sign in to confirm you\u2019re not a bot"
AGE_REASON = "This video may be inappropriate for some users."
UNAVAILABLE_REASON = "This video is unavailable"
BLOCK_MODES = ("bot", "captcha", "429")
_SIGNING_KEY = b"fake-youtube-timedtext"

LANGUAGE_NAMES = {
    "en": "English",
    "en-US": "English (United States)",
    "en-GB": "English (United Kingdom)",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "sv": "Swedish",
    "ja": "Japanese",
}

Segment = tuple[float, float, str]


@dataclass
class Track:
    language: str
    segments: list[Segment]
    generated: bool = False
    name: str | None = None

    @property
    def display_name(self) -> str:
        base = self.name or LANGUAGE_NAMES.get(self.language, self.language)
        return f"{base} (auto-generated)" if self.generated else base

    @property
    def kind(self) -> str:
        return "asr" if self.generated else ""


@dataclass
class Video:
    id: str
    title: str
    tracks: list[Track] = field(default_factory=list)
    captions_enabled: bool = True
    age_restricted: bool = False
    po_token_required: bool = False
    author: str = "Brightline Sales"

    @property
    def length_seconds(self) -> int:
        ends = [start + duration for t in self.tracks for start, duration, _ in t.segments]
        return int(max(ends, default=0.0)) + 1


def _signature(video_id: str, language: str, kind: str, expire: str) -> str:
    material = "|".join((video_id, language, kind, expire)).encode()
    return hashlib.sha1(_SIGNING_KEY + material).hexdigest().upper()


class FakeYouTube(FakeService):
    """YouTube fake. Seed JSON::

    {"videos": [{"id": "dQw4w9WgXcQ", "title": "Demo call",
                 "transcripts": {"en": [[0.0, 2.5, "Hello there"], ...]},
                 "generated_languages": ["en"]}],
     "block_ip": "bot", "require_consent": false}
    """

    name = "youtube"

    def __init__(self) -> None:
        super().__init__()
        self.videos: dict[str, Video] = {}
        self.blocked: str | None = None
        self.consent_required = False
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def add_video(
        self,
        video_id: str,
        title: str = "Untitled",
        transcripts: dict[str, list[Segment]] | None = None,
        generated_languages: tuple[str, ...] | list[str] = (),
    ) -> Video:
        """A playable video with one caption track per language of `transcripts`.

        Languages in `generated_languages` are YouTube's automatic captions (``kind: asr``);
        the others were uploaded by the channel. Segments are ``(start, duration, text)``.
        """
        video = Video(video_id, title)
        for language, segments in (transcripts or {}).items():
            video.tracks.append(
                Track(language, list(segments), generated=language in generated_languages)
            )
        with self.lock:
            self.videos[video_id] = video
        return video

    def add_track(
        self,
        video_id: str,
        language: str,
        segments: list[Segment],
        generated: bool = False,
        name: str | None = None,
    ) -> None:
        """One more caption track (e.g. a generated one beside an uploaded one)."""
        with self.lock:
            self.videos[video_id].tracks.append(Track(language, list(segments), generated, name))

    def disable_captions(self, video_id: str) -> None:
        with self.lock:
            self.videos[video_id].captions_enabled = False

    def remove_video(self, video_id: str) -> None:
        """The video becomes unavailable (deleted, private or never existed look the same)."""
        with self.lock:
            self.videos.pop(video_id, None)

    def restrict_age(self, video_id: str) -> None:
        with self.lock:
            self.videos[video_id].age_restricted = True

    def require_po_token(self, video_id: str) -> None:
        """Caption URLs carry ``&exp=xpe``: the library refuses them (``PoTokenRequired``)."""
        with self.lock:
            self.videos[video_id].po_token_required = True

    def block_ip(self, mode: str = "bot") -> None:
        """YouTube stops serving this client: ``bot`` (player asks to sign in, what cloud IPs
        mostly see), ``captcha`` (watch page is a reCAPTCHA) or ``429`` (every request)."""
        if mode not in BLOCK_MODES:
            raise ValueError(f"mode must be one of {BLOCK_MODES}")
        with self.lock:
            self.blocked = mode

    def unblock_ip(self) -> None:
        with self.lock:
            self.blocked = None

    def require_consent(self, required: bool = True) -> None:
        """The watch page is the EU cookie consent form until a ``CONSENT=YES+...`` cookie."""
        with self.lock:
            self.consent_required = required

    # ----------------------------------------------------------------- FakeService hooks

    def _reset_state(self) -> None:
        self.videos.clear()
        self.blocked = None
        self.consent_required = False

    def _seed(self, data: JSON) -> None:
        for item in data.get("videos", []):
            transcripts = {
                language: [(float(s), float(d), str(t)) for s, d, t in segments]
                for language, segments in (item.get("transcripts") or {}).items()
            }
            video = self.add_video(
                item["id"],
                item.get("title", "Untitled"),
                transcripts,
                tuple(item.get("generated_languages", ())),
            )
            video.captions_enabled = bool(item.get("captions_enabled", True))
        if "block_ip" in data:
            if data["block_ip"]:
                self.block_ip(str(data["block_ip"]))
            else:
                self.unblock_ip()
        if "require_consent" in data:
            self.require_consent(bool(data["require_consent"]))

    def _state(self) -> JSON:
        return {
            "blocked": self.blocked,
            "consent_required": self.consent_required,
            "videos": [
                {
                    "id": v.id,
                    "title": v.title,
                    "captions_enabled": v.captions_enabled,
                    "tracks": [
                        {
                            "language": t.language,
                            "generated": t.generated,
                            "segments": len(t.segments),
                        }
                        for t in v.tracks
                    ],
                }
                for v in self.videos.values()
            ],
        }

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        statuses = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        return {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "error"}],
                "status": statuses.get(status, "UNAVAILABLE" if status >= 500 else "UNKNOWN"),
            }
        }

    # ----------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        self.route("/watch")(self._watch)
        self.route("/youtubei/v1/player", methods=("POST",))(self._player)
        self.route("/api/timedtext")(self._timedtext)

    def _too_many_requests(self) -> Response | None:
        if self.blocked != "429":
            return None
        page = (
            "<html><head><title>Sorry...</title></head><body><div>We're sorry... but your "
            "computer or network may be sending automated queries. To protect our users, we "
            "can't process your request right now.</div></body></html>"
        )
        return Response(page, status=429, mimetype="text/html")

    def _watch(self) -> ViewResult:
        refused = self._too_many_requests()
        if refused is not None:
            return refused
        video_id = request.args.get("v", "")
        if self.blocked == "captcha":
            return Response(_captcha_page(), status=200, mimetype="text/html")
        if self.consent_required and not request.cookies.get("CONSENT", "").startswith("YES+"):
            return Response(_consent_page(video_id), status=200, mimetype="text/html")
        video = self.videos.get(video_id)
        return Response(_watch_page(video_id, video), status=200, mimetype="text/html")

    def _player(self) -> ViewResult:
        refused = self._too_many_requests()
        if refused is not None:
            return refused
        if request.args.get("key") != INNERTUBE_API_KEY:
            raise FakeHTTPError(400, "API key not valid. Please pass a valid API key.")
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("videoId"), str):
            raise FakeHTTPError(400, "Request contains an invalid argument.")
        video_id = payload["videoId"]
        if self.blocked == "bot":
            return jsonify(
                {
                    "playabilityStatus": {
                        "status": "LOGIN_REQUIRED",
                        "reason": BOT_REASON,
                        "errorScreen": _error_screen(BOT_REASON, []),
                    }
                }
            )
        video = self.videos.get(video_id)
        if video is None:
            return jsonify(
                {
                    "playabilityStatus": {
                        "status": "ERROR",
                        "reason": UNAVAILABLE_REASON,
                        "errorScreen": _error_screen(UNAVAILABLE_REASON, []),
                    }
                }
            )
        if video.age_restricted:
            return jsonify(
                {
                    "playabilityStatus": {
                        "status": "LOGIN_REQUIRED",
                        "reason": AGE_REASON,
                        "errorScreen": _error_screen(AGE_REASON, []),
                    }
                }
            )
        body: JSON = {
            "responseContext": {"visitorData": "CgtGYWtlVmlzaXRvcg%3D%3D"},
            "playabilityStatus": {"status": "OK", "playableInEmbed": True},
            "videoDetails": {
                "videoId": video.id,
                "title": video.title,
                "lengthSeconds": str(video.length_seconds),
                "author": video.author,
                "isPrivate": False,
            },
        }
        if video.captions_enabled and video.tracks:
            body["captions"] = {
                "playerCaptionsTracklistRenderer": self._tracklist(video, request.host_url)
            }
        return jsonify(body)

    def _tracklist(self, video: Video, origin: str) -> JSON:
        expire = str(int(time.time()) + 6 * 3600)
        tracks = []
        for track in video.tracks:
            params = {
                "v": video.id,
                "ei": "FakeEventId",
                "caps": "asr",
                "opi": "112496729",
                "xoaf": "5",
                "hl": "en",
                "ip": "0.0.0.0",
                "ipbits": "0",
                "expire": expire,
                "sparams": "ip,ipbits,expire,v,ei,caps,opi,xoaf",
                "signature": _signature(video.id, track.language, track.kind, expire),
                "key": "yt8",
            }
            if track.generated:
                params["kind"] = "asr"
            params["lang"] = track.language
            url = f"{origin}api/timedtext?{urlencode(params)}"
            if video.po_token_required:
                url += "&exp=xpe"
            url += "&fmt=srv3"
            entry: JSON = {
                "baseUrl": url,
                "name": {"runs": [{"text": track.display_name}]},
                "vssId": ("a." if track.generated else ".") + track.language,
                "languageCode": track.language,
                "isTranslatable": True,
                "trackName": "",
            }
            if track.generated:
                entry["kind"] = "asr"
            tracks.append(entry)
        return {
            "captionTracks": tracks,
            "audioTracks": [{"captionTrackIndices": list(range(len(tracks)))}],
            "translationLanguages": [
                {"languageCode": code, "languageName": {"runs": [{"text": name}]}}
                for code, name in LANGUAGE_NAMES.items()
                if "-" not in code
            ],
            "defaultAudioTrackIndex": 0,
        }

    def _timedtext(self) -> ViewResult:
        refused = self._too_many_requests()
        if refused is not None:
            return refused
        args = request.args
        video = self.videos.get(args.get("v", ""))
        kind = args.get("kind", "")
        language = args.get("lang", "")
        expected = _signature(args.get("v", ""), language, kind, args.get("expire", ""))
        if video is None or args.get("signature") != expected:
            return Response("", status=404, mimetype="text/html")
        if int(args.get("expire", "0") or 0) < time.time():
            return Response("", status=403, mimetype="text/html")
        track = next(
            (t for t in video.tracks if t.language == language and t.kind == kind),
            None,
        )
        if track is None or not video.captions_enabled:
            return Response("", status=404, mimetype="text/html")
        source = track.segments
        if args.get("tlang"):
            source = [(s, d, f"[{args['tlang']}] {t}") for s, d, t in source]
        return Response(_timedtext_xml(source), status=200, mimetype="text/xml")


def _timedtext_xml(segments: list[Segment]) -> str:
    lines = ['<?xml version="1.0" encoding="utf-8" ?><transcript>']
    for start, duration, text in segments:
        escaped = xml_escape(html.escape(text, quote=True))
        lines.append(f'<text start="{start:g}" dur="{duration:g}">{escaped}</text>')
    lines.append("</transcript>")
    return "".join(lines)


def _error_screen(reason: str, subreasons: list[str]) -> JSON:
    return {
        "playerErrorMessageRenderer": {
            "reason": {"simpleText": reason},
            "subreason": {"runs": [{"text": text} for text in subreasons]},
        }
    }


def _watch_page(video_id: str, video: Video | None) -> str:
    title = html.escape(video.title if video else "YouTube")
    config = json.dumps(
        {
            "INNERTUBE_API_KEY": INNERTUBE_API_KEY,
            "INNERTUBE_CLIENT_NAME": "WEB",
            "INNERTUBE_CLIENT_VERSION": "2.20261101.00.00",
            "VISITOR_DATA": "CgtGYWtlVmlzaXRvcg%3D%3D",
        }
    )
    return (
        '<!DOCTYPE html><html lang="en" dir="ltr"><head>'
        f"<title>{title} - YouTube</title>"
        f'<meta property="og:url" content="https://www.youtube.com/watch?v={html.escape(video_id)}">'
        f"<script>ytcfg.set({config});</script>"
        '</head><body><div id="player"></div></body></html>'
    )


def _consent_page(video_id: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Before you continue to YouTube</title></head><body>"
        '<form action="https://consent.youtube.com/s" method="POST">'
        '<input type="hidden" name="gl" value="DE">'
        '<input type="hidden" name="m" value="0">'
        '<input type="hidden" name="pc" value="yt">'
        f'<input type="hidden" name="continue" value="https://www.youtube.com/watch?v={html.escape(video_id)}">'
        '<input type="hidden" name="v" value="cb.20261101-08-p0.en+FX+410">'
        '<button type="submit">Accept all</button></form></body></html>'
    )


def _captcha_page() -> str:
    return (
        "<!DOCTYPE html><html><head><title>https://www.youtube.com/</title></head><body>"
        "<div>Our systems have detected unusual traffic from your computer network.</div>"
        '<form id="captcha-form" action="index" method="post">'
        '<div class="g-recaptcha" data-sitekey="6LfwuyUTAAAAAOAmoS0fdqijC2PbbdH4kjq62Y1b">'
        "</div></form></body></html>"
    )


__all__ = ["BLOCK_MODES", "INNERTUBE_API_KEY", "FakeYouTube", "Track", "Video"]
