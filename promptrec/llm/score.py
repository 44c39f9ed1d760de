"""``score`` (LlamaRec): one forward pass gives the probability of each candidate's label as the answer's
next token."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence

from promptrec.debias import calibrate, mean_scores, softmax
from promptrec.llm.base import ModeHost, RankingMode
from promptrec.prompting import (
    PreparedRequest,
    choice_instruction,
)
from promptrec.ranking import Ranking

logger = logging.getLogger(__name__)


class ScoreMode(RankingMode):
    """LlamaRec: the candidates ordered by the probability of their label as the answer's next token;
    passes aggregate by mean log-probability."""

    name = "score"

    def instruction(self, ranker: ModeHost, labels: Sequence[str]) -> str:
        return choice_instruction(labels, ranker.scenario)

    def rank(self, ranker: ModeHost, request: PreparedRequest) -> Ranking:
        call = ranker.llm.label_scores(request.messages, request.labels, prefix=self.prefix)
        logprobs = call.value.logprobs
        if ranker.calibrate:
            logprobs = calibrate(logprobs, ranker.prior(request))
        probabilities = softmax(logprobs)  # over the candidates' labels only
        scores = [math.log(max(probabilities[label], 1e-300)) for label in request.labels]
        raw = json.dumps(call.value.logprobs, sort_keys=True)
        return self._by_score(ranker, request, scores, [call], floored=len(call.value.floored), raw=raw)

    def aggregate(self, rankings: Sequence[Ranking]) -> dict[str, float]:
        return mean_scores([{r.item.id: r.score for r in ranking.items} for ranking in rankings])


__all__ = ['ScoreMode']
