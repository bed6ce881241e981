"""The YouTube fake, driven by youtube-transcript-api itself through a session that sends
https://www.youtube.com to the fake (the stack's YOUTUBE_BASE_URL)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from youtube_transcript_api import (
    AgeRestricted,
    IpBlocked,
    PoTokenRequired,
    RequestBlocked,
    TranscriptsDisabled,
    VideoUnavailable,
    YouTubeRequestFailed,
    YouTubeTranscriptApi,
)

from devstack.fakes import FakeYouTube
from shared.config import get_settings

pytestmark = pytest.mark.stack

VIDEO = "dQw4w9WgXcQ"
YOUTUBE = "https://www.youtube.com"


class ToFake(requests.Session):
    def __init__(self, origin: str) -> None:
        super().__init__()
        self.origin = origin
        self.urls: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        self.urls.append(url)
        assert url.startswith((YOUTUBE + "/", self.origin + "/")), url
        request.url = url.replace(YOUTUBE, self.origin, 1)
        kwargs.setdefault("timeout", 5)
        return super().send(request, **kwargs)


@pytest.fixture
def youtube(local: Any) -> FakeYouTube:
    fake = local.fakes["youtube"][0]
    assert isinstance(fake, FakeYouTube)
    return fake


@pytest.fixture
def session(local: Any) -> ToFake:
    return ToFake(get_settings().youtube_base_url)


def _api(session: ToFake) -> YouTubeTranscriptApi:
    return YouTubeTranscriptApi(http_client=session)


def test_the_library_fetches_an_uploaded_transcript_from_the_fake(youtube, session):
    youtube.add_video(
        VIDEO,
        "Discovery call tips",
        {"en": [(0.0, 2.5, "Hi, I'm Maya & <b>this</b> is"), (2.5, 3.0, "how we run calls.")]},
    )

    fetched = _api(session).fetch(VIDEO, languages=["en"])

    assert fetched.language_code == "en"
    assert not fetched.is_generated
    assert [(s.start, s.duration, s.text) for s in fetched] == [
        (0.0, 2.5, "Hi, I'm Maya & this is"),
        (2.5, 3.0, "how we run calls."),
    ]
    paths = [r["path"] for r in youtube.requests]
    assert paths == ["/watch", "/youtubei/v1/player", "/api/timedtext"]


def test_generated_tracks_are_marked_and_listed_after_uploaded_ones(youtube, session):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 1, "hello")], "de": [(0, 1, "hallo")]}, ("en",))

    tracks = [(t.language_code, t.is_generated, t.language) for t in _api(session).list(VIDEO)]

    assert tracks == [("de", False, "German"), ("en", True, "English (auto-generated)")]
    fetched = _api(session).fetch(VIDEO, languages=["en"])
    assert fetched.is_generated
    assert fetched[0].text == "hello"


@pytest.mark.parametrize(
    ("arrange", "error"),
    [
        (lambda yt: yt.disable_captions(VIDEO), TranscriptsDisabled),
        (lambda yt: yt.remove_video(VIDEO), VideoUnavailable),
        (lambda yt: yt.restrict_age(VIDEO), AgeRestricted),
        (lambda yt: yt.require_po_token(VIDEO), PoTokenRequired),
        (lambda yt: yt.block_ip("bot"), RequestBlocked),
        (lambda yt: yt.block_ip("captcha"), IpBlocked),
        (lambda yt: yt.block_ip("429"), IpBlocked),
        (lambda yt: yt.inject_fault(503, path_prefix="/youtubei/"), YouTubeRequestFailed),
    ],
    ids=["disabled", "removed", "age", "po-token", "bot", "captcha", "429", "5xx"],
)
def test_each_failure_reaches_the_library_as_its_own_error(youtube, session, arrange, error):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 1, "hello")]})
    arrange(youtube)

    with pytest.raises(error):
        _api(session).fetch(VIDEO)


def test_blocking_can_be_lifted(youtube, session):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 1, "hello")]})
    youtube.block_ip("bot")
    with pytest.raises(RequestBlocked):
        _api(session).fetch(VIDEO)
    youtube.unblock_ip()
    assert _api(session).fetch(VIDEO)[0].text == "hello"


def test_the_cookie_consent_page_is_passed_with_the_librarys_cookie(youtube, session):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 1, "hello")]})
    youtube.require_consent()

    assert _api(session).fetch(VIDEO)[0].text == "hello"
    assert len(youtube.requests_to("/watch")) == 2  # the consent form, then the page
    assert session.cookies.get("CONSENT", domain=".youtube.com", default="").startswith("YES+")


def test_caption_urls_are_signed(youtube, session, local):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 1, "hello")]})
    transcript = next(iter(_api(session).list(VIDEO)))
    good = transcript._url.replace(YOUTUBE, local.fake_url("youtube"))

    assert requests.get(good, timeout=5).status_code == 200
    assert requests.get(good.replace("lang=en", "lang=de"), timeout=5).status_code == 404
    assert requests.get(good.replace("signature=", "signature=X"), timeout=5).status_code == 404


def test_the_player_refuses_a_wrong_api_key(local):
    answer = requests.post(
        f"{local.fake_url('youtube')}/youtubei/v1/player?key=wrong",
        json={"videoId": VIDEO},
        timeout=5,
    )
    assert answer.status_code == 400
    assert "API key not valid" in answer.json()["error"]["message"]


def test_seed_over_http(youtube, session, local):
    base = local.fake_url("youtube")
    seed = {
        "videos": [
            {
                "id": VIDEO,
                "title": "Seeded",
                "transcripts": {"fr": [[0, 2, "Bonjour à tous"]]},
                "generated_languages": ["fr"],
            }
        ]
    }
    assert requests.post(f"{base}/_fake/seed", json=seed, timeout=5).status_code == 200

    fetched = _api(session).fetch(VIDEO, languages=["fr"])
    assert (fetched.language_code, fetched.is_generated, fetched[0].text) == (
        "fr",
        True,
        "Bonjour à tous",
    )
    state = requests.get(f"{base}/_fake/state", timeout=5).json()
    assert state["videos"][0]["tracks"] == [{"language": "fr", "generated": True, "segments": 1}]
