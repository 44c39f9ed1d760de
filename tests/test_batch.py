import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from openai_stub import StubServer, answer, fail_some

from promptrec.batch import completed_ids, drop_error_lines, read_requests
from promptrec.cli import main
from promptrec.errors import DataError

IDS = [f"m{i:02d}" for i in range(1, 25)]


def write_requests(path, n, **extra):
    with path.open("w") as handle:
        for i in range(n):
            history = [IDS[(i + j) % 24] for j in range(3)]
            candidates = [IDS[(i + 3 + j) % 24] for j in range(5)]
            handle.write(json.dumps({"id": f"r{i}", "user_id": f"u{i}", "history": history, "candidates": candidates, **extra}) + "\n")
    return path


def output_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch_args(server, requests, output, *more):
    return ["batch", str(requests), "-o", str(output), "--catalog", "demo", "--backend", "openai:stub",
            "--base-url", server.url, "--workers", "8", "--max-attempts", "6", *more]


def test_200_requests_with_injected_faults_give_200_lines_then_a_cached_rerun(tmp_path):
    requests = write_requests(tmp_path / "in.jsonl", 200)
    output = tmp_path / "out.jsonl"
    runner = CliRunner()
    with StubServer(fail_some()) as server:
        result = runner.invoke(main, batch_args(server, requests, output, "--json"))
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        lines = output_lines(output)
        assert sorted(line["id"] for line in lines) == sorted(f"r{i}" for i in range(200))
        failed = [line for line in lines if not line["ok"]]
        assert failed and all("rejected by the stub" in line["error"]["message"] for line in failed)
        assert summary["failed"] == len(failed) and summary["succeeded"] == 200 - len(failed)
        assert summary["retries"] > 0 and summary["input_tokens"] > 0
        for line in lines:
            if line["ok"]:
                assert len(line["ranking"]["items"]) == 5 and line["ranking"]["report"]["valid"] == 5
        calls = server.calls

        # the same command again: nothing left to do
        result = runner.invoke(main, batch_args(server, requests, output, "--json"))
        assert json.loads(result.stdout)["skipped"] == 200 and server.calls == calls

        # a second identical run into a new file is served from the cache: no backend call
        result = runner.invoke(main, batch_args(server, requests, tmp_path / "again.jsonl", "--json"))
        again = json.loads(result.stdout)
        assert server.calls == calls + len(failed)  # only the failed ones are asked again
        assert again["cache_hits"] == 200 - len(failed) and again["input_tokens"] == 0

        # --retry-errors drops the error lines and asks those requests again
        result = runner.invoke(main, batch_args(server, requests, output, "--retry-errors", "--json"))
        assert len(output_lines(output)) == 200 and json.loads(result.stdout)["skipped"] == 200 - len(failed)


def test_sigkill_mid_run_then_rerun_gives_every_input_exactly_once(tmp_path):
    requests = write_requests(tmp_path / "in.jsonl", 120)
    output = tmp_path / "out.jsonl"
    with StubServer(delay=0.05) as server:
        command = [sys.executable, "-m", "promptrec.cli", *batch_args(server, requests, output)]
        env = {**os.environ, "PROMPTREC_CACHE_DIR": str(tmp_path / "cache")}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while (not output.exists() or output.read_bytes().count(b"\n") < 20) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        written = output.read_bytes().count(b"\n")
        assert 20 <= written < 120
        with output.open("ab") as handle:  # as if the kill had landed in the middle of a write
            handle.write(b'{"id": "r119", "ok": tr')
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0, completed.stderr
    ids = [line["id"] for line in output_lines(output)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(120)) and len(ids) == len(set(ids)) == 120
    assert "cutting off a torn last line" in completed.stderr


def test_torn_last_line_is_cut_and_foreign_files_are_refused(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_bytes(b'{"id": "a", "ok": true}\n{"id": "b", "o')
    assert completed_ids(output) == {"a"} and output.read_bytes() == b'{"id": "a", "ok": true}\n'
    output.write_bytes(b'{"id": "a", "ok": false, "error": {}}\n{"id": "b", "ok": true}\n')
    assert drop_error_lines(output) == 1 and completed_ids(output) == {"b"}
    (tmp_path / "notes.jsonl").write_text("hello\n")
    with pytest.raises(DataError, match="notes.jsonl:1"):
        completed_ids(tmp_path / "notes.jsonl")


def test_bad_request_lines_become_error_lines(tmp_path, demo_catalog):
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        '{"id": "ok", "history": ["m01"], "candidates": ["m02", "m03"]}\n'
        '{"id": "bad-id", "history": ["m01"], "candidates": ["zz"]}\n'
        '{"id": "no-cands", "history": ["m01"]}\n'
        '{"id": "gen", "history": ["m01"], "candidates": {"generator": "random", "n": 4}}\n'
    )
    entries = read_requests(requests, demo_catalog)
    assert [e.error is None for e in entries] == [True, False, False, True]
    assert "in.jsonl:2 field 'candidates[0]'" in str(entries[1].error)
    generated = entries[3].request.candidates
    assert len(generated) == 4 and "m01" not in {c.id for c in generated}
    with StubServer() as server:
        result = CliRunner().invoke(main, batch_args(server, requests, tmp_path / "out.jsonl"))
    assert result.exit_code == 0
    lines = {line["id"]: line for line in output_lines(tmp_path / "out.jsonl")}
    assert lines["ok"]["ok"] and lines["gen"]["ok"] and not lines["bad-id"]["ok"]
    assert lines["no-cands"]["error"]["type"] == "DataError"
    assert "requests   4 (0 done before, 2 ranked, 2 failed)" in result.stderr


