"""The position-bias tools: rotations, pass shifts, softmax, calibration, mean and Borda aggregation,
ordering with ties, merged parse reports and sliding windows (pure functions, checked by hand)."""

from __future__ import annotations

import math

import pytest

from promptrec.debias import (
    borda,
    calibrate,
    mean_scores,
    merge_reports,
    order_by_score,
    pass_shift,
    rotate,
    sliding_windows,
    softmax,
)
from promptrec.ranking import ParseReport


def test_rotate_shifts_left_and_wraps():
    assert rotate([0, 1, 2, 3], 1) == [1, 2, 3, 0]
    assert rotate([0, 1, 2, 3], 5) == [1, 2, 3, 0] and rotate([0, 1, 2, 3], -1) == [3, 0, 1, 2]
    assert rotate([], 3) == [] and rotate([7], 4) == [7]


def test_pass_shifts_spread_evenly_over_the_positions():
    assert [pass_shift(p, 3, 20) for p in range(3)] == [0, 6, 13]
    assert [pass_shift(p, 4, 20) for p in range(4)] == [0, 5, 10, 15]
    assert pass_shift(0, 0, 5) == 0  # no division by zero


def test_softmax_renormalises_over_the_given_keys():
    probs = softmax({"A": math.log(0.2), "B": math.log(0.6)})
    assert probs == pytest.approx({"A": 0.25, "B": 0.75})
    assert softmax({}) == {}
    assert softmax({"A": 1000.0, "B": 1000.0}) == pytest.approx({"A": 0.5, "B": 0.5})  # no overflow


def test_calibration_removes_a_prior_the_model_has_whatever_the_candidates():
    prior = {"A": math.log(0.8), "B": math.log(0.2)}
    # the model says 0.8 / 0.2 for these candidates too: exactly its prior, so no preference is left
    flat = calibrate({"A": math.log(0.8), "B": math.log(0.2)}, prior)
    assert flat["A"] == pytest.approx(flat["B"])
    # 0.5 / 0.5 against that prior: B is what the candidates make the model like
    scores = calibrate({"A": math.log(0.5), "B": math.log(0.5)}, prior)
    assert scores["B"] > scores["A"] and scores["B"] - scores["A"] == pytest.approx(math.log(4))
    assert set(calibrate({"A": 0.0, "C": 0.0}, prior)) == {"A", "C"}  # a label without a prior keeps its score


def test_mean_and_borda_aggregate_passes():
    assert mean_scores([{"x": 1.0, "y": 3.0}, {"x": 3.0, "y": 1.0}]) == {"x": 2.0, "y": 2.0}
    assert borda([["a", "b", "c"], ["b", "a", "c"]]) == {"a": 2.5, "b": 2.5, "c": 1.0}
    assert borda([["a", "b", "c"]]) == {"a": 3.0, "b": 2.0, "c": 1.0}


def test_order_by_score_keeps_the_fallback_order_on_ties_and_puts_unscored_last():
    assert order_by_score(["a", "b", "c", "d"], {"a": 1.0, "b": 2.0, "c": 1.0}) == ["b", "a", "c", "d"]
    assert order_by_score(["c", "b", "a"], {}) == ["c", "b", "a"]


def test_merged_reports_add_counts_and_keep_the_first_format():
    one = ParseReport(format="arrow", valid=3, duplicates=["A"], reasks=1, structured=None)
    two = ParseReport(format="list", valid=2, hallucinated=["Z"], missing=["B"], truncated=True, floored=2,
                      structured="json_schema")
    merged = merge_reports([one, two])
    assert (merged.format, merged.valid, merged.reasks, merged.floored) == ("arrow", 5, 1, 2)
    assert (merged.duplicates, merged.hallucinated, merged.missing) == (["A"], ["Z"], ["B"])
    assert merged.truncated and not merged.stripped_reasoning and merged.structured == "json_schema"


def test_sliding_windows_cover_every_position_back_to_front():
    for n, window, stride in ((10, 4, 2), (25, 20, 10), (7, 3, 3), (100, 20, 10)):
        spans = sliding_windows(n, window, stride)
        assert spans[-1][0] == 0 and all(end - start == window for start, end in spans)
        assert [s for s, _ in spans] == sorted((s for s, _ in spans), reverse=True)
        assert set().union(*(range(s, e) for s, e in spans)) == set(range(n))
    with pytest.raises(ValueError, match="at least 1"):
        sliding_windows(5, 0, 1)
    with pytest.raises(ValueError, match="at least 1"):
        sliding_windows(5, 2, 0)
