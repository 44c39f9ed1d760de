"""Fusion of the LLM with a prior: the weight chosen on validation users only, the one-standard-error rule."""


import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.evaluation.fusion import choose_weight  # noqa: E402


def test_one_standard_error_rule_prefers_the_prior_on_noise():
    # weight 1 is better on average by one lucky user: within one paired s.e., so weight 0 is kept
    per_user = {0.0: [0.0, 0.0, 0.5, 0.5], 0.5: [0.0, 0.0, 0.5, 0.5], 1.0: [1.0, 0.0, 0.5, 0.5]}
    choice = choose_weight(per_user)
    assert choice.best_weight == 1.0 and choice.weight == 0.0 and choice.users == 4
    clear = {0.0: [0.0] * 6, 1.0: [1.0] * 6}
    assert choose_weight(clear).weight == 1.0
    with pytest.raises(ValueError):
        choose_weight({0.0: []})


from promptrec import Item  # noqa: E402
from promptrec.evaluation.cases import Query  # noqa: E402
from promptrec.evaluation.fusion import RRF_K, WEIGHTS, choose, fusion_order, fusion_scores, minmax  # noqa: E402


def _query():
    return Query("test:u", "u", (), tuple(Item(id=i, title=i) for i in "abc"))


def test_weight_zero_is_the_prior_weight_one_the_llm_and_rrf_adds_reciprocal_ranks():
    llm, prior = {"a": 0.0, "b": 5.0, "c": 10.0}, {"a": 3.0, "b": 2.0, "c": 1.0}
    assert fusion_scores(_query(), llm, prior, 0.0, "wsum") == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert fusion_scores(_query(), llm, prior, 1.0, "wsum") == {"a": 0.0, "b": 0.5, "c": 1.0}
    assert fusion_order(_query(), llm, prior, 0.0, "wsum") == ["a", "b", "c"]
    assert fusion_order(_query(), llm, prior, 1.0, "wsum") == ["c", "b", "a"]
    rrf = fusion_scores(_query(), llm, prior, 0.5, "rrf")
    assert rrf["b"] == pytest.approx(0.5 / (RRF_K + 2) + 0.5 / (RRF_K + 2))
    assert rrf["a"] == pytest.approx(rrf["c"])  # first for one, last for the other
    assert fusion_order(_query(), llm, prior, 0.5, "rrf") == ["a", "c", "b"]  # a ties c: the better prior rank first
    with pytest.raises(ValueError, match="unknown fusion 'max'"):
        fusion_scores(_query(), llm, prior, 0.5, "max")


def test_there_is_one_fusion_the_pipeline_s_and_the_old_name_warns():
    import pathlib
    import re

    import promptrec
    import promptrec.evaluation.fusion as fusion
    from promptrec.pipeline import fuse

    root = pathlib.Path(promptrec.__file__).parent
    defined = [p for p in root.rglob("*.py") if re.search(r"^def fuse\(", p.read_text(), re.M)]
    assert [p.relative_to(root).as_posix() for p in defined] == ["pipeline.py"]
    # and the evaluation has nothing a `grep -rn "def fuse"` could count
    assert not [p for p in (root / "evaluation").rglob("*.py") if "def fuse" in p.read_text()]
    order, _ = fuse([3.0, 2.0, 1.0], [0.0, 5.0, 10.0], 1.0)
    assert [("a", "b", "c")[j] for j in order] == fusion_order(_query(), {"a": 0.0, "b": 5.0, "c": 10.0},
                                                               {"a": 3.0, "b": 2.0, "c": 1.0}, 1.0, "wsum")
    with pytest.warns(DeprecationWarning, match="fusion_scores"):
        assert fusion.fuse is fusion_scores
    with pytest.raises(AttributeError):
        fusion.nothing_here  # noqa: B018


def test_non_finite_scores_count_as_the_lowest():
    llm, prior = {"a": float("-inf"), "b": 1.0, "c": 0.0}, {"a": 1.0, "b": float("-inf"), "c": 0.5}
    scores = fusion_scores(_query(), llm, prior, 0.5, "wsum")
    assert all(value == value for value in scores.values())  # no NaN from an infinite score
    assert fusion_order(_query(), llm, prior, 0.5, "wsum") == ["a", "b", "c"]


def test_minmax_and_the_weight_grid():
    assert minmax({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert minmax({"a": 7.0, "b": 7.0}) == {"a": 0.0, "b": 0.0}
    assert WEIGHTS[0] == 0.0 and WEIGHTS[-1] == 1.0 and len(WEIGHTS) == 11


def test_choosing_a_weight_needs_validation_cases():
    with pytest.raises(ValueError, match="needs validation cases"):
        choose([], {}, {}, "wsum", "popularity")
