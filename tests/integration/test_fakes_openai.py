"""The OpenAI fake, driven by the openai client."""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from collections.abc import Iterator
from typing import Literal

import openai
import pydantic
import pytest
import requests
from pydantic import BaseModel

from devstack.fakes import FakeOpenAI, FakeService, stop_fakes
from devstack.serving import ThreadedServer


class Slot(BaseModel):
    start: str
    minutes: int


class Draft(BaseModel):
    subject: str
    body: str
    confidence: float
    risk: Literal["low", "medium", "high"]
    needs_review: bool
    slots: list[Slot]
    signature: str | None


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    openai_fake = FakeOpenAI()
    server = ThreadedServer(openai_fake.app).start()
    openai_fake.url = server.url
    started: dict[str, tuple[FakeService, ThreadedServer]] = {"openai": (openai_fake, server)}
    yield openai_fake
    stop_fakes(started)


@pytest.fixture
def client(fake: FakeOpenAI) -> openai.OpenAI:
    fake.reset()
    return openai.OpenAI(api_key="sk-local", base_url=fake.url + "/v1")


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def ask(client: openai.OpenAI) -> openai.types.chat.ParsedChatCompletion[Draft]:
    return client.chat.completions.parse(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You draft replies."},
            {"role": "user", "content": "Prospect asks about pricing."},
        ],
        response_format=Draft,
    )


def test_structured_chat_answers_schema_valid_json(client: openai.OpenAI) -> None:
    completion = ask(client)

    message = completion.choices[0].message
    assert isinstance(message.parsed, Draft)
    assert message.parsed.risk == "low"
    assert message.parsed.confidence == 0.5
    assert len(message.parsed.slots) == 1
    assert message.refusal is None
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_hand_written_schema_with_refs_enums_and_bounds(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["label", "score", "items"],
        "properties": {
            "label": {"enum": ["reply", "ignore"]},
            "score": {"type": "integer", "minimum": 3, "maximum": 9},
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2},
        },
        "$defs": {
            "item": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": {"type": "string", "maxLength": 6}},
            }
        },
    }

    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "classify"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "triage", "schema": schema, "strict": True},
        },
    )

    content = json.loads(completion.choices[0].message.content or "")
    assert content["label"] == "reply"
    assert 3 <= content["score"] <= 9
    assert len(content["items"]) == 2
    assert all(len(item["name"]) <= 6 for item in content["items"])


def test_strict_schema_must_close_objects(client: openai.OpenAI) -> None:
    loose = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "loose", "schema": loose, "strict": True},
            },
        )

    assert caught.value.status_code == 400
    assert "additionalProperties" in caught.value.message
    assert caught.value.param == "response_format"


def test_scripted_content_and_refusal(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    scripted = {
        "subject": "Re: pricing",
        "body": "Hi Pat",
        "confidence": 0.9,
        "risk": "medium",
        "needs_review": True,
        "slots": [],
        "signature": None,
    }
    fake.script_chat({"content": scripted}, {"refusal": "I can't help with that."})

    first = ask(client).choices[0].message
    second = ask(client).choices[0].message

    assert first.parsed is not None
    assert first.parsed.risk == "medium"
    assert second.parsed is None
    assert second.refusal == "I can't help with that."
    assert fake.state()["script"] == []


def test_malformed_answer_fails_parsing(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script_chat({"malformed": True})

    with pytest.raises(pydantic.ValidationError):
        ask(client)


def test_scripted_429_is_retried_by_the_client_honouring_retry_after(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    fake.script_chat({"status": 429, "retry_after": 0.3})
    fake.clear_requests()

    started = time.monotonic()
    completion = ask(client)
    waited = time.monotonic() - started

    assert completion.choices[0].message.parsed is not None
    assert waited >= 0.3
    assert [r["status"] for r in fake.requests_to("/v1/chat/completions")] == [429, 200]


def test_429_without_retries_surfaces_rate_limit_error(fake: FakeOpenAI) -> None:
    fake.reset()
    fake.script_chat({"status": 429, "retry_after": 7})
    impatient = openai.OpenAI(api_key="sk-local", base_url=fake.url + "/v1", max_retries=0)

    with pytest.raises(openai.RateLimitError) as caught:
        ask(impatient)

    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")


def test_embeddings_base64_decode_and_similarity_ordering(client: openai.OpenAI) -> None:
    texts = [
        "What does the enterprise plan cost per seat?",
        "Enterprise plan pricing: cost per seat and discounts",
        "The weather in Lisbon is sunny today",
    ]

    explicit = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="base64"
    )
    implicit = client.embeddings.create(model="text-embedding-3-small", input=texts)

    raw = explicit.data[0].embedding
    assert isinstance(raw, str)
    decoded = list(struct.unpack("<1536f", base64.b64decode(raw)))
    vectors = [d.embedding for d in implicit.data]
    assert len(vectors[0]) == 1536
    assert decoded == pytest.approx(vectors[0])
    assert math.isclose(cosine(vectors[0], vectors[0]), 1.0, rel_tol=1e-5)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert implicit.usage.prompt_tokens > 0
    assert [d.index for d in implicit.data] == [0, 1, 2]


def test_embedding_dimensions_and_determinism(client: openai.OpenAI) -> None:
    small = client.embeddings.create(
        model="text-embedding-3-small",
        input="pricing question",
        dimensions=256,
        encoding_format="float",
    )
    again = client.embeddings.create(
        model="text-embedding-3-small",
        input="pricing question",
        dimensions=256,
        encoding_format="float",
    )

    assert len(small.data[0].embedding) == 256
    assert small.data[0].embedding == again.data[0].embedding
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=8)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-model", input="x")


def test_wrong_api_key_is_401(fake: FakeOpenAI) -> None:
    fake.reset()
    wrong = openai.OpenAI(api_key="not-a-key", base_url=fake.url + "/v1", max_retries=0)
    requests.post(fake.url + "/_fake/seed", json={"api_keys": ["sk-only-this"]}, timeout=5)
    stale = openai.OpenAI(api_key="sk-local", base_url=fake.url + "/v1", max_retries=0)
    allowed = openai.OpenAI(api_key="sk-only-this", base_url=fake.url + "/v1", max_retries=0)

    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    with pytest.raises(openai.AuthenticationError):
        stale.embeddings.create(model="text-embedding-3-small", input="x")

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert allowed.embeddings.create(model="text-embedding-3-small", input="x").data
    fake.reset()


def test_responses_structured_output(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    parsed = client.responses.parse(
        model="gpt-4o-mini",
        instructions="Draft a reply.",
        input=[{"role": "user", "content": "Prospect asks about pricing."}],
        text_format=Draft,
    )
    fake.script_chat({"refusal": "No."})
    refused = client.responses.create(model="gpt-4o-mini", input="anything")

    assert isinstance(parsed.output_parsed, Draft)
    assert parsed.status == "completed"
    assert parsed.usage is not None
    assert parsed.usage.input_tokens > 0
    assert refused.output_text == ""
    assert refused.output[0].content[0].type == "refusal"  # type: ignore[union-attr]


def test_script_over_http_and_streaming(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    requests.post(
        fake.url + "/_fake/seed",
        json={"chat_script": [{"content": "Scripted streaming answer."}]},
        timeout=5,
    )

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Scripted streaming answer."
    assert chunks[-1].usage is not None
    assert fake.chat_requests()[-1]["stream"] is True
