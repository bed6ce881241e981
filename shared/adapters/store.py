"""Firestore: the one place state lives.

A thin holder around `google.cloud.firestore.Client`, built on first use. Services use the
native client's documents, queries and transactions directly (they are already a small, well
documented interface); this module adds what every caller needs the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from google.cloud import firestore

    from shared.config import Settings

T = TypeVar("T")


class Store:
    def __init__(self, project: str, database: str = "(default)", emulator_host: str | None = None):
        self.project = project
        self.database = database
        self.emulator_host = emulator_host
        self._client: firestore.Client | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(
            settings.gcp_project, settings.firestore_database, settings.firestore_emulator_host
        )

    @property
    def db(self) -> firestore.Client:
        if self._client is None:
            from google.cloud import firestore

            if self.emulator_host:
                # The client reads the emulator address from the environment only.
                os.environ["FIRESTORE_EMULATOR_HOST"] = self.emulator_host
            self._client = firestore.Client(project=self.project, database=self.database)
        return self._client

    def run_transaction(self, fn: Callable[[Any], T], max_attempts: int = 5) -> T:
        """Run `fn(transaction)` in a Firestore transaction, retried on contention."""
        from google.cloud import firestore

        transaction = self.db.transaction(max_attempts=max_attempts)
        return firestore.transactional(fn)(transaction)  # type: ignore[no-any-return]

    # --- what several services need the same way ---------------------------------------
    PART_BYTES = 900_000  # under Firestore's 1 MiB document limit
    PARTS_PER_COMMIT = 8  # about 7 MB, under the 10 MiB request limit

    def write_parts(self, collection: Any, data: bytes) -> None:
        """Bytes larger than a document, kept as numbered parts (e.g. an upload waiting for
        its extraction task)."""
        size = self.PART_BYTES
        parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        for start in range(0, len(parts), self.PARTS_PER_COMMIT):
            batch = self.db.batch()
            for index in range(start, min(start + self.PARTS_PER_COMMIT, len(parts))):
                batch.set(collection.document(f"{index:05d}"), {"data": parts[index]})
            batch.commit()

    def read_parts(self, collection: Any) -> bytes | None:
        """The bytes `write_parts` stored, or None when there are none."""
        parts = sorted(collection.stream(), key=lambda snap: snap.id)
        if not parts:
            return None
        return b"".join(bytes((p.to_dict() or {}).get("data") or b"") for p in parts)

    def delete_all(self, query: Any, page: int = 300) -> int:
        """Delete every document a collection or query yields, in batches."""
        deleted = 0
        while True:
            docs = list(query.limit(page).select([]).stream())
            if not docs:
                return deleted
            batch = self.db.batch()
            for doc in docs:
                batch.delete(doc.reference)
            batch.commit()
            deleted += len(docs)
