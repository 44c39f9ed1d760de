"""Each row against the best baseline, paired by user, and the marker beyond two paired standard errors."""

import math

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.evaluation.compare import MARKER, Paired, best_baseline, versus_best  # noqa: E402


def test_the_best_baseline_is_the_highest_mean_and_rows_are_paired_by_user():
    values = {
        "random": {"u1": 0.1, "u2": 0.0, "u3": 0.2, "u4": 0.1},
        "popularity": {"u1": 0.3, "u2": 0.2, "u3": 0.4, "u4": 0.3},
        "llm": {"u1": 0.5, "u2": 0.4, "u3": 0.6, "u4": 0.6},  # better for every user: far beyond 2 s.e.
        "noisy": {"u1": 0.9, "u2": 0.0, "u3": 0.4, "u4": 0.5},  # better on average, not beyond 2 s.e.
        "subset": {"u1": 0.4, "u3": 0.5},  # measured on two users: compared on those two
    }
    assert best_baseline(values, ["random", "popularity"]) == "popularity"
    paired = versus_best(values, ["random", "popularity"])
    assert "popularity" not in paired and paired["llm"].baseline == "popularity"
    assert paired["llm"].difference == pytest.approx(0.225) and paired["llm"].beats
    assert paired["llm"].text().endswith(MARKER) and paired["llm"].text().startswith("+0.2250 ± ")
    assert paired["noisy"].difference > 0 and not paired["noisy"].beats and MARKER not in paired["noisy"].text()
    assert paired["subset"].users == 2 and paired["subset"].difference == pytest.approx(0.1)
    assert paired["random"].difference < 0 and not paired["random"].beats
    assert paired["llm"].as_dict()["beats_by_2_se"] is True


def test_no_baseline_or_one_user_gives_no_marker():
    assert versus_best({"llm": {"u": 1.0}}, []) == {}
    one = Paired("popularity", 0.5, math.nan, 1)
    assert not one.beats and one.text() == "+0.5000 ± —"
    assert Paired("popularity", math.nan, math.nan, 0).text() == "—"
