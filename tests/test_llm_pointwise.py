"""pointwise: each candidate alone, scored by log P(Yes) - log P(No)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ScriptedBackend  # noqa: E402

from promptrec import Item, Ranker  # noqa: E402
from promptrec.backends.base import LabelScores  # noqa: E402
from promptrec.llm.pointwise import PointwiseMode  # noqa: E402

ITEMS = [Item(id=i, title=t) for i, t in (("a", "Alien"), ("b", "Brazil"), ("c", "Casablanca"))]


class YesForBrazil(ScriptedBackend):
    supports_scoring = True

    def score_labels(self, messages, labels, prefix="["):
        yes = "Brazil" in messages[-1]["content"]
        return LabelScores(model='test', logprobs={labels[0]: -0.1 if yes else -3.0, labels[1]: -3.0 if yes else -0.1})


def test_each_candidate_is_asked_alone_and_yes_wins():
    backend = YesForBrazil([])
    ranking = Ranker(backend, "movies", mode="pointwise", shuffle=False).rank([], ITEMS)
    assert ranking.ids()[0] == "b" and ranking.items[0].score > 0 > ranking.items[-1].score
    assert not PointwiseMode.listwise and PointwiseMode.task == "pointwise"
