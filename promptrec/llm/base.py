"""The base of the ranking modes, and what a mode reads from the ranker that runs it (:class:`ModeHost`).

A mode knows its labels, its generation parameters, its prompt (the answer instruction and the task the
templates see), how one prompt's answer becomes a ranking, how several passes aggregate, and what it is:
``listwise`` (one prompt shows every candidate, so permutations and windows apply), ``scoring`` (it reads
log-probabilities, so the backend needs ``score_labels`` and ``calibrate`` applies) and ``single_answer``
(one generated answer per request, the only kind a Batch API file can hold). The ranker keeps validation,
feedback, passes and windows; the cached, retried backend calls are its :class:`~promptrec.llm.call.LLMCall`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from promptrec.backends import Backend, GenerationParams, Message
from promptrec.backends.base import LabelScores
from promptrec.data import Item
from promptrec.debias import borda
from promptrec.llm.call import Call, LLMCall
from promptrec.prompting import (
    PreparedRequest,
    fit_history,
)
from promptrec.ranking import ParseReport, Ranking
from promptrec.scenario import Scenario, Strategy, Task

logger = logging.getLogger(__name__)

Render = Callable[[Sequence[Item], Sequence[tuple[str, Item]]], list[Message]]


class ModeHost(Protocol):
    """What a mode reads from the ranker that runs it (a :class:`~promptrec.ranker.Ranker`): its options, the
    scenario, the cached and retried LLM call, the calibration prior and the Ranking it builds."""

    backend: Backend
    llm: LLMCall
    scenario: Scenario
    strategy: Strategy
    seed: int
    temperature: float
    max_tokens: int | None
    max_history: int | None
    constrained: bool
    reask: bool
    calibrate: bool

    def prior(self, request: PreparedRequest) -> dict[str, float]:
        """The label prior of a content-free prompt (calibration)."""
        ...

    def ranking(self, request: PreparedRequest, order: list[int], scores: list[float], **fields: Any) -> Ranking:
        """The Ranking of ``request``'s candidates in ``order`` with ``scores``."""
        ...


class RankingMode:
    """The common base of the modes: what a mode is, and the defaults of the scoring ones.

    A subclass sets :attr:`name` and the three flags and implements :meth:`instruction` and :meth:`rank`;
    the rest has defaults. Modes hold no state: the ranker passes itself to every method.
    """

    name: ClassVar[str]
    #: one prompt shows every candidate (permutation passes and sliding windows apply)
    listwise: ClassVar[bool] = True
    #: reads log-probabilities: needs a backend with ``score_labels``; ``calibrate`` applies
    scoring: ClassVar[bool] = True
    #: one generated answer per request (what a Batch API results file can hold)
    single_answer: ClassVar[bool] = False
    #: what the templates are told the prompt asks (``task``)
    task: ClassVar[Task] = "rank"
    #: the text a scoring mode's answer is read after (part of the cache key)
    prefix: ClassVar[str] = "["

    def labels(self, ranker: ModeHost, n: int) -> list[str]:
        """``n`` candidate labels (scoring modes: labels the backend reads as one token each, found once)."""
        return ranker.llm.single_token_labels(n)

    def params(self, ranker: ModeHost, labels: Sequence[str]) -> GenerationParams:
        """The generation parameters (scoring modes read one token)."""
        return GenerationParams(max_tokens=1, temperature=0.0, seed=ranker.seed)

    def instruction(self, ranker: ModeHost, labels: Sequence[str]) -> str:
        """The answer instruction shown to the model (``answer_format`` in the templates)."""
        raise NotImplementedError

    def render(
        self, ranker: ModeHost, history: Sequence[Item], shown: Sequence[tuple[str, Item]], *, k: int | None = None,
        examples: Sequence[dict[str, Any]] = (),
    ) -> list[Message]:
        """The mode's prompt for ``history`` and the ``(label, item)`` pairs ``shown``."""
        return ranker.scenario.render(
            history, shown, strategy=ranker.strategy, k=k, answer_format=self.instruction(ranker, [label for label, _ in shown]),
            examples=examples, task=self.task,
        )

    def fit(
        self, ranker: ModeHost, render: Render, labelled: list[tuple[str, Item]], history: Sequence[Item],
        params: GenerationParams,
    ) -> tuple[list[Message], int, list[list[Message]]]:
        """The prompt with as much recent history as fits, how many items that is, and the per-candidate
        prompts of a mode that asks about candidates one at a time (none here)."""
        messages, used = fit_history(lambda items: render(items, labelled), history, ranker.max_history,
                                     ranker.backend, params.max_tokens)
        return messages, used, []

    def rank(self, ranker: ModeHost, request: PreparedRequest) -> Ranking:
        """Ask the backend about ``request`` and turn the answer into a full ranking (no top-k cut)."""
        raise NotImplementedError

    def aggregate(self, rankings: Sequence[Ranking]) -> dict[str, float]:
        """One score per candidate id from several passes' rankings (default: mean Borda points)."""
        return borda([ranking.ids() for ranking in rankings])

    def prior_query(self, request: PreparedRequest) -> tuple[tuple[str, ...], list[str]]:
        """Calibration: the labels whose prior is estimated, and the labels of the content-free candidates
        shown in the prompt that estimates it (default: every candidate's)."""
        return tuple(request.labels), list(request.labels)

    def _by_score(
        self, ranker: ModeHost, request: PreparedRequest, scores: list[float], calls: list[Call[LabelScores]], *,
        floored: int, raw: str,
    ) -> Ranking:
        """The candidates ordered by ``scores`` (ties: the fallback order), with what the calls cost."""
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], request.fallback.index(i)))
        return ranker.ranking(
            request, order, scores, raw=raw,
            report=ParseReport(format="scores", valid=len(scores) - floored, floored=floored),
            usage=sum((c.value.usage for c in calls[1:]), calls[0].value.usage),
            cached=all(c.cached for c in calls), retries=sum(c.retries for c in calls),
        )


__all__ = ["ModeHost", "RankingMode", "Render"]
