"""The orchestration: label the candidates, render the prompt, ask the backend, parse and repair.

>>> from promptrec import Ranker, Item
>>> ranker = Ranker("llamacpp", "movies")
>>> ranking = ranker.rank([Item(id="1", title="Alien (1979)")], candidates, k=5)
>>> ranking.ids()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from promptrec.backends import Backend, Completion, GenerationParams, Message, get_backend
from promptrec.cache import CompletionCache, completion_key
from promptrec.data import Item, UserHistory
from promptrec.errors import BackendError, DataError
from promptrec.feedback import FeedbackConfig, FeedbackRecord, demote, select_examples
from promptrec.parsing import label_alphabet, parse_ranking
from promptrec.prompting import (
    PreparedRequest,
    answer_instruction,
    checked_candidates,
    fit_history,
    label_list_grammar,
    shown_order,
)
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
        feedback: where the user's feedback lives and how it enters prompts
            (:class:`~promptrec.feedback.FeedbackConfig`); ``None``: no feedback.
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
        feedback: FeedbackConfig | None = None,
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
        self.feedback_config = feedback
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
            request, second.completion, cached=call.cached and second.cached, retries=call.retries + second.retries
        )
        return again.model_copy(
            update={"report": again.report.model_copy(update={"reasks": 1}), "usage": ranking.usage + again.usage}
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

    def feedback(self, user_id: str, item: Item | str, label: str, **details: Any) -> FeedbackRecord:
        """Record a user's reaction to an item in this ranker's scenario (``liked``, ``disliked``,
        ``clicked``, ``skipped`` or ``rating`` with ``rating=``); later prompts for that user carry it."""
        if self.feedback_config is None:
            raise DataError("this ranker has no feedback store; create it with feedback=FeedbackConfig(store)")
        return self.feedback_config.store.add(user_id, self.scenario.name, item, label, **details)  # type: ignore[arg-type]

    def prepare(
        self, user: UserHistory | Sequence[Item], candidates: Sequence[Item], k: int | None = None
    ) -> PreparedRequest:
        """Label the candidates, choose feedback examples, fit the history to the context and render the
        prompt; calls no model."""
        history = user if isinstance(user, UserHistory) else UserHistory.from_items(user)
        candidates = checked_candidates(candidates)
        if k is not None and k < 1:
            raise DataError(f"k must be at least 1, got {k}", field="k")
        examples: list[dict[str, Any]] = []
        examples_cut, rejected = 0, frozenset[str]()
        config = self.feedback_config
        if config is not None:
            rejected = frozenset(config.store.negative_items(history.user_id, self.scenario.name)) & {
                c.id for c in candidates
            }
            if config.rejected == "remove" and rejected:
                candidates = checked_candidates([c for c in candidates if c.id not in rejected])
            elif config.rejected == "demote":
                candidates = demote(candidates, rejected)
            chosen = select_examples(
                config.store, history.user_id, self.scenario.name, candidates, n=config.examples,
                strategy=config.selection, cross_scenario=config.cross_scenario, token_budget=config.token_budget,
            )
            examples, examples_cut = chosen.examples, chosen.cut
        shown = shown_order(candidates, history.user_id, self.seed, self.shuffle)
        labels = label_alphabet(len(candidates))
        labelled = [(labels[i], candidates[index]) for i, index in enumerate(shown)]
        params = self._params(labels)

        def render(items: Sequence[Item]) -> list[Message]:
            return self.scenario.render(
                items, labelled, strategy=self.strategy, k=k, answer_format=answer_instruction(labels), examples=examples
            )

        messages, used = fit_history(render, history.items, self.max_history, self.backend, params.max_tokens)
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
            examples=examples,
            examples_cut=examples_cut,
            demote=rejected if config is not None and config.rejected == "demote" else frozenset(),
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
        if request.demote:  # items the user rejected go last, whatever the model said
            order = demote_indices(order, request.labelled, request.demote)
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
            feedback_examples=len(request.examples),
            feedback_cut=request.examples_cut,
            demoted=sorted(request.demote),
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
        if key is not None:
            self.cache.set(key, completion)  # type: ignore[union-attr]
        return _Call(completion, cached=False, retries=retries)

    def _params(self, labels: Sequence[str]) -> GenerationParams:
        per_label = max(len(label) for label in labels) + 4  # "[AB] > " is about this many tokens at most
        return GenerationParams(
            max_tokens=self.max_tokens or per_label * len(labels) + 16,
            temperature=self.temperature,
            seed=self.seed,
            grammar=label_list_grammar(labels) if self.constrained else None,
        )


def demote_indices(order: list[int], labelled: list[tuple[str, Item]], rejected: frozenset[str]) -> list[int]:
    """``order`` with the indices of rejected items moved to the end, each part keeping its order."""
    keep = [i for i in order if labelled[i][1].id not in rejected]
    return keep + [i for i in order if labelled[i][1].id in rejected]
