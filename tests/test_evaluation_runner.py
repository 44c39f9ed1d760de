"""run_dataset: every method on every case of a dataset, the queries they are given, the fused rows."""


import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, TINYCROSS, TINYLENS, needs_datasets  # noqa: E402

from promptrec.evaluation.baselines import Scored  # noqa: E402
from promptrec.evaluation.cases import Query  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402


class SpyMethod:
    """Records everything a method is handed."""

    name = "spy"

    def __init__(self) -> None:
        self.received: list[object] = []

    def score(self, query):
        self.received.append(query)
        return Scored({item.id: float(i) for i, item in enumerate(query.candidates)})


@needs_datasets
def test_methods_receive_queries_only_once_each_and_never_the_truth():
    dataset = load_dataset("office", DATASETS)
    spy = SpyMethod()
    run = run_dataset(dataset, ProtocolConfig(users=40, valid_users=10), [lambda _: spy], force=True)
    assert all(type(q) is Query for q in spy.received)
    assert not any(hasattr(q, "truth") for q in spy.received)
    ids = [q.case_id for q in spy.received]
    assert sorted(ids) == sorted(c.case_id for c in run.test + run.valid)  # no retries, no skipped users


# ------------------------------------------------------------------ on the generated fixtures, always


@pytest.mark.parametrize("spec", [f"movielens:{TINYLENS}", f"crossdomain:{TINYCROSS}:books:movies"])
def test_on_the_fixtures_methods_see_each_query_once_and_never_the_truth(spec):
    spy = SpyMethod()
    run = run_dataset(load_dataset(spec), ProtocolConfig(users=12, valid_users=8, seed=1), [lambda _: spy], force=True)
    assert all(type(q) is Query for q in spy.received)
    assert sorted(q.case_id for q in spy.received) == sorted(c.case_id for c in run.test + run.valid)
    assert len(run.test) == 12 and len(run.valid) == 8
    names = [m.name for m in run.methods]
    assert names[:4] == ["random", "popularity", "co-occurrence", "bm25"] and "spy" in names
    fused = [m for m in run.methods if m.kind == "fused"]
    assert len(fused) == 2 and {m.params["fusion"] for m in fused} == {"wsum", "rrf"}
    for method in run.methods:  # every method ranks every test case, each order a permutation of the candidates
        assert set(method.orders) == {c.case_id for c in run.test}
        for case in run.test:
            assert sorted(method.orders[case.case_id]) == sorted(i.id for i in case.query.candidates)


def test_without_fusion_or_llms_only_the_baselines_run():
    run = run_dataset(load_dataset(f"movielens:{TINYLENS}"), ProtocolConfig(users=5, valid_users=0), fusion=False)
    assert all(m.kind == "baseline" for m in run.methods) and run.valid == []
    assert run.protocol["dataset"] == "tinylens"
