"""The orchestration: label the candidates, render the prompt, ask the backend, parse and repair.

>>> from promptrec import Ranker, Item
>>> ranker = Ranker("llamacpp", "movies")
>>> ranking = ranker.rank([Item(id="1", title="Alien (1979)")], candidates, k=5)
>>> ranking.ids()
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

from promptrec.backends import Backend, Completion, GenerationParams, Message, get_backend
from promptrec.cache import CompletionCache, completion_key
from promptrec.data import Item, UserHistory
from promptrec.errors import BackendError, ContextOverflowError, DataError
from promptrec.parsing import label_alphabet, parse_ranking
from promptrec.ranking import RankedItem, Ranking
from promptrec.retry import RetryPolicy, call_with_retries
from promptrec.scenario import STRATEGIES, Scenario, Strategy, load_scenario

logger = logging.getLogger(__name__)

_REASK = (
    "I could not find any candidate label in your answer{quote}. Reply again with only the labels of all "
    "{n} candidates, most likely first, separated by \" > \", for example: {example}"
)


@dataclass(frozen=True)
class _Call:
    completion: Completion
    cached: bool
    retries: int


def answer_instruction(labels: Sequence[str]) -> str:
    """The output contract of generate mode, as shown to the model (the parser reads exactly this)."""
    example = " > ".join(f"[{label}]" for label in list(labels[1:3]) + list(labels[:1]))
    return (
        f"Answer with the labels of all {len(labels)} candidates, most likely first, separated by \" > \", "
        f"for example: {example}. Use every label exactly once and write nothing else."
    )


def label_list_grammar(labels: Sequence[str]) -> str:
    """A GBNF grammar whose sentences are exactly ``len(labels)`` candidate labels joined by `` > ``."""
    alternatives = " | ".join(f'"[{label}]"' for label in labels)
    rest = ' " > " item' * (len(labels) - 1)
    return f"root ::= item{rest}\nitem ::= {alternatives}\n"


@dataclass(frozen=True)
class PreparedRequest:
    """Everything decided before the backend is called: the prompt, the parameters and the labelling.

    It is deterministic for a given ranker, user and candidate list, so a request exported to a batch API
    today can be finished with :meth:`Ranker.finish` when the answer comes back.
    """

    user_id: str
    messages: list[Message]
    params: GenerationParams
    labelled: list[tuple[str, Item]]
    fallback: list[int]
    history_titles: list[str]
    history_used: int
    history_dropped: int
    k: int | None

    @property
    def labels(self) -> list[str]:
        """The candidates' labels in shown order."""
        return [label for label, _ in self.labelled]


