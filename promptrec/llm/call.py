"""One LLM call: cached, retried and counted, shared by the ranker, its modes and the profile retriever.

>>> llm = LLMCall(backend, cache=CompletionCache(), retry=RetryPolicy())
>>> call = llm.complete(messages, GenerationParams(max_tokens=64))
>>> call.value.text, call.cached, call.retries

The cache sits below parsing (a better parser never invalidates an answer); transport retries never
re-render the prompt; a backend that cannot take concurrent calls gets them one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from promptrec.backends import Backend, Completion, GenerationParams, Message
from promptrec.backends.base import LabelScores, capability
from promptrec.cache import CompletionCache, completion_key
from promptrec.retry import RetryPolicy, call_with_retries
from promptrec.scoring import single_token_labels

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Call(Generic[T]):
    """What one backend call gave, whether it came from the cache, and how often it was retried."""

    value: T
    cached: bool
    retries: int


class LLMCall:
    """A backend's calls through the completion cache and the retry policy, counted.

    Args:
        backend: the model.
        cache: the completion cache (``None``: no caching).
        retry: the retry policy for transient failures.
    """

    def __init__(self, backend: Backend, cache: CompletionCache | None = None, retry: RetryPolicy | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self._serial: AbstractContextManager[Any] = (
            nullcontext() if capability(backend, "supports_concurrency") else threading.Lock())
        self._labels: dict[int, list[str]] = {}
        self.calls = 0
        self.cache_hits = 0

    def cached(self, key: str, model: type[T], call: Callable[[], T]) -> Call[T]:
        """``call()`` answered from the cache under ``key`` when it can be, else made (one at a time for a
        backend that cannot take more), retried on transient failures, and cached."""
        if self.cache is not None:
            hit = self.cache.get(key, model)
            if hit is not None:
                self.cache_hits += 1
                return Call(hit, cached=True, retries=0)
        retries = 0

        def count(error: BaseException, delay: float) -> None:
            nonlocal retries
            retries += 1

        def serial() -> T:
            with self._serial:
                return call()

        value = call_with_retries(serial, self.retry, on_retry=count)
        self.calls += 1
        if self.cache is not None:
            self.cache.set(key, value)
        return Call(value, cached=False, retries=retries)

    def complete(self, messages: list[Message], params: GenerationParams, labels: Sequence[str] = (),
                 mode: str = "generate") -> Call[Completion]:
        """One ``complete`` call (``labels`` and ``mode`` are part of the cache key)."""
        return self.cached(completion_key(self.backend.name, messages, params, mode=mode, labels=list(labels)),
                           Completion, lambda: self.backend.complete(messages, params))

    def label_scores(self, messages: list[Message], labels: list[str], prefix: str = "[") -> Call[LabelScores]:
        """One ``score_labels`` call: the log-probability of each label as the answer's next token after
        ``prefix`` (part of the cache key)."""
        params = GenerationParams(max_tokens=1)
        kind = "score" if prefix == "[" else f"score after {prefix!r}"
        return self.cached(
            completion_key(self.backend.name, messages, params, mode=kind, labels=labels), LabelScores,
            lambda: self.backend.score_labels(messages, labels, prefix=prefix),  # type: ignore[attr-defined]
        )

    def single_token_labels(self, n: int) -> list[str]:
        """``n`` labels the backend reads as one token each (found once per ``n``)."""
        if n not in self._labels:
            self._labels[n] = single_token_labels(self.backend, n)
        return self._labels[n]


__all__ = ["Call", "LLMCall"]
