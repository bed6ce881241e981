"""One OpenAI model behind a key: the client built once per instance (the openai package is
imported only then), and a repr that never shows the key. The intent reader, the embedder,
the style-guide writer and the draft writer each build on it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai import OpenAI


class OpenAIModel:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None,
        model: str,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: OpenAI | None = None
        self._lock = threading.Lock()
        # USD per 1,000 tokens (gpt-4.1-mini's list price by default; settings override)
        self.usd_per_1k_prompt = 0.0004
        self.usd_per_1k_completion = 0.0016
        # (model, prompt tokens, completion tokens, USD) after each call: the spend ledger
        self.on_usage: Callable[[str, int, int, float], None] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    def priced(self, usd_per_1k_prompt: float, usd_per_1k_completion: float) -> Any:
        self.usd_per_1k_prompt = usd_per_1k_prompt
        self.usd_per_1k_completion = usd_per_1k_completion
        return self

    def spent(self, completion: Any) -> tuple[int, int, float]:
        """(prompt tokens, completion tokens, USD) of a completion, reported to `on_usage`."""
        usage = getattr(completion, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = (
            prompt_tokens * self.usd_per_1k_prompt + completion_tokens * self.usd_per_1k_completion
        ) / 1000
        if self.on_usage is not None and (prompt_tokens or completion_tokens):
            self.on_usage(self.model, prompt_tokens, completion_tokens, cost)
        return prompt_tokens, completion_tokens, cost

    @property
    def client(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                self._client = OpenAI(
                    api_key=self._api_key,
                    base_url=self.base_url,
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                )
            return self._client
