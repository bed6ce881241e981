"""The draft written by the LLM: one chat completion with a strict JSON schema.

Rate limits and 5xx are retried by the openai client (it honours Retry-After); what still
fails is a TransientError so the `draft` task is retried by Cloud Tasks. An answer that is
not usable (not JSON, a refusal, a placeholder, a multi-line subject) is a BadAnswer: the
caller records the reason and writes nothing. Token use is returned for the draft record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.adapters.openai_account import OpenAIModel
from shared.domain.drafting import DRAFT_SCHEMA, BadAnswer, DraftAnswer, Prompt, parse_draft_answer
from shared.errors import CredentialRefused, PermanentExternalError, TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    model: str
    cost_usd: float

    def as_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model": self.model,
            "cost_usd": self.cost_usd,
        }


class DraftWriter(OpenAIModel):
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None,
        model: str,
        temperature: float = 0.4,
        max_tokens: int = 900,
        timeout: float = 60.0,
        max_retries: int = 3,
        usd_per_1k_prompt: float = 0.0004,
        usd_per_1k_completion: float = 0.0016,
    ) -> None:
        super().__init__(
            api_key, base_url=base_url, model=model, timeout=timeout, max_retries=max_retries
        )
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.usd_per_1k_prompt = usd_per_1k_prompt
        self.usd_per_1k_completion = usd_per_1k_completion

    def write(self, prompt: Prompt) -> tuple[DraftAnswer, Usage]:
        import openai

        client = self.client
        try:
            completion = client.chat.completions.create(
                model=self.model,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "draft", "strict": True, "schema": DRAFT_SCHEMA},
                },
            )
        except openai.AuthenticationError:
            raise CredentialRefused(
                "openai: the API key was refused", connection="openai"
            ) from None
        except (openai.BadRequestError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            raise PermanentExternalError(
                "openai: the draft request was refused", detail=type(exc).__name__
            ) from None
        except openai.OpenAIError as exc:
            raise TransientError(f"openai: {type(exc).__name__}") from None
        prompt_tokens, completion_tokens, cost = self.spent(completion)
        spent = Usage(prompt_tokens, completion_tokens, self.model, round(cost, 6))
        choice = completion.choices[0] if completion.choices else None
        if choice is None:
            raise BadAnswer("the model gave no answer")
        message = choice.message
        if getattr(message, "refusal", None):
            raise BadAnswer("the model refused to write this draft")
        if choice.finish_reason == "length":
            raise BadAnswer("the answer was cut off at the token limit")
        answer = parse_draft_answer(message.content or "", [item.id for item in prompt.items])
        return answer, spent
