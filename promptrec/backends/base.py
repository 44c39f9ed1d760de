"""What every backend speaks: chat messages in, a :class:`Completion` out."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from typing_extensions import TypedDict

from pydantic import BaseModel, Field


class Message(TypedDict):
    """One chat message, in the shape both OpenAI and llama.cpp accept."""

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    """How to generate. ``grammar`` is a GBNF grammar that backends with ``supports_grammar`` enforce."""

    model_config = {"frozen": True}

    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    grammar: str | None = None


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
    """A backend's answer: the text, which model produced it, token usage and why it stopped."""

    text: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None


@runtime_checkable
class Backend(Protocol):
    """The one method a backend implements, plus what it can tell about itself.

    ``name`` identifies backend and model (it goes into cache keys and reports). ``context_window`` is the
    model's context size in tokens when known, else ``None``. ``supports_grammar`` says whether
    ``GenerationParams.grammar`` is enforced.
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


def estimate_tokens(messages: list[Message]) -> int:
    """A tokenizer-free estimate (about four characters a token, plus per-message overhead)."""
    return sum(len(m["content"]) // 4 + 4 for m in messages) + 3
