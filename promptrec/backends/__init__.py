"""Backends, chosen by a ``kind:model`` string.

>>> get_backend("llamacpp")                          # the bundled SmolLM2-135M-Instruct GGUF file
>>> get_backend("llamacpp:/models/qwen2.5-1.5b.gguf", n_ctx=4096)
>>> get_backend("openai:gpt-4o-mini")                # key from OPENAI_API_KEY
>>> get_backend("openai:any", base_url="http://127.0.0.1:8000/v1")   # vLLM, Ollama, llama.cpp's server

Backend modules import their heavy dependency only when a backend is created.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from promptrec.backends.base import (
    Backend,
    Completion,
    GenerationParams,
    LabelScores,
    Message,
    Usage,
    supports_scoring,
)
from promptrec.errors import BackendError, UnknownBackendError

__all__ = [
    "Backend",
    "Completion",
    "GenerationParams",
    "LabelScores",
    "Message",
    "Usage",
    "KINDS",
    "get_backend",
    "supports_scoring",
]

#: kind -> "module:class"; each class is built as ``cls(model, **options)``.
KINDS: dict[str, str] = {
    "llamacpp": "promptrec.backends.llamacpp:LlamaCppBackend",
    "openai": "promptrec.backends.openai:OpenAIBackend",
}

DEFAULT_BACKEND = "llamacpp"


def get_backend(spec: str = DEFAULT_BACKEND, **options: Any) -> Backend:
    """Create the backend named by ``spec`` (``kind`` or ``kind:model``).

    ``options`` go to the backend's constructor; options that are ``None`` are left to their defaults,
    and an option the backend does not take raises a :class:`BackendError` listing those it does.
    """
    kind, _, model = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise UnknownBackendError(kind, sorted(KINDS))
    module_name, class_name = KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "model")]
    given = {name: value for name, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise BackendError(f"backend '{kind}' does not take {', '.join(unknown)}; it takes: {', '.join(accepted)}")
    return cls(model.strip() or None, **given)
