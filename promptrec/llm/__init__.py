"""The LLM stage: one cached, retried, counted call (:mod:`promptrec.llm.call`) and the ranking modes, one
module each, registered here.

* :class:`GenerateMode` (``generate``): the model writes a ranked list of labels, parsed and repaired;
* :class:`ScoreMode` (``score``, LlamaRec): the probability of each candidate's label as the next token;
* :class:`PointwiseMode` (``pointwise``, TALLRec): each candidate asked about alone, Yes against No.

A new mode is one module with a :class:`RankingMode` subclass, and one entry in :data:`MODE_CLASSES`.
"""

from __future__ import annotations

from promptrec.llm.base import ModeHost, RankingMode, Render
from promptrec.llm.call import Call, LLMCall
from promptrec.llm.generate import GenerateMode
from promptrec.llm.pointwise import PointwiseMode
from promptrec.llm.score import ScoreMode

#: mode name -> its class; a new mode is one class and one entry here
MODE_CLASSES: dict[str, type[RankingMode]] = {mode.name: mode for mode in (GenerateMode, ScoreMode, PointwiseMode)}


def get_mode(name: str) -> RankingMode:
    """The mode called ``name`` (see :data:`MODE_CLASSES`); a ``KeyError`` for an unknown name."""
    return MODE_CLASSES[name]()


__all__ = ["MODE_CLASSES", "Call", "GenerateMode", "LLMCall", "ModeHost", "PointwiseMode", "RankingMode", "Render",
           "ScoreMode", "get_mode"]
