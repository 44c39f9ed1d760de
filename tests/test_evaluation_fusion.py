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
