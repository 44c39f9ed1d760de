"""``generate``: the model writes a ranked list of labels, which is parsed and repaired, with one
label-agnostic re-ask when the answer names no candidate."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from promptrec.backends import Completion, GenerationParams, Message
from promptrec.llm.base import ModeHost, RankingMode
from promptrec.parsing import label_alphabet, parse_ranking
from promptrec.prompting import (
    PreparedRequest,
    answer_instruction,
    label_list_grammar,
    reask_text,
)
from promptrec.ranking import Ranking

logger = logging.getLogger(__name__)


class GenerateMode(RankingMode):
    """The model writes the ranked list of labels; the answer is parsed and repaired, and asked again once
    (label-agnostically) when it names no candidate."""

    name = "generate"
    scoring = False
    single_answer = True

    def labels(self, ranker: ModeHost, n: int) -> list[str]:
        return label_alphabet(n)

    def params(self, ranker: ModeHost, labels: Sequence[str]) -> GenerationParams:
        per_label = max(len(label) for label in labels) + 4  # "[AB] > " (or '"AB", ') is about this many tokens at most
        grammar = ranker.constrained and ranker.backend.supports_grammar
        return GenerationParams(
            max_tokens=ranker.max_tokens or per_label * len(labels) + 16,
            temperature=ranker.temperature,
            seed=ranker.seed,
            grammar=label_list_grammar(labels) if grammar else None,
            ranking_labels=tuple(labels) if ranker.constrained and not grammar else None,  # structured output
        )

    def instruction(self, ranker: ModeHost, labels: Sequence[str]) -> str:
        return answer_instruction(labels, ranker.scenario)

    def rank(self, ranker: ModeHost, request: PreparedRequest) -> Ranking:
        call = ranker.llm.complete(request.messages, request.params, request.labels)
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
        second = ranker.llm.complete(follow_up, request.params, request.labels)
        again = self.parse(
            ranker, request, second.value, cached=call.cached and second.cached, retries=call.retries + second.retries
        )
        return again.model_copy(
            update={"report": again.report.model_copy(update={"reasks": 1}), "usage": ranking.usage + again.usage}
        )

    def parse(
        self, ranker: ModeHost, request: PreparedRequest, completion: Completion, *, cached: bool, retries: int
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
        return ranker.ranking(
            request, order, points, raw=completion.text, report=report, usage=completion.usage,
            cached=cached, retries=retries,
        )


__all__ = ['GenerateMode']
