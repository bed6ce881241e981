"""Embeddings: the offline all-MiniLM-L6-v2 (numpy, no torch) and OpenAI against its fake."""

from __future__ import annotations

import hashlib
import json
import math
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import shared.adapters.embeddings as embeddings
from devstack.fakes.openai import embed as fake_embed
from shared.adapters.embeddings import (
    OfflineMiniLM,
    OpenAIEmbedder,
    cosine,
    embedder,
    model_directory,
)
from shared.adapters.secrets import SecretStore
from shared.config import load_settings
from shared.errors import AuthorizationRefused, ConfigError, PermanentExternalError, TransientError

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests/fixtures/minilm_reference.json"
CALL = "Can we schedule a call next week?"
MEETING = "Are you free for a meeting next week?"
INVOICE = "The invoice total is wrong"
KEY = "sk-test-embed-Zq9xW"


@pytest.fixture(scope="module")
def offline() -> OfflineMiniLM:
    model = OfflineMiniLM()
    model.load()
    return model


def _norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(v * v for v in vector))


# --------------------------------------------------------------------------- offline


def test_offline_vectors_are_384_floats_of_unit_length(offline: OfflineMiniLM) -> None:
    vectors = offline.embed([CALL, "", "Grüße aus München 😊", "x" * 5_000])
    assert len(vectors) == 4
    for vector in vectors:
        assert len(vector) == 384
        assert all(isinstance(v, float) and math.isfinite(v) for v in vector)
        assert _norm(vector) == pytest.approx(1.0, abs=1e-9)
    assert offline.embed([]) == []


def test_offline_vectors_are_deterministic(offline: OfflineMiniLM) -> None:
    first = offline.embed([CALL, INVOICE])
    assert offline.embed([CALL, INVOICE]) == first
    assert OfflineMiniLM().embed([CALL, INVOICE]) == first


def test_a_batch_gives_each_text_the_vector_it_gets_alone() -> None:
    texts = [
        "Thanks!",
        CALL,
        "We reviewed the proposal with finance and legal. " * 12,
        "",
        INVOICE,
        "Pricing question: does the annual plan include onboarding for two teams?",
        "ok",
    ]
    alone = [OfflineMiniLM().embed([text])[0] for text in texts]
    # A batch size of 3 puts texts of different lengths (so padding) into the same batch and
    # spreads them over several batches, whose results must come back in input order.
    for batch_size in (3, 32):
        batched = OfflineMiniLM(batch_size=batch_size).embed(texts)
        assert len(batched) == len(texts)
        for one, many in zip(alone, batched, strict=True):
            assert max(abs(a - b) for a, b in zip(one, many, strict=True)) < 1e-5


def test_paraphrases_are_much_closer_than_unrelated_texts(offline: OfflineMiniLM) -> None:
    call, meeting, invoice = offline.embed([CALL, MEETING, INVOICE])
    paraphrase = cosine(call, meeting)
    unrelated = cosine(call, invoice)
    assert paraphrase > 0.4
    assert unrelated < 0.15
    assert paraphrase - unrelated > 0.3


def test_text_past_256_tokens_is_cut_like_sentence_transformers_cuts_it(
    offline: OfflineMiniLM,
) -> None:
    opening = " ".join(f"word{i}" for i in range(400))
    first = opening + " and the contract renewal is overdue"
    second = opening + " so please send the invoice to accounting"
    model = offline._model()
    assert [len(ids) for ids in model.token_ids([first, second, CALL])] == [256, 256, 10]
    a, b = offline.embed([first, second])
    assert a == b  # the differing endings lie past the cut
    assert _norm(a) == pytest.approx(1.0)


def test_an_empty_string_embeds_like_blank_text(offline: OfflineMiniLM) -> None:
    empty, blank, call = offline.embed(["", "  \n\t ", CALL])
    assert len(empty) == 384
    assert _norm(empty) == pytest.approx(1.0)
    assert max(abs(a - b) for a, b in zip(empty, blank, strict=True)) < 1e-6
    assert cosine(empty, call) < 0.5


