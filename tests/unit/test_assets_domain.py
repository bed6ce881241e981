"""The asset library's pure rules: tags, approval and ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.assets import (
    BadTags,
    Candidate,
    Situation,
    Tags,
    allowed_links,
    parse_tags,
    rank,
)

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def candidate(pid: str, asset: str, similarity: float, **kwargs) -> Candidate:
    tags = kwargs.pop("tags", Tags(approved=True))
    return Candidate(pid, asset, similarity, tags, kwargs.pop("modified", None))


def test_unapproved_assets_never_pass():
    ranked = rank(
        [
            candidate("a-1", "a", 0.95, tags=Tags(approved=False)),
            candidate("b-1", "b", 0.40),
        ],
        Situation("security"),
        now=NOW,
    )
    assert [r.candidate.asset_id for r in ranked] == ["b"]


def test_one_passage_per_file_unless_asked():
    items = [candidate("a-1", "a", 0.9), candidate("a-2", "a", 0.85), candidate("b-1", "b", 0.5)]

    assert [r.candidate.passage_id for r in rank(items, Situation("x"), now=NOW)] == ["a-1", "b-1"]
    two = rank(items, Situation("x"), now=NOW, per_asset=2)
    assert [r.candidate.passage_id for r in two] == ["a-1", "a-2", "b-1"]


def test_a_matching_industry_tag_lifts_a_close_second():
    items = [
        candidate("generic-1", "generic", 0.60),
        candidate("health-1", "health", 0.57, tags=Tags(industry=("healthcare",), approved=True)),
    ]
    ranked = rank(items, Situation("data security", industry="Healthcare"), now=NOW)

    assert ranked[0].candidate.asset_id == "health"
    assert "industry healthcare" in ranked[0].reasons


def test_fresh_files_win_ties_but_never_beat_clear_relevance():
    old = NOW - timedelta(days=5 * 365)
    tie = rank(
        [
            candidate("old-1", "old", 0.5, modified=old),
            candidate("new-1", "new", 0.5, modified=NOW),
        ],
        Situation("x"),
        now=NOW,
    )
    assert tie[0].candidate.asset_id == "new"
    clear = rank(
        [
            candidate("old-1", "old", 0.7, modified=old),
            candidate("new-1", "new", 0.5, modified=NOW),
        ],
        Situation("x"),
        now=NOW,
    )
    assert clear[0].candidate.asset_id == "old"


def test_tags_are_normalised_and_kept_when_not_given():
    tags = parse_tags({"industry": [" Healthcare ", "healthcare", "Retail<script>"]})
    assert tags.industry == ("healthcare", "retail script")
    kept = parse_tags({"approved": True}, tags)
    assert (kept.industry, kept.approved) == (("healthcare", "retail script"), True)


@pytest.mark.parametrize(
    "body", [{"approved": "yes"}, {"industry": {"a": 1}}, {"stage": ["x"] * 21}]
)
def test_bad_tags_are_refused(body):
    with pytest.raises(BadTags):
        parse_tags(body)


def test_links_a_draft_may_use_are_retrieved_ones_and_the_allow_list():
    found = [{"link": "https://drive.google.com/file/d/abc/view"}, {"link": None}]
    allowed = allowed_links(found, ["https://brightline.example/book ", ""])
    assert allowed == {
        "https://drive.google.com/file/d/abc/view",
        "https://brightline.example/book",
    }
