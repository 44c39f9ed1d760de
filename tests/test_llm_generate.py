"""generate: parse and repair the written list; re-ask once when it names no candidate."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ScriptedBackend  # noqa: E402

from promptrec import Item, Ranker  # noqa: E402
from promptrec.llm.generate import GenerateMode  # noqa: E402

ITEMS = [Item(id=i, title=t) for i, t in (("a", "Alien"), ("b", "Brazil"), ("c", "Casablanca"))]


def test_the_answer_order_gives_borda_points():
    ranking = Ranker(ScriptedBackend(["[C] > [A] > [B]"]), "movies", shuffle=False).rank([], ITEMS)
    assert ranking.ids() == ["c", "a", "b"] and [r.score for r in ranking.items] == [3.0, 2.0, 1.0]
    assert GenerateMode.name == "generate" and GenerateMode.single_answer and not GenerateMode.scoring


def test_an_answer_naming_no_candidate_is_asked_again_once():
    backend = ScriptedBackend(["I cannot decide.", "[B] > [A] > [C]"])
    ranking = Ranker(backend, "movies", shuffle=False).rank([], ITEMS)
    assert ranking.ids() == ["b", "a", "c"] and ranking.report.reasks == 1 and len(backend.requests) == 2
