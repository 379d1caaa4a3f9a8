"""OpenAI's request and response shapes, read and written as plain dictionaries.

Requests are checked field by field into Driftless's own types (:class:`ChatMessage`,
:class:`SamplingParams`); anything unsupported is refused with the field named, never
ignored in a way that changes the answer (``n`` other than 1, an unknown role...).
Unset sampling fields come from the "Balanced" preset, which suits small models.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.chat.sampling import (
    DEFAULT_PRESET,
    MAX_TOP_LOGPROBS,
    InvalidSamplingParams,
    SamplingParams,
    preset,
)
from app.core.runtime.grammar import JSON_OBJECT_SCHEMA, InvalidSchema, json_schema_grammar
from app.core.runtime.results import GenerationStats, LoadedModel, TokenLogprob
from app.core.runtime.template import ChatMessage
from app.core.serve.errors import bad_request

DEFAULT_MAX_TOKENS = 512
MAX_MESSAGES = 1000

PROVENANCE_HEADER = "X-Driftless-Model"
"""``repo@commit/filename`` (the lock id) of the model file that answered."""
SHA256_HEADER = "X-Driftless-Model-Sha256"
BACKEND_HEADER = "X-Driftless-Backend"
"""What the weights ran on: ``CPU``, or ``Vulkan (device, driver X): N/M layers``."""


@dataclass(frozen=True)
class ChatRequest:
    model: str | None
    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    stream: bool
    include_usage: bool


def parse_chat(body: Any, *, max_tokens_limit: int) -> ChatRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request("'model' must be a string: an installed model's id.", "model")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty list of messages.", "messages")
    if len(raw) > MAX_MESSAGES:
        raise bad_request(f"At most {MAX_MESSAGES} messages are accepted.", "messages")
    messages = tuple(_message(item, index) for index, item in enumerate(raw))
    n = body.get("n", 1)
    if n not in (1, None):
        raise bad_request("Only n=1 is supported: ask again for another answer.", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false.", "stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    for name in ("tools", "functions", "tool_choice", "logit_bias", "audio"):
        if body.get(name) not in (None, [], {}):
            raise bad_request(f"'{name}' is not supported by this server.", name)
    params = sampling(body, max_tokens_limit)
    grammar = response_grammar(body.get("response_format"))
    if grammar is not None:
        params = params.replace(grammar=grammar)
    top = _logprobs(body, stream)
    if top is not None:
        params = params.replace(logprobs=top)
    return ChatRequest(model, messages, params, stream, include_usage)


def _logprobs(body: dict[str, Any], stream: bool) -> int | None:
    """``logprobs`` (true/false) and ``top_logprobs`` (0 to 20) as one number, or None."""
    wanted = body.get("logprobs")
    top = body.get("top_logprobs")
    if wanted not in (None, True, False):
        raise bad_request("'logprobs' must be true or false.", "logprobs")
    if not wanted:
        if top is not None:
            raise bad_request("'top_logprobs' needs 'logprobs': true.", "top_logprobs")
        return None
    if stream:
        raise bad_request(
            "'logprobs' is only answered without streaming on this server.", "logprobs"
        )
    if top is None:
        return 0
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_TOP_LOGPROBS:
        raise bad_request(
            f"'top_logprobs' must be a whole number from 0 to {MAX_TOP_LOGPROBS}.",
            "top_logprobs",
        )
    return top


def response_grammar(response_format: Any) -> str | None:
    """The grammar ``response_format`` asks for: None for text, JSON for the others.

    ``json_object`` allows any JSON object; ``json_schema`` allows what its ``schema``
    allows. Decoding follows the grammar, so the answer parses (unless ``max_tokens``
    cuts it short: then ``finish_reason`` is "length").
    """
    param = "response_format"
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise bad_request("'response_format' must be an object with a 'type'.", param)
    kind = response_format.get("type")
    if kind == "text":
        return None
    try:
        if kind == "json_object":
            return json_schema_grammar(JSON_OBJECT_SCHEMA)
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise bad_request(
                    "'response_format.json_schema' must be an object holding the JSON "
                    "schema in 'schema' (and a 'name').",
                    "response_format.json_schema",
                )
            return json_schema_grammar(spec["schema"])
    except InvalidSchema as exc:
        raise bad_request(str(exc), "response_format.json_schema.schema") from None
    raise bad_request(
        f"'response_format.type' must be text, json_object or json_schema, not {kind!r}.",
        "response_format.type",
    )


@dataclass(frozen=True)
class CompletionRequest:
    model: str | None
    prompt: str
    params: SamplingParams
    stream: bool
    include_usage: bool


def parse_completion(body: Any, *, max_tokens_limit: int) -> CompletionRequest:
    """``POST /v1/completions``: one prompt, continued as it is (no chat template)."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request("'model' must be a string: an installed model's id.", "model")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise bad_request(
            "'prompt' must be one non-empty string (token ids and several prompts are "
            "not accepted: send one request per prompt).",
            "prompt",
        )
    if body.get("n", 1) not in (1, None):
        raise bad_request("Only n=1 is supported: ask again for another answer.", "n")
    if body.get("best_of", 1) not in (1, None):
        raise bad_request("Only best_of=1 is supported.", "best_of")
    if body.get("echo") not in (None, False):
        raise bad_request("'echo' is not supported: the prompt is yours already.", "echo")
    for name in ("suffix", "logit_bias", "logprobs"):
        if body.get(name) not in (None, {}, ""):
            raise bad_request(f"'{name}' is not supported by this server.", name)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false.", "stream")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    params = sampling(body, max_tokens_limit)
    return CompletionRequest(model, prompt, params, stream, include_usage)


