"""Batch ranking on Ray Data (``promptrec batch --engine ray``, :mod:`promptrec.ray`) on a private local Ray."""

import json
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from openai_stub import StubServer, fail_some  # noqa: E402

from promptrec.batch import completed_ids  # noqa: E402
from promptrec.cache import CompletionCache  # noqa: E402
from promptrec.cli import main  # noqa: E402
from promptrec.errors import MissingDependencyError  # noqa: E402
from promptrec.feedback_store import FeedbackStore  # noqa: E402
from promptrec.ray import import_ray, rank_dataset, rankers_from_config, run_ray_batch  # noqa: E402

IDS = [f"m{i:02d}" for i in range(1, 25)]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One private Ray for the whole module: 2 CPUs, loopback only, no dashboard."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    yield
    ray.shutdown()


def request(i: int, n_candidates: int = 5) -> dict:
    history = [IDS[(i + j) % 24] for j in range(3)]
    return {"id": f"r{i}", "user_id": f"u{i}", "history": history,
            "candidates": [IDS[(i + 3 + j) % 24] for j in range(n_candidates)]}


def write_requests(path: Path, n: int, malformed: bool = True) -> tuple[Path, list[str]]:
    """``n`` good requests, plus (``malformed``) three that fail before any backend call."""
    lines = [json.dumps(request(i)) for i in range(n)]
    if malformed:
        lines += ['{"id": "bad-item", "history": ["m01"], "candidates": ["zz"]}',
                  '{"id": "no-candidates", "history": ["m01"]}',
                  '{"history": ["m01"], "candidates": ["m02", "m03"], "k": 0}']  # no id: line-N
    path.write_text("\n".join(lines) + "\n")
    ids = [f"r{i}" for i in range(n)] + (["bad-item", "no-candidates", f"line-{n + 3}"] if malformed else [])
    return path, ids


def output_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch_args(server: StubServer, requests: Path, output: Path, *more: str) -> list[str]:
    return ["batch", str(requests), "-o", str(output), "--catalog", "demo", "--backend", "openai:stub",
            "--base-url", server.url, "--max-attempts", "6", "--no-feedback", *more]


def test_300_requests_with_faults_and_malformed_lines_each_answered_exactly_once_like_local(tmp_path):
    requests, ids = write_requests(tmp_path / "in.jsonl", 300)
    runner = CliRunner()
    with StubServer(fail_some()) as server:
        result = runner.invoke(main, batch_args(server, requests, tmp_path / "ray.jsonl", "--engine", "ray",
                                                "--actors", "2", "--workers", "8", "--json"))
        assert result.exit_code == 1, result.output  # batch exits 1 when any request failed, as here
        summary = json.loads(result.stdout)
        local = runner.invoke(main, batch_args(server, requests, tmp_path / "local.jsonl", "--no-cache"))
        assert local.exit_code == 1, local.output
    lines = output_lines(tmp_path / "ray.jsonl")
    assert sorted(line["id"] for line in lines) == sorted(ids) and len(lines) == 303
    failed = {line["id"]: line for line in lines if not line["ok"]}
    assert {"bad-item", "no-candidates", "line-303"} <= set(failed)
    assert "in.jsonl:301 field 'candidates[0]'" in failed["bad-item"]["error"]["message"]
    assert sum("rejected by the stub" in line["error"]["message"] for line in failed.values()) == len(failed) - 3 > 0
    assert summary["total"] == 303 and summary["failed"] == len(failed) and summary["succeeded"] == 303 - len(failed)
    assert summary["retries"] > 0 and summary["input_tokens"] > 0

    # the same lines as the local engine: same ids, same outcome, same fields, same rankings
    by_id = {line["id"]: line for line in output_lines(tmp_path / "local.jsonl")}
    for line in lines:
        twin = by_id[line["id"]]
        assert line.keys() == twin.keys() and line["ok"] == twin["ok"]
        if line["ok"]:
            assert line["ranking"].keys() == twin["ranking"].keys()
            assert [i["item"]["id"] for i in line["ranking"]["items"]] == [i["item"]["id"] for i in twin["ranking"]["items"]]
        else:
            assert line["error"] == twin["error"]


