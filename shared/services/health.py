"""The health report the operator page serves (`GET /api/health`, page `/status`) and the smoke
check reads: each mailbox's last sync and watch expiry, each queue's backlog, each connection's
state, today's LLM spend, the last error of each function, and, in plain words, what needs a
person (`attention`). The alerts in terraform/monitoring.tf watch the same things from the
logs and metrics; this is the view to open when one fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.runtime import Runtime

QUEUES = ("draft", "send", "voice", "campaign", "gmail_sync")
LATE_SECONDS = 600.0  # a task due longer ago than this is overdue: its queue is not keeping up
STALE_SYNC = timedelta(hours=12)  # maintenance polls a mailbox after 6 quiet hours


def _ago(moment: Any, now: datetime) -> str:
    if not isinstance(moment, datetime):
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


class HealthReport:
    def __init__(self, runtime: Runtime, connections: Any) -> None:
        self.runtime = runtime
        self.connections = connections  # shared.services.connections.Connections

    def build(self, now: datetime | None = None) -> dict[str, Any]:
        from shared.services.llm_spend import spend_today

        now = now or datetime.now(UTC)
        settings = self.runtime.settings
        attention: list[str] = []
        overview = self.connections.overview()
        mailboxes = []
        for box in overview["mailboxes"]:
            watch = box.get("watch") or {}
            synced = box.get("last_sync_at") or box.get("connected_at")
            stale = isinstance(synced, datetime) and now - synced > STALE_SYNC
            expires = watch.get("expires_at")
            lapsed = watch.get("status") == "lapsed" or (
                isinstance(expires, datetime) and expires <= now
            )
            mailboxes.append(
                {
                    "email": box["email"],
                    "status": box.get("status"),
                    "last_sync_at": box.get("last_sync_at"),
                    "watch_expires_at": expires,
                    "watch_status": watch.get("status"),
                    "stale": stale,
                }
            )
            if box.get("status") != "connected":
                reason = box.get("reason") or box.get("status")
                attention.append(f"mailbox {box['email']} is {box.get('status')}: {reason}")
            elif lapsed:
                attention.append(f"mailbox {box['email']}: Gmail watch lapsed")
            elif stale:
                attention.append(f"mailbox {box['email']}: last synced {_ago(synced, now)}")
        for name in ("hubspot", "openai"):
            state = overview[name]
            if state.get("status") not in ("connected", "not configured"):
                attention.append(f"{name}: {state.get('status')}: {state.get('reason')}")
        queues = {}
        for key in QUEUES:
            queue = getattr(settings, f"queue_{key}")
            try:
                backlog = self.runtime.tasks.backlog(queue, late_after=LATE_SECONDS)
            except Exception as exc:  # one unreadable queue must not hide the rest
                queues[key] = {"queue": queue, "error": type(exc).__name__}
                attention.append(f"queue {queue}: cannot be read ({type(exc).__name__})")
                continue
            queues[key] = {
                "queue": queue,
                "waiting": backlog.waiting,
                "overdue": backlog.overdue,
                "oldest_due": backlog.oldest_due,
                "complete": backlog.complete,
            }
            if backlog.overdue:
                attention.append(f"queue {queue}: {backlog.overdue} task(s) overdue")
        spend = spend_today(self.runtime.store)
        budget = float(settings.llm_daily_budget_usd)
        if float(spend.get("cost_usd") or 0) >= budget > 0:
            attention.append(f"LLM spend today {spend.get('cost_usd'):.2f} USD ≥ budget {budget}")
        errors = {}
        for snap in self.runtime.store.db.collection("health").stream():
            last = (snap.to_dict() or {}).get("last_error") or {}
            errors[snap.id] = last
            at = last.get("at")
            if isinstance(at, datetime) and now - at < timedelta(hours=1):
                attention.append(f"{snap.id}: failed {_ago(at, now)}: {last.get('message')}")
        from shared.services.stuck import stuck_workflows

        stuck = stuck_workflows(self.runtime.store, now)
        if stuck:
            states = sorted({str(data.get("state")) for _, data in stuck})
            attention.append(
                f"{len(stuck)} workflow(s) idle over an hour in {', '.join(states)}: "
                + ", ".join(workflow_id for workflow_id, _ in stuck[:5])
            )
        return {
            "checked_at": now,
            "stuck_workflows": [workflow_id for workflow_id, _ in stuck],
            "attention": attention,
            "mailboxes": mailboxes,
            "queues": queues,
            "connections": {"hubspot": overview["hubspot"], "openai": overview["openai"]},
            "llm_spend_today": {**spend, "budget_usd": budget},
            "last_errors": errors,
        }
