"""``pointwise`` (TALLRec): each candidate is asked about alone ("will I like it?") and scored by the
log-odds of "Yes" against "No"."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from promptrec.backends import GenerationParams, Message
from promptrec.data import Item
from promptrec.debias import calibrate
from promptrec.llm.base import ModeHost, RankingMode, Render
from promptrec.prompting import (
    YES_NO,
    PreparedRequest,
    fit_history,
    yes_no_instruction,
)
from promptrec.ranking import Ranking

logger = logging.getLogger(__name__)


class PointwiseMode(RankingMode):
    """TALLRec: each candidate asked about alone, scored by log P("Yes") - log P("No") as the answer's first
    token, one forward pass per candidate (on llama.cpp the shared system prompt and history stay cached)."""

    name = "pointwise"
    listwise = False
    task = "pointwise"
    prefix = ""

    def instruction(self, ranker: ModeHost, labels: Sequence[str]) -> str:
        return yes_no_instruction(ranker.scenario)

    def fit(
        self, ranker: ModeHost, render: Render, labelled: list[tuple[str, Item]], history: Sequence[Item],
        params: GenerationParams,
    ) -> tuple[list[Message], int, list[list[Message]]]:
        """One prompt per candidate, all with the same history: as much as fits the longest one's prompt."""
        longest = max(labelled, key=lambda pair: len(render([], [pair])[-1]["content"]))
        _, used = fit_history(lambda items: render(items, [longest]), history, ranker.max_history, ranker.backend,
                              params.max_tokens)
        shown_history = history[len(history) - used :] if used else []
        item_messages = [render(shown_history, [pair]) for pair in labelled]
        return item_messages[0], used, item_messages

    def rank(self, ranker: ModeHost, request: PreparedRequest) -> Ranking:
        calls = [ranker.llm.label_scores(messages, list(YES_NO), prefix=self.prefix) for messages in request.item_messages]
        prior = ranker.prior(request) if ranker.calibrate else None
        scores, floored = [], 0
        for call in calls:
            logprobs = call.value.logprobs if prior is None else calibrate(call.value.logprobs, prior)
            scores.append(logprobs[YES_NO[0]] - logprobs[YES_NO[1]])
            floored += bool(call.value.floored)
        raw = json.dumps(dict(zip(request.labels, scores)), sort_keys=True)
        return self._by_score(ranker, request, scores, calls, floored=floored, raw=raw)

    def prior_query(self, request: PreparedRequest) -> tuple[tuple[str, ...], list[str]]:
        return YES_NO, request.labels[:1]


__all__ = ['PointwiseMode']