MAX_EMBEDDING_INPUTS = 256


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str | None
    texts: tuple[str, ...]
    base64: bool


def parse_embeddings(body: Any) -> EmbeddingRequest:
    """``POST /v1/embeddings``: a string or a list of strings."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request("'model' must be a string: an installed model's id.", "model")
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise bad_request(
            "'input' must be a non-empty string or a list of non-empty strings (token ids "
            "are not accepted).",
            "input",
        )
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise bad_request(
            f"At most {MAX_EMBEDDING_INPUTS} texts are embedded per request.", "input"
        )
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise bad_request("'encoding_format' must be float or base64.", "encoding_format")
    if body.get("dimensions") is not None:
        raise bad_request(
            "'dimensions' is not supported: the vectors have the model's own size.",
            "dimensions",
        )
    return EmbeddingRequest(model, tuple(texts), encoding == "base64")


def _message(item: Any, index: int) -> ChatMessage:
    param = f"messages[{index}]"
    if not isinstance(item, dict):
        raise bad_request(f"{param} must be an object with a role and content.", param)
    role = item.get("role")
    if role == "developer":
        role = "system"
    if role not in ("system", "user", "assistant"):
        raise bad_request(
            f"{param}.role must be system, developer, user or assistant, not {role!r}.",
            f"{param}.role",
        )
    content = item.get("content")
    if content is None and role == "assistant":
        content = ""
    if isinstance(content, list):
        texts: list[object] = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise bad_request(
                    f"{param}.content may only hold text parts: this server reads no images "
                    "or files.",
                    f"{param}.content",
                )
            texts.append(part.get("text"))
        if not all(isinstance(t, str) for t in texts):
            raise bad_request(f"{param}.content has a text part without text.", param)
        content = "".join(str(t) for t in texts)
    if not isinstance(content, str):
        raise bad_request(f"{param}.content must be a string.", f"{param}.content")
    return ChatMessage(role, content)


def sampling(body: dict[str, Any], max_tokens_limit: int) -> SamplingParams:
    """SamplingParams from OpenAI's fields (and llama.cpp's top_k, min_p, repeat_penalty)."""
    changes: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed"):
        if body.get(name) is not None:
            changes[name] = body[name]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = min(DEFAULT_MAX_TOKENS, max_tokens_limit)
    too_many = isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
    if too_many and max_tokens > max_tokens_limit:
        raise bad_request(
            f"max_tokens is {max_tokens:,}, but this server allows at most "
            f"{max_tokens_limit:,} tokens per answer.",
            "max_tokens",
        )
    changes["max_tokens"] = max_tokens
    stop = body.get("stop")
    if isinstance(stop, str):
        changes["stop"] = (stop,)
    elif isinstance(stop, list):
        changes["stop"] = tuple(stop)
    elif stop is not None:
        raise bad_request("'stop' must be a string or a list of strings.", "stop")
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            raise bad_request(
                f"'{name}' is not supported; use repeat_penalty (1 = off) instead.", name
            )
    try:
        return preset(DEFAULT_PRESET).replace(**changes)
    except InvalidSamplingParams as exc:
        param = next((name for name in changes if name in str(exc)), None)
        raise bad_request(str(exc), param) from None


# --- answers ---------------------------------------------------------------------------


def fingerprint(loaded: LoadedModel) -> str:
    """``system_fingerprint``: a short, stable digest of the model's lock id."""
    return "fp_" + hashlib.sha256(loaded.lock_id.encode("utf-8")).hexdigest()[:16]


