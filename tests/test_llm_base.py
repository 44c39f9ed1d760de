"""The modes' base: defaults, and the ranker as the mode's host."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ScriptedBackend  # noqa: E402

from promptrec import Item, Ranker  # noqa: E402
from promptrec.llm.base import ModeHost, RankingMode  # noqa: E402
from promptrec.llm.call import LLMCall  # noqa: E402


def test_the_ranker_offers_every_member_a_mode_reads():
    ranker = Ranker(ScriptedBackend([]), "movies")
    members = [name for name in ModeHost.__annotations__] + ["prior", "ranking"]
    assert all(hasattr(ranker, name) for name in members), [n for n in members if not hasattr(ranker, n)]
    assert isinstance(ranker.llm, LLMCall) and ranker.llm.backend is ranker.backend


def test_the_default_aggregation_is_borda_and_the_prior_asks_every_label():
    class Minimal(RankingMode):
        name = "minimal"

    rankings = [Ranker(ScriptedBackend(["[B] > [A]"]), "movies", shuffle=False).rank(
        [], [Item(id="a", title="A"), Item(id="b", title="B")])]
    assert Minimal().aggregate(rankings) == {"b": 2.0, "a": 1.0}
