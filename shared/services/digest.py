"""The weekly digest: last week's outcomes, as a Gmail draft in the team lead's mailbox.

Cloud Scheduler calls `maintenance` on Monday mornings with `{"job": "weekly_digest"}`; the
digest covers the last full ISO week (or the `week` given), read from the outcome counters
(nothing is recomputed). It is a draft, addressed to the lead, for them to read, forward or
delete: the system never sends it. `digests/{week}` makes it once: a second call for the same
week finds it done. The lead is `TEAM_LEAD_EMAIL` (default: the first of `OPERATOR_EMAILS`),
whose mailbox must be connected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from shared.domain.outcomes import SHOWN, iso_week, report
from shared.errors import AppError, NotFound

if TYPE_CHECKING:
    from shared.adapters.store import Store

DIGESTS = "digests"


def digest_text(week: str, this: Mapping[str, Any], before: Mapping[str, Any]) -> str:
    """The digest's body: each metric with the week before, rates, speed, the reps."""
    shown = report([before, this])
    lines = [f"Sales agent: the week {week}", ""]
    for row in shown["table"]:
        previous, current = row["values"]
        if current or previous:
            change = current - previous
            sign = f" ({'+' if change > 0 else ''}{change} on the week before)" if change else ""
            lines.append(f"  {row['label']:<18} {current}{sign}")
    if len(lines) == 2:
        lines.append("  Nothing happened this week.")
    lines.append("")
    for row in shown["derived"]:
        value = row["values"][1]
        if value is not None:
            lines.append(f"  {row['label']}: {value}")
    reps = report([this])["by"]["rep"]
    if reps:
        lines += ["", "Per rep:"]
        for rep in reps:
            sim = "—" if rep["similarity"] is None else rep["similarity"]
            lines.append(
                f"  {rep['key']}: {rep['drafted']} drafted, {rep['sent']} sent, "
                f"{rep['replies']} replies, {rep['meetings']} meetings, kept as written {sim}"
            )
    lines += ["", "The Outcomes page has the weeks before, per source and per step."]
    return "\n".join(lines) + "\n"


class WeeklyDigest:
    def __init__(
        self,
        store: Store,
        gmail_for: Callable[[str], Any],
        lead: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.gmail_for = gmail_for
        self.lead = lead.strip().lower()
        self.clock = clock

    def run(self, week: str | None = None) -> dict[str, Any]:
        from google.cloud import firestore

        from shared.services.outcomes import OUTCOMES

        now = self.clock()
        last_week = now - timedelta(weeks=1)
        week = week or iso_week(last_week)
        ref = self.store.db.collection(DIGESTS).document(week)
        snap = ref.get()
        if snap.exists and (snap.to_dict() or {}).get("status") == "drafted":
            return {"week": week, "status": "already drafted"}
        year, number = int(week[:4]), int(week.split("W")[1])
        monday = datetime.fromisocalendar(year, number, 1).replace(tzinfo=UTC)
        before = iso_week(monday - timedelta(days=7))
        docs = {
            s.id: s.to_dict() or {}
            for s in self.store.db.get_all(
                [self.store.db.collection(OUTCOMES).document(w) for w in (week, before)]
            )
        }
        body = digest_text(
            week, {"week": week, **docs.get(week, {})}, {"week": before, **docs.get(before, {})}
        )
        try:
            gmail = self.gmail_for(self.lead)
            message = EmailMessage()
            message["From"] = self.lead
            message["To"] = self.lead
            message["Subject"] = f"Sales agent: the week {week}"
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = make_msgid(domain="sales-agent.digest")
            message.set_content(body)
            draft = gmail.create_draft(message.as_bytes())
        except (NotFound, AppError) as exc:
            reason = getattr(exc, "public_message", str(exc))
            ref.set({"week": week, "status": "failed", "reason": reason, "at": now})
            return {"week": week, "status": "failed", "reason": reason}
        ref.set(
            {
                "week": week,
                "status": "drafted",
                "draft_id": draft.get("id"),
                "mailbox": self.lead,
                "at": firestore.SERVER_TIMESTAMP,
                "metrics": [m for m, _ in SHOWN],
            }
        )
        return {"week": week, "status": "drafted", "mailbox": self.lead}