def provenance(loaded: LoadedModel) -> dict[str, Any]:
    return {
        "lock_id": loaded.lock_id,
        "sha256": loaded.sha256,
        "model": loaded.model_id,
        "backend": loaded.offload.to_json(),
    }


def provenance_headers(loaded: LoadedModel) -> dict[str, str]:
    # Header values must be latin-1: a lock id is ASCII (repo names, hex, file names).
    lock = loaded.lock_id.encode("ascii", "backslashreplace").decode("ascii")
    backend = loaded.offload.label().encode("ascii", "backslashreplace").decode("ascii")
    return {PROVENANCE_HEADER: lock, SHA256_HEADER: loaded.sha256, BACKEND_HEADER: backend}


def finish_reason(stats: GenerationStats | None) -> str:
    if stats is not None and stats.finish_reason == "length":
        return "length"
    return "stop"


def usage(stats: GenerationStats | None) -> dict[str, int]:
    prompt = stats.prompt_tokens if stats else 0
    completion = stats.completion_tokens if stats else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def logprobs_content(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """OpenAI's ``choices[0].logprobs`` for the reply's tokens."""

    def entry(text: str, logprob: float, raw: bytes) -> dict[str, Any]:
        return {"token": text, "logprob": logprob, "bytes": list(raw)}

    return {
        "content": [
            {
                **entry(t.token, t.logprob, t.raw),
                "top_logprobs": [entry(*alternative) for alternative in t.top],
            }
            for t in tokens
        ],
        "refusal": None,
    }


def chat_completion(
    completion_id: str,
    loaded: LoadedModel,
    text: str,
    stats: GenerationStats | None,
    logprobs: Sequence[TokenLogprob] | None = None,
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": loaded.model_id,
        "system_fingerprint": fingerprint(loaded),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None if logprobs is None else logprobs_content(logprobs),
                "finish_reason": finish_reason(stats),
            }
        ],
        "usage": usage(stats),
        "provenance": provenance(loaded),
    }


def chat_chunk(
    completion_id: str,
    loaded: LoadedModel,
    delta: dict[str, str],
    finish: str | None = None,
    *,
    with_choice: bool = True,
    with_provenance: bool = False,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": loaded.model_id,
        "system_fingerprint": fingerprint(loaded),
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if with_choice
        else [],
    }
    if with_provenance:  # on the first and last chunks: not every token needs to repeat it
        chunk["provenance"] = provenance(loaded)
    return chunk


def text_completion(
    completion_id: str,
    loaded: LoadedModel,
    text: str | None,
    stats: GenerationStats | None,
    *,
    finish: str | None = None,
    with_choice: bool = True,
    with_provenance: bool = True,
) -> dict[str, Any]:
    """A ``text_completion``: the whole answer, or (streaming) one piece of it."""
    answer: dict[str, Any] = {
        "id": completion_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": loaded.model_id,
        "system_fingerprint": fingerprint(loaded),
        "choices": [{"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}]
        if with_choice
        else [],
    }
    if stats is not None:
        answer["usage"] = usage(stats)
    if with_provenance:
        answer["provenance"] = provenance(loaded)
    return answer


def embedding_list(
    loaded: LoadedModel, vectors: list[list[float]], prompt_tokens: int, *, base64: bool
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": _base64_floats(vector) if base64 else vector,
            }
            for index, vector in enumerate(vectors)
        ],
        "model": loaded.model_id,
        "system_fingerprint": fingerprint(loaded),
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        "provenance": provenance(loaded),
    }


def _base64_floats(vector: list[float]) -> str:
    """OpenAI's base64 encoding: little-endian float32s."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
