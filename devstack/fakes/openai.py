"""OpenAI API fake for the openai client (``OpenAI(api_key=..., base_url=fake.url + "/v1")``).

Endpoints: ``POST /v1/chat/completions`` (also ``stream=true``), ``POST /v1/responses``,
``POST /v1/embeddings``, ``GET /v1/models``.

Answers come from a script queue when one is set (shared by chat and responses, consumed in
order, one entry per HTTP attempt, so the client's own retries consume entries too), otherwise
from a generator: with a JSON schema the answer is valid against it (strings from field names,
numbers 0.5, integers 1, booleans false, arrays of one item, enums their first value, every
property present). Like OpenAI, ``strict: true`` schemas must set ``additionalProperties: false``
and list every property in ``required``, or the request is refused with 400.

Embeddings are deterministic: feature hashing of lowercase word tokens (stop words dropped,
sublinear counts), L2-normalised, so texts that share words are closer.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import struct
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, jsonify, request, stream_with_context

from devstack.fakes.base import JSON, FakeHTTPError, FakeService, ViewResult, bearer_token

EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_DIMENSIONS = 1536
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "will",
        "with",
        "you",
        "your",
    }
)
_WORD_RE = re.compile(r"[a-z0-9]+")
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_ERROR_MESSAGES = {
    429: "Rate limit reached for requests. Please try again in 1s.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later",
}


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: about four characters a token."""
    return math.ceil(len(text) / 4) if text else 0


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text") or part.get("refusal") or ""))
            else:
                parts.append(str(part))
        return "\n".join(parts)
    return json.dumps(content)


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The fake's embedding of `text`: hashed word features, L2-normalised."""
    counts = Counter(w for w in _WORD_RE.findall(text.lower()) if w not in STOP_WORDS)
    vector = [0.0] * dimensions
    for word, count in counts.items():
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        index = value % dimensions
        sign = 1.0 if (value >> 63) & 1 else -1.0
        vector[index] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


# --------------------------------------------------------------------------- JSON schema


def _resolve(schema: JSON, root: JSON) -> JSON:
    seen = 0
    while "$ref" in schema and seen < 32:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported $ref {ref}")
        target: Any = root
        for piece in ref[2:].split("/"):
            target = target[piece.replace("~1", "/").replace("~0", "~")]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def generate_from_schema(schema: JSON, name: str = "value", root: JSON | None = None) -> Any:
    """A value valid against `schema`, derived from property names (deterministic)."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [_resolve(o, root) for o in schema[key]]
            non_null = [o for o in options if o.get("type") != "null"]
            return generate_from_schema((non_null or options)[0], name, root)
    if schema.get("allOf"):
        merged: JSON = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return generate_from_schema(merged, name, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return {
            prop: generate_from_schema(sub, prop, root)
            for prop, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items") or {"type": "string"}
        return [generate_from_schema(items, _singular(name), root) for _ in range(count)]
    if kind == "integer":
        return int(_clamp(1, schema))
    if kind == "number":
        return _clamp(0.5, schema)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string_for(name, schema)


def _clamp(value: float, schema: JSON) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and value < low:
        value = low + (1 if "exclusiveMinimum" in schema else 0)
    if high is not None and value > high:
        value = high - (1 if "exclusiveMaximum" in schema else 0)
    return value


def _string_for(name: str, schema: JSON) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    elif fmt == "date":
        text = time.strftime("%Y-%m-%d", time.gmtime())
    elif fmt == "email":
        text = "someone@example.com"
    elif fmt in {"uri", "url"}:
        text = "https://example.com/"
    elif fmt == "uuid":
        text = "00000000-0000-4000-8000-000000000000"
    else:
        text = f"fake {name.replace('_', ' ')}"
    min_length = int(schema.get("minLength", 0))
    if len(text) < min_length:
        text = text + "x" * (min_length - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def strict_schema_problem(schema: JSON, name: str) -> str | None:
    """OpenAI's structured-output rules for ``strict: true``; the first violation, or None."""

    def walk(node: Any, context: tuple[str, ...]) -> str | None:
        if not isinstance(node, dict):
            return None
        where = f"In context={context}, " if context else "In context=(), "
        kind = node.get("type")
        is_object = kind == "object" or (isinstance(kind, list) and "object" in kind)
        if is_object or "properties" in node:
            if node.get("additionalProperties") is not False:
                return f"{where}'additionalProperties' is required to be supplied and to be false."
            props = list((node.get("properties") or {}).keys())
            required = node.get("required")
            if not isinstance(required, list) or set(props) - set(required):
                missing = [p for p in props if not isinstance(required, list) or p not in required]
                return (
                    f"{where}'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'."
                )
            for prop, sub in (node.get("properties") or {}).items():
                found = walk(sub, (*context, "properties", prop))
                if found:
                    return found
        for key in ("items",):
            if key in node:
                found = walk(node[key], (*context, key))
                if found:
                    return found
        for key in ("anyOf", "allOf", "oneOf"):
            for i, sub in enumerate(node.get(key) or []):
                found = walk(sub, (*context, key, str(i)))
                if found:
                    return found
        for key in ("$defs", "definitions"):
            for def_name, sub in (node.get(key) or {}).items():
                found = walk(sub, (*context, key, def_name))
                if found:
                    return found
        return None

    problem = walk(schema, ())
    return f"Invalid schema for response_format '{name}': {problem}" if problem else None


