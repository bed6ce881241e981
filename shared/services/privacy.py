"""Privacy requests: export everything we hold about a person, or forget them.

Forgetting runs in this order, so that nothing new about the person lands while we erase:

1. the suppression list gets `person_key(email)` (and `contact_key(id)` for each HubSpot
   contact of theirs) marked forgotten: intake stops storing their mail and webhooks, and no
   draft or send goes to them again;
2. what we wrote outside Firestore goes: their Gmail drafts are deleted and the emails we sent
   them moved to Trash (the rep's mailbox), and the tasks, notes, emails and meetings we logged
   on their HubSpot contact are archived (their HubSpot contact itself is the team's record:
   HubSpot's own GDPR delete removes it);
3. every Firestore collection is swept: records *about* them (their workflows with the
   timeline, threads, messages from or to them, CRM copies, webhook records, campaign
   memberships, audit entries of their workflows) are deleted; voice samples and asset
   passages that mention them are deleted (profiles are rebuilt, the asset index re-packed);
   any other text that mentions them has the mention replaced by "[removed]";
4. the audit log gets one record: the pseudonym, who asked, the counts.

A person is recognised by their address, and by their full name when we know it (from HubSpot,
our CRM copy or mail headers). A scheduled send task is deleted; their draft and follow-up
tasks find no workflow and end. Each step is repeatable: a second request finds nothing and
changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.domain.privacy import NotAnEmail, Person, normalize_email, person_key
from shared.errors import AppError, BadRequest, NotFound
from shared.services.suppressions import (
    FORGOTTEN,
    SUPPRESSIONS,
    contact_suppression_ref,
    suppression_ref,
)

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)

PAGE = 300
WORKFLOWS = "workflows"
# Records about one person, by collection: how to tell they are theirs.
_PERSONAL = (
    "workflows",
    "threads",
    "gmail_messages",
    "crm_objects",
    "hubspot_events",
    "campaign_contacts",
    "audit",
)
_SUBCOLLECTIONS = ("events", "members", "voice_chunks", "blobs", "shards")
_SKIP = frozenset({SUPPRESSIONS})


def _now() -> datetime:
    return datetime.now(UTC)


def _plain(value: Any) -> Any:
    """JSON-able: times as ISO text; vectors and bytes are numbers about text, left out."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not _opaque(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value if not _opaque(v)]
    return value


def _opaque(value: Any) -> bool:
    return isinstance(value, bytes | bytearray) or type(value).__name__ == "Vector"


def _redacted(value: Any, person: Person) -> Any:
    if isinstance(value, str):
        return person.redact(value)
    if isinstance(value, dict):
        return {person.redact(str(k)): _redacted(v, person) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, person) for v in value]
    return value


class _Found:
    """What the sweep decided, per collection."""

    def __init__(self) -> None:
        self.deleted: dict[str, int] = {}
        self.redacted: dict[str, int] = {}

    def count(self, kind: dict[str, int], collection: str, n: int = 1) -> None:
        kind[collection] = kind.get(collection, 0) + n


