"""Position bias: moving the truth to each position and the NDCG curve over positions."""


import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec import Item  # noqa: E402
from promptrec.evaluation.baselines import Scored  # noqa: E402
from promptrec.evaluation.cases import Case, Query  # noqa: E402


class ShownOrder:
    """Ranks the candidates in the order shown: the most position-biased method there is."""

    name = "shown order"

    def score(self, query):
        return Scored({item.id: -float(i) for i, item in enumerate(query.candidates)})


def test_position_curve_moves_only_the_truth_and_measures_pure_position_bias():
    import math

    from promptrec.evaluation.position import force_position, position_curve, spread

    items = tuple(Item(id=f"c{i}", title=f"Candidate {i}") for i in range(20))
    cases = [Case(Query(f"u{u}", f"u{u}", (), items[u:] + items[:u]), truth=f"c{(u + 3) % 20}") for u in range(4)]
    moved = force_position(cases[1], 7)
    assert moved.query.candidates[7].id == cases[1].truth and len(moved.query.candidates) == 20
    assert [c.id for c in moved.query.candidates if c.id != moved.truth] == [
        c.id for c in cases[1].query.candidates if c.id != cases[1].truth]
    with pytest.raises(ValueError, match="position must be in 0..19"):
        force_position(cases[0], 20)
    curve = position_curve(cases, ShownOrder(), range(20))
    assert curve == pytest.approx({p: 1 / math.log2(p + 2) if p < 10 else 0.0 for p in range(20)})
    assert spread(curve) == pytest.approx(1.0)


class IgnoresPosition:
    """Scores by item id alone: the position of the truth changes nothing."""

    name = "by id"

    def score(self, query):
        return Scored({item.id: -float(item.id[1:]) for item in query.candidates})


def test_a_method_without_position_bias_has_a_flat_curve_and_no_spread():
    from promptrec.evaluation.position import position_curve, spread

    items = tuple(Item(id=f"c{i}", title=f"Candidate {i}") for i in range(10))
    cases = [Case(Query(f"u{u}", f"u{u}", (), items), truth=f"c{u}") for u in range(3)]
    seen = []
    curve = position_curve(cases, IgnoresPosition(), range(10), progress=lambda done, total: seen.append((done, total)))
    assert len(set(curve.values())) == 1 and spread(curve) == 0.0
    assert seen[-1] == (30, 30) and len(seen) == 30
