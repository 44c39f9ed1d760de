"""run_dataset: every method on every case of a dataset, the queries they are given, the fused rows."""


import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, needs_datasets  # noqa: E402

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
    run = run_dataset(dataset, ProtocolConfig(users=40, valid_users=10), [lambda _: spy])
    assert all(type(q) is Query for q in spy.received)
    assert not any(hasattr(q, "truth") for q in spy.received)
    ids = [q.case_id for q in spy.received]
    assert sorted(ids) == sorted(c.case_id for c in run.test + run.valid)  # no retries, no skipped users
