"""The draft writer through the openai client against the OpenAI fake."""

from __future__ import annotations

import pytest

from shared.adapters.llm_draft import DraftWriter
from shared.domain.drafting import BadAnswer, ContextItem, build_prompt
from shared.errors import AuthorizationRefused, TransientError

pytestmark = pytest.mark.stack
ITEMS = [
    ContextItem("ask", "ask", "Could we see how the forecasts handle seasonal peaks?"),
    ContextItem("slot.1", "slot", "Tuesday 24 November, 10:00–10:30 (Europe/London)"),
]
GOOD = {
    "subject": "Re: Forecasting",
    "body": "Hi Dana,\n\nHappy to show you. Would Tuesday 24 November at 10:00 work?",
    "confidence": 0.82,
    "claims": [],
    "questions_for_rep": [],
    "slots_proposed": ["slot.1"],
}


@pytest.fixture
def openai_fake(local):
    return local.fakes["openai"][0]


def writer(local, **kwargs) -> DraftWriter:
    return DraftWriter(
        "sk-test", base_url=f"{local.fake_url('openai')}/v1", model="gpt-4.1-mini", **kwargs
    )


def test_a_draft_comes_back_with_its_token_use(local, openai_fake):
    openai_fake.script_chat({"content": GOOD})

    answer, usage = writer(local).write(build_prompt(ITEMS, task="reply"))

    assert answer.subject == "Re: Forecasting"
    assert answer.slots == ("slot.1",)
    assert usage.prompt_tokens > 0
    assert usage.cost_usd > 0
    (request,) = openai_fake.chat_requests()
    assert request["response_format"]["json_schema"]["strict"] is True
    assert request["max_tokens"] == 900


def test_a_rate_limit_then_success_is_retried(local, openai_fake):
    openai_fake.script_chat({"status": 429, "retry_after": 0.05}, {"content": GOOD})

    answer, _ = writer(local).write(build_prompt(ITEMS, task="reply"))

    assert answer.body.startswith("Hi Dana")
    assert len(openai_fake.chat_requests()) == 2


def test_a_storm_beyond_the_retries_is_transient(local, openai_fake):
    openai_fake.script_chat(*[{"status": 503, "retry_after": 0.01}] * 5)

    with pytest.raises(TransientError):
        writer(local, max_retries=2).write(build_prompt(ITEMS, task="reply"))


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"content": "{not json"}, "not JSON"),
        ({"refusal": "I can't help with that."}, "refused"),
        ({"content": {**GOOD, "body": "Hi [First Name],"}}, "placeholder"),
        ({"content": GOOD, "finish_reason": "length"}, "cut off"),
    ],
)
def test_unusable_answers_are_refused_with_a_reason(local, openai_fake, entry, reason):
    openai_fake.script_chat(entry)

    with pytest.raises(BadAnswer, match=reason):
        writer(local).write(build_prompt(ITEMS, task="reply"))


def test_a_refused_key_is_an_authorization_problem(local, openai_fake):
    openai_fake.seed({"api_keys": ["sk-the-right-one"]})

    with pytest.raises(AuthorizationRefused) as caught:
        writer(local).write(build_prompt(ITEMS, task="reply"))
    assert "sk-test" not in str(caught.value)
