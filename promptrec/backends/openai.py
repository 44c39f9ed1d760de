"""Any OpenAI-compatible chat completions API (the ``openai`` extra).

OpenAI itself, or a local server: vLLM, Ollama, llama.cpp's server, ``python -m llama_cpp.server``. The key
comes from the ``api_key`` option or ``OPENAI_API_KEY``; a server given by ``base_url`` (or
``OPENAI_BASE_URL``) needs no real key.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

from promptrec.backends.base import Completion, GenerationParams, LabelScores, Message, Usage, estimate_tokens
from promptrec.errors import BackendError, MissingDependencyError

logger = logging.getLogger(__name__)

_PLACEHOLDER_KEY = "sk-no-key-required"

#: the most alternatives the OpenAI API returns per token
TOP_LOGPROBS = 20
#: answer tokens score mode asks for: the label, or the prefix ("[") and then the label
SCORE_TOKENS = 2


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: the model name the server expects (``gpt-4o-mini``, a vLLM model id, an Ollama tag...).
        base_url: the API's base URL, e.g. ``http://127.0.0.1:8000/v1``; default: OpenAI's.
        api_key: the key; default ``OPENAI_API_KEY``. Never logged, never part of a cache key.
        timeout: seconds to wait for one answer.
        context_window: the model's context size in tokens, if you want prompts fitted to it.
        client: an ``openai.OpenAI`` client to use instead of building one (for tests and custom set-ups).
    """

    supports_grammar = False
    supports_concurrency = True
    supports_scoring = True

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        context_window: int | None = None,
        client: Any = None,
    ):
        if not model:
            raise BackendError("the openai backend needs a model name, as in 'openai:gpt-4o-mini'")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.context_window = context_window
        self.name = f"openai:{model}" + (f"@{self.base_url}" if self.base_url else "")
        if client is None:
            try:
                import openai
            except ImportError:
                raise MissingDependencyError("openai", "openai") from None
            key = api_key or os.environ.get("OPENAI_API_KEY")
            if not key:
                if not self.base_url:
                    raise BackendError(
                        "no API key: set OPENAI_API_KEY or pass an api key; "
                        "for a local OpenAI-compatible server pass its base URL instead"
                    )
                key = _PLACEHOLDER_KEY
            # promptrec retries transient failures itself (promptrec.retry); the SDK's own retries would multiply them
            client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0)
        self._client = client

    def count_tokens(self, messages: list[Message]) -> int:
        """An estimate: the server's tokenizer is not known here."""
        return estimate_tokens(messages)

    def request_body(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """The chat completions request body for ``messages`` (also what the Batch API export writes)."""
        if params.grammar:
            raise BackendError(f"{self.name} cannot enforce a grammar; use the llamacpp backend for that")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    def score_request_body(self, messages: list[Message]) -> dict[str, Any]:
        """The request of :meth:`score_labels`: two greedy tokens, each with its top alternatives' log-probabilities."""
        body = self.request_body(messages, GenerationParams(max_tokens=SCORE_TOKENS, temperature=0.0))
        body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        return body

    def _send(self, request: dict[str, Any]) -> Any:
        try:
            response = self._client.chat.completions.create(**request)
        except Exception as exc:
            raise BackendError(f"{self.name}: {_describe(exc)}") from exc
        if not getattr(response, "choices", None):
            raise BackendError(f"{self.name}: the server answered with no choices")
        return response

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Send one chat completion request."""
        response = self._send(self.request_body(messages, params))
        choice = response.choices[0]
        return Completion(
            text=(choice.message.content if choice.message else None) or "",
            model=getattr(response, "model", None) or self.model,
            usage=_usage(response),
            finish_reason=choice.finish_reason,
        )

    def score_labels(self, messages: list[Message], labels: Sequence[str], prefix: str = "[") -> LabelScores:
        """Each label's log-probability as the answer's first token, from the server's top 20 alternatives.

        A chat API cannot be given the start of the answer, so the greedy answer's first two tokens are
        asked for, and the alternatives are read at its first token that is not just whitespace or
        ``prefix``: when the model opens with ``"["`` (as a prompt that shows ``[A]`` makes it do), the
        second position's alternatives are conditional on that ``"["``, as the llama.cpp backend's are on
        the prefix it appends. A returned token is matched to a label after stripping whitespace and a
        leading ``prefix`` (``"[A"``, ``" A"`` and ``"A"`` all count for ``A``; their probabilities are
        added). A label not among the returned tokens gets a floor value, the lowest returned
        log-probability minus log(2) (it is less likely than anything listed), and is named in ``floored``.

        Raises:
            BackendError: when the request fails or the server returns no log-probabilities.
        """
        labels = list(dict.fromkeys(labels))
        response = self._send(self.score_request_body(messages))
        top = _top_logprobs(response.choices[0], prefix)
        if not top:
            raise BackendError(
                f"{self.name}: the server does not return logprobs (asked for logprobs=true, "
                f"top_logprobs={TOP_LOGPROBS}), which score mode needs; use generate mode with this server"
            )
        wanted = set(labels)
        found: dict[str, float] = {}
        for token, logprob in top.items():
            text = token.strip()
            if prefix and text.startswith(prefix):
                text = text[len(prefix) :].strip()
            if text in wanted:
                found[text] = _log_add(found[text], logprob) if text in found else logprob
        finite = [value for value in top.values() if math.isfinite(value)]
        floor = (min(finite) if finite else -100.0) - math.log(2)
        floored = [label for label in labels if label not in found]
        return LabelScores(
            logprobs={label: found.get(label, floor) for label in labels},
            floored=floored,
            usage=_usage(response),
            model=getattr(response, "model", None) or self.model,
        )


def _usage(response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    return Usage(
        input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        output_tokens=getattr(usage, "completion_tokens", 0) or 0,
    )


def _log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without overflow or underflow."""
    high, low = max(a, b), min(a, b)
    return high if low == -math.inf else high + math.log1p(math.exp(low - high))


def _top_logprobs(choice: Any, prefix: str) -> dict[str, float]:
    """The alternatives at the first answer token that is not just whitespace or ``prefix`` (the last one
    returned if all are), token text -> log-probability; empty when the server returned none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return {}
    index = 0
    while index + 1 < len(content) and (getattr(content[index], "token", None) or "").strip() in ("", prefix):
        index += 1
    position = content[index]
    top = {entry.token: float(entry.logprob) for entry in (getattr(position, "top_logprobs", None) or [])}
    if getattr(position, "token", None) is not None and getattr(position, "logprob", None) is not None:
        top.setdefault(position.token, float(position.logprob))
    return top


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name} (HTTP {status}): {exc}" if status else f"{name}: {exc}"
