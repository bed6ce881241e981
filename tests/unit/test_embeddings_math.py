"""The pure parts of the embeddings adapter: erf/GELU in numpy, cosine, and which embedder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.adapters.embeddings import (
    OfflineMiniLM,
    OpenAIEmbedder,
    cosine,
    embedder,
    erf,
    gelu,
)
from shared.config import Settings
from shared.errors import ConfigError, NotFound, TransientError


def test_erf_matches_the_exact_function_to_float32_precision() -> None:
    xs = np.linspace(-7.0, 7.0, 20_001, dtype=np.float32)
    exact = np.array([math.erf(float(x)) for x in xs])
    assert np.abs(erf(xs.copy()) - exact).max() < 1e-6
    assert erf(np.array([0.0], dtype=np.float32))[0] == 0.0
    assert erf(np.array([1.0], dtype=np.float32))[0] == pytest.approx(0.8427007929, abs=1e-6)


def test_gelu_is_the_exact_erf_form_not_the_tanh_approximation() -> None:
    # Larger than one GELU block, so the blockwise loop is exercised past its first block.
    xs = np.linspace(-8.0, 8.0, 200_003, dtype=np.float32)
    exact = np.array([0.5 * float(x) * (1.0 + math.erf(float(x) / math.sqrt(2.0))) for x in xs])
    tanh_form = 0.5 * xs * (1 + np.tanh(math.sqrt(2 / math.pi) * (xs + 0.044715 * xs**3)))
    ours = gelu(xs.copy())
    assert np.abs(ours - exact).max() < 2e-6
    assert np.abs(tanh_form - exact).max() > 1e-4  # so the check above can tell them apart
    assert float(gelu(np.array([1.0], dtype=np.float32))[0]) == pytest.approx(0.8413447, abs=1e-6)


def test_cosine() -> None:
    assert cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert cosine([1.0, 2.0], [-1.0, -2.0]) == pytest.approx(-1.0)
    assert cosine([3.0, 4.0], [4.0, 3.0]) == pytest.approx(24 / 25)
    assert cosine([0.0, 0.0], [1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="differ in size"):
        cosine([1.0], [1.0, 0.0])


class _Secrets:
    """A SecretStore stand-in: `value` is the key, or an exception to raise."""

    def __init__(self, value: str | Exception) -> None:
        self.value = value
        self.asked: list[str] = []

    def read(self, secret_id: str) -> str:
        self.asked.append(secret_id)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def _settings(**overrides: object) -> Settings:
    return Settings(gcp_project="demo-test", environment="local", **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "stored", [NotFound("secret openai-api-key has no enabled version"), "", "  \n"]
)
def test_without_a_key_the_offline_model_embeds(stored: str | Exception) -> None:
    secrets = _Secrets(stored)
    chosen = embedder(_settings(), secrets)  # type: ignore[arg-type]
    assert isinstance(chosen, OfflineMiniLM)
    assert (chosen.name, chosen.dimensions) == ("all-MiniLM-L6-v2 (offline)", 384)
    assert secrets.asked == ["openai-api-key"]


def test_with_a_key_openai_embeds_at_the_configured_size() -> None:
    settings = _settings(
        openai_embedding_model="text-embedding-3-large",
        embedding_dimensions=1024,
        openai_base_url="http://127.0.0.1:9/v1",
        openai_api_key_id="team-openai",
    )
    secrets = _Secrets(" sk-unit-key-0001 \n")
    chosen = embedder(settings, secrets)  # type: ignore[arg-type]
    assert isinstance(chosen, OpenAIEmbedder)
    assert chosen.name == "openai:text-embedding-3-large@1024"
    assert (chosen.model, chosen.dimensions, chosen.base_url) == (
        "text-embedding-3-large",
        1024,
        "http://127.0.0.1:9/v1",
    )
    assert secrets.asked == ["team-openai"]
    assert "sk-unit" not in repr(chosen)


def test_the_default_size_is_the_offline_models_so_both_embedders_agree() -> None:
    with_key = embedder(_settings(), _Secrets("sk-unit-key-0001"))  # type: ignore[arg-type]
    without = embedder(_settings(), _Secrets(""))  # type: ignore[arg-type]
    assert with_key.dimensions == without.dimensions == 384


def test_a_size_the_offline_model_cannot_make_is_a_config_error_without_a_key() -> None:
    with pytest.raises(ConfigError, match="EMBEDDING_DIMENSIONS") as caught:
        embedder(_settings(embedding_dimensions=1536), _Secrets(""))  # type: ignore[arg-type]
    assert "1536" in caught.value.public_message
    assert "384" in caught.value.public_message


def test_a_secret_manager_outage_is_raised_not_read_as_no_key() -> None:
    with pytest.raises(TransientError):
        embedder(_settings(), _Secrets(TransientError("Secret Manager is unavailable")))  # type: ignore[arg-type]
