"""Score mode, permutation passes, calibration and sliding windows, with scripted backends."""

import math

import pytest
from conftest import ScriptedBackend

from promptrec import Item, Ranker
from promptrec.backends.base import LabelScores, Usage
from promptrec.cache import CompletionCache
from promptrec.debias import sliding_windows
from promptrec.errors import OptionError, BackendError

ITEMS = [Item(id=f"i{n}", title=f"Film {n}") for n in range(8)]
QUALITY = {item.title: 0.3 * n for n, item in enumerate(ITEMS)}  # Film 7 is best


class BiasedScorer(ScriptedBackend):
    """Scores labels by the item's quality plus a strong bias for early positions (like a real small model)."""

    supports_scoring = True

    def __init__(self, bias=2.0, context_window=None):
        super().__init__([], context_window=context_window)
        self.bias = bias
        self.score_calls = []

    def score_labels(self, messages, labels, prefix="["):
        self.score_calls.append((messages, list(labels)))
        shown = [line for line in messages[-1]["content"].splitlines() if line.startswith("[")]
        logprobs = {}
        for position, line in enumerate(shown):
            label = line[1:line.index("]")]
            title = line.split('"')[1]
            quality = 0.0 if title == "N/A" else QUALITY[title]
            logprobs[label] = quality - self.bias * position - 5.0
        return LabelScores(logprobs=logprobs, usage=Usage(input_tokens=100), model="biased")


def test_score_mode_orders_by_label_probability():
    ranker = Ranker(BiasedScorer(bias=0.0), "movies", mode="score")
    ranking = ranker.rank([ITEMS[0]], ITEMS[1:])
    assert ranking.ids() == [f"i{n}" for n in range(7, 0, -1)]
    assert ranking.mode == "score" and ranking.report.format == "scores" and ranking.report.valid == 7
    assert all(r.score <= 0 for r in ranking) and math.isclose(sum(math.exp(r.score) for r in ranking), 1.0)
    assert "Answer with the label of the one candidate" in ranking.prompt[-1]["content"]


def test_cyclic_passes_cancel_an_additive_position_bias_whatever_the_input_order():
    orders = []
    for seed in range(4):
        shuffled = sorted(ITEMS, key=lambda item: hash((seed, item.id)))
        ranker = Ranker(BiasedScorer(bias=2.0), "movies", mode="score", permutations=len(ITEMS), seed=seed)
        ranking = ranker.rank([], shuffled)
        orders.append(ranking.ids())
        assert ranking.passes == len(ITEMS) and ranking.usage.input_tokens == 100 * len(ITEMS)
    assert all(order == [f"i{n}" for n in range(7, -1, -1)] for order in orders)
    single = Ranker(BiasedScorer(bias=2.0), "movies", mode="score", seed=1).rank([], ITEMS)
    assert single.ids() != orders[0]  # one pass follows the bias, not the quality


def test_calibration_divides_out_the_label_prior():
    backend = BiasedScorer(bias=2.0)
    ranker = Ranker(backend, "movies", mode="score", calibrate=True)
    ranking = ranker.rank([], ITEMS)
    assert ranking.ids() == [f"i{n}" for n in range(7, -1, -1)]
    assert len(backend.score_calls) == 2  # the prompt and, once, the content-free prompt
    assert '"N/A"' in backend.score_calls[1][0][-1]["content"]
    ranker.rank([], list(reversed(ITEMS)))
    assert len(backend.score_calls) == 3  # the prior is reused for the same label set


def test_score_mode_is_cached(tmp_path):
    backend = BiasedScorer()
    ranker = Ranker(backend, "movies", mode="score", cache=CompletionCache(tmp_path))
    first, second = ranker.rank([], ITEMS), ranker.rank([], ITEMS)
    assert len(backend.score_calls) == 1 and second.cached and second.ids() == first.ids()


