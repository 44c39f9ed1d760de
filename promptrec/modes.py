"""Ranking modes: how a :class:`~promptrec.ranker.Ranker` asks the model and turns the answer into a ranking.

Each mode is one class on :class:`RankingMode` and one entry in :data:`MODE_CLASSES`:

* :class:`GenerateMode` (``generate``): the model writes a ranked list of labels, which is parsed and
  repaired, with one label-agnostic re-ask when the answer names no candidate;
* :class:`ScoreMode` (``score``, LlamaRec): one forward pass gives the probability of each candidate's label
  as the answer's next token;
* :class:`PointwiseMode` (``pointwise``, TALLRec): each candidate is asked about alone ("will I like it?")
  and scored by the log-odds of "Yes" against "No".

A mode knows its labels, its generation parameters, its prompt (the answer instruction and the task the
templates see), how one prompt's answer becomes a ranking, how several passes aggregate, and what it is:
``listwise`` (one prompt shows every candidate, so permutations and windows apply), ``scoring`` (it reads
log-probabilities, so the backend needs ``score_labels`` and ``calibrate`` applies) and ``single_answer``
(one generated answer per request, the only kind a Batch API file can hold). The :class:`Ranker` keeps
validation, feedback, passes and windows and the cached, retried backend calls; modes use those through it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from promptrec.backends import Completion, GenerationParams, Message
from promptrec.backends.base import LabelScores
from promptrec.data import Item
from promptrec.debias import borda, calibrate, mean_scores, softmax
from promptrec.parsing import label_alphabet, parse_ranking
from promptrec.prompting import (
    YES_NO,
    PreparedRequest,
    answer_instruction,
    choice_instruction,
    fit_history,
    label_list_grammar,
    reask_text,
    yes_no_instruction,
)
from promptrec.ranking import ParseReport, Ranking
from promptrec.scenario import Task
from promptrec.scoring import single_token_labels

if TYPE_CHECKING:
    from promptrec.ranker import Ranker, _Call

logger = logging.getLogger(__name__)

Render = Callable[[Sequence[Item], Sequence[tuple[str, Item]]], list[Message]]


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

    def labels(self, ranker: Ranker, n: int) -> list[str]:
        """``n`` candidate labels (scoring modes: labels the backend reads as one token each, found once)."""
        if n not in ranker._labels:
            ranker._labels[n] = single_token_labels(ranker.backend, n)
        return ranker._labels[n]

    def params(self, ranker: Ranker, labels: Sequence[str]) -> GenerationParams:
        """The generation parameters (scoring modes read one token)."""
        return GenerationParams(max_tokens=1, temperature=0.0, seed=ranker.seed)

    def instruction(self, ranker: Ranker, labels: Sequence[str]) -> str:
        """The answer instruction shown to the model (``answer_format`` in the templates)."""
        raise NotImplementedError

    def render(
        self, ranker: Ranker, history: Sequence[Item], shown: Sequence[tuple[str, Item]], *, k: int | None = None,
        examples: Sequence[dict[str, Any]] = (),
    ) -> list[Message]:
        """The mode's prompt for ``history`` and the ``(label, item)`` pairs ``shown``."""
        return ranker.scenario.render(
            history, shown, strategy=ranker.strategy, k=k, answer_format=self.instruction(ranker, [label for label, _ in shown]),
            examples=examples, task=self.task,
        )

    def fit(
        self, ranker: Ranker, render: Render, labelled: list[tuple[str, Item]], history: Sequence[Item],
        params: GenerationParams,
    ) -> tuple[list[Message], int, list[list[Message]]]:
        """The prompt with as much recent history as fits, how many items that is, and the per-candidate
        prompts of a mode that asks about candidates one at a time (none here)."""
        messages, used = fit_history(lambda items: render(items, labelled), history, ranker.max_history,
                                     ranker.backend, params.max_tokens)
        return messages, used, []

    def rank(self, ranker: Ranker, request: PreparedRequest) -> Ranking:
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
        self, ranker: Ranker, request: PreparedRequest, scores: list[float], calls: list[_Call[LabelScores]], *,
        floored: int, raw: str,
    ) -> Ranking:
        """The candidates ordered by ``scores`` (ties: the fallback order), with what the calls cost."""
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], request.fallback.index(i)))
        return ranker._ranking(
            request, order, scores, raw=raw,
            report=ParseReport(format="scores", valid=len(scores) - floored, floored=floored),
            usage=sum((c.value.usage for c in calls[1:]), calls[0].value.usage),
            cached=all(c.cached for c in calls), retries=sum(c.retries for c in calls),
        )


