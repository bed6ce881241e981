"""Throwaway probe: asset-library retrieval latency, Firestore vector search (emulator) vs an
in-memory numpy index, at 1,000 and 10,000 passages of 384-dim unit vectors.

    .venv/bin/python -m bench.retrieval_probe [--sizes 1000 10000] [--queries 50]

Starts its own Firestore emulator (from the jar, via devstack.emulators) and stops it at the end.
Random seeded unit vectors: the embedding model is irrelevant for timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from devstack.emulators import firestore as firestore_emulator

PROJECT = "probe-local"
DIM = 384
TEAM = "acme"
OTHER_TEAM = "globex"
OTHER_TEAM_DOCS = 500  # noise the team filter must remove
APPROVED_SHARE = 0.9
SHARD_ROWS = 1200  # float16: 1,200 x 384 x 2 = 921,600 bytes per shard document
WARMUP = 5

rows: list[dict] = []


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def timed(
    fn: Callable[[int], object], count: int, warmup: int = WARMUP
) -> tuple[float, float, object]:
    for i in range(warmup):
        fn(-1 - i)
    samples = []
    last = None
    for i in range(count):
        started = time.perf_counter()
        last = fn(i)
        samples.append(time.perf_counter() - started)
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return ms(statistics.median(samples)), ms(p99), last


def record(size: int, case: str, p50: float, p99: float, count: int, note: str = "") -> None:
    row = {"passages": size, "case": case, "p50_ms": p50, "p99_ms": p99, "n": count, "note": note}
    rows.append(row)
    print(json.dumps(row), flush=True)


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def java_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def text_for(i: int) -> str:
    return (
        f"Passage {i}: " + "Our platform cuts onboarding time and integrates with your CRM. " * 7
    )[:480]


def load_corpus(client, size: int, rng: np.random.Generator) -> dict:
    from google.cloud.firestore_v1.vector import Vector

    col = client.collection(f"passages_{size}")
    vecs = unit_vectors(rng, size)
    approved = rng.random(size) < APPROVED_SHARE
    other = unit_vectors(rng, OTHER_TEAM_DOCS)
    started = time.perf_counter()
    batch, pending = client.batch(), 0
    docs = [(f"p{i:05d}", TEAM, bool(approved[i]), vecs[i]) for i in range(size)]
    docs += [(f"o{i:05d}", OTHER_TEAM, True, other[i]) for i in range(OTHER_TEAM_DOCS)]
    for doc_id, team, ok, v in docs:
        batch.set(
            col.document(doc_id),
            {
                "team": team,
                "approved": ok,
                "title": f"Asset {doc_id}",
                "kind": "case_study",
                "text": text_for(int(doc_id[1:])),
                "embedding": Vector(v.tolist()),
                "emb16": v.astype(np.float16).tobytes(),  # for the per-document bytes variant
            },
        )
        pending += 1
        if pending == 500:
            batch.commit()
            batch, pending = client.batch(), 0
    if pending:
        batch.commit()
    write_s = time.perf_counter() - started

    # Shards: float16 bytes, SHARD_ROWS vectors each, one set() per shard (a whole batch of
    # shards would be a ~9 MB request).
    shard_col = client.collection(f"passage_shards_{size}")
    started = time.perf_counter()
    shard_ids = []
    for k, lo in enumerate(range(0, size, SHARD_ROWS)):
        hi = min(size, lo + SHARD_ROWS)
        shard_id = f"{TEAM}-{k:03d}"
        shard_col.document(shard_id).set(
            {
                "team": TEAM,
                "version": 1,
                "rows": hi - lo,
                "ids": [f"p{i:05d}" for i in range(lo, hi)],
                "approved": approved[lo:hi].astype(np.uint8).tobytes(),
                "vectors": vecs[lo:hi].astype(np.float16).tobytes(),
            }
        )
        shard_ids.append(shard_id)
    shard_write_s = time.perf_counter() - started
    print(
        f"# wrote {size}+{OTHER_TEAM_DOCS} docs in {write_s:.1f}s, "
        f"{len(shard_ids)} shards in {shard_write_s:.2f}s",
        flush=True,
    )
    return {
        "col": col,
        "vecs": vecs,
        "approved": approved,
        "shard_col": shard_col,
        "shard_ids": shard_ids,
        "write_s": write_s,
    }


def expected_top(vecs: np.ndarray, approved: np.ndarray, q: np.ndarray, k: int) -> list[str]:
    s = vecs @ q
    s[~approved] = -np.inf
    top = np.argsort(-s)[:k]
    return [f"p{i:05d}" for i in top]


def probe_firestore(size: int, corpus: dict, queries: np.ndarray, count: int) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
    from google.cloud.firestore_v1.vector import Vector

    col = corpus["col"]

    def base(select: list[str] | None = None):
        q = col.where(filter=FieldFilter("team", "==", TEAM)).where(
            filter=FieldFilter("approved", "==", True)
        )
        return q.select(select) if select else q

    def qv(i: int) -> Vector:
        return Vector(queries[i % len(queries)].tolist())

    def run(limit: int, mode: str, select=None, measure=DistanceMeasure.COSINE):
        def one(i: int):
            vq = base(select).find_nearest(
                vector_field="embedding",
                query_vector=qv(i),
                distance_measure=measure,
                limit=limit,
                distance_result_field="distance",
            )
            docs = vq.get() if mode == "get" else list(vq.stream())
            return [(d.id, d.to_dict()) for d in docs]

        return one

    # Correctness of the two-equality pre-filter against numpy (first 5 queries).
    mismatches = 0
    for i in range(5):
        got = [d for d, _ in run(20, "get")(i)]
        want = expected_top(corpus["vecs"], corpus["approved"], queries[i], 20)
        mismatches += got != want
    print(
        f"# {size}: find_nearest top-20 ids == numpy brute force for {5 - mismatches}/5 queries",
        flush=True,
    )

    cases = [
        ("(a) find_nearest COSINE limit=20 .get()", run(20, "get")),
        ("(a) find_nearest COSINE limit=20 .stream()", run(20, "stream")),
        ("(a) find_nearest COSINE limit=50 .get()", run(50, "get")),
        ("(a) select([title,text]) limit=20 .get()", run(20, "get", ["title", "text"])),
        ("(a) select([title,text]) limit=50 .get()", run(50, "get", ["title", "text"])),
        ("(a) DOT_PRODUCT limit=20 .get()", run(20, "get", None, DistanceMeasure.DOT_PRODUCT)),
    ]
    for name, fn in cases:
        p50, p99, last = timed(fn, count)
        fields = sorted(last[0][1].keys()) if last else []
        record(size, name, p50, p99, count, f"fields returned: {fields}")


def search_numpy(
    matrix: np.ndarray, mask: np.ndarray | None, q: np.ndarray, k: int = 50, final: int = 20
) -> np.ndarray:
    s = matrix @ q
    top = np.argpartition(-s, k)[:k]
    if mask is not None:
        top = top[mask[top]]
    top = top[np.argsort(-s[top])]
    return top[:final]


def probe_numpy(size: int, corpus: dict, queries: np.ndarray, count: int) -> None:
    vecs, approved = corpus["vecs"], corpus["approved"]
    m32 = np.ascontiguousarray(vecs, dtype=np.float32)
    m16 = m32.astype(np.float16)
    only_ok = np.ascontiguousarray(m32[approved])
    q32 = [q.astype(np.float32) for q in queries]
    q16 = [q.astype(np.float16) for q in queries]

    got = search_numpy(m32, approved, q32[0])
    want = expected_top(vecs, approved, queries[0], 20)
    print(
        f"# {size}: numpy top-20 (top-50 then approved filter) matches exact: "
        f"{[f'p{i:05d}' for i in got] == want}",
        flush=True,
    )

    cases = [
        (
            "(b) numpy f32 matmul + argpartition 50 + approved mask",
            lambda i: search_numpy(m32, approved, q32[i % len(q32)]),
        ),
        (
            "(b) numpy f32, approved rows only (pre-filtered at load)",
            lambda i: search_numpy(only_ok, None, q32[i % len(q32)]),
        ),
        (
            "(b) numpy f16 matrix (no BLAS) + argpartition 50",
            lambda i: search_numpy(m16, approved, q16[i % len(q16)]),
        ),
    ]
    for name, fn in cases:
        p50, p99, _ = timed(fn, count)
        record(size, name, p50, p99, count)
    started = time.perf_counter()
    for _ in range(20):
        m16.astype(np.float32)
    record(
        size,
        "(b) f16 -> f32 conversion of the matrix (once per load)",
        ms((time.perf_counter() - started) / 20),
        float("nan"),
        20,
    )


def probe_loads(client, size: int, corpus: dict, queries: np.ndarray, load_reps: int) -> None:
    from google.cloud.firestore_v1.base_query import FieldFilter

    col, shard_col = corpus["col"], corpus["shard_col"]
    team_q = col.where(filter=FieldFilter("team", "==", TEAM))

    def load_docs_vector(_i: int):
        ids, ok, rows_ = [], [], []
        for snap in team_q.select(["embedding", "approved"]).stream():
            d = snap.to_dict()
            ids.append(snap.id)
            ok.append(d["approved"])
            rows_.append(d["embedding"]._value)
        return ids, np.asarray(ok), np.asarray(rows_, dtype=np.float32)

    def load_docs_bytes(_i: int):
        ids, ok, chunks = [], [], []
        for snap in team_q.select(["emb16", "approved"]).stream():
            d = snap.to_dict()
            ids.append(snap.id)
            ok.append(d["approved"])
            chunks.append(d["emb16"])
        m = np.frombuffer(b"".join(chunks), dtype=np.float16).reshape(-1, DIM).astype(np.float32)
        return ids, np.asarray(ok), m

    refs = [shard_col.document(s) for s in corpus["shard_ids"]]

    def load_shards(_i: int):
        ids, ok, chunks = [], [], []
        snaps = {s.id: s for s in client.get_all(refs)}
        for ref in refs:  # get_all returns in arbitrary order
            d = snaps[ref.id].to_dict()
            ids += d["ids"]
            ok.append(np.frombuffer(d["approved"], dtype=np.uint8))
            chunks.append(d["vectors"])
        m = np.frombuffer(b"".join(chunks), dtype=np.float16).reshape(-1, DIM).astype(np.float32)
        return ids, np.concatenate(ok).astype(bool), m

    reps_docs = max(3, load_reps // (2 if size > 5000 else 1))
    for name, fn, reps in [
        (
            "(b1) load: stream team docs select([embedding, approved]) (Vector)",
            load_docs_vector,
            reps_docs,
        ),
        (
            "(b1') load: stream team docs select([emb16, approved]) (bytes f16)",
            load_docs_bytes,
            reps_docs,
        ),
        (
            f"(b2) load: get_all {len(refs)} shard docs (f16 bytes, {SHARD_ROWS}/shard)",
            load_shards,
            load_reps,
        ),
    ]:
        p50, p99, (ids, ok, m) = timed(fn, reps, warmup=1)
        assert len(ids) == size, len(ids)
        assert m.shape == (size, DIM), m.shape
        assert np.array_equal(ok, corpus["approved"])
        err = float(np.max(np.abs(m - corpus["vecs"])))
        record(size, name, p50, p99, reps, f"max abs err vs f32 {err:.1e}")

    # What the draft step pays with a warm in-memory index: a manifest check (1 doc) + search +
    # fetch the 20 winning passages' text.
    manifest = shard_col.document(corpus["shard_ids"][0])
    m32 = corpus["vecs"]

    def warm_path(i: int):
        manifest_snap = (
            shard_col.select(["version"])
            .where(filter=FieldFilter("team", "==", TEAM))
            .limit(1)
            .get()
        )
        top = search_numpy(m32, corpus["approved"], queries[i % len(queries)])
        docs = client.get_all(
            [col.document(f"p{j:05d}") for j in top], field_paths=["title", "text"]
        )
        return manifest_snap, [d.to_dict() for d in docs]

    def fetch_only(i: int):
        top = search_numpy(m32, corpus["approved"], queries[i % len(queries)])
        return [
            d.to_dict()
            for d in client.get_all(
                [col.document(f"p{j:05d}") for j in top], field_paths=["title", "text"]
            )
        ]

    del manifest
    p50, p99, _ = timed(fetch_only, 50)
    record(size, "(b) warm: numpy search + get_all 20 passages (title,text)", p50, p99, 50)
    p50, p99, _ = timed(warm_path, 50)
    record(size, "(b) warm: + 1-doc version check query", p50, p99, 50)


def quirks(client) -> dict:
    from google.api_core import exceptions as gexc
    from google.cloud.firestore_v1.base_query import FieldFilter
    from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
    from google.cloud.firestore_v1.vector import Vector

    out: dict[str, str] = {}
    rng = np.random.default_rng(7)
    col = client.collection("quirks")
    vecs = unit_vectors(rng, 40)
    batch = client.batch()
    for i, v in enumerate(vecs):
        batch.set(
            col.document(f"q{i:02d}"),
            {"team": TEAM, "approved": True, "embedding": Vector(v.tolist())},
        )
    batch.set(
        col.document("short"),
        {
            "team": TEAM,
            "approved": True,
            "embedding": Vector(unit_vectors(rng, 1)[0][:383].tolist()),
        },
    )
    batch.set(
        col.document("list"), {"team": TEAM, "approved": True, "embedding": vecs[0].tolist()}
    )  # plain array, not Vector
    batch.commit()

    def nearest(q, limit=50, measure=DistanceMeasure.COSINE, threshold=None, filtered=True):
        base = col
        if filtered:
            base = col.where(filter=FieldFilter("team", "==", TEAM)).where(
                filter=FieldFilter("approved", "==", True)
            )
        try:
            docs = base.find_nearest(
                vector_field="embedding",
                query_vector=Vector(list(q)),
                distance_measure=measure,
                limit=limit,
                distance_result_field="distance",
                distance_threshold=threshold,
            ).get()
            return [(d.id, round(d.get("distance"), 4)) for d in docs]
        except (gexc.GoogleAPICallError, ValueError, TypeError) as e:
            return f"{type(e).__name__}: {str(e)[:160]}"

    def summarize(res):
        if isinstance(res, str):
            return res
        ids = [r[0] for r in res]
        return (
            f"{len(res)} docs; 'short' in: {'short' in ids}; 'list' in: {'list' in ids}; "
            f"first {res[:2]}"
        )

    q = vecs[0]
    out["384-dim query, 2 equality pre-filters"] = summarize(nearest(q))
    out["384-dim query, no pre-filter"] = summarize(nearest(q, filtered=False))
    out["383-dim query"] = summarize(nearest(vecs[1][:383]))
    out["512-dim query"] = summarize(nearest(np.concatenate([q, q[:128]])))
    res = nearest(q, threshold=0.9)
    out["COSINE distance_threshold=0.9"] = summarize(res) + (
        f"; max distance returned {max(r[1] for r in res)}" if isinstance(res, list) and res else ""
    )
    res = nearest(q, threshold=0.5, measure=DistanceMeasure.DOT_PRODUCT)
    out["DOT_PRODUCT distance_threshold=0.5"] = summarize(res) + (
        f"; min value returned {min(r[1] for r in res)}" if isinstance(res, list) and res else ""
    )
    out["limit=1001"] = summarize(nearest(q, limit=1001))
    out["limit=1000"] = summarize(nearest(q, limit=1000))
    # Unnormalised query with COSINE: should give the same order as the unit query.
    a = [r[0] for r in nearest(q * 3.0)] if not isinstance(nearest(q), str) else None
    b = [r[0] for r in nearest(q)] if a is not None else None
    out["COSINE with query scaled x3: same order"] = str(a == b)
    for k, v in out.items():
        print(f"# quirk: {k}: {v}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--load-reps", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    emu = firestore_emulator()
    emu.spawn()
    try:
        emu.wait_ready()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
        from google.cloud import firestore

        client = firestore.Client(project=PROJECT)
        java_pid = emu.process.pid  # setpriv execs java: same pid
        print(f"# emulator {emu.host} pid {java_pid} rss {java_rss_mb(java_pid)} MB", flush=True)
        extra = {"rss_start_mb": java_rss_mb(java_pid)}
        extra["quirks"] = quirks(client)
        rng = np.random.default_rng(42)
        for size in args.sizes:
            corpus = load_corpus(client, size, rng)
            extra[f"write_s_{size}"] = round(corpus["write_s"], 2)
            extra[f"rss_after_{size}_mb"] = java_rss_mb(java_pid)
            print(f"# rss after loading {size}: {extra[f'rss_after_{size}_mb']} MB", flush=True)
            queries = unit_vectors(np.random.default_rng(size), args.queries + WARMUP + 5)
            probe_numpy(size, corpus, queries, args.queries)
            probe_firestore(size, corpus, queries, args.queries)
            probe_loads(client, size, corpus, queries, args.load_reps)
            extra[f"rss_after_queries_{size}_mb"] = java_rss_mb(java_pid)
        print("\n| passages | case | p50 ms | p99 ms | n | note |\n|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['passages']} | {r['case']} | {r['p50_ms']} | {r['p99_ms']} | {r['n']} "
                f"| {r['note']} |"
            )
        print(json.dumps({k: v for k, v in extra.items() if k != "quirks"}))
        if args.json:
            args.json.write_text(json.dumps({"rows": rows, "extra": extra}, indent=1))
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
