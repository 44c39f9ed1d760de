"""Backends, chosen by a ``kind:model`` string.

>>> get_backend("llamacpp")                          # the bundled SmolLM2-135M-Instruct GGUF file
>>> get_backend("llamacpp:/models/qwen2.5-1.5b.gguf", n_ctx=4096)
>>> get_backend("openai:gpt-4o-mini")                # key from OPENAI_API_KEY
>>> get_backend("openai:any", base_url="http://127.0.0.1:8000/v1")   # vLLM, Ollama, llama.cpp's server

Backend modules import their heavy dependency only when a backend is created.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Mapping
from typing import Any

import pydantic

from promptrec.backends.base import (
    Backend,
    BackendOptions,
    BaseBackend,
    Completion,
    GenerationParams,
    LabelScores,
    Message,
    Usage,
    capability,
    supports_scoring,
)
from promptrec.errors import BackendError, UnknownBackendError

__all__ = [
    "Backend",
    "BackendOptions",
    "BaseBackend",
    "Completion",
    "GenerationParams",
    "LabelScores",
    "Message",
    "Usage",
    "KINDS",
    "backend_class",
    "backend_kinds",
    "capability",
    "check_backend_options",
    "get_backend",
    "options_model",
    "register_backend",
    "supports_scoring",
]

#: the built-in kinds: kind -> "module:Class"; each class is built as ``cls(model, **options)``. Another
#: package adds a kind with an entry point in the ``promptrec.backends`` group (``kind = "module:Class"``),
#: or a program with :func:`register_backend`.
KINDS: dict[str, str] = {
    "llamacpp": "promptrec.backends.llamacpp:LlamaCppBackend",
    "openai": "promptrec.backends.openai:OpenAIBackend",
}

#: the entry point group other packages register backends in
ENTRY_POINT_GROUP = "promptrec.backends"

DEFAULT_BACKEND = "llamacpp"

_registered: dict[str, str | type] = {}


def register_backend(kind: str, target: str | type) -> None:
    """Make ``kind`` a backend kind: ``target`` is a class or its ``"module:Class"`` path (imported when used)."""
    _registered[kind.strip().lower()] = target


def backend_kinds() -> dict[str, str | type]:
    """Every known kind and its class (or ``"module:Class"`` path): built-in, from entry points, registered.

    Entry points are read from the installed packages' metadata; nothing is imported."""
    kinds: dict[str, str | type] = dict(KINDS)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(entry.name.strip().lower(), entry.value)
    kinds.update(_registered)
    return kinds


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"kind:model"`` -> ``(kind, model)``, the kind lower-cased, ``None`` for a missing model."""
    kind, _, model = spec.partition(":")
    return kind.strip().lower(), model.strip() or None


def backend_class(spec: str) -> type:
    """The class of the backend kind of ``spec`` (``kind`` or ``kind:model``); imports its module, not its
    heavy dependency, and creates nothing.

    Raises:
        UnknownBackendError: the kind is not known.
        BackendError: its module or class cannot be imported.
    """
    kind, _ = split_spec(spec)
    kinds = backend_kinds()
    if kind not in kinds:
        raise UnknownBackendError(kind, sorted(kinds))
    target = kinds[kind]
    if isinstance(target, type):
        return target
    module_name, _, class_name = target.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"backend '{kind}' is registered as '{target}', which cannot be imported: {exc}") from exc
    if not isinstance(found, type):
        raise BackendError(f"backend '{kind}' is registered as '{target}', which is not a class")
    return found


def options_model(spec: str) -> type[BackendOptions]:
    """The options model of the backend kind of ``spec``; a class without one gets an options model made
    from its constructor's keyword arguments (so protocol-only backends can be registered too)."""
    cls = backend_class(spec)
    declared = getattr(cls, "Options", None)
    if isinstance(declared, type) and issubclass(declared, BackendOptions) and declared is not BackendOptions:
        return declared
    fields: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if name in ("self", "model") or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = None if parameter.default is parameter.empty else parameter.default
        fields[name] = (Any, default)
    return pydantic.create_model(f"{cls.__name__}Options", __base__=BackendOptions, **fields)


def check_backend_options(spec: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` validated by the backend's options model: the ones given (not ``None``), typed.

    Raises:
        BackendError: an option the backend does not take (the message lists those it does), or a bad value.
    """
    kind, _ = split_spec(spec)
    model = options_model(spec)
    given = {name: value for name, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(model.model_fields))
    if unknown:
        raise BackendError(f"backend '{kind}' does not take {', '.join(unknown)}; it takes: "
                           f"{', '.join(model.model_fields)}")
    try:
        checked = model.model_validate(given)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise BackendError(f"backend '{kind}' option {problems}") from None
    return {name: getattr(checked, name) for name in given}


def get_backend(spec: str = DEFAULT_BACKEND, **options: Any) -> Backend:
    """Create the backend named by ``spec`` (``kind`` or ``kind:model``).

    ``options`` go to the backend's constructor after its options model checked them; options that are
    ``None`` are left to their defaults, and an option the backend does not take raises a
    :class:`BackendError` listing those it does. Constructor arguments that are not options (an
    ``openai`` ``client``, say) are passed through to the class when its constructor takes them.
    """
    cls = backend_class(spec)
    _, model = split_spec(spec)
    declared = options_model(spec).model_fields
    extra = {name: value for name, value in options.items() if name not in declared and value is not None}
    passthrough = {name: value for name, value in extra.items() if name in inspect.signature(cls).parameters}
    checked = check_backend_options(spec, {n: v for n, v in options.items() if n not in passthrough})
    backend: Backend = cls(model, **checked, **passthrough)
    return backend
