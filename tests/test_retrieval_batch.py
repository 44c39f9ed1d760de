"""The retrieval stage on the command line and in batch runs (local threads and Ray), against a real
OpenAI-compatible stub server on 127.0.0.1 (it ranks the shown labels in reverse order)."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from openai_stub import StubServer  # noqa: E402

from promptrec.batch import RetrieverSet, read_requests, run_batch  # noqa: E402
from promptrec.cli import demo_catalog_path, main  # noqa: E402
from promptrec.data import read_catalog  # noqa: E402
from promptrec.retrieval import BM25Retriever, SemanticRetriever, read_interactions  # noqa: E402

HISTORY = ["m01", "m03", "m04"]


@pytest.fixture(scope="module")
def catalog():
    return read_catalog(demo_catalog_path())


@pytest.fixture(scope="module")
def server():
    with StubServer() as running:
        yield running


def rank(server: StubServer, *args: str):
    result = CliRunner().invoke(main, ["rank", "--catalog", "demo", "--history", ",".join(HISTORY), "--backend",
                                       "openai:stub", "--base-url", server.url, "--no-feedback", *args])
    return result


def test_rank_without_candidates_runs_the_pipeline(server, catalog):
    history = [catalog[i] for i in HISTORY]
    result = rank(server, "--json", "--llm-weight", "0", "-k", "5")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    assert [r["item"]["id"] for r in ranking["items"]] == SemanticRetriever(catalog).retrieve(history, 5).ids()
    assert ranking["retriever"] == "semantic" and ranking["pool"] == 20 and ranking["mode"] == "retrieval"
    result = rank(server, "--json", "--retriever", "bm25", "--pool", "5", "--llm-weight", "1", "--no-shuffle")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    bm25 = BM25Retriever(catalog).retrieve(history, 5).ids()
    assert [r["item"]["id"] for r in ranking["items"]] == bm25[::-1]  # the stub reverses the shown order
    assert all(r["llm_score"] is not None and r["retrieval_score"] is not None for r in ranking["items"])
    table = rank(server, "--scores", "-k", "3")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split() == ["rank", "label", "id", "retrieval", "llm", "fused", "title"]
    assert "retriever semantic | pool 20 | LLM weight 0.5 (wsum)" in table.stderr


def test_rank_with_interactions_and_bad_retriever_choices(server, tmp_path, caplog):
    log = tmp_path / "ratings.csv"
    log.write_text("userId,movieId,rating,timestamp\n1,m01,5,1\n1,m11,5,2\n2,m03,4,1\n2,m11,5,2\n2,m09,3,3\n2,m04,3,4\n"
                   "3,m04,5,1\n3,m09,4,2\n4,m99,1,1\n")
    result = rank(server, "--json", "--interactions", str(log), "--llm-weight", "0", "-k", "2")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)
    assert ranking["retriever"] == "cooccurrence" and [r["item"]["id"] for r in ranking["items"]] == ["m11", "m09"]
    assert "skipped 1 interaction(s)" in caplog.text and "ratings.csv:10" in caplog.text
    missing = rank(server, "--retriever", "popularity")
    assert missing.exit_code != 0 and "needs interactions (--interactions FILE" in missing.output
    unknown = rank(server, "--retriever", "bm25+magic")
    assert unknown.exit_code != 0 and "unknown retriever 'magic'" in unknown.output
    assert "Traceback" not in missing.output + unknown.output


def test_batch_retriever_generators_run_the_pipeline_per_request(server, catalog, tmp_path):
    requests = tmp_path / "in.jsonl"
    lines = [
        {"id": "bm25", "history": HISTORY, "candidates": {"generator": "bm25", "n": 5}, "k": 3},
        {"id": "w0", "history": HISTORY, "candidates": {"generator": "semantic", "n": 6, "llm_weight": 0}},
        {"id": "ens", "history": HISTORY, "candidates": {"generator": "bm25+semantic", "n": 4}},
        {"id": "wl", "history": HISTORY, "candidates": {"generator": "semantic:wordllama", "n": 4}},
        {"id": "bad", "history": HISTORY, "candidates": {"generator": "magic"}},
    ]
    requests.write_text("".join(json.dumps(line) + "\n" for line in lines))
    output = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["batch", str(requests), "-o", str(output), "--catalog", "demo", "--backend",
                                       "openai:stub", "--base-url", server.url, "--no-feedback", "--workers", "2"])
    assert result.exit_code == 1, result.output  # the 'magic' request failed, and the exit code says so
    out = {line["id"]: line for line in map(json.loads, output.read_text().splitlines())}
    assert out["bm25"]["ok"] and out["bm25"]["ranking"]["retriever"] == "bm25" and len(out["bm25"]["ranking"]["items"]) == 3
    history = [catalog[i] for i in HISTORY]
    assert [r["item"]["id"] for r in out["w0"]["ranking"]["items"]] == SemanticRetriever(catalog).retrieve(history, 6).ids()
    assert out["ens"]["ranking"]["retriever"] == "bm25+semantic" and out["ens"]["ranking"]["pool"] == 4
    assert out["wl"]["ok"] and out["wl"]["ranking"]["pool"] == 4  # an embedder named in the request is allowed
    assert not out["bad"]["ok"] and "unknown retriever 'magic'" in out["bad"]["error"]["message"]


def test_a_retriever_is_built_once_per_run_not_per_request(catalog, tmp_path, monkeypatch):
    from conftest import ScriptedBackend

    import promptrec.retrieval.factory as factory
    from promptrec import Ranker

    made = []
    real = factory.make_retriever
    monkeypatch.setattr(factory, "make_retriever", lambda name, *a, **k: (made.append(name), real(name, *a, **k))[1])
    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(json.dumps({"id": f"r{i}", "history": HISTORY[: 1 + i % 3],
                                            "candidates": {"generator": "bm25", "n": 3, "llm_weight": 0}}) + "\n"
                                for i in range(12)))
    ranker = Ranker(ScriptedBackend([]), "movies")
    retrievers = RetrieverSet(catalog, None, lambda scenario: ranker)
    summary = run_batch(read_requests(requests, catalog), tmp_path / "out.jsonl", lambda s: ranker, workers=4,
                        retriever_for=retrievers)
    assert summary.succeeded == 12 and made == ["bm25"]


def test_retriever_set_pickles_its_indexes_but_not_the_profile_model(catalog, tmp_path):
    from conftest import ScriptedBackend

    from promptrec import Ranker

    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id\nu1,m01\nu1,m11\n")
    ranker = Ranker(ScriptedBackend(["space horror"]), "movies")
    retrievers = RetrieverSet(catalog, read_interactions(log, catalog), lambda s: ranker)
    retrievers.prebuild(["bm25", "cooccurrence", "profile"])
    retrievers("profile")
    copy = pickle.loads(pickle.dumps(retrievers))
    assert set(copy._built) == {"bm25", "cooccurrence", "_text:semantic"}  # built indexes travel, the model not
    assert copy("bm25")._ready and copy("bm25").retrieve([catalog["m03"]], 3).ids() == retrievers(
        "bm25").retrieve([catalog["m03"]], 3).ids()
    assert copy("cooccurrence").retrieve([catalog["m01"]], 1).ids() == ["m11"]
    answering = Ranker(ScriptedBackend(["space horror"]), "movies")
    assert copy.bind(lambda s: answering)("profile").base is copy._built["_text:semantic"]  # the shipped index


def test_ray_ships_the_retrievers_once_and_answers_like_the_local_engine(server, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(json.dumps({"id": f"r{i}", "history": HISTORY[: 1 + i % 3],
                                            "candidates": {"generator": "bm25", "n": 4}}) + "\n" for i in range(8)))
    args = ["batch", str(requests), "--catalog", "demo", "--backend", "openai:stub", "--base-url", server.url,
            "--no-feedback", "--no-shuffle"]
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, *a, **k: (puts.append(type(value).__name__), real_put(value, *a, **k))[1])
    runner = CliRunner()
    result = runner.invoke(main, [*args, "-o", str(tmp_path / "ray.jsonl"), "--engine", "ray", "--actors", "2",
                                  "--cpus-per-actor", "0.5"])
    assert result.exit_code == 0, result.output
    assert puts.count("RetrieverSet") == 1
    local = runner.invoke(main, [*args, "-o", str(tmp_path / "local.jsonl")])
    assert local.exit_code == 0, local.output

    def orders(path):
        return {line["id"]: [r["item"]["id"] for r in line["ranking"]["items"]]
                for line in map(json.loads, path.read_text().splitlines())}

    assert orders(tmp_path / "ray.jsonl") == orders(tmp_path / "local.jsonl") and len(orders(tmp_path / "local.jsonl")) == 8
