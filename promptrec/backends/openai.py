"""Any OpenAI-compatible chat completions API (the ``openai`` extra).

OpenAI itself, or a local server: vLLM, Ollama, llama.cpp's server, ``python -m llama_cpp.server``. The key
comes from the ``api_key`` option or ``OPENAI_API_KEY``; a server given by ``base_url`` (or
``OPENAI_BASE_URL``) needs no real key. In generate mode the answer can be held to a JSON schema over the
candidate labels (structured output, the ``structured`` option), in the dialect the server speaks.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Sequence
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

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
from promptrec.backends.transport import (
    MAX_ANSWER_BYTES,
    AnswerTooLarge,
    call_limits,
    http_client,
    limit_cause,
    openai_httpx,
)
from promptrec.errors import BackendError, MissingDependencyError
from promptrec.safe_output import redact_text, register_secret, register_url

logger = logging.getLogger(__name__)

_PLACEHOLDER_KEY = "sk-no-key-required"

#: the most alternatives the OpenAI API returns per token
TOP_LOGPROBS = 20
#: answer tokens score mode asks for: the label, or the prefix ("[") and then the label
SCORE_TOKENS = 2

Structured = Literal["auto", "json_schema", "json_object", "vllm", "ollama", "off"]
#: the values of the ``structured`` option
STRUCTURED: tuple[str, ...] = get_args(Structured)
#: what ``structured="auto"`` tries, in this order, until the server accepts one (``None``: free text)
AUTO_DIALECTS: tuple[str | None, ...] = ("json_schema", "json_object", None)
#: the name of the JSON schema in the request (OpenAI requires one)
SCHEMA_NAME = "ranking"
#: body fields the openai SDK has no parameter for; they travel in ``extra_body``
_EXTRA_BODY = ("structured_outputs",)
#: HTTP statuses with which a server rejects a request it does not understand (llama_cpp.server answers
#: 500 to ``json_schema``); 401/403 (the key) and 408/409/425/429 (transient) are not rejections
_REJECTED = frozenset({400, 404, 405, 415, 422, 500, 501})
#: words with which such an error blames the structured-output fields (any other error is not a rejection
#: of them: it is raised, and retried if transient, as without structured output)
_BLAMES_STRUCTURED = re.compile(r"response_format|json_schema|json_object|schema|structured|guided|\bformat\b", re.IGNORECASE)


def ranking_schema(labels: Sequence[str], *, unique: bool = True) -> dict[str, Any]:
    """The JSON schema of a ranking of ``labels``: ``{"ranking": [...]}`` with exactly ``len(labels)``
    items, each one of the labels, and (``unique``) no label twice, so a server that enforces all of it
    allows only permutations. ``uniqueItems`` is left out for OpenAI's strict mode (not in its documented subset);
    grammar-based servers (llama.cpp, Ollama) ignore it, so their answers can still repeat a label, which the
    parser repairs. ``prefixItems`` would not help: it cannot say "each label once" either.
    """
    labels = list(labels)
    ranking: dict[str, Any] = {
        "type": "array",
        "items": {"type": "string", "enum": labels},
        "minItems": len(labels),
        "maxItems": len(labels),
    }
    if unique:
        ranking["uniqueItems"] = True
    return {
        "type": "object",
        "properties": {"ranking": ranking},
        "required": ["ranking"],
        "additionalProperties": False,
    }


def structured_fields(dialect: str, labels: Sequence[str]) -> dict[str, Any]:
    """The request body fields that ask for a ranking of ``labels`` in ``dialect``."""
    if dialect == "json_schema":  # OpenAI's strict structured outputs (also vLLM, Ollama, llama.cpp's llama-server)
        schema = {"name": SCHEMA_NAME, "strict": True, "schema": ranking_schema(labels, unique=False)}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    if dialect == "json_object":  # python -m llama_cpp.server (and Anyscale-style JSON mode with a schema)
        return {"response_format": {"type": "json_object", "schema": ranking_schema(labels)}}
    if dialect == "vllm":  # vLLM's own field (v0.12 and later; guided_json before)
        return {"structured_outputs": {"json": ranking_schema(labels)}}
    if dialect == "ollama":  # Ollama's /v1 endpoint hands json_schema.schema to its native `format`
        return {"response_format": {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": ranking_schema(labels)}}}
    raise BackendError(f"unknown structured-output dialect '{dialect}'; choose one of: {', '.join(STRUCTURED)}")


class OpenAIOptions(BackendOptions):
    """The options of the ``openai`` backend (the arguments of :class:`OpenAIBackend`, but ``client``)."""

    base_url: str | None = Field(None, description="the API's base URL, e.g. http://127.0.0.1:8000/v1")
    api_key: str | None = Field(None, description="the key [default: $OPENAI_API_KEY]", json_schema_extra={"secret": True})
    timeout: float = Field(120.0, gt=0, allow_inf_nan=False, description="seconds one call may take in all (a server that drip-feeds its answer is cut off)")
    max_answer_bytes: int = Field(MAX_ANSWER_BYTES, ge=1024, description="the largest answer read, in bytes")
    context_window: int | None = Field(None, ge=16, description="the model's context size, to fit prompts to it")
    structured: str = Field("auto", description="structured-output dialect: " + ", ".join(STRUCTURED))

    @field_validator("structured")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if value not in STRUCTURED:
            raise ValueError(_unknown_dialect(value))
        return value


def _unknown_dialect(value: str) -> str:
    return f"unknown structured-output option '{value}' for the openai backend; choose one of: {', '.join(STRUCTURED)}"


class OpenAIBackend(BaseBackend):
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: the model name the server expects (``gpt-4o-mini``, a vLLM model id, an Ollama tag...).
        base_url: the API's base URL, e.g. ``http://127.0.0.1:8000/v1``; default: OpenAI's.
        api_key: the key; default ``OPENAI_API_KEY``. Never logged, never part of a cache key.
        timeout: seconds one call may take in all, connecting and reading included: a server that sends its
            answer a byte at a time is cut off then (a timeout, retried like any other).
        max_answer_bytes: the largest answer read; a larger one is a :class:`BackendError` (not retried).
        context_window: the model's context size in tokens, if you want prompts fitted to it.
        client: an ``openai.OpenAI`` client to use instead of building one (for tests and custom set-ups).
        structured: how a generate-mode answer is held to the candidate labels (structured output): a JSON
            object ``{"ranking": [...]}`` whose items are the labels (an enum), exactly one item per candidate
            and, where the dialect allows it, each label once (``uniqueItems``). The dialects:

            - ``json_schema``: OpenAI's strict ``response_format={"type": "json_schema", ...}`` (also
              understood by vLLM, Ollama 0.5+ and llama.cpp's ``llama-server``); without ``uniqueItems``,
              which is not in the subset of JSON Schema that OpenAI documents for strict mode.
            - ``json_object``: ``response_format={"type": "json_object", "schema": ...}``, what
              ``python -m llama_cpp.server`` honours (it answers 500 to ``json_schema``).
            - ``vllm``: vLLM's ``structured_outputs={"json": ...}`` (vLLM 0.12+).
            - ``ollama``: ``json_schema`` without ``strict``, which Ollama's ``/v1`` endpoint passes to its
              native ``format``.
            - ``auto`` (the default): ``json_schema``, then ``json_object``, then free text: the first the
              server accepts is kept for later requests. A server rejects a dialect when it answers HTTP
              400, 404, 405, 415, 422, 500 or 501 with a message about it (``response_format``, ``schema``,
              ...); that costs one extra request, once. Any other error is raised (and retried when
              transient) as without structured output.
            - ``off``: free text, read by the parser.

            A dialect named explicitly that the server rejects is a :class:`BackendError` at once (not
            retried). Which one was used is in ``Completion.structured``. Score mode is not affected.
    """

    Options = OpenAIOptions
    supports_grammar = False
    supports_concurrency = True
    supports_scoring = True
    supports_request_bodies = True
    supports_structured = True  # unless structured="off"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        context_window: int | None = None,
        client: Any = None,
        structured: Structured = "auto",
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ):
        if not model:
            raise BackendError("the openai backend needs a model name, as in 'openai:gpt-4o-mini'")
        if structured not in STRUCTURED:
            raise BackendError(_unknown_dialect(structured))
        self.structured: Structured = structured
        #: whether generate mode asks this backend for structured output (the Ranker reads it)
        self.supports_structured = structured != "off"
        self._auto_start = 0  # with structured="auto": where in AUTO_DIALECTS to start (the last accepted)
        self._auto_lock = threading.Lock()
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.context_window = context_window
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self._httpx: Any = None  # the httpx module of the client made here (none for a client given)
        register_url(self.base_url)  # user:pass@ in the URL is redacted wherever promptrec writes
        register_secret(api_key)
        register_secret(os.environ.get("OPENAI_API_KEY"))
        # the name goes into reports, results and logs: never with the URL's credentials
        self.name = f"openai:{model}" + (f"@{redact_text(self.base_url)}" if self.base_url else "")
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
            self._httpx = openai_httpx()
            client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0,
                                   http_client=http_client(timeout, self._httpx))
        self._client = client

    def count_tokens(self, messages: list[Message]) -> int:
        """An estimate: the server's tokenizer is not known here."""
        return estimate_tokens(messages)

    def request_body(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """The chat completions request body for ``messages`` (also what the Batch API export writes): with
        ``params.ranking_labels``, in the structured-output dialect this backend uses now."""
        return self._body(messages, params, self.dialect_for(params))

    def dialect_for(self, params: GenerationParams) -> str | None:
        """The structured-output dialect :meth:`request_body` asks for with ``params`` (``None``: free text)."""
        return self._dialects(params)[0]

    def _body(self, messages: list[Message], params: GenerationParams, dialect: str | None) -> dict[str, Any]:
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
        if dialect is not None and params.ranking_labels:
            body.update(structured_fields(dialect, params.ranking_labels))
        return body

    def _dialects(self, params: GenerationParams) -> tuple[str | None, ...]:
        """The dialects to try for ``params``, in order (``None``: free text)."""
        if not params.ranking_labels or self.structured == "off":
            return (None,)
        if self.structured == "auto":
            return AUTO_DIALECTS[self._auto_start :]
        return (self.structured,)

    def score_request_body(self, messages: list[Message]) -> dict[str, Any]:
        """The request of :meth:`score_labels`: two greedy tokens, each with its top alternatives' log-probabilities."""
        body = self.request_body(messages, GenerationParams(max_tokens=SCORE_TOKENS, temperature=0.0))
        body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        return body

    def _send(self, request: dict[str, Any]) -> Any:
        request = dict(request)
        extra = {key: request.pop(key) for key in _EXTRA_BODY if key in request}
        if extra:
            request["extra_body"] = extra
        try:
            with call_limits(self.timeout, self.max_answer_bytes, self._httpx):
                response = self._client.chat.completions.create(**request)
        except Exception as exc:
            limit = limit_cause(exc)
            if isinstance(limit, AnswerTooLarge):  # not retried: the same request would get the same answer
                raise BackendError(f"{self.name}: {limit}; raise max_answer_bytes (-O max_answer_bytes=N) "
                                   "if that is expected") from None
            if limit is not None:
                raise BackendError(f"{self.name}: {limit} (-O timeout=SECONDS)") from exc
            # a server may echo the key back (an Authorization header in an error body)
            raise BackendError(redact_text(f"{self.name}: {_describe(exc)}")) from exc
        if not getattr(response, "choices", None):
            raise BackendError(f"{self.name}: the server answered with no choices")
        return response

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """Send one chat completion request; with ``params.ranking_labels``, ask for structured output as
        the ``structured`` option says (falling back to the next dialect where the server rejects one)."""
        dialects = self._dialects(params)
        rejected = ""
        for position, dialect in enumerate(dialects):
            try:
                response = self._send(self._body(messages, params, dialect))
            except BackendError as error:
                if dialect is None:
                    raise
                cause = error.__cause__
                if getattr(cause, "status_code", None) not in _REJECTED or not _BLAMES_STRUCTURED.search(str(cause)):
                    # not about structured output: raised as it is (the retry policy reads the cause)
                    raise BackendError(f"{error} (asked for structured output '{dialect}')") from cause
                rejected = str(error)
            else:
                if self.structured == "auto" and dialect != dialects[0]:
                    with self._auto_lock:  # later requests start with what this server accepted
                        self._auto_start = max(self._auto_start, AUTO_DIALECTS.index(dialect))
                    logger.info("%s: using structured output %s", self.name, dialect or "off (free text)")
                return self._completion(response, dialect)
            if self.structured != "auto":
                break
            logger.info("%s rejected structured output %s; trying %s", self.name, dialect, dialects[position + 1] or "free text")
        # raised outside the except block, so the retry policy does not see the rejection as a transient 5xx
        raise BackendError(
            f"{rejected}\nThe server rejected structured output '{self.structured}'. Choose another dialect "
            f"(structured: {', '.join(STRUCTURED)}; 'auto' tries json_schema, json_object, then free text) "
            "or 'off'."
        )

    def _completion(self, response: Any, dialect: str | None) -> Completion:
        choice = response.choices[0]
        return Completion(
            text=(choice.message.content if choice.message else None) or "",
            model=getattr(response, "model", None) or self.model,
            usage=_usage(response),
            finish_reason=choice.finish_reason,
            structured=dialect,
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
    top = {entry.token: _logprob(entry.logprob) for entry in (getattr(position, "top_logprobs", None) or [])}
    if getattr(position, "token", None) is not None and getattr(position, "logprob", None) is not None:
        top.setdefault(position.token, _logprob(position.logprob))
    # NaN (or a positive "log-probability") is no probability: such an entry is left out, as if not returned
    return {token: value for token, value in top.items() if value is not None}


def _logprob(value: Any) -> float | None:
    """A log-probability from a server: a number <= 0 (-inf allowed: probability 0), else ``None``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number <= 0 else None  # NaN fails the comparison too


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name} (HTTP {status}): {exc}" if status else f"{name}: {exc}"
