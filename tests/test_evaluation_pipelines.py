"""What is measured is what ships: the full-catalog protocol's files, and `promptrec rank --config` with the
run's config.toml returning exactly each line of rankings.jsonl, for every retriever and the fused pipeline."""

import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from click.testing import CliRunner  # noqa: E402
from conftest import TINYLENS  # noqa: E402

from promptrec.config import PipelineConfig  # noqa: E402
from promptrec.data import read_catalog, read_histories  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.pipelines import at_weight, pipeline_catalog, write_pipeline_files  # noqa: E402
from promptrec.retrieval import Interactions, read_interactions  # noqa: E402


def test_the_files_are_the_catalog_interactions_and_histories_the_protocol_uses(tmp_path):
    dataset = load_dataset(f"movielens:{TINYLENS}")
    users = [(r.user_id, [dataset.items[i] for i in r.history]) for r in dataset.test.records[:3]]
    files = write_pipeline_files(dataset, tmp_path, PipelineConfig(), 10, {"test": users})
    catalog = read_catalog(files.catalog_path)
    assert list(catalog) == list(dataset.pool) and catalog["1"] == dataset.items["1"]  # ids, titles, attributes
    read = read_interactions(files.interactions["test"], catalog)
    direct = Interactions.from_sequences(catalog, [s for s in dataset.test.train if s])
    assert (read.matrix != direct.matrix).nnz == 0  # the same users x items matrix
    histories = read_histories(files.histories["test"], catalog)
    assert [[i.id for i in h.items] for h in histories.values()] == [list(r.history) for r in dataset.test.records[:3]]
    config = files.config("cooccurrence", "valid", 0.3)
    assert (config.retrieval.retriever, config.retrieval.pool, config.retrieval.llm_weight) == ("cooccurrence", 10, 0.3)
    assert config.retrieval.interactions.endswith("interactions-valid.jsonl") and config.scenario == "movies"
    recommender = files.recommender("popularity", "test")
    assert recommender is files.recommender("popularity", "test") and recommender.llm_weight == 0.0
    assert at_weight(recommender, 0.4).llm_weight == 0.4 and recommender.llm_weight == 0.0
    assert pipeline_catalog(dataset)[1] == frozenset()


def _rank(out, dataset, user, *extra):
    from promptrec.cli import main

    data = out / "data" / dataset
    args = ["rank", "--config", str(out / "config.toml"), "--catalog", str(data / "catalog.jsonl"),
            "--user-file", str(data / "histories-test.jsonl"), "--user", user, "-k", "20", "--json", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return [item["item"]["id"] for item in json.loads(result.stdout)["items"]]


def _lines(out):
    return [json.loads(line) for line in (out / "rankings.jsonl").read_text().splitlines()]


def test_rank_with_the_run_s_config_returns_every_retriever_s_and_the_pipeline_s_line(tmp_path, monkeypatch):
    from promptrec.cli import main

    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["eval", "-d", f"movielens:{TINYLENS}", "--protocol", "full", "--no-llm",
                                       "-n", "20", "--valid-users", "10", "--save-rankings", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "config.toml").is_file() and (out / "rankings.jsonl").is_file()
    lines = _lines(out)
    assert {line["method"] for line in lines} >= {"random", "popularity", "cooccurrence", "bm25", "semantic"}
    assert all(set(line) >= {"dataset", "protocol", "method", "user_id", "ranked"} for line in lines)
    shipped = PipelineConfig.load(out / "config.toml")
    users = sorted({line["user_id"] for line in lines})[:1]
    for user in users:
        for name in ("popularity", "cooccurrence", "bm25", "semantic"):
            (line,) = [x for x in lines if x["user_id"] == user and x["method"] == name]
            assert _rank(out, "tinylens", user, "--retriever", name, "--llm-weight", "0") == line["ranked"], name
        (pool,) = [x for x in lines if x["user_id"] == user and x["method"] == shipped.retrieval.retriever]
        assert _rank(out, "tinylens", user) == pool["ranked"]  # the fused pipeline: here the pool retriever at w = 0


def test_with_an_llm_rank_returns_the_reranked_and_the_fused_lines(tmp_path, monkeypatch):
    from openai_stub import StubServer

    from promptrec.cli import main

    monkeypatch.setenv("PROMPTREC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    with StubServer() as server:  # an OpenAI-compatible server ranking the labels in reverse shown order
        result = CliRunner().invoke(main, [
            "eval", "-d", f"movielens:{TINYLENS}", "--protocol", "full", "--backend", "openai:stub", "--base-url",
            server.url, "--api-key", "unused", "-n", "8", "--valid-users", "6", "--llm-users", "3",
            "--llm-valid-users", "4", "--retriever", "popularity", "--retriever", "bm25", "--force", "--save-rankings",
            "--no-cache", "-o", str(out)])
        assert result.exit_code == 0, result.output
        shipped = PipelineConfig.load(out / "config.toml")
        assert shipped.backend.spec == "openai:stub" and shipped.retrieval.llm_weight is not None
        lines = _lines(out)
        llm_users = sorted({x["user_id"] for x in lines if x["kind"] == "llm"})
        assert len(llm_users) == 3
        for user in llm_users[:2]:
            (reranked,) = [x for x in lines if x["user_id"] == user and x["kind"] == "llm"]
            fused = [x for x in lines if x["user_id"] == user and x["kind"] == "fused" and "chosen" in x["method"]]
            assert _rank(out, "tinylens", user, "--api-key", "unused", "--no-cache", "--llm-weight", "1") == reranked["ranked"]
            assert _rank(out, "tinylens", user, "--api-key", "unused", "--no-cache") == fused[0]["ranked"]