def test_offline_matches_sentence_transformers_reference(offline: OfflineMiniLM) -> None:
    """Vectors computed by sentence-transformers with torch from the same packaged model."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    weights = model_directory() / "model.safetensors"
    assert (
        hashlib.sha256(weights.read_bytes()).hexdigest() == reference["model_safetensors_sha256"]
    ), "the packaged model changed: regenerate the reference vectors"
    cases = reference["cases"]
    assert len(cases) >= 5
    ours = offline.embed([case["text"] for case in cases])
    for case, vector in zip(cases, ours, strict=True):
        expected = case["embedding"]
        assert 1.0 - cosine(vector, expected) < 1e-4, case["text"][:40]
        assert max(abs(a - b) for a, b in zip(vector, expected, strict=True)) < 1e-5


def test_the_model_comes_from_the_models_folder_and_can_be_pointed_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    directory = model_directory()
    assert directory.parts[-2:] == ("models", "all-MiniLM-L6-v2")
    assert (directory / "tokenizer.json").is_file()
    monkeypatch.setenv("OFFLINE_MODEL_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="make model"):
        model_directory()


def test_no_torch_is_installed_by_our_requirements() -> None:
    import importlib.util

    assert importlib.util.find_spec("torch") is None
    assert importlib.util.find_spec("sentence_transformers") is None


def test_the_model_loads_once_for_all_threads_and_instances(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embeddings, "_MODELS", {})
    start = threading.Barrier(4)
    seen: list[object] = []
    vectors: list[list[list[float]]] = []

    def load() -> None:
        start.wait()
        embedder = OfflineMiniLM()
        seen.append(embedder._model())
        vectors.append(embedder.embed([CALL, INVOICE]))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4
    assert all(model is seen[0] for model in seen)
    assert list(embeddings._MODELS.values()) == [seen[0]]
    assert all(v == vectors[0] for v in vectors)


def test_the_offline_model_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the offline model tried to open a connection")

    monkeypatch.setattr(embeddings, "_MODELS", {})
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    (vector,) = OfflineMiniLM().embed([CALL])
    assert len(vector) == 384


def test_importing_the_module_loads_neither_numpy_nor_openai() -> None:
    code = (
        "import sys, shared.adapters.embeddings\n"
        "heavy = ('numpy', 'tokenizers', 'safetensors', 'openai')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- OpenAI


@pytest.fixture
def openai_fake(local):
    return local.fakes["openai"][0]


def _openai(local, *, key: str = KEY, dimensions: int = 384, **options) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        key,
        base_url=f"{local.fake_url('openai')}/v1",
        model="text-embedding-3-small",
        dimensions=dimensions,
        **options,
    )


@pytest.mark.stack
def test_openai_batches_ask_for_the_size_and_keep_the_order(local, openai_fake) -> None:
    texts = [f"Follow-up number {i} about the renewal for team {i % 7}" for i in range(200)]
    vectors = _openai(local).embed(texts)

    requests = [r["json"] for r in openai_fake.requests_to("/v1/embeddings", "POST")]
    assert [len(r["input"]) for r in requests] == [96, 96, 8]
    assert all(r["dimensions"] == 384 for r in requests)
    assert all(r["model"] == "text-embedding-3-small" for r in requests)
    assert [text for r in requests for text in r["input"]] == texts
    assert len(vectors) == 200
    for text, vector in zip(texts, vectors, strict=True):
        assert len(vector) == 384
        assert _norm(vector) == pytest.approx(1.0, abs=1e-9)
        expected = fake_embed(text, 384)
        assert max(abs(a - b) for a, b in zip(vector, expected, strict=True)) < 1e-6


@pytest.mark.stack
def test_openai_embeds_an_empty_text_instead_of_failing(local, openai_fake) -> None:
    empty, call = _openai(local).embed(["", CALL])
    assert len(empty) == 384
    assert _norm(empty) == pytest.approx(1.0)
    assert cosine(empty, call) < 0.5
    (request,) = openai_fake.requests_to("/v1/embeddings", "POST")
    assert request["json"]["input"][0].strip() == ""


@pytest.mark.stack
def test_openai_rejected_key_is_permanent_and_never_shown(local, openai_fake) -> None:
    openai_fake.seed({"api_keys": ["sk-the-real-one"]})
    with pytest.raises(PermanentExternalError) as caught:
        _openai(local).embed([CALL])
    error = caught.value
    assert isinstance(error, AuthorizationRefused)
    assert error.retryable is False
    assert "401" in (error.detail or "")
    shown = " ".join([str(error), error.public_message, error.detail or "", repr(error)])
    assert KEY not in shown
    assert KEY[-4:] not in shown
    assert error.__cause__ is None
    assert len(openai_fake.requests_to("/v1/embeddings")) == 1  # a 401 is not retried


@pytest.mark.stack
@pytest.mark.parametrize("status", [400, 403])
def test_openai_refusals_are_permanent(local, openai_fake, status: int) -> None:
    openai_fake.inject_fault(status, count=5, path_prefix="/v1/embeddings")
    with pytest.raises(PermanentExternalError) as caught:
        _openai(local).embed([CALL])
    assert not isinstance(caught.value, AuthorizationRefused)
    assert f"HTTP {status}" in (caught.value.detail or "")
    assert len(openai_fake.requests_to("/v1/embeddings")) == 1


@pytest.mark.stack
def test_openai_size_beyond_the_model_is_a_permanent_error(local, openai_fake) -> None:
    with pytest.raises(PermanentExternalError, match="HTTP 400"):
        _openai(local, dimensions=2000).embed([CALL])


@pytest.mark.stack
@pytest.mark.parametrize("status", [503, 429])
def test_openai_error_storm_is_transient_after_the_clients_retries(
    local, openai_fake, status: int
) -> None:
    openai_fake.inject_fault(status, count=10, retry_after=0.01, path_prefix="/v1/embeddings")
    with pytest.raises(TransientError) as caught:
        _openai(local, max_retries=2).embed([CALL])
    assert caught.value.retryable is True
    assert f"HTTP {status}" in (caught.value.detail or "")
    assert len(openai_fake.requests_to("/v1/embeddings")) == 3


@pytest.mark.stack
def test_openai_short_outage_is_ridden_out(local, openai_fake) -> None:
    openai_fake.inject_fault(503, count=1, retry_after=0.01, path_prefix="/v1/embeddings")
    (vector,) = _openai(local).embed([CALL])
    assert len(vector) == 384
    assert len(openai_fake.requests_to("/v1/embeddings")) == 2


def test_openai_unreachable_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAIEmbedder(
        KEY,
        base_url=f"http://127.0.0.1:{port}/v1",
        model="text-embedding-3-small",
        dimensions=384,
        timeout=2.0,
        max_retries=0,
    )
    with pytest.raises(TransientError) as caught:
        client.embed([CALL])
    assert KEY not in str(caught.value) + (caught.value.detail or "")


def _secrets(local) -> SecretStore:
    return SecretStore(local.project, local.secrets.address)


@pytest.mark.stack
def test_embedder_uses_openai_when_a_key_is_stored(local, openai_fake) -> None:
    secrets = _secrets(local)
    secrets.write("openai-api-key", KEY)
    chosen = embedder(load_settings(), secrets)
    assert isinstance(chosen, OpenAIEmbedder)
    assert chosen.name == "openai:text-embedding-3-small@384"
    (vector,) = chosen.embed([MEETING])
    assert len(vector) == 384
    (request,) = openai_fake.requests_to("/v1/embeddings", "POST")
    assert request["json"]["dimensions"] == 384


@pytest.mark.stack
@pytest.mark.parametrize("stored", [None, "", "   "])
def test_embedder_is_offline_without_a_key(local, openai_fake, stored: str | None) -> None:
    secrets = _secrets(local)
    if stored is not None:
        secrets.write("openai-api-key", stored)
    chosen = embedder(load_settings(), secrets)
    assert isinstance(chosen, OfflineMiniLM)
    assert chosen.name == "all-MiniLM-L6-v2 (offline)"
    (vector,) = chosen.embed([MEETING])
    assert len(vector) == 384
    assert openai_fake.requests_to("/v1/embeddings") == []
