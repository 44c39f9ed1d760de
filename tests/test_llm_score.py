"""score: the candidates by their label's next-token probability."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ScriptedBackend  # noqa: E402

from promptrec import Item, Ranker  # noqa: E402
from promptrec.backends.base import LabelScores  # noqa: E402
from promptrec.llm.score import ScoreMode  # noqa: E402

ITEMS = [Item(id=i, title=t) for i, t in (("a", "Alien"), ("b", "Brazil"), ("c", "Casablanca"))]


class Scorer(ScriptedBackend):
    supports_scoring = True

    def score_labels(self, messages, labels, prefix="["):
        return LabelScores(model='test', logprobs={label: -float(i) for i, label in enumerate(reversed(labels))})


def test_the_most_probable_label_ranks_first_and_passes_average():
    ranking = Ranker(Scorer([]), "movies", mode="score", shuffle=False).rank([], ITEMS)
    assert ranking.ids() == ["c", "b", "a"] and ranking.report.format == "scores"
    assert ScoreMode().aggregate([ranking, ranking])["c"] == ranking.items[0].score