def test_a_rerun_appends_only_what_is_missing(tmp_path):
    requests, ids = write_requests(tmp_path / "in.jsonl", 40)
    output = tmp_path / "out.jsonl"
    output.write_text("".join(json.dumps({"id": f"r{i}", "ok": True, "ranking": {}}) + "\n" for i in range(25))
                      + '{"id": "r39", "ok": tr')  # a torn last line from a crash
    with StubServer() as server:
        result = CliRunner().invoke(main, batch_args(server, requests, output, "--engine", "ray", "--json"))
        assert result.exit_code == 1, result.output  # the malformed lines failed
        assert server.calls == 15
    summary = json.loads(result.stdout)
    assert summary["skipped"] == 25 and summary["done"] == 18
    found = [line["id"] for line in output_lines(output)]
    assert sorted(found) == sorted(ids) and completed_ids(output) == set(ids)


def test_jsonl_read_by_ray_from_a_uri_with_broken_lines_and_a_partial_output(tmp_path):
    """Ray reads the file (read_text) while two 1-CPU actors hold every CPU; done ids are filtered out."""
    requests, ids = write_requests(tmp_path / "in.jsonl", 30, malformed=False)
    with requests.open("a") as handle:
        handle.write('not json\n["a list"]\n{"history": ["m01"], "candidates": ["m02", "m03"]}\n')
    output = tmp_path / "out.jsonl"
    output.write_text("".join(json.dumps({"id": f"r{i}", "ok": True, "ranking": {}}) + "\n" for i in range(10)))
    with StubServer() as server:
        result = CliRunner().invoke(main, batch_args(server, requests.as_uri(), output, "--engine", "ray",
                                                     "--actors", "2", "--cpus-per-actor", "1", "--json"))
        assert result.exit_code == 1, result.output  # the broken lines failed
        assert server.calls == 21
    lines = output_lines(output)
    assert len(lines) == 33 and len({line["id"] for line in lines}) == 33 and {f"r{i}" for i in range(30)} <= completed_ids(output)
    failed = [line["error"]["message"] for line in lines if not line["ok"]]
    assert sorted(failed) == [f"{requests}: expected a JSON object", f"{requests}: invalid JSON (Expecting value at column 1)"]
    assert json.loads(result.stdout)["skipped"] == 10


def test_parquet_in_and_out_through_the_python_api(tmp_path, demo_catalog):
    table = pa.Table.from_pylist([request(i) for i in range(30)] + [{"id": "empty", "history": ["m01"], "candidates": []}])
    pq.write_table(table, tmp_path / "in.parquet")
    with StubServer() as server:
        config = {"backend": "openai:stub", "backend_options": {"base_url": server.url}, "scenario": "movies"}
        summary = run_ray_batch(tmp_path / "in.parquet", tmp_path / "out.parquet", config, catalog=demo_catalog,
                                actors=1, concurrency_per_actor=4)
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert sorted(row["id"] for row in rows) == sorted([f"r{i}" for i in range(30)] + ["empty"])
    assert summary.succeeded == 30 and summary.failed == 1
    good = next(row for row in rows if row["id"] == "r0")
    assert good["ok"] and good["error"] is None and len(json.loads(good["ranking"])["items"]) == 5
    bad = next(row for row in rows if row["id"] == "empty")
    assert not bad["ok"] and bad["ranking"] is None and json.loads(bad["error"])["type"] == "DataError"


class CountingRankers:
    """A ranker factory that notes each call (one per actor) in a file, then builds from a config."""

    def __init__(self, config: dict, log: Path):
        self.config, self.log = config, log

    def __call__(self):
        with self.log.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        return rankers_from_config(self.config)


def test_four_actors_share_one_cache_folder_and_lose_nothing(tmp_path, demo_catalog):
    rows = [{"id": f"c{i}", "history": [{"id": f"h{i}", "title": f"Home movie {i}"}], "candidates": [IDS[(i * 5 + j) % 24] for j in range(1, 7)],
             "user_id": f"user{i}"} for i in range(200)]
    log = tmp_path / "factories.log"
    with StubServer() as server:
        config = {"backend": "openai:stub", "backend_options": {"base_url": server.url}, "scenario": "movies",
                  "cache_dir": str(tmp_path / "shared-cache"), "shuffle": False}
        results = rank_dataset(ray.data.from_items(rows), CountingRankers(config, log), catalog=demo_catalog,
                               actors=4, concurrency_per_actor=4, num_cpus_per_actor=0.5, batch_size=10)
        first = results.take_all()
        calls = server.calls
        assert len(log.read_text().split()) == 4  # rankers (and a local model) built once per actor
        again = rank_dataset(ray.data.from_items(rows), config, catalog=demo_catalog, actors=4,
                             concurrency_per_actor=4, num_cpus_per_actor=0.5, batch_size=10).take_all()
        assert server.calls == calls  # every answer came from the shared cache
    assert sorted(r["id"] for r in first) == sorted(r["id"] for r in again) == sorted(row["id"] for row in rows)
    assert all(r["ok"] and not r["cached"] for r in first) and all(r["cached"] for r in again)
    cache = CompletionCache(tmp_path / "shared-cache")
    assert cache.stats()["entries"] == calls == 200