class PrivacyService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> PrivacyService:
        return cls(runtime)

    @property
    def db(self) -> Any:
        return self.runtime.store.db

    @cached_property
    def _drafts(self) -> Any:
        from shared.services.draft_wiring import DraftWiring

        return DraftWiring(self.runtime)

    @cached_property
    def _voice(self) -> Any:
        from shared.services.voice_wiring import VoiceWiring

        return VoiceWiring(self.runtime)

    # --- who ----------------------------------------------------------------------------
    def _address(self, email: Any) -> str:
        try:
            return normalize_email(email)
        except NotAnEmail as exc:
            raise BadRequest(str(exc)) from None

    def _workflows(self, email: str, contact_ids: set[int]) -> dict[str, dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        found: dict[str, dict[str, Any]] = {}
        col = self.db.collection(WORKFLOWS)
        queries = [col.where(filter=FieldFilter("contact_email", "==", email))]
        queries += [col.where(filter=FieldFilter("contact_id", "==", c)) for c in contact_ids]
        for query in queries:
            for snap in query.stream():
                found[snap.id] = snap.to_dict() or {}
        return found

    def _identify(self, email: str) -> tuple[Person, set[int], dict[str, dict[str, Any]]]:
        """The person (address and full names we know), their HubSpot contact ids and their
        workflows."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        names: set[str] = set()
        contact_ids: set[int] = set()
        for snap in (
            self.db.collection("crm_objects")
            .where(filter=FieldFilter("email", "==", email))
            .stream()
        ):
            data = snap.to_dict() or {}
            if data.get("object_type") == "contact" and data.get("object_id") is not None:
                contact_ids.add(int(data["object_id"]))
            props = data.get("properties") or {}
            first = (props.get("firstname") or {}).get("value")
            last = (props.get("lastname") or {}).get("value")
            names.add(f"{first or ''} {last or ''}")
        contact = self._hubspot_contact(email)
        if contact is not None:
            contact_ids.add(int(contact.id))
            names.add(f"{contact.first_name or ''} {contact.last_name or ''}")
        workflows = self._workflows(email, contact_ids)
        for data in workflows.values():
            if data.get("contact_id") is not None:
                contact_ids.add(int(data["contact_id"]))
            names.add(str(data.get("contact_name") or ""))
        for snap in self.db.collection("gmail_messages").select(["from", "to", "cc"]).stream():
            data = snap.to_dict() or {}
            for who in [data.get("from"), *(data.get("to") or []), *(data.get("cc") or [])]:
                if isinstance(who, dict) and str(who.get("email") or "").lower() == email:
                    names.add(str(who.get("name") or ""))
        if contact_ids - {int(d["contact_id"]) for d in workflows.values() if d.get("contact_id")}:
            workflows = self._workflows(email, contact_ids)
        return Person.of(email, names), contact_ids, workflows

    def _hubspot_contact(self, email: str) -> Any:
        """Their HubSpot contact, when HubSpot is connected (for their id and name)."""
        from shared.adapters.hubspot import HubSpotContacts

        try:
            return HubSpotContacts.from_settings(
                self.runtime.settings, self.runtime.secrets
            ).find_by_email(email)
        except AppError as exc:
            log.warning("privacy: HubSpot lookup skipped: %s", exc.public_message)
            return None

    # --- export -------------------------------------------------------------------------
    def export(self, email: str) -> dict[str, Any]:
        """Everything we hold about `email`, as plain JSON-able data."""
        address = self._address(email)
        person, contact_ids, workflows = self._identify(address)
        theirs = set(workflows)
        held: dict[str, list[dict[str, Any]]] = {}
        for path, snap, data in self._documents():
            collection = path.split("/")[-2]
            about = self._about(collection, snap, data, person, contact_ids, theirs)
            if about or person.mentioned_anywhere(data):
                held.setdefault(collection, []).append(
                    {"path": path, "about_them": about, "data": _plain(data)}
                )
        suppression = suppression_ref(self.db, address).get()
        return {
            "email": address,
            "exported_at": _now().isoformat(),
            "names": list(person.names),
            "hubspot_contact_ids": sorted(contact_ids),
            "suppressed": _plain(suppression.to_dict()) if suppression.exists else None,
            "records": held,
            "elsewhere": (
                "The rep's Gmail holds the thread itself; HubSpot holds their contact record "
                "and the notes, tasks and emails we logged on it."
            ),
        }

    # --- forget -------------------------------------------------------------------------
    def forget(self, email: str, *, who: str, reason: str) -> dict[str, Any]:
        address = self._address(email)
        reason = (reason or "").strip()
        if not reason:
            raise BadRequest("say why: forgetting a person needs a reason")
        if len(reason) > 500:
            raise BadRequest("reason: at most 500 characters")
        started = time.perf_counter()
        person, contact_ids, workflows = self._identify(address)
        subject = person_key(address)
        self._suppress(address, contact_ids, workflows)
        outside = self._erase_outside(workflows, contact_ids)
        found = self._sweep(person, contact_ids, set(workflows))
        remaining = sum(1 for _, _, data in self._documents() if person.mentioned_anywhere(data))
        result = {
            "subject": subject,
            "workflows": len(workflows),
            "deleted": found.deleted,
            "redacted": found.redacted,
            **outside,
            "remaining_mentions": remaining,
            "seconds": round(time.perf_counter() - started, 2),
        }
        from shared.services.send_flags import AuditLog

        AuditLog(self.runtime.store).record(
            "person_forgotten",
            who=who,
            subject=subject,
            reason=person.redact(reason),
            counts={"deleted": found.deleted, "redacted": found.redacted, **outside},
        )
        log.info(
            "person forgotten",
            extra={"fields": {"subject": subject[:12], "remaining": remaining}},
        )
        return result

    def _suppress(
        self, address: str, contact_ids: set[int], workflows: dict[str, dict[str, Any]]
    ) -> None:
        now = _now()
        entry = {"active": True, "updated_at": now, FORGOTTEN: {"at": now}}
        batch = self.db.batch()
        batch.set(suppression_ref(self.db, address), entry, merge=True)
        for contact_id in contact_ids:
            batch.set(contact_suppression_ref(self.db, contact_id), entry, merge=True)
        batch.commit()

    def _erase_outside(
        self, workflows: dict[str, dict[str, Any]], contact_ids: set[int]
    ) -> dict[str, Any]:
        """Gmail drafts deleted and our sent emails trashed; our HubSpot records archived.
        A store we cannot reach now is named in the answer: asking again finishes it."""
        drafts = trashed = archived = 0
        problems: list[str] = []
        settings = self.runtime.settings
        for workflow_id, data in workflows.items():
            task = (data.get("approval") or {}).get("task")
            if task:  # a scheduled send: gone now rather than finding nothing when it runs
                try:
                    self.runtime.tasks.delete(settings.queue_send, str(task))
                except Exception as exc:  # the send step finds no workflow and ends anyway
                    problems.append(f"send task {workflow_id}: {type(exc).__name__}")
            mailbox = str(data.get("mailbox") or (data.get("draft") or {}).get("mailbox") or "")
            if not mailbox:
                continue
            try:
                gmail = self._drafts.gmail_for(mailbox)
                if data.get("draft_id"):
                    try:
                        gmail.delete_draft(str(data["draft_id"]))
                        drafts += 1
                    except NotFound:
                        pass
                for send in data.get("sends") or []:
                    if isinstance(send, dict) and send.get("gmail_id"):
                        try:
                            gmail.trash_message(str(send["gmail_id"]))
                            trashed += 1
                        except NotFound:
                            pass
            except AppError as exc:
                problems.append(f"gmail {workflow_id}: {exc.public_message}")
        for contact_id in sorted(contact_ids):
            try:
                archived += self._drafts.hubspot.archive_our_records(contact_id)
            except NotFound:
                pass
            except AppError as exc:
                problems.append(f"hubspot: {exc.public_message}")
        return {
            "gmail_drafts_deleted": drafts,
            "gmail_sent_trashed": trashed,
            "hubspot_records_archived": archived,
            "problems": problems,
        }

    # --- the sweep ----------------------------------------------------------------------
    def _documents(self) -> Iterator[tuple[str, Any, dict[str, Any]]]:
        """Every document we store: top-level collections and their known subcollections."""
        for collection in self.db.collections():
            if collection.id in _SKIP:
                continue
            yield from self._stream(collection)
        for name in _SUBCOLLECTIONS:
            yield from self._stream(self.db.collection_group(name))

    def _stream(self, query: Any) -> Iterator[tuple[str, Any, dict[str, Any]]]:
        from google.cloud.firestore_v1.field_path import FieldPath

        last = None
        while True:
            page = query.order_by(FieldPath.document_id()).limit(PAGE)
            if last is not None:
                page = page.start_after(last)
            snaps = list(page.stream())
            for snap in snaps:
                yield snap.reference.path, snap, snap.to_dict() or {}
            if len(snaps) < PAGE:
                return
            last = snaps[-1]

    @staticmethod
    def _about(
        collection: str,
        snap: Any,
        data: dict[str, Any],
        person: Person,
        contact_ids: set[int],
        workflows: set[str],
    ) -> bool:
        """A record about the person (deleted whole), as opposed to one that mentions them."""
        email = person.email
        if collection == "workflows":
            return snap.id in workflows
        if collection == "events":
            return snap.reference.parent.parent.id in workflows
        if collection in ("threads", "audit") and data.get("workflow_id") in workflows:
            return True
        if collection == "gmail_messages":
            people = [data.get("from"), *(data.get("to") or []), *(data.get("cc") or [])]
            return (
                data.get("workflow_id") in workflows
                or data.get("contact_id") in contact_ids
                or any(isinstance(p, dict) and str(p.get("email")).lower() == email for p in people)
            )
        if collection in ("crm_objects", "hubspot_events"):
            return (
                str(data.get("email") or "").lower() == email
                or data.get("workflow_id") in workflows
                or (data.get("object_type") == "contact" and data.get("object_id") in contact_ids)
            )
        if collection == "members":
            return str(data.get("email") or "").lower() == email
        if collection == "campaign_contacts":
            return bool(snap.id == email)
        return False

    def _sweep(self, person: Person, contact_ids: set[int], workflows: set[str]) -> _Found:
        found = _Found()
        samples: set[tuple[str, str]] = set()
        reindex: set[str] = set()
        profiles: set[str] = set()
        batch, pending = self.db.batch(), 0
        for path, snap, data in self._documents():
            collection = path.split("/")[-2]
            about = self._about(collection, snap, data, person, contact_ids, workflows)
            if not about and not person.mentioned_anywhere(data):
                continue
            if collection == "training_samples":
                samples.add((str(data.get("rep") or ""), snap.id))
                continue
            if collection in ("voice_chunks", "blobs") and snap.reference.parent.parent:
                sample = snap.reference.parent.parent.get().to_dict() or {}
                samples.add((str(sample.get("rep") or ""), snap.reference.parent.parent.id))
                continue
            if collection == "voice_profiles":
                profiles.add(snap.id)
                continue
            if about or collection == "asset_passages":
                if collection == "asset_passages":
                    reindex.add(str(data.get("team") or ""))
                batch.delete(snap.reference)
                found.count(found.deleted, collection)
            else:
                batch.set(snap.reference, _redacted(data, person))
                found.count(found.redacted, collection)
            pending += 1
            if pending >= 400:
                batch.commit()
                batch, pending = self.db.batch(), 0
        if pending:
            batch.commit()
        service = self._voice.service
        for rep, sample_id in sorted(samples):
            try:
                service.delete(rep, sample_id)
                found.count(found.deleted, "training_samples")
            except NotFound:
                pass
            profiles.add(rep.strip().lower())
        for rep in sorted(p for p in profiles if p):
            service.rebuild_profile(rep, force=True)
            ref = self.db.collection("voice_profiles").document(rep)
            profile = ref.get().to_dict() or {}
            if person.mentioned_anywhere(profile):  # a phrase the other samples share
                ref.set(_redacted(profile, person))
                found.count(found.redacted, "voice_profiles")
        for team in sorted(t for t in reindex if t):
            self._voice.assets.request_reindex(team)
        return found
