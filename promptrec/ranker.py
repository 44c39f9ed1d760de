"""The orchestration: label the candidates, render the prompt, ask the backend, parse and repair.

>>> from promptrec import Ranker, Item
>>> ranker = Ranker("llamacpp", "movies")
>>> ranking = ranker.rank([Item(id="1", title="Alien (1979)")], candidates, k=5)
>>> ranking.ids()
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from promptrec.backends import Backend, Completion, GenerationParams, Message, get_backend
from promptrec.backends.base import capability, supports_scoring
from promptrec.cache import CompletionCache
from promptrec.data import Item, UserHistory, history_of
from promptrec.debias import merge_reports, order_by_score, pass_shift, rotate, sliding_windows
from promptrec.errors import BackendError, DataError, OptionError
from promptrec.feedback import FeedbackConfig, FeedbackRecord, demote, select_examples
from promptrec.llm import MODE_CLASSES, GenerateMode, LLMCall, RankingMode, get_mode
from promptrec.prompting import (  # noqa: F401  (answer_instruction and label_list_grammar: re-exported)
    PreparedRequest,
    answer_instruction,
    checked_candidates,
    label_list_grammar,
    shown_order,
)
from promptrec.ranking import RankedItem, Ranking
from promptrec.retry import RetryPolicy
from promptrec.scenario import STRATEGIES, Scenario, Strategy, load_scenario

#: a mode's name: one of :data:`MODES` (the classes are in :mod:`promptrec.llm`)
Mode = str
MODES: tuple[str, ...] = tuple(MODE_CLASSES)

logger = logging.getLogger(__name__)




@dataclass(frozen=True)
class _Resolved:
    """What :meth:`Ranker.rank` decides once per request (see :meth:`Ranker._resolve`)."""

    history: UserHistory
    candidates: list[Item]
    k: int | None
    examples: list[dict[str, Any]] = field(default_factory=list)
    examples_cut: int = 0
    demote: frozenset[str] = frozenset()


def check_options(
    *,
    strategy: str = "sequential",
    mode: str = "generate",
    calibrate: bool = False,
    permutations: int = 1,
    window: int | None = None,
    stride: int | None = None,
    max_history: int | None = None,
) -> None:
    """The rules on a ranker's options and their combinations, checked before any model is loaded (the
    CLI calls this too).

    Raises:
        OptionError: an unknown strategy or mode, a count out of range, or options that do not go together.
    """
    if strategy not in STRATEGIES:
        raise OptionError(f"unknown strategy '{strategy}'; choose one of: {', '.join(STRATEGIES)}", option="strategy")
    if mode not in MODE_CLASSES:
        raise OptionError(f"unknown mode '{mode}'; choose one of: {', '.join(MODES)}", option="mode")
    kind = MODE_CLASSES[mode]
    if calibrate and not kind.scoring:
        scoring = " or ".join(f"'{name}'" for name, other in MODE_CLASSES.items() if other.scoring)
        raise OptionError(f"calibrate needs mode {scoring} (calibration divides out the label priors that those "
                          f"modes read; {mode} mode reads none)", option="calibrate")
    if permutations < 1:
        raise OptionError(f"permutations must be at least 1, got {permutations}", option="permutations")
    if window is not None and window < 2:
        raise OptionError(f"window must be at least 2, got {window}", option="window")
    if stride is not None and stride < 1:
        raise OptionError(f"stride must be at least 1, got {stride}", option="stride")
    if max_history is not None and max_history < 0:
        raise OptionError(f"max_history must be 0 or more, got {max_history}", option="max_history")
    if not kind.listwise and (permutations > 1 or window):
        raise OptionError(f"{mode} mode asks about each candidate alone: permutations and window do not apply",
                          option="permutations" if permutations > 1 else "window")


def check_exportable(mode: str, permutations: int = 1, window: int | None = None) -> None:
    """The Batch API rule: an exported request holds exactly one generated answer.

    Raises:
        OptionError: score and pointwise modes read log-probabilities, and permutations and windows need
            several answers per request, none of which a Batch API results file can give.
    """
    kind = MODE_CLASSES.get(mode)
    if kind is None or not kind.single_answer or permutations > 1 or window:
        single = " or ".join(f"'{name}'" for name, other in MODE_CLASSES.items() if other.single_answer)
        raise OptionError(f"OpenAI Batch API files hold one generated answer per request: use mode {single} "
                          "without permutations or a window", option="mode")


class Ranker:
    """Ranks candidates for a user by prompting an LLM.

    Three modes: ``generate`` (the model writes a ranked list of labels, which is parsed and repaired),
    ``score`` (LlamaRec: one forward pass gives the probability of each candidate's label as the next token;
    needs a backend with ``score_labels``) and ``pointwise`` (TALLRec: each candidate is asked about alone,
    "will I like it?", and scored by the log-odds of "Yes" against "No"; needs ``score_labels`` too).
    ``permutations`` and ``window`` work in the listwise modes, ``calibrate`` in the scoring ones.

    Args:
        backend: a :class:`~promptrec.backends.Backend`, or a ``kind:model`` string for
            :func:`~promptrec.backends.get_backend` (default: the bundled local model).
        scenario: a :class:`Scenario` or the name of one (built-in or in ``prompts_dirs``).
        strategy: LLMRank's prompt strategy: ``sequential``, ``recency`` or ``in_context``.
        prompts_dirs: folders with user scenarios, searched before the built-ins.
        constrained: force a valid label list with a grammar, or with structured output (a JSON schema over
            the labels) on a backend with ``supports_structured``; default: whenever the backend supports either.
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
        mode: ``generate``, ``score`` or ``pointwise``.
        permutations: passes over the candidates in cyclically shifted orders (against position bias),
            aggregated by mean log-probability (score mode) or mean Borda points (generate mode).
        calibrate: score and pointwise modes: divide out each label's prior (each label position's, or
            "Yes"'s against "No"'s), estimated once from a content-free prompt (contextual calibration).
        window: rank at most this many candidates per prompt; larger sets go through rank_llm's sliding
            windows, back to front, ``stride`` apart (default: half the window).
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
        mode: Mode = "generate",
        permutations: int = 1,
        calibrate: bool = False,
        window: int | None = None,
        stride: int | None = None,
    ) -> None:
        check_options(strategy=strategy, mode=mode, calibrate=calibrate, permutations=permutations, window=window,
                      stride=stride, max_history=max_history)
        # the cheap checks first: a typo in a scenario name must not cost a model load
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, prompts_dirs)
        self.backend: Backend = get_backend(backend) if isinstance(backend, str) else backend
        self.strategy: Strategy = strategy
        can_constrain = bool(capability(self.backend, "supports_grammar") or capability(self.backend, "supports_structured"))
        if constrained and not can_constrain:
            raise BackendError(f"{self.backend.name} cannot constrain output with a grammar or a JSON schema")
        self.constrained = can_constrain if constrained is None else constrained
        self.max_history = self.scenario.spec.max_history if max_history is None else max_history
        self.shuffle = shuffle
        self.reask = reask
        self.seed = seed
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.cache = cache
        self.retry = retry
        self.feedback_config = feedback
        self.mode_impl: RankingMode = get_mode(mode)
        """the mode's object (:mod:`promptrec.llm`); :attr:`mode` is its name"""
        if self.mode_impl.scoring and not supports_scoring(self.backend):
            raise BackendError(f"{self.backend.name} cannot score labels (no log-probabilities); use mode='generate'")
        self.mode: Mode = mode
        self.permutations = permutations
        self.calibrate = calibrate
        self.window = window
        self.stride = stride or max(1, (window or 2) // 2)
        self._priors: dict[tuple[str, ...], dict[str, float]] = {}  # (mode, *labels) -> prior
        self.llm = LLMCall(self.backend, cache, retry)
        """the cached, retried, counted backend calls (:class:`promptrec.llm.LLMCall`), shared with the modes"""

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
        resolved = self._resolve(user, candidates, k)
        if self.window and len(resolved.candidates) > self.window:
            ranking = self._rank_windows(resolved)
        else:
            ranking = self._rank_passes(resolved, resolved.candidates)
        return _finalize(ranking, resolved.demote, k)

    def _rank_passes(self, resolved: _Resolved, candidates: list[Item]) -> Ranking:
        """One ranking of ``candidates`` (all of the request's, or one window's) from ``permutations`` passes
        in cyclically shifted orders."""
        n = len(candidates)
        rankings = [self._rank_once(resolved, candidates, pass_shift(p, self.permutations, n))
                    for p in range(self.permutations)]
        if len(rankings) == 1:
            return rankings[0]
        scores = self.mode_impl.aggregate(rankings)
        first = rankings[0]
        by_id = {r.item.id: r for r in first.items}
        order = order_by_score([c.id for c in candidates if c.id in by_id], scores)
        items = [by_id[item].model_copy(update={"rank": rank, "score": scores[item]})
                 for rank, item in enumerate(order, start=1)]
        return first.model_copy(update={
            "items": items,
            "report": merge_reports([r.report for r in rankings]),
            "usage": sum((r.usage for r in rankings[1:]), first.usage),
            "cached": all(r.cached for r in rankings),
            "retries": sum(r.retries for r in rankings),
            "passes": len(rankings),
        })

    def _rank_windows(self, resolved: _Resolved) -> Ranking:
        """rank_llm's sliding windows, back to front, so the best candidates bubble up to the front."""
        order = list(resolved.candidates)
        windows = []
        for start, end in sliding_windows(len(order), self.window or len(order), self.stride):
            ranking = self._rank_passes(resolved, order[start:end])
            order[start:end] = [r.item for r in ranking.items]
            windows.append(ranking)
        last = windows[-1]
        by_id = {r.item.id: r for ranking in windows for r in ranking.items}
        n = len(order)
        items = [by_id[item.id].model_copy(update={"rank": rank, "score": float(n - rank + 1)})
                 for rank, item in enumerate(order, start=1)]
        return last.model_copy(update={
            "items": items,
            "report": merge_reports([r.report for r in windows]),
            "usage": sum((r.usage for r in windows[:-1]), last.usage),
            "cached": all(r.cached for r in windows),
            "retries": sum(r.retries for r in windows),
            "passes": sum(r.passes for r in windows),
            "demoted": sorted({d for r in windows for d in r.demoted}),
        })

    def _rank_once(self, resolved: _Resolved, candidates: list[Item], shift: int) -> Ranking:
        """One prompt, one answer (or one forward pass in score mode): a full ranking, no top-k cut."""
        return self.mode_impl.rank(self, self._prepare(resolved, candidates, shift))

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
        self, user: UserHistory | Sequence[Item], candidates: Sequence[Item], k: int | None = None, *, shift: int = 0
    ) -> PreparedRequest:
        """Label the candidates, choose feedback examples, fit the history to the context and render the
        prompt; calls no model. ``shift`` rotates the shown order (for permutation passes). This is the
        prompt :meth:`rank` sends for the same request (its first pass, or its only window)."""
        resolved = self._resolve(user, candidates, k)
        return self._prepare(resolved, resolved.candidates, shift)

    def _resolve(self, user: UserHistory | Sequence[Item], candidates: Sequence[Item], k: int | None) -> _Resolved:
        """What one request decides once, for all its passes and windows: the checked candidates, ``k``, and
        the user's feedback (rejected items removed or demoted, the in-context examples), read once."""
        history = history_of(user)  # strings: a DataError saying to resolve them in a catalog
        candidates = checked_candidates(candidates)
        if k is not None and k < 1:
            raise DataError(f"k must be at least 1, got {k}", field="k")
        config = self.feedback_config
        if config is None:
            return _Resolved(history, candidates, k)
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
            prompts=self.scenario,
        )
        demoted = rejected if config.rejected == "demote" else frozenset()
        return _Resolved(history, candidates, k, chosen.examples, chosen.cut, demoted)

    def _prepare(self, resolved: _Resolved, candidates: Sequence[Item], shift: int) -> PreparedRequest:
        """The prompt for ``candidates`` (the request's, or one window of them) in the ``shift``-th order."""
        history, k, examples = resolved.history, resolved.k, resolved.examples
        shown = rotate(shown_order(candidates, history.user_id, self.seed, self.shuffle), shift)
        labels = self._labels_for(len(candidates))
        labelled = [(labels[i], candidates[index]) for i, index in enumerate(shown)]
        params = self._params(labels)

        def render(items: Sequence[Item], shown: Sequence[tuple[str, Item]]) -> list[Message]:
            return self._render(items, shown, k=k, examples=examples)

        messages, used, item_messages = self.mode_impl.fit(self, render, labelled, history.items, params)
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
            examples=list(examples),
            examples_cut=resolved.examples_cut,
            demote=resolved.demote & {item.id for item in candidates},
            item_messages=item_messages,
        )

    def _render(
        self, history: Sequence[Item], shown: Sequence[tuple[str, Item]], *, k: int | None = None,
        examples: Sequence[dict[str, Any]] = (),
    ) -> list[Message]:
        """The mode's prompt: the ranked list's (generate), the one label's (score) or Yes/No (pointwise)."""
        return self.mode_impl.render(self, history, shown, k=k, examples=examples)

    def finish(
        self, request: PreparedRequest, completion: Completion, *, cached: bool = False, retries: int = 0
    ) -> Ranking:
        """Parse and repair ``completion`` (the answer to ``request``) into a :class:`Ranking` (generate mode)."""
        ranking = _GENERATE.parse(self, request, completion, cached=cached, retries=retries)
        return _finalize(ranking, request.demote, request.k)

    def ranking(self, request: PreparedRequest, order: list[int], scores: list[float], **fields: Any) -> Ranking:
        """The :class:`Ranking` of ``request``'s candidates in ``order`` (indices into its labelled candidates), with
        ``scores`` by index and the run's fields (the modes build their results with it)."""
        items = [
            RankedItem(item=request.labelled[i][1], rank=rank, label=request.labelled[i][0], score=scores[i])
            for rank, i in enumerate(order, start=1)
        ]
        return Ranking(
            items=items,
            user_id=request.user_id,
            backend=self.backend.name,
            scenario=self.scenario.name,
            strategy=self.strategy,
            mode=self.mode,
            history_used=request.history_used,
            history_dropped=request.history_dropped,
            feedback_examples=len(request.examples),
            feedback_cut=request.examples_cut,
            demoted=sorted(request.demote),
            prompt=request.messages,
            **fields,
        )

    def prior(self, request: PreparedRequest) -> dict[str, float]:
        """The label prior: the scores of a content-free prompt (no history, every candidate titled with the
        scenario's ``content_free``, "N/A"), computed once per ranker and label set and cached like any answer."""
        labels, shown = self.mode_impl.prior_query(request)
        key = (self.mode, *labels)
        if key not in self._priors:
            blank = [(label, Item(id=f"content-free-{label}", title=self.scenario.spec.content_free)) for label in shown]
            scores = self.llm.label_scores(self._render([], blank), list(labels), prefix=self.mode_impl.prefix)
            self._priors[key] = scores.value.logprobs
        return self._priors[key]

    def _labels_for(self, n: int) -> list[str]:
        return self.mode_impl.labels(self, n)

    def _params(self, labels: Sequence[str]) -> GenerationParams:
        return self.mode_impl.params(self, labels)


_GENERATE = GenerateMode()


def _finalize(ranking: Ranking, rejected: frozenset[str], k: int | None) -> Ranking:
    """Items the user rejected moved last (whatever the model said), ranks renumbered, the top ``k`` kept."""
    items = ranking.items
    if rejected:
        items = [r for r in items if r.item.id not in rejected] + [r for r in items if r.item.id in rejected]
        items = [r.model_copy(update={"rank": rank}) for rank, r in enumerate(items, start=1)]
    return ranking.model_copy(update={"items": items[:k] if k else items})
