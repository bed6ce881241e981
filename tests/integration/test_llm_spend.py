"""The day's LLM spend: each real completion (the openai client against the OpenAI fake) is
added to `llm_spend/{day}` in the Firestore emulator, and the call that passes the budget logs
the event the alert counts."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from shared.adapters.llm_draft import DraftWriter
from shared.adapters.store import Store
from shared.config import get_settings
from shared.domain.drafting import ContextItem, build_prompt
from shared.logs import CloudJsonFormatter
from shared.services.llm_spend import SpendLedger, spend_today
from tests.integration.test_llm_draft import GOOD, ITEMS

pytestmark = pytest.mark.stack


def test_each_draft_adds_its_cost_and_passing_the_budget_is_logged_once(local, caplog):
    openai = local.fakes["openai"][0]
    openai.script_chat({"content": GOOD}, {"content": GOOD}, {"content": GOOD})
    store = Store.from_settings(get_settings())
    writer = DraftWriter("sk-test", base_url=f"{local.fake_url('openai')}/v1", model="gpt-4.1-mini")
    _, first = writer.write(build_prompt(ITEMS, task="reply"))
    writer.on_usage = SpendLedger(store, budget_usd=first.cost_usd * 1.5, purpose="draft").record
    caplog.set_level(logging.INFO)

    for _ in range(2):
        writer.write(build_prompt([*ITEMS, ContextItem("x", "x", "more")], task="reply"))

    today = spend_today(store)
    assert today["day"] == datetime.now(UTC).date().isoformat()
    assert today["calls"] == 2
    assert today["cost_usd"] > first.cost_usd * 1.5
    assert today["by_purpose"]["draft"] == pytest.approx(today["cost_usd"])
    events = [
        json.loads(CloudJsonFormatter().format(r))
        for r in caplog.records
        if getattr(r, "fields", {}).get("event") == "llm_budget_exceeded"
    ]
    assert len(events) == 1  # the second recorded call crossed it
    assert events[0]["severity"] == "ERROR"
    assert "sk-test" not in str(events)


def test_a_day_without_calls_spends_nothing(local):
    store = Store.from_settings(get_settings())
    assert spend_today(store)["cost_usd"] == 0.0