class GenerateMode(RankingMode):
    """The model writes the ranked list of labels; the answer is parsed and repaired, and asked again once
    (label-agnostically) when it names no candidate."""

    name = "generate"
    scoring = False
    single_answer = True

    def labels(self, ranker: Ranker, n: int) -> list[str]:
        return label_alphabet(n)

    def params(self, ranker: Ranker, labels: Sequence[str]) -> GenerationParams:
        per_label = max(len(label) for label in labels) + 4  # "[AB] > " (or '"AB", ') is about this many tokens at most
        grammar = ranker.constrained and ranker.backend.supports_grammar
        return GenerationParams(
            max_tokens=ranker.max_tokens or per_label * len(labels) + 16,
            temperature=ranker.temperature,
            seed=ranker.seed,
            grammar=label_list_grammar(labels) if grammar else None,
            ranking_labels=tuple(labels) if ranker.constrained and not grammar else None,  # structured output
        )

    def instruction(self, ranker: Ranker, labels: Sequence[str]) -> str:
        return answer_instruction(labels, ranker.scenario)

    def rank(self, ranker: Ranker, request: PreparedRequest) -> Ranking:
        call = ranker._complete(request.messages, request)
        ranking = self.parse(ranker, request, call.value, cached=call.cached, retries=call.retries)
        if ranking.report.usable or not ranker.reask:
            return ranking
        logger.info("answer named no candidate; asking once more")
        raw = call.value.text
        follow_up: list[Message] = [
            *request.messages,
            {"role": "assistant", "content": raw},
            {"role": "user", "content": reask_text(raw, request.labels, ranker.scenario)},
        ]
        second = ranker._complete(follow_up, request)
        again = self.parse(
            ranker, request, second.value, cached=call.cached and second.cached, retries=call.retries + second.retries
        )
        return again.model_copy(
            update={"report": again.report.model_copy(update={"reasks": 1}), "usage": ranking.usage + again.usage}
        )

    def parse(
        self, ranker: Ranker, request: PreparedRequest, completion: Completion, *, cached: bool, retries: int
    ) -> Ranking:
        """The answer's ranking: parsed, repaired, each candidate given Borda points (``n`` for the first)."""
        order, report = parse_ranking(
            completion.text,
            request.labels,
            [item.title for _, item in request.labelled],
            fallback=request.fallback,
            history_titles=request.history_titles,
            truncated=completion.finish_reason == "length",
        )
        if completion.structured:
            report = report.model_copy(update={"structured": completion.structured})
        if report.repaired:
            logger.debug("repaired answer %r: %s", completion.text, report)
        n = len(order)
        points = [0.0] * n
        for rank, index in enumerate(order):
            points[index] = float(n - rank)
        return ranker._ranking(
            request, order, points, raw=completion.text, report=report, usage=completion.usage,
            cached=cached, retries=retries,
        )


class ScoreMode(RankingMode):
    """LlamaRec: the candidates ordered by the probability of their label as the answer's next token;
    passes aggregate by mean log-probability."""

    name = "score"

    def instruction(self, ranker: Ranker, labels: Sequence[str]) -> str:
        return choice_instruction(labels, ranker.scenario)

    def rank(self, ranker: Ranker, request: PreparedRequest) -> Ranking:
        call = ranker._label_scores(request.messages, request.labels, prefix=self.prefix)
        logprobs = call.value.logprobs
        if ranker.calibrate:
            logprobs = calibrate(logprobs, ranker._prior(request))
        probabilities = softmax(logprobs)  # over the candidates' labels only
        scores = [math.log(max(probabilities[label], 1e-300)) for label in request.labels]
        raw = json.dumps(call.value.logprobs, sort_keys=True)
        return self._by_score(ranker, request, scores, [call], floored=len(call.value.floored), raw=raw)

    def aggregate(self, rankings: Sequence[Ranking]) -> dict[str, float]:
        return mean_scores([{r.item.id: r.score for r in ranking.items} for ranking in rankings])


class PointwiseMode(RankingMode):
    """TALLRec: each candidate asked about alone, scored by log P("Yes") - log P("No") as the answer's first
    token, one forward pass per candidate (on llama.cpp the shared system prompt and history stay cached)."""

    name = "pointwise"
    listwise = False
    task = "pointwise"
    prefix = ""

    def instruction(self, ranker: Ranker, labels: Sequence[str]) -> str:
        return yes_no_instruction(ranker.scenario)

    def fit(
        self, ranker: Ranker, render: Render, labelled: list[tuple[str, Item]], history: Sequence[Item],
        params: GenerationParams,
    ) -> tuple[list[Message], int, list[list[Message]]]:
        """One prompt per candidate, all with the same history: as much as fits the longest one's prompt."""
        longest = max(labelled, key=lambda pair: len(render([], [pair])[-1]["content"]))
        _, used = fit_history(lambda items: render(items, [longest]), history, ranker.max_history, ranker.backend,
                              params.max_tokens)
        shown_history = history[len(history) - used :] if used else []
        item_messages = [render(shown_history, [pair]) for pair in labelled]
        return item_messages[0], used, item_messages

    def rank(self, ranker: Ranker, request: PreparedRequest) -> Ranking:
        calls = [ranker._label_scores(messages, list(YES_NO), prefix=self.prefix) for messages in request.item_messages]
        prior = ranker._prior(request) if ranker.calibrate else None
        scores, floored = [], 0
        for call in calls:
            logprobs = call.value.logprobs if prior is None else calibrate(call.value.logprobs, prior)
            scores.append(logprobs[YES_NO[0]] - logprobs[YES_NO[1]])
            floored += bool(call.value.floored)
        raw = json.dumps(dict(zip(request.labels, scores)), sort_keys=True)
        return self._by_score(ranker, request, scores, calls, floored=floored, raw=raw)

    def prior_query(self, request: PreparedRequest) -> tuple[tuple[str, ...], list[str]]:
        return YES_NO, request.labels[:1]


#: mode name -> its class; a new mode is one class and one entry here
MODE_CLASSES: dict[str, type[RankingMode]] = {mode.name: mode for mode in (GenerateMode, ScoreMode, PointwiseMode)}


def get_mode(name: str) -> RankingMode:
    """The mode called ``name`` (see :data:`MODE_CLASSES`); a ``KeyError`` for an unknown name."""
    return MODE_CLASSES[name]()