class Ranker:
    """Ranks candidates for a user by prompting an LLM (generate mode: the model writes a ranked list).

    Args:
        backend: a :class:`~promptrec.backends.Backend`, or a ``kind:model`` string for
            :func:`~promptrec.backends.get_backend` (default: the bundled local model).
        scenario: a :class:`Scenario` or the name of one (built-in or in ``prompts_dirs``).
        strategy: LLMRank's prompt strategy: ``sequential``, ``recency`` or ``in_context``.
        prompts_dirs: folders with user scenarios, searched before the built-ins.
        constrained: force a valid label list with a grammar; default: whenever the backend supports it.
        max_history: most recent history items to show; default: the scenario's ``max_history``.
        shuffle: show candidates in a seeded random order (against position bias from the input order);
            labels follow the shown order, and the input order is the fallback for candidates the answer
            leaves out.
        reask: ask once more, label-agnostically, when an answer names no candidate at all.
        seed: seed for the candidate order and for sampling.
        temperature: sampling temperature (0 = greedy).
        max_tokens: answer length limit; default: enough for the full label list.
        cache: a :class:`~promptrec.cache.CompletionCache` to answer repeated prompts from; ``None``: no cache.
        retry: how to retry transient backend failures (rate limits, timeouts, 5xx).
    """

    def __init__(
        self,
        backend: Backend | str = "llamacpp",
        scenario: Scenario | str = "default",
        *,
        strategy: Strategy = "sequential",
        prompts_dirs: Sequence[str] = (),
        constrained: bool | None = None,
        max_history: int | None = None,
        shuffle: bool = True,
        reask: bool = True,
        seed: int = 0,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        cache: CompletionCache | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}")
        self.backend: Backend = get_backend(backend) if isinstance(backend, str) else backend
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, prompts_dirs)
        self.strategy: Strategy = strategy
        if constrained and not self.backend.supports_grammar:
            raise BackendError(f"{self.backend.name} cannot constrain output with a grammar")
        self.constrained = self.backend.supports_grammar if constrained is None else constrained
        self.max_history = self.scenario.spec.max_history if max_history is None else max_history
        self.shuffle = shuffle
        self.reask = reask
        self.seed = seed
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache = cache
        self.retry = retry
        # an in-process model serves one request at a time; HTTP backends take many
        self._lock = nullcontext() if getattr(self.backend, "supports_concurrency", False) else threading.Lock()

    def rank(
        self,
        user: UserHistory | Sequence[Item],
        candidates: Sequence[Item],
        k: int | None = None,
    ) -> Ranking:
        """Rank ``candidates`` for ``user`` (a history, or its items oldest first); keep the top ``k``.

        The result is always a full, valid ranking: what the answer got wrong is repaired and reported in
        ``Ranking.report``. Transient backend failures are retried; other failures raise
        :class:`~promptrec.errors.BackendError`.
        """
        request = self.prepare(user, candidates, k)
        call = self._complete(request.messages, request)
        ranking = self.finish(request, call.completion, cached=call.cached, retries=call.retries)
        if ranking.report.usable or not self.reask:
            return ranking
        logger.info("answer named no candidate; asking once more")
        raw = call.completion.text
        quote = f' ("{raw.strip()[:80]}")' if raw.strip() else " (it was empty)"
        example = " > ".join(f"[{label}]" for label in request.labels[:3])
        follow_up: list[Message] = [
            *request.messages,
            {"role": "assistant", "content": raw},
            {"role": "user", "content": _REASK.format(quote=quote, n=len(request.labelled), example=example)},
        ]
        second = self._complete(follow_up, request)
        again = self.finish(
            request,
            second.completion,
            cached=call.cached and second.cached,
            retries=call.retries + second.retries,
        )
        return again.model_copy(
            update={
                "report": again.report.model_copy(update={"reasks": 1}),
                "usage": ranking.usage + again.usage,
            }
        )

    def rank_many(
        self,
        requests: Iterable[tuple[UserHistory | Sequence[Item], Sequence[Item], int | None]],
        *,
        workers: int = 8,
    ) -> Iterator[Ranking]:
        """Rank ``(user, candidates, k)`` requests, up to ``workers`` at a time, yielding in input order.

        The first failure is raised; ``promptrec batch`` (:mod:`promptrec.batch`) records failures instead.
        """
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            yield from pool.map(lambda request: self.rank(*request), requests)

    def prepare(
        self, user: UserHistory | Sequence[Item], candidates: Sequence[Item], k: int | None = None
    ) -> PreparedRequest:
        """Label the candidates, fit the history to the context and render the prompt; calls no model."""
        history = user if isinstance(user, UserHistory) else UserHistory.from_items(user)
        candidates = _checked_candidates(candidates)
        if k is not None and k < 1:
            raise DataError(f"k must be at least 1, got {k}", field="k")
        shown = self._shown_order(history.user_id, candidates)
        labels = label_alphabet(len(candidates))
        labelled = [(labels[i], candidates[index]) for i, index in enumerate(shown)]
        params = self._params(labels)
        messages, used = self._fit_prompt(history.items, labelled, k, params)
        return PreparedRequest(
            user_id=history.user_id,
            messages=messages,
            params=params,
            labelled=labelled,
            fallback=sorted(range(len(shown)), key=lambda i: shown[i]),
            history_titles=[item.title for item in history.items],
            history_used=used,
            history_dropped=len(history) - used,
            k=k,
        )

    def finish(
        self, request: PreparedRequest, completion: Completion, *, cached: bool = False, retries: int = 0
    ) -> Ranking:
        """Parse and repair ``completion`` (the answer to ``request``) into a :class:`Ranking`."""
        order, report = parse_ranking(
            completion.text,
            request.labels,
            [item.title for _, item in request.labelled],
            fallback=request.fallback,
            history_titles=request.history_titles,
            truncated=completion.finish_reason == "length",
        )
        if report.repaired:
            logger.debug("repaired answer %r: %s", completion.text, report)
        n = len(order)
        items = [
            RankedItem(
                item=request.labelled[index][1], rank=rank, label=request.labelled[index][0], score=float(n - rank + 1)
            )
            for rank, index in enumerate(order, start=1)
        ]
        return Ranking(
            items=items[: request.k] if request.k else items,
            user_id=request.user_id,
            raw=completion.text,
            report=report,
            usage=completion.usage,
            cached=cached,
            retries=retries,
            backend=self.backend.name,
            scenario=self.scenario.name,
            strategy=self.strategy,
            history_used=request.history_used,
            history_dropped=request.history_dropped,
            prompt=request.messages,
        )

    def _complete(self, messages: list[Message], request: PreparedRequest) -> _Call:
        """One backend call through the cache and the retry policy."""
        key = None
        if self.cache is not None:
            key = completion_key(self.backend.name, messages, request.params, mode="generate", labels=request.labels)
            hit = self.cache.get(key)
            if hit is not None:
                return _Call(hit, cached=True, retries=0)
        retries = 0

        def count(error: BaseException, delay: float) -> None:
            nonlocal retries
            retries += 1

        def call() -> Completion:
            with self._lock:
                return self.backend.complete(messages, request.params)

        completion = call_with_retries(call, self.retry, on_retry=count)
        if key is not None and self.cache is not None:
            self.cache.set(key, completion)
        return _Call(completion, cached=False, retries=retries)

    def _shown_order(self, user_id: str, candidates: Sequence[Item]) -> list[int]:
        order = list(range(len(candidates)))
        if self.shuffle:
            key = "\x1f".join([str(self.seed), user_id, *(item.id for item in candidates)])
            random.Random(key).shuffle(order)
        return order

    def _params(self, labels: Sequence[str]) -> GenerationParams:
        per_label = max(len(label) for label in labels) + 4  # "[AB] > " is about this many tokens at most
        return GenerationParams(
            max_tokens=self.max_tokens or per_label * len(labels) + 16,
            temperature=self.temperature,
            seed=self.seed,
            grammar=label_list_grammar(labels) if self.constrained else None,
        )

    def _render(self, history: Sequence[Item], labelled: list[tuple[str, Item]], k: int | None) -> list[Message]:
        return self.scenario.render(
            history,
            labelled,
            strategy=self.strategy,
            k=k,
            answer_format=answer_instruction([label for label, _ in labelled]),
        )

    def _fit_prompt(
        self, history: Sequence[Item], labelled: list[tuple[str, Item]], k: int | None, params: GenerationParams
    ) -> tuple[list[Message], int]:
        """The prompt with as many of the most recent history items as fit; and how many that is."""
        recent = list(history[-self.max_history :]) if self.max_history else []
        window = self.backend.context_window
        if window is None:
            return self._render(recent, labelled, k), len(recent)
        budget = window - params.max_tokens

        def fits(keep: int) -> tuple[bool, list[Message]]:
            messages = self._render(recent[len(recent) - keep :], labelled, k)
            return self.backend.count_tokens(messages) <= budget, messages

        ok, messages = fits(len(recent))
        if ok:
            return messages, len(recent)
        low, high = 0, len(recent) - 1  # find the largest number of recent items that fits
        ok, best = fits(0)
        if not ok:
            raise ContextOverflowError(
                f"{len(labelled)} candidates do not fit the {window}-token context of {self.backend.name} "
                f"even with no history; use fewer candidates or a larger context (n_ctx)"
            )
        kept = 0
        while low < high:
            middle = (low + high + 1) // 2
            ok, candidate = fits(middle)
            if ok:
                low, best, kept = middle, candidate, middle
            else:
                high = middle - 1
        logger.info("dropped %d oldest history items to fit the context", len(recent) - kept)
        return best, kept


def _checked_candidates(candidates: Sequence[Item]) -> list[Item]:
    candidates = list(candidates)
    if not candidates:
        raise DataError("the candidate list is empty; give at least one candidate", field="candidates")
    seen: set[str] = set()
    for item in candidates:
        if item.id in seen:
            raise DataError(f"candidate id '{item.id}' appears more than once", field="candidates")
        seen.add(item.id)
    return candidates
