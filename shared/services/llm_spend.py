"""What the LLM costs, per day, against the team's budget.

Every chat completion reports its tokens (`OpenAIModel.on_usage`); the ledger adds them to
`llm_spend/{YYYY-MM-DD}` (UTC) with atomic increments, and the call that carries the day past
`LLM_DAILY_BUDGET_USD` logs `event=llm_budget_exceeded`, which a log-based metric turns into an
alert (terraform/monitoring.tf). Two calls crossing together may both log it; the alert is the
same. Drafting goes on over budget: the alert asks a person to decide (remove the key on the
Connections page for the offline drafter, or raise the budget). A ledger failure never fails
the draft: it is logged and the call's cost is lost from the day's total.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.adapters.store import Store
    from shared.runtime import Runtime

log = logging.getLogger(__name__)

SPEND = "llm_spend"
UsageHook = Callable[[str, int, int, float], None]


class SpendLedger:
    def __init__(self, store: Store, budget_usd: float, purpose: str) -> None:
        self.store = store
        self.budget_usd = budget_usd
        self.purpose = purpose

    def record(self, model: str, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
        from google.api_core.exceptions import GoogleAPICallError
        from google.cloud import firestore

        day = datetime.now(UTC).date().isoformat()
        ref = self.store.db.collection(SPEND).document(day)
        try:
            ref.set(
                {
                    "day": day,
                    "cost_usd": firestore.Increment(cost),
                    "prompt_tokens": firestore.Increment(prompt_tokens),
                    "completion_tokens": firestore.Increment(completion_tokens),
                    "calls": firestore.Increment(1),
                    "by_purpose": {self.purpose: firestore.Increment(cost)},
                    "updated_at": datetime.now(UTC),
                },
                merge=True,
            )
            after = float((ref.get().to_dict() or {}).get("cost_usd") or 0.0)
        except GoogleAPICallError as exc:
            log.warning("llm spend not recorded: %s", type(exc).__name__)
            return
        if after - cost < self.budget_usd <= after:
            log.error(
                "LLM spend passed today's budget",
                extra={
                    "fields": {
                        "event": "llm_budget_exceeded",
                        "spent_usd": round(after, 4),
                        "budget_usd": self.budget_usd,
                    }
                },
            )


def usage_hook(runtime: Runtime, purpose: str) -> UsageHook:
    return SpendLedger(runtime.store, runtime.settings.llm_daily_budget_usd, purpose).record


def spend_today(store: Store) -> dict[str, Any]:
    """Today's (UTC) spend record, zeros when nothing was spent yet."""
    day = datetime.now(UTC).date().isoformat()
    snap = store.db.collection(SPEND).document(day).get()
    empty: dict[str, Any] = {"day": day, "cost_usd": 0.0, "calls": 0}
    return (snap.to_dict() or empty) if snap.exists else empty
