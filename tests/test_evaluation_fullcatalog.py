"""The full-catalog protocol: ranks over the whole catalog, the pool bound, the LLM on the pool, fusion."""

import math

import numpy as np
import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")


from promptrec.data import Item  # noqa: E402
from promptrec.evaluation.baselines import Scored  # noqa: E402
from promptrec.evaluation.cases import EvalDataset, Split, UserRecord  # noqa: E402
from promptrec.evaluation.fullcatalog import (  # noqa: E402
    full_section,
    metrics_of,
    pool_fuse,
    random_expected,
    run_full,
    truth_rank,
)
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402


def test_truth_rank_ties_by_position_and_removed_items():
    scores = np.array([3.0, 5.0, 3.0, 3.0, 1.0])
    removed = np.array([False, True, False, False, False])
    assert truth_rank(scores, removed, 2) == 2  # 1 (removed) does not count; 0 ties before it
    assert truth_rank(scores, removed, 0) == 1 and truth_rank(scores, removed, 4) == 4
    assert truth_rank(scores, removed, 1) == math.inf and truth_rank(scores, removed, -1) == math.inf
    assert metrics_of(1) == {"NDCG@10": 1.0, "Recall@10": 1.0, "Recall@20": 1.0, "Recall@50": 1.0}
    assert metrics_of(3)["NDCG@10"] == pytest.approx(0.5) and metrics_of(30)["Recall@20"] == 0.0
    assert metrics_of(math.inf)["Recall@50"] == 0.0
    assert random_expected(100)["Recall@10"] == pytest.approx(0.1)


def test_pool_fuse_weight_zero_is_the_retriever_and_one_is_the_llm():
    retrieval, llm = [9.0, 7.0, 7.0, 1.0], [0.0, 1.0, 5.0, 9.0]
    assert pool_fuse(retrieval, llm, 0.0) == [0, 1, 2, 3]
    assert pool_fuse(retrieval, llm, 1.0) == [3, 2, 1, 0]
    try:
        from promptrec.pipeline import fuse
    except ImportError:
        return
    for weight in (0.0, 0.3, 0.7, 1.0):  # the same fusion as the pipeline's
        assert pool_fuse(retrieval, llm, weight) == fuse(retrieval, llm, weight)[0]


class Retriever:
    """Scores items by a fixed table (the catalog order is the dataset's pool)."""

    def __init__(self, catalog, table):
        self.catalog = {i: None for i in catalog}
        self.table = table

    def scores(self, user):
        return np.array([self.table.get(i, 0.0) for i in self.catalog])


class PrefersEven:
    """An LLM stand-in that likes even item numbers; records every query it is shown."""

    name = "LLM stand-in"

    def __init__(self):
        self.queries = []

    def score(self, query):
        self.queries.append(query)
        return Scored({c.id: float(int(c.id[1:]) % 2 == 0) for c in query.candidates},
                      {"input_tokens": 100, "output_tokens": 1, "latency_s": 0.5})


def _dataset():
    items = {f"i{n}": Item(id=f"i{n}", title=f"Item {n}") for n in range(60)}
    records = [UserRecord(f"u{n}", (f"i{n}", f"i{n + 1}"), f"i{(n * 7) % 60}", frozenset()) for n in range(40)]
    train = tuple(tuple(f"i{(n + k) % 60}" for k in range(3)) for n in range(40))
    return EvalDataset("toy", "llmrank", "default", items, tuple(items), Split("test", tuple(records[:20]), train),
                       Split("valid", tuple(records[20:]), train))


def test_run_full_rows_pool_llm_and_fusion():
    dataset = _dataset()
    tables = {"popularity": {f"i{n}": float(60 - n) for n in range(60)},
              "text": {f"i{n}": float(n % 13) for n in range(60)}}
    llm = PrefersEven()
    run = run_full(dataset, ProtocolConfig(users=20, valid_users=20, history=1, seed=3),
                   retrievers=("popularity", "text"), make_retriever=lambda name, split: Retriever(dataset.pool, tables[name]),
                   llm=llm, pool_size=10, llm_users=8, llm_valid_users=12, fixed_weight=0.2)
    names = [m.name for m in run.methods]
    assert names[:3] == ["random", "popularity", "text"] and any(n.startswith("bound: oracle") for n in names)
    assert len(run.llm_test) == 8 and len(run.llm_valid) == 12 and len(llm.queries) == 20
    for query in llm.queries:  # the LLM sees the last H items and the pool, never anything else
        assert len(query.history) == 1 and len(query.candidates) == 10
        assert not {item.id for item in query.history} & {c.id for c in query.candidates}
    pool_name = run.choice["retriever"]
    by = {m.name: m for m in run.methods}
    alone = by[f"{pool_name} alone (the LLM's users)"]
    bound = next(m for m in run.methods if m.kind == "pool")
    llm_row = by["LLM stand-in reranks the pool"]
    for case in run.llm_test:  # reranking moves only ranks inside the pool; the bound is at least as good
        base = alone.ranks[case.case_id]
        if base > 10:
            assert llm_row.ranks[case.case_id] == base
        assert bound.ranks[case.case_id] <= llm_row.ranks[case.case_id]
    fused = [m for m in run.methods if m.kind == "fused"]
    assert len(fused) == 2 and set(fused[0].params["valid_curve"]) == {w / 10 for w in range(11)}
    if fused[0].params["weight"] == 0.0:
        assert fused[0].ranks == alone.ranks
    assert fused[0].costs[run.llm_test[0].case_id]["input_tokens"] == 100
    text = "\n".join(full_section(run))
    for needle in ("full catalog", "Recall@50", "validation Recall@10", "Fusion weight (chosen on 12 validation users",
                   "paired s.e.", "100 in + 1 out tokens, 0.50 s", "20 sampled of 20 (seed 3)"):
        assert needle in text


def test_profile_retriever_row_on_the_llm_users():
    pytest.importorskip("promptrec.retrieval.profile")
    from conftest import ScriptedBackend

    from promptrec.evaluation.fullcatalog import default_retrievers

    dataset = _dataset()
    backend = ScriptedBackend(["Items 7 and 8, mostly."] * 4)
    make = default_retrievers(dataset, ("bm25", "profile"), profile_backend=backend)
    run = run_full(dataset, ProtocolConfig(users=20, valid_users=20, history=2, seed=0), retrievers=("bm25", "profile"),
                   make_retriever=make, llm=PrefersEven(), pool_size=10, llm_users=4, llm_valid_users=4)
    (row,) = [m for m in run.methods if m.name.startswith("profile")]
    assert set(row.ranks) == {c.case_id for c in run.llm_test} and len(backend.requests) == 4
    assert all("Item" in messages[-1]["content"] for messages, _ in backend.requests)  # the history is in the prompt
