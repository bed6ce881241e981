"""The official Firestore client against the official emulator: the idempotency primitives."""

import threading

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.adapters.store import Store

pytestmark = pytest.mark.stack


def _store(local) -> Store:
    return Store(local.project, emulator_host=local.firestore.host)


def test_dedupe_record_and_state_change_commit_together(local) -> None:
    store = _store(local)
    dedupe = store.db.collection("dedupe").document("event-1")
    workflow = store.db.collection("workflows").document("wf-1")

    def open_once(transaction) -> bool:
        try:
            transaction.create(dedupe, {"seen": True})
        except AlreadyExists:  # pragma: no cover - create() in a transaction fails at commit
            return False
        transaction.set(workflow, {"state": "new"})
        return True

    assert store.run_transaction(open_once) is True
    with pytest.raises(AlreadyExists):
        store.run_transaction(open_once)
    assert len(list(store.db.collection("workflows").stream())) == 1


def test_contending_transactions_lose_no_update(local) -> None:
    store = _store(local)
    counter = store.db.collection("counters").document("c")
    counter.set({"n": 0})

    def bump(transaction) -> None:
        snapshot = counter.get(transaction=transaction)
        transaction.update(counter, {"n": snapshot.get("n") + 1})

    threads = [threading.Thread(target=store.run_transaction, args=(bump,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.get().get("n") == 2


def test_reset_empties_the_database(local) -> None:
    store = _store(local)
    store.db.collection("anything").document("x").set({"a": 1})
    local.reset()
    assert list(store.db.collection("anything").stream()) == []
