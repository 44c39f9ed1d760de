"""promptrec.modes: the mode classes, their registry, and the option rules that ask them."""

import pytest
from conftest import ScriptedBackend

from promptrec import Item, Ranker
from promptrec.backends.base import LabelScores, Usage
from promptrec.errors import OptionError
from promptrec.modes import MODE_CLASSES, GenerateMode, PointwiseMode, RankingMode, ScoreMode, get_mode
from promptrec.ranker import MODES, check_exportable, check_options
from promptrec.ranking import Ranking

ITEMS = [Item(id=f"i{n}", title=f"Film {n}") for n in range(5)]


class FlatScorer(ScriptedBackend):
    supports_scoring = True

    def score_labels(self, messages, labels, prefix="["):
        return LabelScores(logprobs={label: -1.0 - i for i, label in enumerate(labels)}, usage=Usage(), model="flat")


def test_the_registry_names_the_three_modes_and_what_each_is():
    assert MODES == ("generate", "score", "pointwise") and tuple(MODE_CLASSES) == MODES
    flags = {name: (kind.listwise, kind.scoring, kind.single_answer) for name, kind in MODE_CLASSES.items()}
    assert flags == {"generate": (True, False, True), "score": (True, True, False), "pointwise": (False, True, False)}
    assert isinstance(get_mode("score"), ScoreMode) and isinstance(get_mode("pointwise"), PointwiseMode)
    with pytest.raises(KeyError):
        get_mode("listwise")


def test_ranker_keeps_the_mode_name_and_holds_the_object():
    ranker = Ranker(FlatScorer([]), "movies", mode="score")
    assert ranker.mode == "score" and isinstance(ranker.mode_impl, ScoreMode)
    assert isinstance(Ranker(ScriptedBackend([]), "movies").mode_impl, GenerateMode)


def test_option_rules_ask_the_mode_objects():
    with pytest.raises(OptionError, match="'score' or 'pointwise'"):
        check_options(mode="generate", calibrate=True)
    with pytest.raises(OptionError, match="pointwise mode asks about each candidate alone"):
        check_options(mode="pointwise", window=4)
    check_options(mode="score", calibrate=True, permutations=3, window=4)
    check_exportable("generate")
    for mode, options in (("score", {}), ("pointwise", {}), ("generate", {"permutations": 2}), ("nope", {})):
        with pytest.raises(OptionError, match="use mode 'generate'"):
            check_exportable(mode, **options)


def test_passes_aggregate_by_mean_scores_or_borda():
    def ranking(ids, scores):
        from promptrec.ranking import ParseReport, RankedItem

        items = [RankedItem(item=Item(id=i, title=i), rank=r, label=i, score=s)
                 for r, (i, s) in enumerate(zip(ids, scores), start=1)]
        return Ranking(items=items, user_id="u", backend="b", scenario="s", strategy="sequential", mode="score",
                       raw="", report=ParseReport(format="scores"))

    passes = [ranking(["a", "b"], [-0.1, -3.0]), ranking(["b", "a"], [-0.2, -0.3])]
    assert ScoreMode().aggregate(passes) == pytest.approx({"a": -0.2, "b": -1.6})
    borda = GenerateMode().aggregate(passes)
    assert borda["a"] == borda["b"]  # one first place each


class LastFirstMode(ScoreMode):
    """A test mode: score mode's prompt, candidates ranked by the lowest label probability."""

    name = "last_first"

    def rank(self, ranker, request):
        ranking = super().rank(ranker, request)
        items = [r.model_copy(update={"rank": n}) for n, r in enumerate(reversed(ranking.items), start=1)]
        return ranking.model_copy(update={"items": items})


def test_a_new_mode_is_one_class_and_one_registry_entry(monkeypatch):
    monkeypatch.setitem(MODE_CLASSES, LastFirstMode.name, LastFirstMode)
    assert issubclass(LastFirstMode, RankingMode)
    check_options(mode="last_first", calibrate=True)
    ranker = Ranker(FlatScorer([]), "movies", mode="last_first", shuffle=False)
    ranking = ranker.rank([], ITEMS)
    score = Ranker(FlatScorer([]), "movies", mode="score", shuffle=False).rank([], ITEMS)
    assert ranking.ids() == list(reversed(score.ids())) and ranking.mode == "last_first"
    assert "Answer with the label of the one candidate" in ranking.prompt[-1]["content"]
