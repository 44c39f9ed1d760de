"""The full-catalog protocol drives the shipped pipeline: ranks over the whole catalog, the pool bound, the
LLM on the pool, the pipeline's own fusion; every saved ranking is what the pipeline returns."""

import math

import numpy as np
import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import REVERSED, TINYCROSS, TINYLENS, ScriptedBackend  # noqa: E402

from promptrec.errors import OptionError  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.fullcatalog import (  # noqa: E402
    metrics_of,
    random_expected,
    rank_after_rerank,
    run_full,
    truth_rank,
)
from promptrec.evaluation.fullreport import full_section  # noqa: E402
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
    assert rank_after_rerank(["a", "b", "c"], "c", 7.0) == 3.0 and rank_after_rerank(["a"], "z", 7.0) == 7.0


def _llm(answers: int):
    from promptrec.config import PipelineConfig
    from promptrec.evaluation.llm import config_llm_factory

    backend = ScriptedBackend([REVERSED] * answers)
    config = PipelineConfig.from_dict({"ranker": {"max_history": 3}, "cache": {"enabled": False},
                                       "feedback": {"enabled": False}})
    return backend, config, config_llm_factory(config, backend=backend, name="LLM stand-in")


def test_every_ranking_is_the_shipped_pipeline_s_and_agrees_with_the_truth_rank(tmp_path):
    from promptrec.config import PipelineConfig
    from promptrec.data import Catalog, read_catalog, read_histories

    dataset = load_dataset(f"movielens:{TINYLENS}")
    run = run_full(dataset, ProtocolConfig(users=12, valid_users=8, seed=3), retrievers=("popularity", "bm25"),
                   pool_size=20, folder=tmp_path)
    names = [m.name for m in run.methods]
    assert names[:3] == ["random", "popularity", "bm25"] and any(n.startswith("bound: oracle") for n in names)
    catalog = read_catalog(run.files.catalog_path)
    assert list(catalog) == list(dataset.pool) and isinstance(catalog, Catalog)
    histories = read_histories(run.files.histories["test"], catalog)
    assert list(histories) == [c.user_id for c in run.test]
    shipped = PipelineConfig.load(tmp_path / "config.toml")
    assert shipped.retrieval.retriever == run.choice["retriever"] and shipped.retrieval.llm_weight == 0.0
    for row in run.methods[1:3]:  # a recommender made afresh from the written files ranks the same
        fresh = shipped.updated({"retrieval": {"retriever": row.name}}).make_recommender(catalog)
        for case in run.test:
            ranked = row.rankings[case.case_id]
            assert fresh.recommend(histories[case.user_id], 20, explain=False).ids() == ranked
            rank = row.ranks[case.case_id]
            assert (ranked[int(rank) - 1] == case.truth) if rank <= 20 else case.truth not in ranked
            assert not {item.id for item in case.history} & set(ranked)


def test_the_llm_reranks_the_pool_and_the_pipeline_fuses_at_the_weight_chosen_on_validation(tmp_path):
    dataset = load_dataset(f"movielens:{TINYLENS}")
    backend, config, make = _llm(8 + 10)
    run = run_full(dataset, ProtocolConfig(users=20, valid_users=15, history=3, seed=3),
                   retrievers=("popularity", "cooccurrence"), llm=make(dataset), pipeline=config, folder=tmp_path,
                   pool_size=20, llm_users=8, llm_valid_users=10, fixed_weight=0.2, force=True)
    assert len(run.llm_test) == 8 and len(run.llm_valid) == 10 and len(backend.requests) == 18
    for messages, _ in backend.requests:  # the model sees the last 3 history items and the pool of 20
        assert "[T]" in messages[-1]["content"]
    pool_name = run.choice["retriever"]
    by = {m.name: m for m in run.methods}
    alone = by[f"{pool_name} alone (the LLM's users)"]
    bound = next(m for m in run.methods if m.kind == "pool")
    llm_row = by["LLM stand-in reranks the pool"]
    for case in run.llm_test:  # reranking moves only ranks inside the pool; the bound is at least as good
        base = alone.ranks[case.case_id]
        if base > 20:
            assert llm_row.ranks[case.case_id] == base
        assert bound.ranks[case.case_id] <= llm_row.ranks[case.case_id]
        assert sorted(llm_row.rankings[case.case_id]) == sorted(alone.rankings[case.case_id])  # the same pool
    assert any(llm_row.rankings[c.case_id] != alone.rankings[c.case_id] for c in run.llm_test)  # w = 1 reorders
    fused = [m for m in run.methods if m.kind == "fused"]
    assert len(fused) == 2 and set(fused[0].params["valid_curve"]) == {w / 10 for w in range(11)}
    if fused[0].params["weight"] == 0.0:
        assert fused[0].rankings == alone.rankings and fused[0].ranks == alone.ranks
    assert run.pipeline.retrieval.llm_weight == fused[0].params["weight"]
    assert fused[0].costs[run.llm_test[0].case_id]["input_tokens"] > 0
    text = "\n".join(full_section(run))
    for needle in ("full catalog", "Recall@50", "validation Recall@20", "Fusion weight (chosen on 10 validation users",
                   "paired s.e.", "20 sampled of 40 (seed 3", "ids sha256"):
        assert needle in text


def test_fewer_than_100_validation_users_refuse_a_weight_unless_forced(tmp_path):
    dataset = load_dataset(f"movielens:{TINYLENS}")
    backend, config, make = _llm(4)
    with pytest.raises(OptionError, match="chosen on 2 validation users, fewer than 100.*--force"):
        run_full(dataset, ProtocolConfig(users=4, valid_users=4), retrievers=("popularity",), llm=make(dataset),
                 pipeline=config, folder=tmp_path, llm_users=2, llm_valid_users=2)
    assert backend.requests == []  # refused before any model call


def test_cross_domain_ranks_the_target_catalog_with_source_items_in_the_pipeline_s_catalog(tmp_path):
    dataset = load_dataset(f"crossdomain:{TINYCROSS}:books:movies")
    run = run_full(dataset, ProtocolConfig(users=10, valid_users=5, seed=1), retrievers=("cooccurrence", "bm25"),
                   pool_size=10, folder=tmp_path)
    assert run.catalog_size == 50 and len(run.files.catalog) == 100 and len(run.files.exclude) == 50
    for row in run.methods:
        for ranked in row.rankings.values():
            assert all(i.startswith("m") for i in ranked)  # only target items are recommended


def test_profile_retriever_row_on_the_llm_users(tmp_path):
    pytest.importorskip("promptrec.retrieval.profile")
    dataset = load_dataset(f"movielens:{TINYLENS}")
    backend, config, make = _llm(0)

    def complete(messages, params):  # a ranking for a ranking prompt, a profile for a profile prompt
        backend.answers = [REVERSED if "[T]" in messages[-1]["content"] else "Sci-Fi and horror, mostly."]
        return ScriptedBackend.complete(backend, messages, params)

    backend.complete = complete
    run = run_full(dataset, ProtocolConfig(users=8, valid_users=4, history=2, seed=0),
                   retrievers=("bm25", "profile-bm25"), llm=make(dataset), pipeline=config, folder=tmp_path,
                   pool_size=20, llm_users=4, llm_valid_users=4, force=True)
    (row,) = [m for m in run.methods if m.name.startswith("profile-bm25")]
    assert set(row.ranks) == {c.case_id for c in run.llm_test} and set(row.rankings) == set(row.ranks)
    profiles = [m for m, _ in backend.requests if "[T]" not in m[-1]["content"]]
    assert profiles and all("(" in messages[-1]["content"] for messages in profiles)  # the history is in the prompt
