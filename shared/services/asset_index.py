"""The asset passages' vector index: float16 shards in Firestore, searched in memory.

Measured on the emulator (bench/retrieval_probe.py): Firestore `find_nearest` over 10,000
passages took 123–239 ms p50 (up to 800 ms p99); reading 10,000 passage documents to build an
index in memory took 10 s. Packed shards (about 1,200 float16 vectors per document, under the
1 MiB limit) load in 35 ms, and a brute-force dot product over the float32 matrix takes 0.3 ms,
so a warm search is about 10 ms including fetching the winners.

Layout: `asset_index/{team}` holds the live `generation`; its shards are
`asset_index/{team}/shards/{generation}-{n}` with the passage ids and their vectors. A rebuild
writes a new generation's shards, then flips the pointer in a transaction (only forward), then
deletes older generations. Only approved passages of the current embedding model are indexed;
the candidates' own documents are read at search time, so an asset unapproved or removed since
the last rebuild is never offered.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from shared.adapters.store import Store

log = logging.getLogger(__name__)

INDEX = "asset_index"
SHARDS = "shards"
PASSAGES = "asset_passages"
SHARD_SIZE = 1_200  # 1,200 x 384 x 2 bytes = 921,600 bytes per document


@dataclass
class _Loaded:
    generation: int
    ids: list[str]
    matrix: np.ndarray[Any, Any]  # float32, one unit row per passage
    model: str


def pack(vector: list[float]) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=np.float16).tobytes()


class ShardedIndex:
    def __init__(self, store: Store, dimensions: int = 384) -> None:
        self.store = store
        self.dimensions = dimensions
        self._cache: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def _index_ref(self, team: str) -> Any:
        return self.store.db.collection(INDEX).document(team)

    # --- building -----------------------------------------------------------------------
    def rebuild(self, team: str, model: str) -> dict[str, Any]:
        """Pack every approved passage of the team embedded by `model` into a new generation."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        started = time.perf_counter()
        query = (
            self.store.db.collection(PASSAGES)
            .where(filter=FieldFilter("team", "==", team))
            .where(filter=FieldFilter("approved", "==", True))
            .where(filter=FieldFilter("model", "==", model))
            .select(["emb16"])
        )
        ids: list[str] = []
        rows: list[bytes] = []
        width = self.dimensions * 2
        for snap in query.stream():
            packed = (snap.to_dict() or {}).get("emb16")
            if isinstance(packed, bytes) and len(packed) == width:
                ids.append(snap.id)
                rows.append(packed)
        index_ref = self._index_ref(team)
        current = index_ref.get()
        generation = (
            int((current.to_dict() or {}).get("generation") or 0) + 1 if current.exists else 1
        )
        shards = 0
        for start in range(0, len(ids), SHARD_SIZE):
            index_ref.collection(SHARDS).document(f"{generation:08d}-{shards:04d}").set(
                {
                    "generation": generation,
                    "ids": ids[start : start + SHARD_SIZE],
                    "vectors": b"".join(rows[start : start + SHARD_SIZE]),
                }
            )
            shards += 1

        @firestore.transactional
        def flip(transaction: Any) -> bool:
            snap = index_ref.get(transaction=transaction)
            live = int((snap.to_dict() or {}).get("generation") or 0) if snap.exists else 0
            if live >= generation:
                return False  # a newer rebuild won the race; ours is dropped below
            transaction.set(
                index_ref,
                {
                    "team": team,
                    "generation": generation,
                    "shards": shards,
                    "passages": len(ids),
                    "model": model,
                    "built_at": datetime.now(UTC),
                },
            )
            return True

        flipped = flip(self.store.db.transaction())
        keep = generation if flipped else -1
        for shard in index_ref.collection(SHARDS).select(["generation"]).stream():
            gen = int((shard.to_dict() or {}).get("generation") or 0)
            if gen < generation - 1 or (not flipped and gen == generation):
                shard.reference.delete()  # the previous generation stays for readers mid-load
        log.info(
            "asset index rebuilt",
            extra={
                "fields": {
                    "team": team,
                    "passages": len(ids),
                    "generation": keep,
                    "seconds": round(time.perf_counter() - started, 3),
                }
            },
        )
        return {"generation": keep, "passages": len(ids), "shards": shards}

    # --- searching ----------------------------------------------------------------------
    def _load(self, team: str) -> _Loaded | None:
        import numpy as np

        index = self._index_ref(team).get()
        if not index.exists:
            return None
        data = index.to_dict() or {}
        generation = int(data.get("generation") or 0)
        with self._lock:
            cached = self._cache.get(team)
        if cached is not None and cached.generation == generation:
            return cached
        refs = [
            self._index_ref(team).collection(SHARDS).document(f"{generation:08d}-{n:04d}")
            for n in range(int(data.get("shards") or 0))
        ]
        ids: list[str] = []
        parts: list[np.ndarray[Any, Any]] = []
        for snap in sorted(self.store.db.get_all(refs), key=lambda s: s.id):
            shard = snap.to_dict() or {}
            ids.extend(shard.get("ids") or [])
            parts.append(np.frombuffer(shard.get("vectors") or b"", dtype=np.float16))
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float16)
        matrix = flat.astype(np.float32).reshape(-1, self.dimensions)
        if matrix.shape[0] != len(ids):
            log.error("asset index shards are inconsistent; ignoring them")
            return None
        loaded = _Loaded(generation, ids, matrix, str(data.get("model") or ""))
        with self._lock:
            self._cache[team] = loaded
        return loaded

    def nearest(
        self, team: str, vector: list[float], model: str, k: int
    ) -> list[tuple[str, float]]:
        """(passage id, cosine similarity) of the `k` nearest indexed passages."""
        import numpy as np

        loaded = self._load(team)
        if loaded is None or loaded.model != model or not loaded.ids:
            return []
        query = np.asarray(vector, dtype=np.float32)
        scores = loaded.matrix @ query
        k = min(k, len(loaded.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        order = top[np.argsort(-scores[top])]
        return [(loaded.ids[i], float(scores[i])) for i in order]
