"""Our YouTube adapter against the YouTube fake, through youtube-transcript-api (base URL from
the stack's settings)."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.fakes import FakeYouTube
from devstack.serving import free_port
from shared.adapters.youtube import (
    Transcript,
    TranscriptUnavailable,
    YouTubeTranscripts,
    transcript_text,
    video_id_from_url,
)
from shared.config import get_settings

pytestmark = pytest.mark.stack

VIDEO = "aB3dE5fG7h_"
CALL = [
    (0.0, 3.1, "[Music]"),
    (3.1, 4.0, "Hi, I'm Maya from Brightline."),
    (7.1, 3.5, "Thanks for making time today."),
    (10.6, 2.0, "(Laughter)"),
]


@pytest.fixture
def youtube(local: Any) -> FakeYouTube:
    fake = local.fakes["youtube"][0]
    assert isinstance(fake, FakeYouTube)
    return fake


def _transcripts() -> YouTubeTranscripts:
    return YouTubeTranscripts(get_settings().youtube_base_url, timeout=5)


def _unavailable(languages: list[str] | None = None) -> TranscriptUnavailable:
    with pytest.raises(TranscriptUnavailable) as raised:
        _transcripts().fetch(VIDEO, languages or ["en"])
    return raised.value


def test_an_uploaded_english_transcript_becomes_clean_text(youtube):
    youtube.add_video(VIDEO, "Discovery call", {"en": CALL})

    transcript = _transcripts().fetch(VIDEO, ["en"])

    assert transcript == Transcript(
        video_id=VIDEO,
        language="en",
        generated=False,
        text="Hi, I'm Maya from Brightline. Thanks for making time today.",
        segments=2,
    )
    assert [r["path"] for r in youtube.requests] == [
        "/watch",
        "/youtubei/v1/player",
        "/api/timedtext",
    ]


def test_generated_captions_are_used_when_no_uploaded_ones_exist(youtube):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 2, "so um this is the demo")]}, ("en",))

    transcript = _transcripts().fetch(VIDEO, ["en"])

    assert (transcript.language, transcript.generated) == ("en", True)
    assert transcript.text == "so um this is the demo"


def test_uploaded_captions_in_a_preferred_language_beat_generated_ones(youtube):
    youtube.add_video(VIDEO, "Demo", {"en": [(0, 2, "auto english")]}, ("en",))
    youtube.add_track(VIDEO, "de", [(0, 2, "Hallo zusammen.")])

    transcript = _transcripts().fetch(VIDEO, ["en", "de"])

    assert (transcript.language, transcript.generated, transcript.text) == (
        "de",
        False,
        "Hallo zusammen.",
    )


def test_a_regional_track_matches_its_language(youtube):
    youtube.add_video(VIDEO, "Demo", {"fr": [(0, 2, "Bonjour.")], "en-GB": [(0, 2, "Hello.")]})

    assert _transcripts().fetch(VIDEO, ["en"]).language == "en-GB"


def test_another_language_is_used_when_none_preferred_exists(youtube):
    youtube.add_video(
        VIDEO, "Demo", {"es": [(0, 2, "auto")], "fr": [(0, 2, "Bonjour à tous.")]}, ("es",)
    )

    transcript = _transcripts().fetch(VIDEO, ["en"])

    assert (transcript.language, transcript.generated, transcript.text) == (
        "fr",
        False,
        "Bonjour à tous.",
    )


def test_captions_turned_off(youtube):
    youtube.add_video(VIDEO, "Demo", {"en": CALL})
    youtube.disable_captions(VIDEO)

    error = _unavailable()

    assert "Captions are turned off" in error.reason
    assert not error.retryable


def test_a_video_with_no_tracks_has_no_transcript(youtube):
    youtube.add_video(VIDEO, "Silent", {})

    error = _unavailable()

    assert not error.retryable
    assert "Captions are turned off" in error.reason


def test_an_unavailable_video(youtube):
    youtube.add_video(VIDEO, "Demo", {"en": CALL})
    youtube.remove_video(VIDEO)

    error = _unavailable()

    assert "unavailable" in error.reason
    assert not error.retryable


@pytest.mark.parametrize("mode", ["bot", "captcha", "429"])
def test_a_blocked_server_may_try_again_later(youtube, mode):
    youtube.add_video(VIDEO, "Demo", {"en": CALL})
    youtube.block_ip(mode)

    error = _unavailable()

    assert error.retryable
    assert "refusing requests" in error.reason


def test_a_youtube_5xx_may_pass(youtube):
    youtube.add_video(VIDEO, "Demo", {"en": CALL})
    youtube.inject_fault(503, path_prefix="/api/timedtext")

    error = _unavailable()

    assert error.retryable
    assert "503" in error.reason
    assert _transcripts().fetch(VIDEO, ["en"]).segments == 2


def test_youtube_out_of_reach_may_pass(local):
    transcripts = YouTubeTranscripts(f"http://127.0.0.1:{free_port()}", timeout=2)

    with pytest.raises(TranscriptUnavailable) as raised:
        transcripts.fetch(VIDEO, ["en"])

    assert raised.value.retryable
    assert "could not be reached" in raised.value.reason


def test_a_transcript_of_only_cues_is_refused(youtube):
    youtube.add_video(VIDEO, "Intro", {"en": [(0, 5, "[Music]"), (5, 5, "♪ ♪")]})

    error = _unavailable()

    assert "no spoken words" in error.reason


def test_the_cookie_consent_page_is_passed(youtube):
    youtube.add_video(VIDEO, "Demo", {"en": CALL})
    youtube.require_consent()

    assert _transcripts().fetch(VIDEO, ["en"]).segments == 2


def test_not_a_video_id_is_refused_before_any_request(youtube):
    with pytest.raises(TranscriptUnavailable) as raised:
        _transcripts().fetch("https://youtu.be/x", ["en"])

    assert not raised.value.retryable
    assert youtube.requests == []


def test_long_transcripts_are_split_into_paragraphs_at_sentence_ends():
    snippets = [
        (float(t), 5.0, f"Sentence {t // 5} of the call." if t % 10 else f"part {t // 5}")
        for t in range(0, 90, 5)
    ]

    text, kept = transcript_text(snippets)

    paragraphs = text.split("\n\n")
    assert kept == 18
    assert len(paragraphs) == 3
    assert all(p.endswith(".") for p in paragraphs[:-1])
    assert paragraphs[0].startswith("part 0 Sentence 1 of the call.")


def test_unpunctuated_captions_break_about_every_thirty_seconds():
    snippets = [(float(t), 3.0, "and we talked about pricing") for t in range(0, 95, 3)]

    paragraphs = transcript_text(snippets)[0].split("\n\n")

    assert len(paragraphs) == 3
    assert ">>" not in transcript_text([(0, 1, ">> Welcome back")])[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.youtube.com/watch?v=aB3dE5fG7h_&t=42s", VIDEO),
        ("https://youtu.be/aB3dE5fG7h_?si=xyz", VIDEO),
        ("youtube.com/shorts/aB3dE5fG7h_", VIDEO),
        ("https://m.youtube.com/embed/aB3dE5fG7h_", VIDEO),
        ("https://www.youtube.com/live/aB3dE5fG7h_?feature=share", VIDEO),
        (VIDEO, VIDEO),
        ("https://www.youtube.com.evil.example/watch?v=aB3dE5fG7h_", None),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://vimeo.com/12345", None),
    ],
)
def test_video_ids_are_read_from_youtube_links_only(url, expected):
    assert video_id_from_url(url) == expected
