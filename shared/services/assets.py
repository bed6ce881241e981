"""The asset library: the team's own material, indexed so drafts cite the right piece.

Sources are Drive folders (walked once, then followed through Drive's changes feed by
`maintenance`), uploads and share links. Each file is one asset (`assets/{id}`) whose
passages (`asset_passages/{asset}-{n}`) keep their heading path and page and carry the
asset's tags and approval, so retrieval filters without a join. Indexing a file is a task
named by the file and its version, so a version is indexed once; a file whose content hash
did not change keeps its passages and embeddings.

Retrieval embeds the situation, asks the passage index for the nearest approved passages of
the team, and ranks them with tag and freshness boosts, one passage per file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.drive import InvalidPageToken
from shared.adapters.tasks import TaskQueue, task_id
from shared.domain.assets import (
    Candidate,
    Situation,
    Tags,
    indexable,
    rank,
    tags_from_json,
)
from shared.errors import NotFound
from shared.services.voice import Content, Embedder, SampleFailed, TaskTarget

if TYPE_CHECKING:
    from shared.adapters.drive import DriveChange, DriveFile
    from shared.adapters.store import Store

log = logging.getLogger(__name__)

SOURCES = "asset_sources"
ASSETS = "assets"
PASSAGES = "asset_passages"
FEEDS = "asset_feeds"
BLOBS = "blobs"
MAX_PASSAGES_PER_ASSET = 400
SEARCH_POOL = 50


class DriveReader(Protocol):
    def list_folder(self, folder_id: str, *, recursive: bool = True) -> list[DriveFile]: ...
    def start_page_token(self) -> str: ...
    def changes(self, page_token: str) -> tuple[list[DriveChange], str]: ...
    def metadata(self, file_id: str) -> DriveFile: ...
    def content(self, file_id: str) -> tuple[DriveFile, bytes, str]: ...


@dataclass(frozen=True)
class AssetHit:
    asset_id: str
    title: str
    link: str | None
    citation: str
    text: str
    score: float
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "title": self.title,
            "link": self.link,
            "citation": self.citation,
            "text": self.text,
            "score": self.score,
            "reasons": list(self.reasons),
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def asset_id_for(team: str, kind: str, key: str) -> str:
    return f"as-{_digest(team, kind, key)}"


class AssetLibrary:
    def __init__(
        self,
        store: Store,
        tasks: TaskQueue,
        *,
        index_target: TaskTarget,
        drive_for: Callable[[str], DriveReader],
        fetch_link: Callable[[dict[str, Any]], Content],
        embedder: Callable[[], Embedder],
        max_chars: int = 400_000,
        reindex_debounce_seconds: int = 30,
    ) -> None:
        from shared.services.asset_index import ShardedIndex

        self.store = store
        self.tasks = tasks
        self.index_target = index_target
        self.drive_for = drive_for
        self.fetch_link = fetch_link
        self.embedder = embedder
        self.max_chars = max_chars
        self.reindex_debounce_seconds = reindex_debounce_seconds
        self.vectors = ShardedIndex(store)

    def _col(self, name: str) -> Any:
        return self.store.db.collection(name)

    # --- sources ------------------------------------------------------------------------
    def add_drive_folder(self, team: str, folder_id: str, account: str) -> dict[str, Any]:
        """Index a Drive folder (and its subfolders) read with `account`'s Google grant."""
        source_id = f"src-{_digest(team, 'drive', folder_id)}"
        ref = self._col(SOURCES).document(source_id)
        record = {
            "id": source_id,
            "team": team,
            "kind": "drive_folder",
            "folder_id": folder_id,
            "account": account,
            "status": "crawling",
            "added_at": _now(),
            "error": None,
        }
        ref.set(record, merge=True)
        self._enqueue("asset-crawl", {"source_id": source_id}, source_id, int(_now().timestamp()))
        return record

    def crawl(self, source_id: str) -> dict[str, Any]:
        """List a folder source and queue an index task for every file version in it."""
        ref = self._col(SOURCES).document(source_id)
        snap = ref.get()
        if not snap.exists:
            return {"status": "gone"}
        source = snap.to_dict() or {}
        drive = self.drive_for(str(source["account"]))
        feed_ref = self._col(FEEDS).document(str(source["account"]))
        if not feed_ref.get().exists:
            # Taken before listing: anything that changes during the walk is in the feed.
            feed_ref.set({"account": source["account"], "page_token": drive.start_page_token()})
        folders = {str(source["folder_id"])}
        files = drive.list_folder(str(source["folder_id"]), recursive=True)
        for file in files:
            folders.update(file.parents)
        queued = 0
        for file in files:
            if indexable(file.mime_type):
                self._queue_drive_file(source, file)
                queued += 1
        ref.update(
            {
                "status": "indexed",
                "folder_ids": sorted(folders),
                "files": queued,
                "crawled_at": _now(),
            }
        )
        return {"status": "crawled", "files": queued}

    def _queue_drive_file(self, source: dict[str, Any], file: DriveFile) -> None:
        asset_id = asset_id_for(str(source["team"]), "drive", file.id)
        self._enqueue(
            "asset-index",
            {"asset_id": asset_id, "source_id": source["id"], "file_id": file.id},
            asset_id,
            str(file.version or file.modified_time or "0"),
        )

    def add_link(self, team: str, url: str, title: str | None = None) -> dict[str, Any]:
        asset_id = asset_id_for(team, "link", url)
        record = {
            "id": asset_id,
            "team": team,
            "kind": "link",
            "link": url,
            "title": title or url,
            "status": "pending",
            "tags": Tags().as_json(),
            "created_at": _now(),
        }
        self._col(ASSETS).document(asset_id).set(record, merge=True)
        self._enqueue("asset-index", {"asset_id": asset_id}, asset_id, int(_now().timestamp()))
        return record

    def add_upload(
        self,
        team: str,
        data: bytes,
        *,
        filename: str | None,
        content_type: str | None,
        title: str | None = None,
    ) -> dict[str, Any]:
        """An uploaded file: kept in Firestore parts until its index task has read it."""
        asset_id = asset_id_for(team, "upload", hashlib.sha256(data).hexdigest())
        ref = self._col(ASSETS).document(asset_id)
        record = {
            "id": asset_id,
            "team": team,
            "kind": "upload",
            "link": None,
            "title": title or filename or "uploaded file",
            "filename": filename,
            "content_type": content_type,
            "size": len(data),
            "status": "pending",
            "tags": Tags().as_json(),
            "created_at": _now(),
        }
        self.store.write_parts(ref.collection(BLOBS), data)
        ref.set(record, merge=True)
        self._enqueue("asset-index", {"asset_id": asset_id}, asset_id, int(_now().timestamp()))
        return record

    def _read_upload(self, asset_id: str) -> bytes:
        data = self.store.read_parts(self._col(ASSETS).document(asset_id).collection(BLOBS))
        if data is None:
            raise SampleFailed("the uploaded file is no longer available; upload it again")
        return data

    def request_reindex(self, team: str) -> None:
        """Rebuild the team's vector index once the current window ends (debounced)."""
        window = max(1, self.reindex_debounce_seconds)
        index = int(_now().timestamp() // window)
        self.tasks.enqueue(
            self.index_target.queue,
            task_id("asset-reindex", _digest(team)[:16], window, index),
            self.index_target.url,
            {"kind": "asset-reindex", "team": team},
            schedule_at=datetime.fromtimestamp((index + 1) * window + 0.5, UTC),
            audience=self.index_target.audience,
        )

    def reindex(self, team: str) -> dict[str, Any]:
        return self.vectors.rebuild(team, self.embedder().name)

    def _enqueue(self, kind: str, payload: dict[str, Any], *name_parts: object) -> None:
        self.tasks.enqueue(
            self.index_target.queue,
            task_id(kind, *name_parts),
            self.index_target.url,
            {"kind": kind, **payload},
            audience=self.index_target.audience,
        )

    # --- indexing one file (the task) ----------------------------------------------------
    def index(self, asset_id: str, source_id: str | None = None, file_id: str | None = None) -> str:
        from shared.domain.extraction import ExtractionFailed, extract

        ref = self._col(ASSETS).document(asset_id)
        current = ref.get()
        existing = current.to_dict() or {} if current.exists else {}
        try:
            if file_id:
                source = self._col(SOURCES).document(str(source_id)).get().to_dict() or {}
                if not source:
                    return "gone"
                team = str(source["team"])
                drive = self.drive_for(str(source["account"]))
                file, data, mime = drive.content(file_id)
                content = Content(data=data, filename=file.name, content_type=mime)
                meta: dict[str, Any] = {
                    "team": team,
                    "kind": "drive",
                    "source_id": source_id,
                    "drive_file_id": file.id,
                    "title": file.name,
                    "link": file.web_view_link,
                    "owner": file.owner,
                    "modified_time": file.modified_time,
                    "version": file.version,
                    "mime_type": file.mime_type,
                }
            else:
                if not existing:
                    return "gone"
                team = str(existing["team"])
                if existing.get("kind") == "upload":
                    content = Content(
                        data=self._read_upload(asset_id),
                        filename=existing.get("filename"),
                        content_type=existing.get("content_type"),
                    )
                else:
                    content = self.fetch_link({"source_url": existing["link"]})
                meta = {"team": team, "kind": existing.get("kind", "link")}
            extracted = extract(
                content.data or b"",
                content.filename,
                content.content_type,
                max_chars=self.max_chars,
            )
        except (SampleFailed, ExtractionFailed) as exc:
            reason = getattr(exc, "reason", "the file could not be read")
            ref.set(
                {"id": asset_id, "status": "failed", "error": reason, "updated_at": _now()},
                merge=True,
            )
            self._delete_passages(asset_id)
            return "failed"
        except NotFound:
            self.remove(asset_id)
            return "removed"
        digest = hashlib.sha256(extracted.text.encode("utf-8")).hexdigest()
        embedder = self.embedder()
        title = str(meta.get("title") or existing.get("title") or extracted.title or asset_id)
        tags = tags_from_json(existing.get("tags"))
        unchanged = (
            existing.get("content_hash") == digest
            and existing.get("embedding_model") == embedder.name
            and existing.get("status") == "indexed"
        )
        meta.update(
            {
                "id": asset_id,
                "title": title[:300],
                "status": "indexed",
                "error": None,
                "content_hash": digest,
                "indexed_at": _now(),
                "embedding_model": embedder.name,
            }
        )
        if "tags" not in existing:
            meta["tags"] = tags.as_json()
        if unchanged:
            ref.set(meta, merge=True)  # same text: passages and embeddings stay
            self._update_passages(asset_id, {"title": meta["title"], "link": meta.get("link")})
            return "unchanged"
        passages = self._passages(extracted, title)
        vectors = embedder.embed([p[1] for p in passages]) if passages else []
        self._delete_passages(asset_id)
        self._write_passages(asset_id, team, meta, tags, passages, vectors, embedder.name)
        meta["passages"] = len(passages)
        ref.set(meta, merge=True)
        self.request_reindex(team)
        log.info(
            "asset indexed", extra={"fields": {"asset_id": asset_id, "passages": len(passages)}}
        )
        return "indexed"

    def _passages(self, extracted: Any, title: str) -> list[tuple[dict[str, Any], str]]:
        from shared.domain.passages import citation, embedding_text, split_passages

        found = split_passages(extracted, title=title)[:MAX_PASSAGES_PER_ASSET]
        return [
            (
                {
                    "n": p.index,
                    "text": p.text,
                    "heading_path": list(p.heading_path),
                    "page": p.page,
                    "citation": citation(p, title),
                },
                embedding_text(p, title),
            )
            for p in found
        ]

    def _write_passages(
        self,
        asset_id: str,
        team: str,
        meta: dict[str, Any],
        tags: Tags,
        passages: list[tuple[dict[str, Any], str]],
        vectors: list[list[float]],
        model: str,
    ) -> None:
        from shared.services.asset_index import pack

        db = self.store.db
        for start in range(0, len(passages), 200):
            batch = db.batch()
            for index in range(start, min(start + 200, len(passages))):
                record, _ = passages[index]
                batch.set(
                    self._col(PASSAGES).document(f"{asset_id}-{index:04d}"),
                    {
                        **record,
                        "asset_id": asset_id,
                        "team": team,
                        "title": meta.get("title"),
                        "link": meta.get("link"),
                        "modified_time": meta.get("modified_time"),
                        "approved": tags.approved,
                        "tags": tags.as_json(),
                        "model": model,
                        "emb16": pack(vectors[index]),
                    },
                )
            batch.commit()

    def _passage_refs(self, asset_id: str) -> list[Any]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._col(PASSAGES).where(filter=FieldFilter("asset_id", "==", asset_id))
        return [snap.reference for snap in query.select([]).stream()]

    def _delete_passages(self, asset_id: str) -> None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        self.store.delete_all(
            self._col(PASSAGES).where(filter=FieldFilter("asset_id", "==", asset_id))
        )

    def _update_passages(self, asset_id: str, fields: dict[str, Any]) -> None:
        refs = self._passage_refs(asset_id)
        for start in range(0, len(refs), 400):
            batch = self.store.db.batch()
            for ref in refs[start : start + 400]:
                batch.update(ref, fields)
            batch.commit()

    def remove(self, asset_id: str) -> None:
        """Out of the index for good: the file was deleted, trashed, unshared or moved out."""
        ref = self._col(ASSETS).document(asset_id)
        snap = ref.get()
        self._delete_passages(asset_id)
        self.store.delete_all(ref.collection(BLOBS))  # an upload's bytes go with it
        ref.delete()
        if snap.exists and (snap.to_dict() or {}).get("team"):
            self.request_reindex(str((snap.to_dict() or {})["team"]))

    # --- tags ---------------------------------------------------------------------------
    def set_tags(self, asset_id: str, tags: Tags) -> dict[str, Any]:
        ref = self._col(ASSETS).document(asset_id)
        snap = ref.get()
        if not snap.exists:
            raise NotFound("no such asset")
        ref.update({"tags": tags.as_json(), "updated_at": _now()})
        self._update_passages(asset_id, {"tags": tags.as_json(), "approved": tags.approved})
        self.request_reindex(str((snap.to_dict() or {}).get("team")))
        return snap.to_dict() or {}

    def get(self, asset_id: str) -> dict[str, Any]:
        snap = self._col(ASSETS).document(asset_id).get()
        if not snap.exists:
            raise NotFound("no such asset")
        return snap.to_dict() or {}

    def list_assets(self, team: str) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._col(ASSETS).where(filter=FieldFilter("team", "==", team))
        return sorted(
            (s.to_dict() or {} for s in query.stream()), key=lambda a: str(a.get("title"))
        )

    # --- keeping fresh (maintenance) ----------------------------------------------------
    def follow_changes(self) -> dict[str, int]:
        """Every feed account's Drive changes since its stored token: edited files are queued
        for indexing, deleted, trashed, unshared or moved-out files leave the index."""
        counts = {"queued": 0, "removed": 0, "ignored": 0}
        sources = [s.to_dict() or {} for s in self._col(SOURCES).stream()]
        for feed in self._col(FEEDS).stream():
            account = str((feed.to_dict() or {}).get("account") or feed.id)
            mine = [s for s in sources if s.get("account") == account]
            if not mine:
                continue
            drive = self.drive_for(account)
            try:
                changes, token = drive.changes(str((feed.to_dict() or {}).get("page_token")))
            except InvalidPageToken:
                # The stored token is no longer accepted: start a new feed and walk every
                # folder of this account again, so nothing in between is missed.
                feed.reference.update({"page_token": drive.start_page_token()})
                for source in mine:
                    self._enqueue(
                        "asset-crawl",
                        {"source_id": source["id"]},
                        source["id"],
                        int(_now().timestamp()),
                    )
                counts["recrawled"] = counts.get("recrawled", 0) + len(mine)
                continue
            for change in changes:
                counts[self._apply_change(mine, change)] += 1
            feed.reference.update({"page_token": token, "followed_at": _now()})
        return counts

    def _apply_change(self, sources: list[dict[str, Any]], change: DriveChange) -> str:
        file = change.file
        for source in sources:
            asset_id = asset_id_for(str(source["team"]), "drive", change.file_id)
            folders = set(source.get("folder_ids") or [source["folder_id"]])
            inside = file is not None and bool(folders & set(file.parents))
            gone = change.removed or file is None or file.trashed or not inside
            if file is not None and file.mime_type == "application/vnd.google-apps.folder":
                if inside and not file.trashed:  # a new subfolder: follow it too
                    self._col(SOURCES).document(source["id"]).update(
                        {"folder_ids": sorted(folders | {file.id})}
                    )
                continue
            if gone:
                if self._col(ASSETS).document(asset_id).get().exists:
                    self.remove(asset_id)
                    return "removed"
                continue
            assert file is not None
            if indexable(file.mime_type):
                current = self._col(ASSETS).document(asset_id).get()
                if current.exists and str((current.to_dict() or {}).get("version")) == str(
                    file.version
                ):
                    return "ignored"  # already indexed at this version
                self._queue_drive_file(source, file)
                return "queued"
        return "ignored"

    # --- retrieval ----------------------------------------------------------------------
    def search(
        self,
        team: str,
        situation: Situation,
        *,
        limit: int = 3,
        per_asset: int = 1,
        approved_only: bool = True,
    ) -> list[AssetHit]:
        embedder = self.embedder()
        vector = embedder.embed([situation.text])[0]
        nearest = self.vectors.nearest(team, vector, embedder.name, SEARCH_POOL)
        similarity = dict(nearest)
        refs = [self._col(PASSAGES).document(pid) for pid, _ in nearest]
        candidates = []
        for snap in self.store.db.get_all(refs):
            if not snap.exists:
                continue  # removed since the index was built
            data = snap.to_dict() or {}
            if data.get("team") != team:
                continue
            candidates.append(
                Candidate(
                    passage_id=snap.id,
                    asset_id=str(data.get("asset_id")),
                    similarity=similarity[snap.id],
                    tags=tags_from_json(data.get("tags")),
                    modified_time=data.get("modified_time"),
                    data=data,
                )
            )
        ranked = rank(
            candidates,
            situation,
            now=_now(),
            limit=limit,
            per_asset=per_asset,
            approved_only=approved_only,
        )
        return [
            AssetHit(
                asset_id=r.candidate.asset_id,
                title=str(r.candidate.data.get("title") or ""),
                link=r.candidate.data.get("link"),
                citation=str(r.candidate.data.get("citation") or ""),
                text=str(r.candidate.data.get("text") or ""),
                score=r.score,
                reasons=r.reasons,
            )
            for r in ranked
        ]
