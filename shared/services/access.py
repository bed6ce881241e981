"""Operator roles: who besides the deployment's own admins may sign in, and as what.

`OPERATOR_EMAILS` are the bootstrap admins: always admin, never stored, never changed here
(a mistake on the page cannot lock the team out). Everyone else holds a document
`operator_roles/{email}` = {email, role, by, at, reason}. The session check reads it on every
request (one document get; nothing caches it), so a removed role is refused on the very next
request. Each change is written with its audit record in one transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.domain.access import ROLES, Role, parse_role
from shared.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.config import Settings
    from shared.services.send_flags import AuditLog

ROLES_COLLECTION = "operator_roles"
# A plain address; also a valid Firestore document id (no "/", never "." or "__x__").
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+'-]{0,63}@[a-z0-9-]+(\.[a-z0-9-]+)+")


def normal_email(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if len(text) <= 254 and _EMAIL.fullmatch(text) else None


class OperatorRoles:
    def __init__(self, store: Store, settings: Settings, audit: AuditLog | None = None) -> None:
        self.store = store
        self.settings = settings
        self.audit = audit

    @property
    def bootstrap(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.settings.operator_emails if e.strip())

    def _ref(self, email: str) -> Any:
        return self.store.db.collection(ROLES_COLLECTION).document(email)

    def role_of(self, email: str) -> Role | None:
        """The role `email` holds now, or None: not an operator (any more)."""
        address = normal_email(email)
        if address is None:
            return None
        if address in self.bootstrap:
            return Role.ADMIN
        snap = self._ref(address).get()
        return parse_role((snap.to_dict() or {}).get("role")) if snap.exists else None

    def _stored(self) -> list[dict[str, Any]]:
        rows = []
        for snap in self.store.db.collection(ROLES_COLLECTION).stream():
            data = snap.to_dict() or {}
            if parse_role(data.get("role")) is not None:
                rows.append({**data, "email": snap.id})
        return rows

    def emails(self) -> tuple[str, ...]:
        """Everyone who may sign in."""
        return tuple(sorted(self.bootstrap | {row["email"] for row in self._stored()}))

    def listing(self) -> dict[str, Any]:
        """The bootstrap admins first ("from the deployment"), then the stored roles."""
        deployment = [
            {"email": e, "role": Role.ADMIN.value, "source": "deployment"}
            for e in sorted(self.bootstrap)
        ]
        stored = [
            {
                "email": row["email"],
                "role": row.get("role"),
                "source": "stored",
                "by": row.get("by"),
                "at": row.get("at"),
                "reason": row.get("reason"),
            }
            for row in sorted(self._stored(), key=lambda r: str(r["email"]))
            if row["email"] not in self.bootstrap
        ]
        return {"roles": deployment + stored, "choices": [r.value for r in ROLES]}

    # --- changes (an admin's; the entry point checked that) -----------------------------
    def _checked(self, email: Any, reason: Any) -> tuple[str, str]:
        address = normal_email(email)
        if address is None:
            raise BadRequest("email: an email address")
        text = str(reason or "").strip()
        if not text:
            raise BadRequest("reason: say why (it is kept in the audit log)")
        if len(text) > 500:
            raise BadRequest("reason: at most 500 characters")
        if address in self.bootstrap:
            raise BadRequest(
                f"{address} is an admin from the deployment (OPERATOR_EMAILS): "
                "change it there, not on the page"
            )
        return address, text

    def assign(self, email: Any, role: Any, *, who: str, reason: Any) -> dict[str, Any]:
        """Give `email` a role (or change it). The same role again writes nothing."""
        new = parse_role(role)
        if new is None:
            raise BadRequest("role: one of " + ", ".join(r.value for r in ROLES))
        address, text = self._checked(email, reason)
        actor = who.strip().lower()
        if address == actor and new is not Role.ADMIN:
            raise BadRequest("you cannot take away your own admin role: ask another admin")
        ref = self._ref(address)

        def change(transaction: Any) -> dict[str, Any]:
            snap = ref.get(transaction=transaction)
            old = parse_role((snap.to_dict() or {}).get("role")) if snap.exists else None
            if old is new:
                return {"email": address, "role": new.value, "old": old.value, "changed": False}
            transaction.set(
                ref,
                {
                    "email": address,
                    "role": new.value,
                    "by": actor,
                    "at": datetime.now(UTC),
                    "reason": text,
                },
            )
            self._audit(transaction, actor, address, old, new, text)
            return {
                "email": address,
                "role": new.value,
                "old": old.value if old else None,
                "changed": True,
            }

        return self.store.run_transaction(change)

    def remove(self, email: Any, *, who: str, reason: Any) -> dict[str, Any]:
        """Take `email`'s role away: refused from their next request on."""
        address, text = self._checked(email, reason)
        actor = who.strip().lower()
        if address == actor:
            raise BadRequest("you cannot remove your own role: ask another admin")
        ref = self._ref(address)

        def change(transaction: Any) -> dict[str, Any]:
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                raise NotFound(f"{address} holds no role")
            old = parse_role((snap.to_dict() or {}).get("role"))
            transaction.delete(ref)
            self._audit(transaction, actor, address, old, None, text)
            return {"email": address, "role": None, "old": old.value if old else None}

        return self.store.run_transaction(change)

    def _audit(
        self,
        transaction: Any,
        who: str,
        email: str,
        old: Role | None,
        new: Role | None,
        reason: str,
    ) -> None:
        if self.audit is None:
            return
        self.audit.append(
            transaction,
            "role_change",
            who=who,
            email=email,
            old=old.value if old else None,
            new=new.value if new else None,
            reason=reason,
        )