@ray.remote
def _hammer(cache_dir: str, db: str, worker: int, n: int) -> None:
    from promptrec.backends.base import Completion, Usage

    cache = CompletionCache(cache_dir)
    store = FeedbackStore(db)
    for i in range(n):
        cache.set(f"{worker}-{i}", Completion(text=f"{worker}:{i}", model="m", usage=Usage(), finish_reason="stop"))
        store.add(f"u{worker}", "movies", f"i{i}", "liked", title=f"Item {i}")
    cache.close()


def test_cache_and_feedback_store_written_by_several_processes_at_once(tmp_path):
    cache_dir, db = str(tmp_path / "cache"), str(tmp_path / "feedback.sqlite3")
    ray.get([_hammer.options(num_cpus=0.5).remote(cache_dir, db, worker, 60) for worker in range(4)])
    cache = CompletionCache(cache_dir)
    assert cache.stats()["entries"] == 240
    assert cache.get("3-59").text == "3:59"
    assert FeedbackStore(db).export_jsonl(tmp_path / "all.jsonl") == 240


@pytest.mark.model
def test_embedded_llamacpp_model_in_an_actor(tmp_path, demo_catalog):
    requests = [request(i, n_candidates=4) for i in range(3)]
    config = {"backend": "llamacpp", "backend_options": {"n_ctx": 2048, "n_threads": 1}, "scenario": "movies"}
    rows = rank_dataset(ray.data.from_items(requests), config, catalog=demo_catalog, actors=1,
                        concurrency_per_actor=2).take_all()
    assert sorted(row["id"] for row in rows) == ["r0", "r1", "r2"] and all(row["ok"] for row in rows)
    ranking = json.loads(rows[0]["line"])["ranking"]
    assert len(ranking["items"]) == 4 and ranking["backend"].startswith("llamacpp:")


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'promptrec\[ray\]'"):
        import_ray()


def test_cli_help_explains_the_ray_options():
    text = CliRunner().invoke(main, ["batch", "--help"]).output
    for option in ("--engine [local|ray]", "--ray-address", "--actors", "--cpus-per-actor"):
        assert option in text


def test_ray_result_rows_go_through_the_one_drain_with_the_error_breakdown(tmp_path):
    from functools import partial

    from promptrec.batch import Drain
    from promptrec.ray import _open_sink, _put_rows, result_schema

    rows = [{"id": "a", "ok": True, "line": json.dumps({"id": "a", "ok": True, "ranking": {"items": []}}),
             "error_type": None, "cached": False, "retries": 1, "reasks": 0, "input_tokens": 10, "output_tokens": 2},
            {"id": "b", "ok": False, "line": json.dumps({"id": "b", "ok": False, "error": {"type": "DataError", "message": "m"}}),
             "error_type": "DataError", "cached": False, "retries": 0, "reasks": 0, "input_tokens": 0, "output_tokens": 0}]
    table = pa.Table.from_pylist(rows, schema=result_schema())
    for output in (tmp_path / "out.jsonl", tmp_path / "out.parquet"):
        resumable = output.suffix == ".jsonl"
        drain = Drain(output, resume=resumable, open_sink=None if resumable else partial(_open_sink, output))
        with drain:
            _put_rows(drain, table)
        summary = drain.summary
        assert (summary.succeeded, summary.failed, summary.retries, summary.input_tokens) == (1, 1, 1, 10)
        assert summary.errors == {"DataError": 1}
    assert (tmp_path / "out.jsonl").read_text().splitlines() == [row["line"] for row in rows]
    assert pq.read_table(tmp_path / "out.parquet").column("id").to_pylist() == ["a", "b"]
