"""What every backend speaks: chat messages in, a :class:`Completion` out."""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from typing_extensions import TypedDict


class Message(TypedDict):
    """One chat message, in the shape both OpenAI and llama.cpp accept."""

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    """How to generate. ``grammar`` is a GBNF grammar that backends with ``supports_grammar`` enforce.

    ``ranking_labels``: the answer is to rank exactly these labels; a backend with ``supports_structured``
    holds it to a JSON schema over them (``{"ranking": [...]}``, the labels as an enum). Left out of
    :meth:`model_dump` when ``None``, so cache keys of requests without it stay what they were.
    """

    model_config = {"frozen": True}

    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    ranking_labels: tuple[str, ...] | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_ranking_labels(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("ranking_labels") is None:
            data.pop("ranking_labels", None)
        return data


class Usage(BaseModel):
    """Token counts of one or more backend calls."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Completion(BaseModel):
    """A backend's answer: the text, which model produced it, token usage and why it stopped.

    ``structured`` names the structured-output dialect the server was asked for and accepted
    (``json_schema``, ``json_object``, ``vllm``, ``ollama``), ``None`` for free text.
    """

    text: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    structured: str | None = None


class LabelScores(BaseModel):
    """What :meth:`score_labels` returns: each label's log-probability as the model's next token.

    ``logprobs`` maps every requested label to a natural-log probability (``<= 0``). A backend that only
    sees the top few tokens (an OpenAI-compatible API) gives the labels missing from that list a floor value
    and names them in ``floored``, so their order among themselves means nothing. ``usage`` counts the
    tokens of the call and ``model`` names the model that scored.
    """

    logprobs: dict[str, float]
    floored: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    model: str


@runtime_checkable
class Backend(Protocol):
    """The one method a backend implements, plus what it can tell about itself.

    ``name`` identifies backend and model (it goes into cache keys and reports). ``context_window`` is the
    model's context size in tokens when known, else ``None``. ``supports_grammar`` says whether
    ``GenerationParams.grammar`` is enforced. A backend may also set ``supports_structured = True`` (an
    optional attribute, read with ``getattr``): it then holds answers to ``GenerationParams.ranking_labels``
    with a JSON schema, as the ``openai`` backend's ``structured`` option does.

    Optional capability, discovered with :func:`supports_scoring` and never assumed: a backend may also
    implement ``score_labels(messages, labels, prefix="[") -> LabelScores``, the log-probability of each
    label (a single token) as the first token of the answer, from one forward pass (score mode, as in
    LlamaRec). ``prefix`` is text the answer is taken to start with (``"["`` because candidates are shown as
    ``[A]``). Such a backend sets ``supports_scoring = True``; it may set it to ``False`` to switch the
    capability off (for a server that returns no log-probabilities, say). It is not part of this Protocol,
    so backends without it still satisfy ``isinstance(backend, Backend)``.
    """

    name: str
    context_window: int | None
    supports_grammar: bool

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Answer the chat ``messages``."""
        ...

    def count_tokens(self, messages: list[Message]) -> int:
        """How many prompt tokens ``messages`` take (exact where the backend can tell, else estimated)."""
        ...


class BackendOptions(BaseModel):
    """The options a backend takes, as a typed model; each backend declares its own subclass as ``Options``.

    Unknown names are refused, and options that are ``None`` mean "the backend's default". Fields marked
    ``secret`` in ``json_schema_extra`` (an API key) are left out of saved configurations and reports.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseBackend:
    """The common base of backends: every capability a backend may have, with its default.

    A backend subclasses this, sets what it supports and overrides what it implements, in the way
    simonw/llm's ``Model`` declares ``can_stream`` and friends:

    - ``supports_grammar``: ``GenerationParams.grammar`` (GBNF) is enforced;
    - ``supports_structured``: answers are held to a JSON schema over ``GenerationParams.ranking_labels``;
    - ``supports_scoring``: :meth:`score_labels` gives label log-probabilities (score and pointwise modes);
    - ``supports_concurrency``: calls from several threads may run at once (a remote API), else they take turns;
    - ``supports_request_bodies``: :meth:`request_body` builds OpenAI chat completion bodies (the Batch API).

    ``Options`` is the backend's options model (a :class:`BackendOptions`); :func:`promptrec.backends.get_backend`
    and :class:`promptrec.config.PipelineConfig` validate options with it before the backend is created.
    A backend is registered by one line in ``promptrec.backends.KINDS``, by
    :func:`promptrec.backends.register_backend`, or from another package by an entry point in the
    ``promptrec.backends`` group (``kind = "module:Class"``).
    """

    Options: ClassVar[type[BackendOptions]] = BackendOptions
    name: str = "backend"
    context_window: int | None = None
    supports_grammar: bool = False
    supports_structured: bool = False
    supports_scoring: bool = False
    supports_concurrency: bool = False
    supports_request_bodies: bool = False

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Answer the chat ``messages``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement complete()")

    def count_tokens(self, messages: list[Message]) -> int:
        """How many prompt tokens ``messages`` take; by default a tokenizer-free estimate."""
        return estimate_tokens(messages)

    def score_labels(self, messages: list[Message], labels: Sequence[str], prefix: str = "[") -> LabelScores:
        """Each label's log-probability as the first token of the answer after ``prefix`` (one forward pass)."""
        from promptrec.errors import BackendError

        raise BackendError(f"{self.name} cannot score labels (no log-probabilities)")

    def label_token_ids(self, labels: Sequence[str], prefix: str = "[") -> dict[str, int | None] | None:
        """The token id of each label right after ``prefix`` (``None`` for a label that is not one token), or
        ``None`` when the backend has no tokenizer to check with (the default)."""
        return None

    def request_body(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """The chat completion request body of a call (backends with ``supports_request_bodies``)."""
        from promptrec.errors import BackendError

        raise BackendError(f"{self.name} builds no request bodies")

    def dialect_for(self, params: GenerationParams) -> str | None:
        """The structured-output dialect a request with ``params`` asks for (``None``: free text)."""
        return None

    def reset(self) -> None:
        """Drop state kept between calls (a KV cache); by default there is none."""


def capability(backend: object, name: str) -> Any:
    """``backend``'s value of the capability ``name`` (an attribute or method of :class:`BaseBackend`), or
    the base's default for a backend that only satisfies the :class:`Backend` protocol (a default method
    comes bound to ``backend``)."""
    if hasattr(backend, name):
        return getattr(backend, name)
    default = getattr(BaseBackend, name)
    return types.MethodType(default, backend) if callable(default) else default


def supports_request_bodies(backend: object) -> bool:
    """Whether ``backend`` (or a backend class) builds request bodies for the Batch API. A :class:`BaseBackend`
    says so in ``supports_request_bodies``; a protocol-only one can when it has a callable ``request_body``."""
    if isinstance(backend, BaseBackend) or (isinstance(backend, type) and issubclass(backend, BaseBackend)):
        return bool(backend.supports_request_bodies)
    return callable(getattr(backend, "request_body", None))


def supports_scoring(backend: object) -> bool:
    """Whether ``backend`` can score labels. A :class:`BaseBackend` says so in ``supports_scoring``; a
    protocol-only backend can when it has a callable ``score_labels`` and does not set it to ``False``."""
    if isinstance(backend, BaseBackend):
        return bool(backend.supports_scoring)
    return callable(getattr(backend, "score_labels", None)) and getattr(backend, "supports_scoring", True) is not False


def estimate_tokens(messages: list[Message]) -> int:
    """A tokenizer-free estimate (about four characters a token, plus per-message overhead)."""
    return sum(len(m["content"]) // 4 + 4 for m in messages) + 3
