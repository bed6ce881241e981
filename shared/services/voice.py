"""Voice training: samples from anywhere become the rep's voice profile.

Accepting a sample only records it (`pending`) and queues `voice-extract-<sample>-<n>`; the
task fetches the content (upload bytes kept in Firestore until then, Drive, HubSpot, YouTube,
a share link, or the rep's own sent mail), extracts and scrubs the text, drops it as a
duplicate when the rep already has the same content, chunks and embeds it, and queues a
profile rebuild. Sample ids are derived from the rep and the source, so submitting the same
thing twice is one sample.

The profile merges each sample's stored statistics (so a rebuild does not re-read every
text), picks varied exemplar passages by their embeddings, and asks the LLM for a style guide
when a key is stored (the statistics alone write it otherwise). A profile records the
fingerprint of the samples that built it: rebuilding an unchanged set does nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.tasks import TaskQueue, task_id
from shared.domain.voice_profile import (
    SampleStats,
    choose_exemplars,
    chunk_text,
    content_hash,
    guide_from_answer,
    guide_from_stats,
    merge_stats,
    profile_fingerprint,
    sample_stats,
)
from shared.errors import BadRequest, NotFound, TransientError

if TYPE_CHECKING:
    from shared.adapters.store import Store

log = logging.getLogger(__name__)

SAMPLES = "training_samples"
PROFILES = "voice_profiles"
CHUNKS = "voice_chunks"
BLOBS = "blobs"
MAX_STORED_CONTENT_BYTES = 700_000
MAX_CHUNKS_PER_SAMPLE = 400
EXEMPLAR_POOL = 400
SOURCE_TYPES = ("upload", "drive", "hubspot", "youtube", "link", "gmail")


class SampleStatus:
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    DUPLICATE = "duplicate"


class SampleFailed(Exception):
    """The sample cannot be used, for a reason the rep can act on (shown on the page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class GuideWriter(Protocol):
    def write(self, statistics: dict[str, Any], passages: list[str]) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Content:
    """What a source yielded: text directly (transcripts, HubSpot, mail) or bytes to extract."""

    text: str | None = None
    data: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    title: str | None = None
    metadata: dict[str, Any] | None = None


# A fetcher turns a sample record into content; raises SampleFailed or TransientError.
Fetcher = Callable[[dict[str, Any]], Content]


@dataclass(frozen=True)
class TaskTarget:
    queue: str
    url: str
    audience: str  # the function's URL: one audience for every route of the function


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


def sample_id_for(rep: str, source_type: str, key: str | bytes) -> str:
    return f"{source_type[:2]}-{_digest(rep.lower(), source_type, key)}"


def rep_slug(rep: str) -> str:
    return _digest(rep.lower())[:16]


def _cut_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def public_sample(data: dict[str, Any]) -> dict[str, Any]:
    """What the operator page lists (never the content or any credential)."""

    def when(value: Any) -> str | None:
        return value.isoformat() if isinstance(value, datetime) else None

    return {
        "id": data.get("id"),
        "rep": data.get("rep"),
        "status": data.get("status"),
        "source_type": data.get("source_type"),
        "source_id": data.get("source_id"),
        "source_url": data.get("source_url"),
        "title": data.get("title"),
        "size": data.get("size"),
        "extracted_chars": data.get("extracted_chars"),
        "error": data.get("error"),
        "duplicate_of": data.get("duplicate_of"),
        "pii": data.get("pii"),
        "embedding_state": data.get("embedding_state"),
        "created_at": when(data.get("created_at")),
        "extracted_at": when(data.get("extracted_at")),
    }


class VoiceService:
    def __init__(
        self,
        store: Store,
        tasks: TaskQueue,
        *,
        extract_target: TaskTarget,
        profile_target: TaskTarget,
        fetchers: dict[str, Fetcher],
        embedder: Callable[[], Embedder],
        guide_writer: Callable[[], GuideWriter | None],
        max_chars: int = 400_000,
        language: str = "en",
        pii_region: str = "US",
        profile_debounce_seconds: int = 30,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.extract_target = extract_target
        self.profile_target = profile_target
        self.fetchers = fetchers
        self.embedder = embedder
        self.guide_writer = guide_writer
        self.max_chars = max_chars
        self.language = language
        self.pii_region = pii_region
        self.profile_debounce_seconds = profile_debounce_seconds

    def _samples(self) -> Any:
        return self.store.db.collection(SAMPLES)

    # --- accepting ----------------------------------------------------------------------
    def accept(
        self,
        rep: str,
        source_type: str,
        *,
        key: str | bytes,
        source_id: str | None = None,
        source_url: str | None = None,
        title: str | None = None,
        upload: bytes | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Record a sample as pending and queue its extraction. (sample, created)."""
        if source_type not in SOURCE_TYPES:
            raise BadRequest(f"unknown source type {source_type!r}")
        rep = rep.strip().lower()
        sample_id = sample_id_for(rep, source_type, key)
        ref = self._samples().document(sample_id)
        existing = ref.get()
        now = _now()
        if existing.exists:
            data = existing.to_dict() or {}
            if data.get("status") != SampleStatus.FAILED:
                return data, False  # same source again: one sample
            generation = int(data.get("generation") or 1) + 1  # a failed one is tried again
        else:
            generation = 1
        record: dict[str, Any] = {
            "id": sample_id,
            "rep": rep,
            "source_type": source_type,
            "source_id": source_id,
            "source_url": source_url,
            "title": (title or filename or source_url or source_id or source_type)[:300],
            "filename": filename,
            "content_type": content_type,
            "size": len(upload) if upload is not None else None,
            "status": SampleStatus.PENDING,
            "error": None,
            "generation": generation,
            "voice_profile_id": rep,
            "embedding_state": "none",
            "metadata": metadata or {},
            "created_at": existing.get("created_at") if existing.exists else now,
            "updated_at": now,
        }
        if text is not None:
            record["raw_text"] = _cut_utf8(text, MAX_STORED_CONTENT_BYTES)
        if upload is not None:
            self._store_blobs(ref, upload)
        ref.set(record)
        self._enqueue_extract(sample_id, generation)
        log.info(
            "voice sample accepted",
            extra={"fields": {"sample_id": sample_id, "source_type": source_type}},
        )
        return record, True

    def _store_blobs(self, ref: Any, data: bytes) -> None:
        self.store.write_parts(ref.collection(BLOBS), data)

    def _enqueue_extract(self, sample_id: str, generation: int) -> None:
        self.tasks.enqueue(
            self.extract_target.queue,
            task_id("voice-extract", sample_id, generation),
            self.extract_target.url,
            {"sample_id": sample_id, "generation": generation},
            audience=self.extract_target.audience,
        )

    def enqueue_profile(self, rep: str, reason: str, *, force: bool = False) -> None:
        """Queue a rebuild. Automatic ones are debounced: every request within one window
        shares a task that runs when the window ends, so it sees all of them. An explicit
        retrain (`force`) runs at once, even over an unchanged sample set."""
        now = _now().timestamp()
        schedule_at: datetime | None = None
        if force:
            name = task_id("voice-retrain", rep_slug(rep), int(now * 1000))
        else:
            window = max(1, self.profile_debounce_seconds)
            index = int(now // window)
            name = task_id("voice-profile", rep_slug(rep), window, index)
            schedule_at = datetime.fromtimestamp((index + 1) * window + 0.5, UTC)
        self.tasks.enqueue(
            self.profile_target.queue,
            name,
            self.profile_target.url,
            {"rep": rep, "reason": reason, "force": force},
            schedule_at=schedule_at,
            audience=self.profile_target.audience,
        )

    # --- reading ------------------------------------------------------------------------
    def list_samples(self, rep: str) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._samples().where(filter=FieldFilter("rep", "==", rep.strip().lower()))
        found = [public_sample(s.to_dict() or {}) for s in query.stream()]
        return sorted(found, key=lambda s: s.get("created_at") or "", reverse=True)

    def previews(self, samples: list[dict[str, Any]], chars: int = 240) -> dict[str, str]:
        """The start of each ready sample's extracted (scrubbed) text, for the gallery."""
        found: dict[str, str] = {}
        for sample in samples[:50]:
            if sample.get("status") != "ready" or not sample.get("id"):
                continue
            first = (
                self._samples()
                .document(str(sample["id"]))
                .collection(CHUNKS)
                .order_by("n")
                .limit(1)
                .stream()
            )
            for chunk in first:
                text = str((chunk.to_dict() or {}).get("text") or "")
                found[str(sample["id"])] = text[:chars] + ("…" if len(text) > chars else "")
        return found

    def get_sample(self, rep: str, sample_id: str) -> dict[str, Any]:
        snap = self._samples().document(sample_id).get()
        if not snap.exists or (snap.to_dict() or {}).get("rep") != rep.strip().lower():
            raise NotFound("no such sample")
        return snap.to_dict() or {}

    def profile(self, rep: str) -> dict[str, Any] | None:
        snap = self.store.db.collection(PROFILES).document(rep.strip().lower()).get()
        return snap.to_dict() if snap.exists else None

    # --- deleting -----------------------------------------------------------------------
    def delete(self, rep: str, sample_id: str) -> None:
        """Remove the sample, its text, chunks (with embeddings) and bytes for good."""
        self.get_sample(rep, sample_id)
        ref = self._samples().document(sample_id)
        for sub in (CHUNKS, BLOBS):
            self._delete_collection(ref.collection(sub))
        ref.delete()
        self.enqueue_profile(rep.strip().lower(), "sample deleted")

    def _delete_collection(self, collection: Any) -> None:
        self.store.delete_all(collection)

    # --- extracting (the task) ----------------------------------------------------------
    def process(self, sample_id: str, generation: int | None = None) -> str:
        """Extract one sample. Returns its final status; TransientError means retry."""
        ref = self._samples().document(sample_id)
        snap = ref.get()
        if not snap.exists:
            return "gone"
        data = snap.to_dict() or {}
        if data.get("status") != SampleStatus.PENDING:
            return str(data.get("status"))
        if generation is not None and int(data.get("generation") or 1) != generation:
            return "superseded"
        try:
            text, details = self._content_text(data)
        except SampleFailed as exc:
            self._fail(ref, exc.reason)
            return SampleStatus.FAILED
        except TransientError as exc:
            ref.update({"last_error": exc.public_message, "updated_at": _now()})
            raise
        return self._finish(ref, data, text, details)

    def _content_text(self, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        from shared.domain.extraction import ExtractionFailed, extract

        source_type = str(data["source_type"])
        if source_type == "upload":
            content = Content(
                data=self._read_blobs(data["id"]),
                filename=data.get("filename"),
                content_type=data.get("content_type"),
            )
        elif source_type == "gmail":
            content = Content(text=str(data.get("raw_text") or ""), title=data.get("title"))
        else:
            fetcher = self.fetchers.get(source_type)
            if fetcher is None:
                raise SampleFailed(f"{source_type} samples are not available here")
            content = fetcher(data)
        details: dict[str, Any] = dict(content.metadata or {})
        if content.title:
            details["title"] = content.title
        if content.data is not None:
            details["size"] = len(content.data)
            try:
                extracted = extract(
                    content.data,
                    content.filename,
                    content.content_type,
                    max_chars=self.max_chars,
                )
            except ExtractionFailed as exc:
                raise SampleFailed(exc.reason) from None
            details.update(
                {"kind": extracted.kind, "pages": extracted.pages, "truncated": extracted.truncated}
            )
            if extracted.title and not content.title:
                details["title"] = extracted.title
            return extracted.text, details
        text = (content.text or "").strip()
        if not text:
            raise SampleFailed("no text found")
        return text[: self.max_chars], details

    def _read_blobs(self, sample_id: str) -> bytes:
        data = self.store.read_parts(self._samples().document(sample_id).collection(BLOBS))
        if data is None:
            raise SampleFailed("the uploaded file is no longer available; upload it again")
        return data

    def _fail(self, ref: Any, reason: str) -> None:
        ref.update(
            {
                "status": SampleStatus.FAILED,
                "error": reason,
                "updated_at": _now(),
            }
        )
        self._delete_collection(ref.collection(BLOBS))
        log.warning(
            "voice sample failed", extra={"fields": {"sample_id": ref.id, "reason": reason}}
        )

    def _finish(self, ref: Any, data: dict[str, Any], text: str, details: dict[str, Any]) -> str:
        from google.cloud.firestore_v1.base_query import FieldFilter

        from shared.domain.pii import scrub

        scrubbed = scrub(text, self.pii_region)
        clean = scrubbed.text.strip()
        if not clean:
            self._fail(ref, "no text found")
            return SampleStatus.FAILED
        digest = content_hash(clean)
        rep = str(data["rep"])
        twins = (
            self._samples()
            .where(filter=FieldFilter("rep", "==", rep))
            .where(filter=FieldFilter("content_hash", "==", digest))
            .limit(5)
            .stream()
        )
        twin = next((t for t in twins if t.id != ref.id), None)
        now = _now()
        common = {
            "title": str(details.get("title") or data.get("title") or "")[:300],
            "extracted_chars": len(clean),
            "content_hash": digest,
            "pii": scrubbed.counts,
            "extracted_at": now,
            "updated_at": now,
            "metadata": {**(data.get("metadata") or {}), **details},
            "raw_text": None,
            "error": None,
            "last_error": None,
        }
        if twin is not None:
            ref.update({**common, "status": SampleStatus.DUPLICATE, "duplicate_of": twin.id})
            self._delete_collection(ref.collection(BLOBS))
            return SampleStatus.DUPLICATE
        kind = details.get("kind") if data["source_type"] == "upload" else None
        stats = sample_stats(clean, str(kind or data["source_type"]))
        chunks = chunk_text(clean)[:MAX_CHUNKS_PER_SAMPLE]
        embedder = self.embedder()
        vectors = embedder.embed(chunks) if chunks else []
        self._write_chunks(ref, rep, chunks, vectors, embedder.name)
        ref.update(
            {
                **common,
                "status": SampleStatus.READY,
                "content": _cut_utf8(clean, MAX_STORED_CONTENT_BYTES),
                "stats": stats.as_json(),
                "chunks": len(chunks),
                "embedding_state": "ready",
                "embedding_model": embedder.name,
            }
        )
        self._delete_collection(ref.collection(BLOBS))
        self.enqueue_profile(rep, "sample ready")
        log.info(
            "voice sample ready",
            extra={"fields": {"sample_id": ref.id, "chars": len(clean), "chunks": len(chunks)}},
        )
        return SampleStatus.READY

    def _write_chunks(
        self, ref: Any, rep: str, chunks: list[str], vectors: list[list[float]], model: str
    ) -> None:
        from google.cloud.firestore_v1.vector import Vector

        self._delete_collection(ref.collection(CHUNKS))  # a retried task starts clean
        db = self.store.db
        for start in range(0, len(chunks), 200):
            batch = db.batch()
            for index in range(start, min(start + 200, len(chunks))):
                batch.set(
                    ref.collection(CHUNKS).document(f"{index:04d}"),
                    {
                        "rep": rep,
                        "sample_id": ref.id,
                        "n": index,
                        "text": chunks[index],
                        "model": model,
                        "embedding": Vector(vectors[index]),
                    },
                )
            batch.commit()

    # --- the profile --------------------------------------------------------------------
    def rebuild_profile(self, rep: str, *, force: bool = False) -> dict[str, Any]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        rep = rep.strip().lower()
        ready = [
            s.to_dict() or {}
            for s in self._samples()
            .where(filter=FieldFilter("rep", "==", rep))
            .where(filter=FieldFilter("status", "==", SampleStatus.READY))
            .stream()
        ]
        if ready:
            self._reembed_stale(ready)
        fingerprint = profile_fingerprint((s["id"], str(s.get("content_hash"))) for s in ready)
        profile_ref = self.store.db.collection(PROFILES).document(rep)
        current = profile_ref.get()
        existing = current.to_dict() or {} if current.exists else {}
        if not force and existing.get("fingerprint") == fingerprint:
            return existing
        style = merge_stats([SampleStats.from_json(s.get("stats") or {}) for s in ready])
        passages = self._exemplar_pool(ready)
        chosen = choose_exemplars([(pid, text, vector) for pid, text, vector in passages], k=6)
        by_id = {pid: text for pid, text, _ in passages}
        exemplars = [{"id": pid, "text": by_id[pid]} for pid in chosen]
        guide, guide_source = guide_from_stats(style), "statistics"
        writer = self.guide_writer() if ready else None
        if writer is not None:
            answer = writer.write(style.as_json(), [e["text"] for e in exemplars])
            if answer is not None:
                guide, guide_source = guide_from_answer(answer, style), "llm"
        profile = {
            "rep": rep,
            "version": int(existing.get("version") or 0) + 1,
            "built_at": _now(),
            "fingerprint": fingerprint,
            "sample_ids": sorted(s["id"] for s in ready),
            "samples": len(ready),
            # which kinds of writing the voice was learnt from (the outcomes' voice source)
            "sources": dict(Counter(str(s.get("source_type") or "unknown") for s in ready)),
            "stats": style.as_json(),
            "guide": guide,
            "guide_source": guide_source,
            "exemplars": exemplars,
            "embedding_model": self.embedder().name if ready else None,
        }
        profile_ref.set(profile)
        log.info(
            "voice profile built",
            extra={"fields": {"samples": len(ready), "guide_source": guide_source}},
        )
        return profile

    def _reembed_stale(self, ready: list[dict[str, Any]]) -> None:
        """Vectors of two models are not comparable: chunks embedded by another model (an
        OpenAI key added or removed since) are embedded again with the current one."""
        from google.cloud.firestore_v1.vector import Vector

        embedder = self.embedder()
        for sample in ready:
            if sample.get("embedding_model") == embedder.name:
                continue
            ref = self._samples().document(sample["id"])
            chunks = list(ref.collection(CHUNKS).order_by("n").stream())
            vectors = embedder.embed([str((c.to_dict() or {}).get("text") or "") for c in chunks])
            batch = self.store.db.batch()
            for chunk, vector in zip(chunks, vectors, strict=True):
                batch.update(chunk.reference, {"embedding": Vector(vector), "model": embedder.name})
            batch.update(ref, {"embedding_model": embedder.name})
            batch.commit()
            sample["embedding_model"] = embedder.name

    def _exemplar_pool(
        self, ready: Iterable[dict[str, Any]]
    ) -> list[tuple[str, str, list[float] | None]]:
        pool: list[tuple[str, str, list[float] | None]] = []
        for sample in ready:
            ref = self._samples().document(sample["id"])
            for chunk in ref.collection(CHUNKS).order_by("n").limit(3).stream():
                data = chunk.to_dict() or {}
                vector = data.get("embedding")
                pool.append(
                    (
                        f"{sample['id']}/{chunk.id}",
                        str(data.get("text") or ""),
                        list(vector) if vector is not None else None,
                    )
                )
                if len(pool) >= EXEMPLAR_POOL:
                    return pool
        return pool

    def closest_passages(self, rep: str, situation: str, k: int = 5) -> list[dict[str, Any]]:
        """The rep's past passages nearest to a situation (for the drafter)."""
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
        from google.cloud.firestore_v1.vector import Vector

        embedder = self.embedder()
        vector = embedder.embed([situation])[0]
        query = (
            self.store.db.collection_group(CHUNKS)
            .where(filter=FieldFilter("rep", "==", rep.strip().lower()))
            .where(filter=FieldFilter("model", "==", embedder.name))
            .find_nearest(
                vector_field="embedding",
                query_vector=Vector(vector),
                distance_measure=DistanceMeasure.COSINE,
                limit=k,
                distance_result_field="distance",
            )
        )
        return [
            {
                "sample_id": (s.to_dict() or {}).get("sample_id"),
                "text": (s.to_dict() or {}).get("text"),
                "distance": (s.to_dict() or {}).get("distance"),
            }
            for s in query.stream()  # type: ignore[call-arg]
        ]
