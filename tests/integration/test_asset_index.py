"""The sharded vector index against the Firestore emulator."""

from __future__ import annotations

import math

import pytest

from shared.adapters.store import Store
from shared.config import load_settings
from shared.services.asset_index import SHARD_SIZE, ShardedIndex, pack

pytestmark = pytest.mark.stack
MODEL = "all-MiniLM-L6-v2 (offline)"


def unit(*values: float) -> list[float]:
    vector = list(values) + [0.0] * (384 - len(values))
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


@pytest.fixture
def store(local):
    return Store.from_settings(load_settings())


def put(store: Store, pid: str, vector: list[float], *, team="t1", approved=True, model=MODEL):
    store.db.collection("asset_passages").document(pid).set(
        {"team": team, "approved": approved, "model": model, "emb16": pack(vector)}
    )


def test_only_approved_passages_of_the_team_and_model_are_searched(store):
    put(store, "near", unit(1, 0.1))
    put(store, "far", unit(0, 1))
    put(store, "hidden", unit(1, 0), approved=False)
    put(store, "other-team", unit(1, 0), team="t2")
    put(store, "other-model", unit(1, 0), model="openai:x@384")
    index = ShardedIndex(store)

    built = index.rebuild("t1", MODEL)
    found = index.nearest("t1", unit(1, 0), MODEL, k=10)

    assert built["passages"] == 2
    assert [pid for pid, _ in found] == ["near", "far"]
    assert found[0][1] == pytest.approx(0.995, abs=0.01)
    assert index.nearest("t1", unit(1, 0), "openai:x@384", k=10) == []
    assert ShardedIndex(store).nearest("nobody", unit(1), MODEL, k=3) == []


def test_a_new_generation_replaces_the_old_one_for_every_instance(store):
    put(store, "a", unit(1, 0))
    reader = ShardedIndex(store)
    ShardedIndex(store).rebuild("t1", MODEL)
    assert [p for p, _ in reader.nearest("t1", unit(1, 0), MODEL, k=5)] == ["a"]

    put(store, "b", unit(1, 0.05))
    second = ShardedIndex(store).rebuild("t1", MODEL)
    third = ShardedIndex(store).rebuild("t1", MODEL)

    assert (second["generation"], third["generation"]) == (2, 3)
    assert sorted(p for p, _ in reader.nearest("t1", unit(1, 0), MODEL, k=5)) == ["a", "b"]
    shards = store.db.collection("asset_index").document("t1").collection("shards").stream()
    assert {s.to_dict()["generation"] for s in shards} == {2, 3}  # older ones deleted


def test_more_passages_than_one_shard_holds(store):
    db = store.db
    count = SHARD_SIZE + 5
    for start in range(0, count, 400):
        batch = db.batch()
        for i in range(start, min(start + 400, count)):
            batch.set(
                db.collection("asset_passages").document(f"p{i:05d}"),
                {
                    "team": "t1",
                    "approved": True,
                    "model": MODEL,
                    "emb16": pack(unit(1, i / count)),
                },
            )
        batch.commit()
    index = ShardedIndex(store)

    built = index.rebuild("t1", MODEL)
    found = index.nearest("t1", unit(1, 0), MODEL, k=3)

    assert (built["passages"], built["shards"]) == (count, 2)
    assert [pid for pid, _ in found] == ["p00000", "p00001", "p00002"]
