"""The honesty rules: the held-out item steers nothing but the metric (on real data, small samples)."""

import dataclasses
from collections import Counter

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, ScriptedBackend  # noqa: E402

from promptrec import Item  # noqa: E402
from promptrec.evaluation.baselines import Scored  # noqa: E402
from promptrec.evaluation.cases import Case, EvalDataset, Query, Split, UserRecord  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.llm import LLMMethod  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig, build_cases, draw_negatives  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402
from promptrec.ranker import Ranker  # noqa: E402

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}")


@pytest.mark.parametrize("name", ["movielens", "games", "office", "books-movies"])
def test_negatives_never_include_history_known_items_or_the_truth(name):
    dataset = load_dataset(name, DATASETS)
    config = ProtocolConfig(users=150, valid_users=30, seed=3)
    test, valid = build_cases(dataset, config)
    records = {(split, r.user_id): r for split in ("test", "valid") for r in dataset.split(split).records}
    for case in test + valid:
        record = records[(case.split, case.query.user_id)]
        ids = [item.id for item in case.query.candidates]
        negatives = [i for i in ids if i != case.truth]
        assert len(ids) == len(set(ids)) == 20 and ids.count(case.truth) == 1
        assert not set(negatives) & (set(record.history) | record.known | {record.truth})
        assert [item.id for item in case.query.history] == list(record.history[-config.history :])
        assert set(negatives) <= set(dataset.pool)
    assert not {c.query.user_id for c in test} & {c.query.user_id for c in valid}


def test_games_negatives_are_the_first_fixed_ones_that_are_allowed():
    dataset = load_dataset("games", DATASETS)
    record = next(r for r in dataset.test.records if set(r.fixed_negatives[:19]) & set(r.history))
    negatives = draw_negatives(record, dataset.pool, 19, seed=0, label="x")
    allowed = [i for i in record.fixed_negatives if i not in set(record.history) | {record.truth}]
    assert negatives == allowed[:19]


def test_truth_position_is_uniform():
    dataset = load_dataset("games", DATASETS)
    test, _ = build_cases(dataset, ProtocolConfig(users=4000, valid_users=0, seed=11))
    positions = Counter(next(i for i, item in enumerate(c.query.candidates) if item.id == c.truth) for c in test)
    expected = len(test) / 20
    chi2 = sum((positions[i] - expected) ** 2 / expected for i in range(20))
    assert chi2 < 43.8, positions  # the 0.999 quantile of chi-square with 19 degrees of freedom


def _swap_truths(dataset: EvalDataset) -> EvalDataset:
    """The same users and histories with a different held-out item (one the user never had)."""
    used = {i for r in dataset.test.records for i in (*r.history, *r.known, r.truth)}
    spare = [i for i in dataset.items if i not in used]
    records = tuple(dataclasses.replace(r, truth=spare[n % len(spare)]) for n, r in enumerate(dataset.test.records))
    return dataclasses.replace(dataset, test=Split("test", records, dataset.test.train))


def test_user_sample_and_histories_do_not_depend_on_the_truth():
    dataset = load_dataset("movielens", DATASETS)
    config = ProtocolConfig(users=60, valid_users=0, seed=5)
    first, _ = build_cases(dataset, config)
    second, _ = build_cases(_swap_truths(dataset), config)
    assert [c.query.user_id for c in first] == [c.query.user_id for c in second]
    assert [c.query.history for c in first] == [c.query.history for c in second]
    assert [c.truth for c in first] != [c.truth for c in second]


class SpyMethod:
    """Records everything a method is handed."""

    name = "spy"

    def __init__(self) -> None:
        self.received: list[object] = []

    def score(self, query):
        self.received.append(query)
        return Scored({item.id: float(i) for i, item in enumerate(query.candidates)})


def test_methods_receive_queries_only_once_each_and_never_the_truth():
    dataset = load_dataset("office", DATASETS)
    spy = SpyMethod()
    run = run_dataset(dataset, ProtocolConfig(users=40, valid_users=10), [lambda _: spy])
    assert all(type(q) is Query for q in spy.received)
    assert not any(hasattr(q, "truth") for q in spy.received)
    ids = [q.case_id for q in spy.received]
    assert sorted(ids) == sorted(c.case_id for c in run.test + run.valid)  # no retries, no skipped users


def test_llm_adapter_prompts_are_identical_whichever_candidate_is_the_truth():
    dataset = load_dataset("movielens", DATASETS)
    (case,), _ = build_cases(dataset, ProtocolConfig(users=1, valid_users=0))
    answer = " > ".join(f"[{chr(65 + i)}]" for i in range(20))
    prompts = []
    for truth in (case.truth, case.query.candidates[0].id):
        backend = ScriptedBackend([answer])
        method = LLMMethod(Ranker(backend, "movies", max_history=20))
        other = Case(query=case.query, truth=truth)
        scored = method.score(other.query)
        prompts.append(backend.requests)
        assert sorted(scored.scores.values()) == [float(v) for v in range(1, 21)]  # Borda points
    assert prompts[0] == prompts[1] and len(prompts[0]) == 1


def test_seeds_make_runs_repeatable_and_different_seeds_differ():
    dataset = load_dataset("industrial", DATASETS)
    a = build_cases(dataset, ProtocolConfig(users=30, valid_users=5, seed=1))
    b = build_cases(dataset, ProtocolConfig(users=30, valid_users=5, seed=1))
    c = build_cases(dataset, ProtocolConfig(users=30, valid_users=5, seed=2))
    assert a == b and a != c


def test_cases_are_not_filtered_on_the_truth():
    records = tuple(UserRecord(f"u{i}", (f"h{i}",), f"t{i}") for i in range(5))
    items = {i: Item(id=i, title=i) for r in records for i in (*r.history, r.truth)}
    items.update({f"n{i}": Item(id=f"n{i}", title=f"n{i}") for i in range(30)})
    dataset = EvalDataset("toy", "llmrank", "default", items, tuple(f"n{i}" for i in range(30)),
                          Split("test", records, ()), Split("valid", (), ()))
    test, _ = build_cases(dataset, ProtocolConfig(users=None, valid_users=0, candidates=5))
    assert len(test) == 5 and all(len(c.query.candidates) == 5 for c in test)
    assert {c.truth for c in test} == {r.truth for r in records}  # truths outside the pool are kept, not dropped


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