def test_generate_mode_passes_use_borda():
    answers = ["[A] > [B] > [C]", "[A] > [B] > [C]", "[A] > [B] > [C]"]
    backend = ScriptedBackend(answers)
    ranking = Ranker(backend, "movies", permutations=3, shuffle=False).rank([], ITEMS[:3])
    # each pass puts whatever is shown first at the top; over 3 cyclic shifts every item is first once
    assert len(backend.requests) == 3 and ranking.passes == 3
    assert sorted(r.score for r in ranking) == [2.0, 2.0, 2.0]
    shown_first = [next(line for line in m[-1]["content"].splitlines() if line.startswith("[A]")) for m, _ in backend.requests]
    assert len(set(shown_first)) == 3


def test_sliding_windows_bubble_the_best_to_the_front():
    assert sliding_windows(10, 4, 2) == [(6, 10), (4, 8), (2, 6), (0, 4)]
    assert sliding_windows(3, 4, 2) == [(0, 3)]
    assert sliding_windows(9, 4, 3) == [(5, 9), (2, 6), (0, 4)]
    backend = BiasedScorer(bias=0.0)
    ranking = Ranker(backend, "movies", mode="score", window=4, stride=2).rank([], ITEMS)
    assert ranking.ids()[0] == "i7" and len(ranking) == 8
    assert len(backend.score_calls) == 3 and all(len(labels) == 4 for _, labels in backend.score_calls)
    assert [r.rank for r in ranking] == list(range(1, 9))


def test_score_mode_needs_a_scoring_backend():
    with pytest.raises(BackendError, match="cannot score labels"):
        Ranker(ScriptedBackend([]), "movies", mode="score")
    with pytest.raises(OptionError, match="calibrate needs mode 'score' or 'pointwise'"):
        Ranker(ScriptedBackend([]), "movies", calibrate=True)
    with pytest.raises(BackendError, match="cannot score labels"):
        Ranker(ScriptedBackend([]), "movies", mode="pointwise")
    with pytest.raises(ValueError, match="do not apply"):
        Ranker(BiasedScorer(), "movies", mode="pointwise", permutations=2)


class YesNoScorer(ScriptedBackend):
    """Answers "Yes" with a log-odds of the one candidate's quality minus a constant leaning to "Yes"."""

    supports_scoring = True

    def __init__(self, lean=1.5):
        super().__init__([])
        self.lean = lean
        self.score_calls = []

    def score_labels(self, messages, labels, prefix="["):
        self.score_calls.append((messages, list(labels), prefix))
        title = messages[-1]["content"].split("not watched yet: ")[1].split('"')[1]
        odds = self.lean + (0.0 if title == "N/A" else QUALITY[title])
        yes = -math.log1p(math.exp(-odds))
        return LabelScores(logprobs={"Yes": yes, "No": yes - odds}, usage=Usage(input_tokens=50), model="yes-no")


def test_pointwise_mode_asks_about_each_candidate_alone_and_orders_by_log_odds():
    backend = YesNoScorer()
    ranking = Ranker(backend, "movies", mode="pointwise").rank([ITEMS[0]], ITEMS[1:])
    assert ranking.ids() == [f"i{n}" for n in range(7, 0, -1)] and ranking.mode == "pointwise"
    assert [r.score for r in ranking] == pytest.approx([1.5 + QUALITY[r.item.title] for r in ranking])
    assert len(backend.score_calls) == 7 and ranking.usage.input_tokens == 7 * 50
    for messages, labels, prefix in backend.score_calls:
        user = messages[-1]["content"]
        assert (labels, prefix) == (["Yes", "No"], "") and user.count('"Film') == 2  # history + the one candidate
        assert user.endswith("Answer with Yes or No only.") and '"Film 0"' in user


def test_pointwise_calibration_removes_the_lean_towards_yes():
    backend = YesNoScorer(lean=1.5)
    ranking = Ranker(backend, "movies", mode="pointwise", calibrate=True).rank([], ITEMS)
    assert [r.score for r in ranking] == pytest.approx([QUALITY[r.item.title] for r in ranking])
    assert sum('"N/A"' in call[0][-1]["content"] for call in backend.score_calls) == 1