def test_duplicate_request_ids_are_refused(tmp_path, demo_catalog):
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"id": "a", "candidates": ["m02"]}\n{"id": "a", "candidates": ["m03"]}\n')
    with pytest.raises(DataError, match="in.jsonl:2 field 'id': duplicate request id 'a' \\(first at line 1\\)"):
        read_requests(requests, demo_catalog)


def test_openai_batch_api_export_and_import(tmp_path):
    requests = write_requests(tmp_path / "in.jsonl", 6)
    exported = tmp_path / "batch_requests.jsonl"
    runner = CliRunner()
    common = ["--catalog", "demo", "--backend", "openai:gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1"]
    refused = runner.invoke(main, ["batch", str(requests), "--export-openai-batch", str(exported), *common, "--mode", "score"])
    assert refused.exit_code == 2 and "one generated answer per request" in refused.output and not exported.exists()
    result = runner.invoke(main, ["batch", str(requests), "--export-openai-batch", str(exported), *common])
    assert result.exit_code == 0, result.output
    lines = output_lines(exported)
    assert [line["custom_id"] for line in lines] == [f"r{i}" for i in range(6)]
    assert all(line["url"] == "/v1/chat/completions" and line["body"]["model"] == "gpt-4o-mini" for line in lines)
    # what the Batch API would send back, answered by the stub's ranking rule; one request failed there
    results = tmp_path / "batch_results.jsonl"
    with results.open("w") as handle:
        for line in lines:
            if line["custom_id"] == "r3":
                record = {"custom_id": "r3", "response": None, "error": {"code": "server_error", "message": "x"}}
            else:
                record = {"custom_id": line["custom_id"], "response": {"status_code": 200, "body": answer(line["body"])}, "error": None}
            handle.write(json.dumps(record) + "\n")
    output = tmp_path / "out.jsonl"
    result = runner.invoke(main, ["batch", str(requests), "-o", str(output), "--import-openai-batch", str(results), *common])
    assert result.exit_code == 0, result.output
    imported = {line["id"]: line for line in output_lines(output)}
    assert len(imported) == 6 and not imported["r3"]["ok"]
    first = imported["r0"]["ranking"]
    assert first["report"]["valid"] == 5 and first["report"]["format"] == "arrow"
    # the stub ranks in reverse shown order, so the last label shown comes first
    assert first["items"][0]["label"] == "E"


def test_cache_commands(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["cache", "stats", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0 and "entries    0" in result.output
    assert "removed 0 entries" in runner.invoke(main, ["cache", "clear", "--cache-dir", str(tmp_path)]).output


def test_one_drain_writes_results_in_any_order_counts_errors_by_type_and_resumes(tmp_path, demo_catalog):
    from promptrec.backends import get_backend
    from promptrec.batch import Drain, error_line, ranking_line
    from promptrec.ranker import Ranker

    entries = read_requests(write_requests(tmp_path / "in.jsonl", 4), demo_catalog)
    with StubServer() as server:
        ranker = Ranker(get_backend("openai:stub", base_url=server.url), "movies")
        rankings = {e.id: ranker.rank(e.request.history, e.request.candidates) for e in entries[:2]}
    output = tmp_path / "out.jsonl"
    seen = []
    drain = Drain(output, on_result=lambda summary: seen.append(summary.done))
    assert [e.id for e in drain.pending(entries)] == ["r0", "r1", "r2", "r3"]
    with drain:
        drain.put("r3", DataError("no such item", field="candidates"))
        drain.put("r1", rankings["r1"])
        drain.put("r2", TimeoutError("slow"))
        drain.put("r0", rankings["r0"])
    summary = drain.summary
    assert (summary.total, summary.skipped, summary.succeeded, summary.failed) == (4, 0, 2, 2)
    assert summary.errors == {"DataError": 1, "TimeoutError": 1} and seen == [1, 2, 3, 4]
    written = output.read_text().splitlines()
    assert [json.loads(line)["id"] for line in written] == ["r3", "r1", "r2", "r0"]
    assert written[1] == json.dumps(ranking_line("r1", rankings["r1"]), ensure_ascii=False)
    assert written[2] == json.dumps(error_line("r2", TimeoutError("slow")), ensure_ascii=False)

    again = Drain(output)
    assert again.pending(entries) == [] and again.summary.skipped == 4
    assert not again.needs("r0") and again.needs("r9") and again.summary.skipped == 5


def test_ctrl_c_in_a_drain_keeps_what_was_written_and_the_cli_exits_130(tmp_path, monkeypatch, caplog):
    import promptrec.batch
    from promptrec.batch import Drain

    output = tmp_path / "out.jsonl"
    drain = Drain(output)
    with drain:
        drain.put("a", ValueError("x"))
        raise KeyboardInterrupt
    assert drain.summary.interrupted and drain.summary.failed == 1
    assert "interrupted; 1 requests answered" in caplog.text
    with pytest.raises(RuntimeError, match="inside its 'with' block"):
        drain.put("b", ValueError("closed"))
    assert completed_ids(output) == {"a"}

    requests = write_requests(tmp_path / "in.jsonl", 6)
    calls = []
    real = promptrec.batch.rank_entry

    def interrupt_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(promptrec.batch, "rank_entry", interrupt_on_the_third)
    output = tmp_path / "cli.jsonl"
    with StubServer() as server:
        args = batch_args(server, requests, output)
        args[args.index("--workers") + 1] = "1"
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 130, result.output
        assert "requests   6 (0 done before, 2 ranked, 0 failed, interrupted)" in result.stderr
        assert len(output_lines(output)) == 2
        monkeypatch.setattr(promptrec.batch, "rank_entry", real)
        result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["skipped"] == 2
    assert sorted(line["id"] for line in output_lines(output)) == [f"r{i}" for i in range(6)]
