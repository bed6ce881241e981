"""The suppression list: people we never write to again (bounced, unsubscribed, forgotten).

Documents are keyed by `person_key(email)` (and, for a forgotten HubSpot contact, by
`contact_key(id)`), so the list names nobody: `suppressions/{hash}` = {active, reasons...}.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.domain.privacy import contact_key, person_key

SUPPRESSIONS = "suppressions"
FORGOTTEN = "forgotten"


def suppression_ref(db: Any, email: str) -> Any:
    return db.collection(SUPPRESSIONS).document(person_key(email))


def contact_suppression_ref(db: Any, contact_id: int | str) -> Any:
    return db.collection(SUPPRESSIONS).document(contact_key(contact_id))


def is_active(snapshot: Any) -> bool:
    return bool(
        snapshot is not None and snapshot.exists and (snapshot.to_dict() or {}).get("active")
    )


def is_forgotten(snapshot: Any) -> bool:
    return is_active(snapshot) and bool((snapshot.to_dict() or {}).get(FORGOTTEN))


def is_suppressed(db: Any, email: str, transaction: Any = None) -> bool:
    if not email:
        return False
    return is_active(suppression_ref(db, email).get(transaction=transaction))


def suppressed_among(db: Any, emails: Iterable[str]) -> set[str]:
    """The addresses of `emails` on the list, in one round trip."""
    by_key = {person_key(e): e for e in set(emails) if e}
    if not by_key:
        return set()
    refs = [db.collection(SUPPRESSIONS).document(key) for key in by_key]
    return {by_key[snap.id] for snap in db.get_all(refs) if is_active(snap)}
