"""What a submitted voice-training reference points at (pure: no network)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.sources import (
    BadSource,
    SourceRef,
    classify_link,
    drive_file_id,
    youtube_video_id,
)

VIDEO = "dQw4w9WgXcQ"
FILE = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456"  # 34 characters, like a Drive file id
DOC = "1x2Y3z_-abcdefghijklmnopqrstuvwxyzABCDEFGH12"  # 44, like a Docs id


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={VIDEO}",
        f"https://youtube.com/watch?v={VIDEO}",
        f"http://www.youtube.com/watch?v={VIDEO}",
        f"www.youtube.com/watch?v={VIDEO}",
        f"youtube.com/watch?v={VIDEO}",
        f"https://m.youtube.com/watch?v={VIDEO}&feature=share",
        f"https://music.youtube.com/watch?v={VIDEO}&list=RDAMVM{VIDEO}",
        f"https://www.youtube.com/watch?feature=youtu.be&v={VIDEO}&t=42s",
        f"https://www.youtube.com/watch?v={VIDEO}&list=PL1234567890&index=3",
        f"https://www.youtube.com/watch/?v={VIDEO}",
        f"https://youtu.be/{VIDEO}",
        f"https://youtu.be/{VIDEO}?si=AbCdEfGh12345678&t=90",
        f"youtu.be/{VIDEO}",
        f"https://www.youtube.com/shorts/{VIDEO}",
        f"https://youtube.com/shorts/{VIDEO}?feature=share",
        f"https://www.youtube.com/embed/{VIDEO}?start=30",
        f"https://www.youtube-nocookie.com/embed/{VIDEO}",
        f"https://youtube-nocookie.com/embed/{VIDEO}?rel=0",
        f"https://www.youtube.com/live/{VIDEO}?si=xyz",
        f"https://www.youtube.com/v/{VIDEO}",
        f"https://WWW.YouTube.COM/watch?v={VIDEO}",
        f"https://www.youtube.com./watch?v={VIDEO}",
        f"https://www.youtube.com:443/watch?v={VIDEO}",
        f"  https://youtu.be/{VIDEO}\n",
        f"https://www.youtube.com/watch?v={VIDEO}#t=10",
    ],
)
def test_youtube_video_urls_give_the_video_id(url):
    assert youtube_video_id(url) == VIDEO
    ref = classify_link(url)
    assert ref == SourceRef("youtube", VIDEO, url.strip())


@pytest.mark.parametrize(
    "url",
    [
        f"https://youtube.com.evil.example/watch?v={VIDEO}",
        f"https://evilyoutube.com/watch?v={VIDEO}",
        f"https://youtube.evil.example/watch?v={VIDEO}",
        f"https://notyoutu.be/{VIDEO}",
        f"https://youtu.be.evil.example/{VIDEO}",
        f"https://www.youtube.com@evil.example/watch?v={VIDEO}",
        f"https://user:pass@www.youtube.com/watch?v={VIDEO}",
        f"https://www.youtube.com:8443/watch?v={VIDEO}",
        f"ftp://www.youtube.com/watch?v={VIDEO}",
        f"javascript:alert('{VIDEO}')",
        "https://www.youtube.com/watch?v=dQw4w9WgXc",  # 10 characters
        "https://www.youtube.com/watch?v=dQw4w9WgXcQQ",  # 12 characters
        "https://www.youtube.com/watch?v=dQw4w9WgX$Q",
        "https://www.youtube.com/watch?list=PL1234567890",
        "https://www.youtube.com/playlist?list=PL1234567890",
        "https://www.youtube.com/@brightline",
        "https://www.youtube.com/channel/UC1234567890abcdefghij",
        f"https://www.youtube.com/shorts/{VIDEO}/extra",
        f"https://www.youtube.com/watchlater?v={VIDEO}",
        f"https://youtu.be/{VIDEO}/more",
        "https://youtu.be/",
        VIDEO,  # a bare id could be any 11-letter word
        "",
        f"https://www.youtube.com\\@evil.example/watch?v={VIDEO}",
    ],
)
def test_other_urls_have_no_video_id(url):
    assert youtube_video_id(url) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://drive.google.com/file/d/{FILE}/view?usp=sharing", FILE),
        (f"https://drive.google.com/file/d/{FILE}/view", FILE),
        (f"https://drive.google.com/file/d/{FILE}", FILE),
        (f"https://drive.google.com/file/d/{FILE}/edit?usp=drive_link", FILE),
        (f"https://drive.google.com/file/u/0/d/{FILE}/view", FILE),
        (f"https://drive.google.com/open?id={FILE}", FILE),
        (f"https://drive.google.com/open?id={FILE}&authuser=0", FILE),
        (f"https://drive.google.com/uc?id={FILE}&export=download", FILE),
        (f"https://drive.google.com/uc?export=download&id={FILE}", FILE),
        (f"https://drive.usercontent.google.com/download?id={FILE}&export=download", FILE),
        (f"drive.google.com/file/d/{FILE}/view", FILE),
        (f"https://docs.google.com/document/d/{DOC}/edit", DOC),
        (f"https://docs.google.com/document/d/{DOC}/edit?usp=sharing#heading=h.1", DOC),
        (f"https://docs.google.com/document/u/1/d/{DOC}/edit", DOC),
        (f"https://docs.google.com/spreadsheets/d/{DOC}", DOC),
        (f"https://docs.google.com/spreadsheets/d/{DOC}/edit#gid=0", DOC),
        (f"https://docs.google.com/presentation/d/{DOC}/edit#slide=id.p", DOC),
        (f"https://DOCS.GOOGLE.COM/document/d/{DOC}/", DOC),
        (FILE, FILE),
        (f"  {DOC}  ", DOC),
        ("a" * 25, "a" * 25),
        ("a" * 100, "a" * 100),
    ],
)
def test_drive_urls_and_bare_ids_give_the_file_id(url, expected):
    assert drive_file_id(url) == expected
    ref = classify_link(url)
    assert (ref.kind, ref.id) == ("drive", expected)


def test_a_drive_url_is_kept_and_a_bare_id_has_no_url():
    url = f"https://drive.google.com/file/d/{FILE}/view?usp=sharing"
    assert classify_link(url) == SourceRef("drive", FILE, url)
    assert classify_link(FILE) == SourceRef("drive", FILE, None)


@pytest.mark.parametrize(
    "url",
    [
        f"https://drive.google.com.evil.example/file/d/{FILE}/view",
        f"https://evildrive.google.com.example/file/d/{FILE}/view",
        f"https://notdrive.google.com/file/d/{FILE}/view",
        f"https://docs.google.com.evil.example/document/d/{DOC}/edit",
        f"https://drive.google.com/drive/folders/{FILE}",
        f"https://docs.google.com/forms/d/{DOC}/viewform",
        "https://drive.google.com/file/d/short/view",
        f"https://drive.google.com/file/d/{FILE}$/view",
        f"https://drive.google.com/open?ids={FILE}",
        "a" * 24,
        "a" * 101,
        f"{FILE}!",
        f"https://user@drive.google.com/file/d/{FILE}/view",
    ],
)
def test_other_urls_have_no_drive_file_id(url):
    assert drive_file_id(url) is None


@pytest.mark.parametrize(
    ("url", "download"),
    [
        (
            "https://www.dropbox.com/s/abc123xyz/report.pdf?dl=0",
            "https://www.dropbox.com/s/abc123xyz/report.pdf?dl=1",
        ),
        (
            "https://dropbox.com/s/abc123xyz/report.pdf",
            "https://www.dropbox.com/s/abc123xyz/report.pdf?dl=1",
        ),
        (
            "https://www.dropbox.com/scl/fi/q8w7e6/deck.pdf?rlkey=a1b2c3d4&st=zz9&dl=0",
            "https://www.dropbox.com/scl/fi/q8w7e6/deck.pdf?rlkey=a1b2c3d4&st=zz9&dl=1",
        ),
        (
            "https://www.dropbox.com/scl/fi/q8w7e6/deck.pdf?rlkey=a1b2c3d4&raw=1",
            "https://www.dropbox.com/scl/fi/q8w7e6/deck.pdf?rlkey=a1b2c3d4&dl=1",
        ),
        (
            "https://1drv.ms/w/s!AkZ3mX9Q_abcdEFG?e=Xy12Ab",
            "https://1drv.ms/w/s!AkZ3mX9Q_abcdEFG?e=Xy12Ab&download=1",
        ),
        (
            "https://onedrive.live.com/redir?resid=ABC123!456&authkey=!AbC_dEf&ithint=file%2cpdf",
            "https://onedrive.live.com/download?resid=ABC123!456&authkey=!AbC_dEf&ithint=file%2cpdf",
        ),
        (
            "https://onedrive.live.com/embed?resid=ABC123!456&authkey=!AbC",
            "https://onedrive.live.com/download?resid=ABC123!456&authkey=!AbC",
        ),
        (
            "https://contoso.sharepoint.com/:w:/g/personal/maya_contoso/EaBcD12?e=q1W2e3",
            "https://contoso.sharepoint.com/:w:/g/personal/maya_contoso/EaBcD12?e=q1W2e3&download=1",
        ),
        (
            "https://contoso-my.sharepoint.com/:b:/p/maya/EfGh34?e=zz&download=0",
            "https://contoso-my.sharepoint.com/:b:/p/maya/EfGh34?e=zz&download=1",
        ),
        (
            "https://files.example.com/reports/q3.pdf?token=abc#page=2",
            "https://files.example.com/reports/q3.pdf?token=abc#page=2",
        ),
        ("https://example.com/a%20b.txt", "https://example.com/a%20b.txt"),
        ("example.com/notes.txt", "https://example.com/notes.txt"),
        ("https://dl.dropboxusercontent.com/s/abc/report.pdf", None),
        ("https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ", None),
        ("https://evilyoutube.com/watch?v=dQw4w9WgXcQ", None),
        ("https://dropbox.com.evil.example/s/abc/x.pdf?dl=0", None),
        ("https://sharepoint.com.evil.example/:w:/x", None),
    ],
)
def test_other_https_links_are_downloads(url, download):
    assert classify_link(url) == SourceRef("link", None, download or url)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://example.com/report.pdf", "only https"),
        ("ftp://example.com/report.pdf", "only https"),
        ("file:///etc/passwd", "only https"),
        ("javascript:alert(1)", "only https"),
        ("JavaScript:alert(1)", "only https"),
        ("data:text/html;base64,PHNjcmlwdD4=", "only https"),
        ("gopher://example.com/", "only https"),
        ("https://user:pass@example.com/report.pdf", "user name or password"),
        ("https://token@example.com/report.pdf", "user name or password"),
        ("https://:pw@example.com/report.pdf", "user name or password"),
        ("https://example.com/" + "a" * 2030, "longer than 2,048"),
        ("", "empty"),
        ("   \n", "empty"),
        ("https://", "no host"),
        ("https:///path", "no host"),
        ("https://[::1/x", "not a link"),
        ("https://example.com:99999/x", "not a link"),
        ("https://example.com:port/x", "not a link"),
        ("https://exa mple.com/x", "not a link"),
        ("https://example.com/\x00", "not a link"),
        ("https://example.com\\@evil.example/", "not a link"),
        ("https://www.youtube.com/playlist?list=PL123", "single video"),
        ("https://www.youtube.com/@brightline", "single video"),
        ("https://drive.google.com/drive/folders/1AbCdEfGhIjKlMnOpQrStUvWxYz0123456", "file"),
        ("https://www.dropbox.com/sh/abc/AAB?dl=0", "folder"),
        ("https://www.dropbox.com/scl/fo/abc/xyz?rlkey=k", "folder"),
        ("https://www.dropbox.com/home/reports", "shared file"),
        ("https://contoso.sharepoint.com/:f:/g/personal/maya/EaB?e=1", "folder"),
        ("https://1drv.ms/f/s!AkZ3mX9Q", "folder"),
    ],
)
def test_links_we_will_not_use_are_bad_sources(value, reason):
    with pytest.raises(BadSource) as raised:
        classify_link(value)
    assert reason in raised.value.reason
    assert isinstance(raised.value, ValueError)


def test_the_length_limit_is_exactly_2048():
    base = "https://example.com/"
    exactly = base + "a" * (2048 - len(base))
    assert classify_link(exactly) == SourceRef("link", None, exactly)
    with pytest.raises(BadSource, match="2,048"):
        classify_link(exactly + "a")


@pytest.mark.parametrize("value", [None, 42, b"https://example.com/", ["https://x.example/"]])
def test_something_that_is_not_text_is_a_bad_source(value):
    with pytest.raises(BadSource, match="not text"):
        classify_link(value)


URLISH = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}{host}{path}{query}",
        st.sampled_from(
            ["https://", "http://", "", "//", "javascript:", "data:", "HTTPS://", "ftp://"]
        ),
        st.one_of(
            st.sampled_from(
                [
                    "www.youtube.com",
                    "youtu.be",
                    "drive.google.com",
                    "docs.google.com",
                    "www.dropbox.com",
                    "1drv.ms",
                    "x.sharepoint.com",
                    "[::1]",
                    "[::1",
                    "u:p@host.example",
                    "host.example:0",
                    "host.example:65536",
                    "",
                ]
            ),
            st.text(max_size=40),
        ),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=60).map(lambda p: "/" + p),
        st.one_of(st.just(""), st.text(max_size=60).map(lambda q: "?" + q)),
    ),
)


@settings(max_examples=600, deadline=None)
@given(URLISH)
def test_classify_link_raises_nothing_but_bad_source(value):
    try:
        ref = classify_link(value)
    except BadSource as exc:
        reason = exc.reason
        assert reason, "a refusal always says why"
        return
    assert ref.kind in {"youtube", "drive", "link"}
    if ref.kind == "youtube":
        assert ref.id is not None
        assert len(ref.id) == 11
    elif ref.kind == "drive":
        assert ref.id is not None
        assert 25 <= len(ref.id) <= 100
    else:
        assert ref.id is None
        assert ref.url is not None
        assert ref.url.lower().startswith("https://")
        assert "@" not in ref.url.split("/")[2]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_id_extractors_never_raise(value):
    video = youtube_video_id(value)
    assert video is None or len(video) == 11
    file_id = drive_file_id(value)
    assert file_id is None or 25 <= len(file_id) <= 100
