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


class ManualSuppressions:
    """An admin stops all contact with an address (a complaint, a wrong email sent), or lifts
    that again (they opted back in). The list stays pseudonymous: the reason goes to the audit
    log with the address removed, never to the suppression record. A forgotten person's
    suppression cannot be lifted: they asked for it."""

    def __init__(self, db: Any, audit: Any) -> None:
        self.db = db
        self.audit = audit

    @staticmethod
    def _checked(email: Any, reason: str) -> tuple[str, str]:
        from shared.domain.privacy import NotAnEmail, Person, normalize_email
        from shared.errors import BadRequest

        try:
            address = normalize_email(email)
        except NotAnEmail as exc:
            raise BadRequest(str(exc)) from None
        reason = (reason or "").strip()
        if not reason:
            raise BadRequest("say why: a suppression needs a reason")
        if len(reason) > 500:
            raise BadRequest("reason: at most 500 characters")
        return address, Person.of(address).redact(reason)

    def suppress(self, email: Any, *, who: str, reason: str) -> dict[str, Any]:
        from datetime import UTC, datetime

        from shared.domain.privacy import person_key

        address, why = self._checked(email, reason)
        now = datetime.now(UTC)
        suppression_ref(self.db, address).set(
            {"active": True, "updated_at": now, "manual": {"at": now, "by": who}}, merge=True
        )
        subject = person_key(address)
        self.audit.record("suppressed", who=who, subject=subject, reason=why)
        return {"subject": subject, "active": True}

    def lift(self, email: Any, *, who: str, reason: str) -> dict[str, Any]:
        from datetime import UTC, datetime

        from shared.domain.privacy import person_key
        from shared.errors import ConflictError, NotFound

        address, why = self._checked(email, reason)
        ref = suppression_ref(self.db, address)
        snap = ref.get()
        if not is_active(snap):
            raise NotFound("this address is not suppressed")
        if is_forgotten(snap):
            raise ConflictError("a forgotten person stays suppressed: they asked to be")
        now = datetime.now(UTC)
        ref.set({"active": False, "updated_at": now, "lifted": {"at": now, "by": who}}, merge=True)
        subject = person_key(address)
        self.audit.record("suppression_lifted", who=who, subject=subject, reason=why)
        return {"subject": subject, "active": False}