# --------------------------------------------------------------------------- the fake


class FakeOpenAI(FakeService):
    """OpenAI fake. Seed JSON (all keys optional)::

    {"api_keys": ["sk-local"],            # default: any key starting with "sk-"
     "chat_script": [{"content": "..." | {...}}, {"refusal": "..."},
                     {"status": 429, "retry_after": 1}, {"malformed": true},
                     {"content": "...", "finish_reason": "length"}, {"delay": 2.0}]}
    """

    name = "openai"

    def __init__(self, api_keys: Iterable[str] | None = None) -> None:
        self.api_keys: set[str] | None = set(api_keys) if api_keys is not None else None
        self._default_keys = self.api_keys
        self.script: list[JSON] = []
        super().__init__()
        self.app.after_request(self._request_id)
        self._add_routes()

    # ----------------------------------------------------------------- Python API

    def script_chat(self, *entries: JSON) -> None:
        """Queue scripted answers for chat completions and responses, consumed in order."""
        with self.lock:
            self.script.extend(dict(e) for e in entries)

    def chat_requests(self) -> list[JSON]:
        """Bodies of chat completion and responses requests, oldest first."""
        return [
            r["json"]
            for r in self.requests
            if r["path"] in {"/v1/chat/completions", "/v1/responses"} and "json" in r
        ]

    # ----------------------------------------------------------------- FakeService hooks

    def error_body(self, status: int, message: str, **details: Any) -> JSON:
        kind, code = _ERROR_TYPES.get(status, ("invalid_request_error", None))
        if details.get("injected") and status in _ERROR_MESSAGES:
            message = _ERROR_MESSAGES[status]
        return {
            "error": {
                "message": message,
                "type": details.get("type") or kind,
                "param": details.get("param"),
                "code": details.get("code", code),
            }
        }

    def _reset_state(self) -> None:
        self.script.clear()
        self.api_keys = self._default_keys

    def _seed(self, data: JSON) -> None:
        if "api_keys" in data:
            self.api_keys = set(data["api_keys"]) if data["api_keys"] is not None else None
        for entry in data.get("chat_script") or data.get("script") or []:
            self.script.append(dict(entry))

    def _state(self) -> JSON:
        return {
            "script": list(self.script),
            "api_keys": sorted(self.api_keys) if self.api_keys is not None else "sk-*",
            "chat_requests": len(self.chat_requests()),
        }

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _request_id(response: Response) -> Response:
        response.headers.setdefault("x-request-id", f"req_{secrets.token_hex(16)}")
        response.headers.setdefault("openai-processing-ms", "12")
        return response

    def _auth(self) -> None:
        key = bearer_token()
        if key is None:
            raise FakeHTTPError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username and password. You can obtain "
                "an API key from https://platform.openai.com/account/api-keys.",
                code=None,
            )
        allowed = key in self.api_keys if self.api_keys is not None else key.startswith("sk-")
        if not allowed:
            masked = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else key
            raise FakeHTTPError(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    @staticmethod
    def _body() -> JSON:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise FakeHTTPError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)",
                code=None,
            )
        return data

    def _next_script(self) -> JSON | None:
        with self.lock:
            return self.script.pop(0) if self.script else None

    def _scripted_error(self, entry: JSON) -> Response | None:
        status = int(entry.get("status") or 0)
        if status < 400:
            return None
        headers = {}
        if entry.get("retry_after") is not None:
            headers["Retry-After"] = str(entry["retry_after"])
        if entry.get("body") is not None:
            response = jsonify(entry["body"])
            response.status_code = status
            response.headers.update(headers)
            return response
        return self.error_response(
            status,
            entry.get("message") or _ERROR_MESSAGES.get(status, "Error"),
            headers,
            code=entry.get("code", _ERROR_TYPES.get(status, ("", None))[1]),
        )

    @staticmethod
    def _schema_format(fmt: JSON | None, name_hint: str) -> tuple[str, JSON | None, str]:
        """(kind, schema, name) from a chat response_format or a responses text.format."""
        if not fmt:
            return "text", None, name_hint
        kind = str(fmt.get("type", "text"))
        if kind != "json_schema":
            return kind, None, name_hint
        spec = fmt.get("json_schema") if "json_schema" in fmt else fmt
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise FakeHTTPError(
                400,
                "Missing required parameter: 'response_format.json_schema'.",
                param="response_format",
                code="missing_required_parameter",
            )
        name = str(spec.get("name") or name_hint)
        if spec.get("strict"):
            problem = strict_schema_problem(spec["schema"], name)
            if problem:
                raise FakeHTTPError(400, problem, param="response_format", code=None)
        return kind, spec["schema"], name

    def _default_content(self, kind: str, schema: JSON | None, prompt: str) -> str:
        if schema is not None:
            return json.dumps(generate_from_schema(schema))
        if kind == "json_object":
            return json.dumps({"result": "fake result"})
        words = prompt.split()
        tail = " ".join(words[-12:]) if words else ""
        return f"This is an offline fake completion. (Last words of the prompt: {tail})"

    def _answer(self, kind: str, schema: JSON | None, prompt: str) -> tuple[JSON, Response | None]:
        """(answer, error response): answer keys content, refusal, finish_reason."""
        entry = self._next_script()
        if entry is None:
            return {
                "content": self._default_content(kind, schema, prompt),
                "refusal": None,
                "finish_reason": "stop",
            }, None
        if entry.get("delay"):
            time.sleep(float(entry["delay"]))
        error = self._scripted_error(entry)
        if error is not None:
            return {}, error
        finish = str(entry.get("finish_reason", "stop"))
        if entry.get("refusal") is not None:
            return {
                "content": None,
                "refusal": str(entry["refusal"]),
                "finish_reason": finish,
            }, None
        if entry.get("malformed"):
            full = self._default_content("json_object", schema, prompt)
            return {
                "content": full[: max(1, len(full) // 2)],
                "refusal": None,
                "finish_reason": finish,
            }, None
        content = entry.get("content")
        if content is None:
            content = self._default_content(kind, schema, prompt)
        elif not isinstance(content, str):
            content = json.dumps(content)
        return {"content": content, "refusal": None, "finish_reason": finish}, None

    # ----------------------------------------------------------------- routes

    def _add_routes(self) -> None:
        self.route("/v1/chat/completions", ("POST",), locked=False)(self._chat)
        self.route("/v1/responses", ("POST",), locked=False)(self._responses)
        self.route("/v1/embeddings", ("POST",), locked=False)(self._embeddings)
        self.route("/v1/models", ("GET",), locked=False)(self._models)
        self.route("/v1/models/<path:model>", ("GET",), locked=False)(self._model)

    def _models(self) -> ViewResult:
        self._auth()
        names = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-5-mini", *EMBEDDING_MODELS]
        return jsonify(
            {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": 1700000000, "owned_by": "system"}
                    for n in names
                ],
            }
        )

    def _model(self, model: str) -> ViewResult:
        self._auth()
        return jsonify(
            {"id": model, "object": "model", "created": 1700000000, "owned_by": "system"}
        )

    def _chat(self) -> ViewResult:
        self._auth()
        body = self._body()
        model = body.get("model")
        if not model:
            raise FakeHTTPError(400, "you must provide a model parameter", param="model", code=None)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise FakeHTTPError(400, "[] is too short - 'messages'", param="messages", code=None)
        prompt = "\n".join(_text_of(m.get("content")) for m in messages if isinstance(m, dict))
        fmt = body.get("response_format")
        kind, schema, _ = self._schema_format(fmt, "response")
        if kind == "json_object" and "json" not in prompt.lower():
            raise FakeHTTPError(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
                code=None,
            )
        tool_call = self._forced_tool(body)
        answer, error = self._answer(kind, schema, prompt)
        if error is not None:
            return error
        prompt_tokens = (
            sum(
                estimate_tokens(_text_of(m.get("content"))) + 4
                for m in messages
                if isinstance(m, dict)
            )
            + 3
        )
        message: JSON = {
            "role": "assistant",
            "content": answer["content"],
            "refusal": answer["refusal"],
            "annotations": [],
        }
        finish = answer["finish_reason"]
        if tool_call is not None and answer["refusal"] is None:
            message["content"] = None
            message["tool_calls"] = [tool_call]
            finish = "tool_calls"
        completion_text = (answer["content"] or answer["refusal"] or "") + (
            tool_call["function"]["arguments"] if tool_call else ""
        )
        completion_tokens = estimate_tokens(completion_text)
        n = max(1, int(body.get("n") or 1))
        response: JSON = {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": i, "message": dict(message), "logprobs": None, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * n,
                "total_tokens": prompt_tokens + completion_tokens * n,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream_chat(response, include_usage)
        return jsonify(response)

    @staticmethod
    def _forced_tool(body: JSON) -> JSON | None:
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        choice = body.get("tool_choice")
        if not tools or choice in (None, "auto", "none"):
            return None
        chosen = tools[0]
        if isinstance(choice, dict):
            wanted = (choice.get("function") or {}).get("name")
            chosen = next((t for t in tools if t["function"]["name"] == wanted), chosen)
        function = chosen["function"]
        arguments = generate_from_schema(function.get("parameters") or {"type": "object"})
        return {
            "id": f"call_{secrets.token_hex(12)}",
            "type": "function",
            "function": {"name": function["name"], "arguments": json.dumps(arguments)},
        }

    @staticmethod
    def _stream_chat(response: JSON, include_usage: bool) -> Response:
        choice = response["choices"][0]
        message = choice["message"]
        base = {k: response[k] for k in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"

        def chunk(delta: JSON, finish: str | None = None, usage: JSON | None = None) -> str:
            body = {
                **base,
                "choices": []
                if usage
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if usage:
                body["usage"] = usage
            return f"data: {json.dumps(body)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            text = message.get("content") or ""
            for start in range(0, len(text), 16):
                yield chunk({"content": text[start : start + 16]})
            if message.get("refusal"):
                yield chunk({"refusal": message["refusal"]})
            if message.get("tool_calls"):
                call = message["tool_calls"][0]
                yield chunk({"tool_calls": [{"index": 0, **call}]})
            yield chunk({}, choice["finish_reason"])
            if include_usage:
                yield chunk({}, usage=response["usage"])
            yield "data: [DONE]\n\n"

        return Response(stream_with_context(events()), mimetype="text/event-stream")

    def _responses(self) -> ViewResult:
        self._auth()
        body = self._body()
        model = body.get("model")
        if not model:
            raise FakeHTTPError(
                400,
                "Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            )
        if body.get("stream"):
            raise FakeHTTPError(
                400, "The fake does not stream responses.", param="stream", code=None
            )
        items = body.get("input")
        if isinstance(items, str):
            prompt = items
        elif isinstance(items, list):
            prompt = "\n".join(
                _text_of(i.get("content")) if isinstance(i, dict) else str(i) for i in items
            )
        else:
            raise FakeHTTPError(
                400,
                "Missing required parameter: 'input'.",
                param="input",
                code="missing_required_parameter",
            )
        instructions = body.get("instructions")
        full_prompt = f"{instructions or ''}\n{prompt}"
        text_config = body.get("text") or {}
        kind, schema, _ = self._schema_format(text_config.get("format"), "response")
        answer, error = self._answer(kind, schema, full_prompt)
        if error is not None:
            return error
        if answer["refusal"] is not None:
            content: list[JSON] = [{"type": "refusal", "refusal": answer["refusal"]}]
        else:
            content = [
                {
                    "type": "output_text",
                    "text": answer["content"],
                    "annotations": [],
                    "logprobs": [],
                }
            ]
        input_tokens = estimate_tokens(full_prompt)
        output_tokens = estimate_tokens(answer["content"] or answer["refusal"] or "")
        incomplete = answer["finish_reason"] == "length"
        return jsonify(
            {
                "id": f"resp_{secrets.token_hex(24)}",
                "object": "response",
                "created_at": int(time.time()),
                "status": "incomplete" if incomplete else "completed",
                "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
                "instructions": instructions,
                "max_output_tokens": body.get("max_output_tokens"),
                "model": model,
                "output": [
                    {
                        "type": "message",
                        "id": f"msg_{secrets.token_hex(24)}",
                        "status": "incomplete" if incomplete else "completed",
                        "role": "assistant",
                        "content": content,
                    }
                ],
                "parallel_tool_calls": True,
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "store": body.get("store", True),
                "temperature": body.get("temperature", 1.0),
                "text": {"format": text_config.get("format") or {"type": "text"}},
                "tool_choice": body.get("tool_choice", "auto"),
                "tools": body.get("tools") or [],
                "top_p": body.get("top_p", 1.0),
                "truncation": "disabled",
                "usage": {
                    "input_tokens": input_tokens,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": output_tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": input_tokens + output_tokens,
                },
                "user": body.get("user"),
                "metadata": body.get("metadata") or {},
            }
        )

    def _embeddings(self) -> ViewResult:
        self._auth()
        body = self._body()
        model = str(body.get("model") or "")
        if not model:
            raise FakeHTTPError(400, "you must provide a model parameter", param="model", code=None)
        native = EMBEDDING_MODELS.get(model)
        if native is None and not model.startswith("text-embedding"):
            raise FakeHTTPError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        native = native or DEFAULT_DIMENSIONS
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if model == "text-embedding-ada-002":
                raise FakeHTTPError(
                    400,
                    "This model does not support specifying dimensions.",
                    param="dimensions",
                    code=None,
                )
            if not isinstance(dimensions, int) or not 1 <= dimensions <= native:
                raise FakeHTTPError(
                    400,
                    f"Invalid 'dimensions': must be 1..{native}.",
                    param="dimensions",
                    code=None,
                )
        size = int(dimensions or native)
        texts = self._inputs(body.get("input"))
        encoding = body.get("encoding_format") or "float"
        if encoding not in {"float", "base64"}:
            raise FakeHTTPError(
                400,
                f"Invalid value for 'encoding_format': {encoding}.",
                param="encoding_format",
                code=None,
            )
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, size)
            value: Any = vector
            if encoding == "base64":
                import base64

                value = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": value})
        tokens = sum(max(1, estimate_tokens(t)) for t in texts)
        return jsonify(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    @staticmethod
    def _inputs(value: Any) -> list[str]:
        invalid = FakeHTTPError(
            400,
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            param=None,
            code=None,
        )
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            texts = [" ".join(f"t{v}" for v in value)]
        elif isinstance(value, list) and value:
            texts = []
            for item in value:
                if isinstance(item, str):
                    texts.append(item)
                elif isinstance(item, list) and all(isinstance(v, int) for v in item):
                    texts.append(" ".join(f"t{v}" for v in item))
                else:
                    raise invalid
        else:
            raise invalid
        if len(texts) > 2048 or any(t == "" for t in texts):
            raise invalid
        return texts
