"""The asset library's pure rules: tags, which assets may be offered, and how candidate
passages are ranked for a draft's situation."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TAG_KINDS = ("industry", "product", "stage")
MAX_TAGS_PER_KIND = 20
MAX_TAG_CHARS = 60
TAG_BOOST = {"industry": 0.06, "product": 0.05, "stage": 0.03}
FRESHNESS_BOOST = 0.03
FRESHNESS_HALF_LIFE_DAYS = 365.0
INDEXABLE_MIME = frozenset(
    {
        "application/vnd.google-apps.document",
        "application/vnd.google-apps.presentation",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "text/plain",
        "text/markdown",
        "text/x-markdown",
    }
)
_TAG = re.compile(r"[^a-z0-9 &+/-]+")


class BadTags(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Tags:
    industry: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    stage: tuple[str, ...] = ()
    approved: bool = False  # "approved for external use": only these reach a prospect

    def as_json(self) -> dict[str, Any]:
        return {
            "industry": list(self.industry),
            "product": list(self.product),
            "stage": list(self.stage),
            "approved": self.approved,
        }


def normalize_tag(value: str) -> str:
    return re.sub(r"\s+", " ", _TAG.sub(" ", value.strip().lower())).strip()[:MAX_TAG_CHARS]


def parse_tags(body: Mapping[str, Any], current: Tags | None = None) -> Tags:
    """Tags from an operator's request; kinds left out keep their current values."""
    base = current or Tags()
    values: dict[str, Any] = {}
    for kind in TAG_KINDS:
        if kind not in body:
            values[kind] = getattr(base, kind)
            continue
        raw = body[kind]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or len(raw) > MAX_TAGS_PER_KIND:
            raise BadTags(f"{kind} must be a list of at most {MAX_TAGS_PER_KIND} tags")
        cleaned = [normalize_tag(str(item)) for item in raw if isinstance(item, str | int)]
        values[kind] = tuple(dict.fromkeys(t for t in cleaned if t))
    approved = body.get("approved", base.approved)
    if not isinstance(approved, bool):
        raise BadTags("approved must be true or false")
    return Tags(values["industry"], values["product"], values["stage"], approved)


def tags_from_json(data: Mapping[str, Any] | None) -> Tags:
    data = data or {}
    return Tags(
        tuple(data.get("industry") or ()),
        tuple(data.get("product") or ()),
        tuple(data.get("stage") or ()),
        bool(data.get("approved", False)),
    )


@dataclass(frozen=True)
class Situation:
    """What the draft is about: the prospect's question and who they are."""

    text: str
    industry: str | None = None
    product: str | None = None
    stage: str | None = None

    def wanted(self) -> dict[str, str]:
        return {
            kind: normalize_tag(value)
            for kind in TAG_KINDS
            if (value := getattr(self, kind)) and normalize_tag(value)
        }


@dataclass(frozen=True)
class Candidate:
    passage_id: str
    asset_id: str
    similarity: float  # cosine similarity, -1..1
    tags: Tags
    modified_time: datetime | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float
    reasons: tuple[str, ...]


def rank(
    candidates: Iterable[Candidate],
    situation: Situation,
    *,
    now: datetime,
    limit: int = 3,
    per_asset: int = 1,
    approved_only: bool = True,
) -> list[Ranked]:
    """Similarity, plus small boosts for matching tags and recent files; unapproved assets
    never pass when `approved_only`; at most `per_asset` passages of one file."""
    wanted = situation.wanted()
    scored: list[Ranked] = []
    for candidate in candidates:
        if approved_only and not candidate.tags.approved:
            continue
        score = candidate.similarity
        reasons = [f"similarity {candidate.similarity:.2f}"]
        for kind, value in wanted.items():
            if value in getattr(candidate.tags, kind):
                score += TAG_BOOST[kind]
                reasons.append(f"{kind} {value}")
        if candidate.modified_time is not None:
            age_days = max(0.0, (now - candidate.modified_time).total_seconds() / 86_400)
            score += FRESHNESS_BOOST * math.exp(-age_days * math.log(2) / FRESHNESS_HALF_LIFE_DAYS)
        scored.append(Ranked(candidate, round(score, 4), tuple(reasons)))
    scored.sort(key=lambda r: (-r.score, r.candidate.passage_id))
    chosen: list[Ranked] = []
    per: dict[str, int] = {}
    for ranked in scored:
        asset = ranked.candidate.asset_id
        if per.get(asset, 0) >= per_asset:
            continue
        per[asset] = per.get(asset, 0) + 1
        chosen.append(ranked)
        if len(chosen) >= limit:
            break
    return chosen


def indexable(mime_type: str) -> bool:
    return mime_type in INDEXABLE_MIME


def allowed_links(found: Sequence[Mapping[str, Any]], allow_list: Iterable[str]) -> frozenset[str]:
    """Links a draft may contain: those of retrieved assets plus the team's allow-list."""
    links = {str(item.get("link")) for item in found if item.get("link")}
    return frozenset(links | {link.strip() for link in allow_list if link.strip()})
