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
        assert result.exit_code == 1, result.output  # some requests failed: said, and the exit code says it
        assert "request(s) failed" in result.stderr
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
        # ... and a true summary: the error lines it skipped are counted, and the exit code still says so
        assert json.loads(result.stdout)["skipped_failed"] == len(failed) and result.exit_code == 1
        assert f"200 done before, {len(failed)} of them failed" in result.stderr

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
    assert result.exit_code == 1  # two requests failed
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
    assert result.exit_code == 1, result.output  # r3 failed at the Batch API
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


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from promptrec.batch import Drain, OutputLock, check_output, is_stream, parse_request  # noqa: E402
from promptrec.errors import OptionError, PromptrecError  # noqa: E402

#: (name, fields that replace a good request's): each fails that request alone, as an error line naming the field
BAD_FIELDS = [
    ("scenario a number", {"scenario": 5}, "scenario"),
    ("scenario a list", {"scenario": ["movies"]}, "scenario"),
    ("user_id an object", {"user_id": {"a": 1}}, "user_id"),
    ("user_id true", {"user_id": True}, "user_id"),
    ("id a list", {"id": [1]}, "id"),
    ("id empty", {"id": "  "}, "id"),
    ("k text", {"k": "ten"}, "k"),
    ("k zero", {"k": 0}, "k"),
    ("history an object", {"history": {"m01": 1}}, "history"),
    ("history entry null", {"history": [None]}, "history[0]"),
    ("candidates a number", {"candidates": 5}, "candidates"),
    ("generator n text", {"candidates": {"generator": "random", "n": "x"}}, "candidates"),
    ("generator unknown key", {"candidates": {"generator": "random", "size": 3}}, "candidates"),
]


@pytest.mark.parametrize(("name", "fields", "field"), BAD_FIELDS, ids=[case[0] for case in BAD_FIELDS])
def test_a_wrongly_typed_field_fails_that_request_only(tmp_path, demo_catalog, name, fields, field):
    record = {"id": "r", "user_id": "u", "history": ["m01"], "candidates": ["m02", "m03"], **fields}
    entry = parse_request(record, 3, tmp_path / "in.jsonl", demo_catalog)
    assert entry.request is None and isinstance(entry.error, PromptrecError)
    assert f"in.jsonl:3 field '{field}'" in str(entry.error)


def test_a_batch_with_one_wrongly_typed_request_answers_every_line(tmp_path):
    requests = write_requests(tmp_path / "in.jsonl", 4)
    lines = requests.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "scenario": 5})
    requests.write_text("\n".join(lines) + "\n")
    with StubServer() as server:
        result = CliRunner().invoke(main, batch_args(server, requests, tmp_path / "out.jsonl"))
    assert result.exit_code == 1, result.output  # r1 failed
    out = {line["id"]: line for line in output_lines(tmp_path / "out.jsonl")}
    assert sorted(out) == ["r0", "r1", "r2", "r3"] and [out[i]["ok"] for i in sorted(out)] == [True, False, True, True]
    assert "field 'scenario'" in out["r1"]["error"]["message"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=st.dictionaries(
    st.sampled_from(["id", "user_id", "history", "candidates", "k", "scenario", "extra"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
                 | st.sampled_from(["m01", "m02", "random", "bm25"]),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["generator", "n", "id", "title"]), inner, max_size=3),
                 max_leaves=6)))
def test_request_parser_property_never_raises(demo_catalog, record):
    """Any request object becomes a request or an entry carrying a PromptrecError: never an exception."""
    entry = parse_request(record, 1, "in.jsonl", demo_catalog)
    assert (entry.request is None) != (entry.error is None)
    if entry.error is not None:
        assert isinstance(entry.error, PromptrecError) and "in.jsonl:1" in str(entry.error)


#: (name, output, input): each refused before any work, with an error naming the file
BAD_OUTPUTS = [
    ("the input file itself", "in.jsonl", "in.jsonl", OptionError),
    ("the input through another path", "./sub/../in.jsonl", "in.jsonl", OptionError),
    ("a folder", "sub", "in.jsonl", PromptrecError),
    ("in a missing folder", "no/such/out.jsonl", "in.jsonl", PromptrecError),
    ("where nothing can be written", "/proc/self/promptrec-out.jsonl", "in.jsonl", PromptrecError),
]


@pytest.mark.parametrize(("name", "output", "given", "error"), BAD_OUTPUTS, ids=[case[0] for case in BAD_OUTPUTS])
def test_unusable_outputs_are_refused_up_front(tmp_path, monkeypatch, name, output, given, error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "in.jsonl").write_text('{"id": "a", "candidates": ["m01"]}\n')
    with pytest.raises(error):
        check_output(output, given)
    assert (tmp_path / "in.jsonl").read_text() == '{"id": "a", "candidates": ["m01"]}\n'


def test_checking_an_output_leaves_no_file_behind(tmp_path):
    check_output(tmp_path / "new.jsonl", tmp_path / "in.jsonl")
    assert not (tmp_path / "new.jsonl").exists()
    (tmp_path / "old.jsonl").write_text("{}\n")
    check_output(tmp_path / "old.jsonl")
    assert (tmp_path / "old.jsonl").read_text() == "{}\n"


def test_streams_are_written_not_read_back_or_locked(tmp_path):
    assert is_stream(os.devnull) and not is_stream(tmp_path) and not is_stream(tmp_path / "missing")
    check_output(os.devnull, tmp_path / "in.jsonl")
    assert completed_ids(os.devnull) == set()
    with Drain(os.devnull) as drain:
        drain.put_line({"id": "x", "ok": True, "score": float("nan")}, counts={"cached": True, "retries": 0, "reasks": 0,
                                                                               "input_tokens": 0, "output_tokens": 0})
    with pytest.raises(PromptrecError):
        drop_error_lines(os.devnull)


def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(tmp_path):
    output = tmp_path / "out.jsonl"
    first = Drain(output)
    with pytest.raises(DataError, match="another 'promptrec batch' is writing"):
        Drain(output)
    with first:
        first.put_line({"id": "a", "ok": False}, error_type="X")
    with Drain(output) as second:  # the first finished: a new run resumes
        assert second.completed == {"a"}


def test_the_lock_is_held_across_processes(tmp_path):
    output = tmp_path / "out.jsonl"
    code = ("import sys; from promptrec.batch import Drain\n"
            "try:\n    Drain(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    with OutputLock(output):
        held = subprocess.run([sys.executable, "-c", code, str(output)], capture_output=True, text=True, timeout=60)
    free = subprocess.run([sys.executable, "-c", code, str(output)], capture_output=True, text=True, timeout=60)
    assert "another 'promptrec batch' is writing" in held.stdout and free.stdout == ""


def test_nan_in_a_result_line_is_written_as_null(tmp_path):
    output = tmp_path / "out.jsonl"
    with Drain(output) as drain:
        drain.put_line({"id": "a", "ok": True, "ranking": {"items": [{"score": float("nan")}, {"score": -float("inf")}]}},
                       counts={"cached": True, "retries": 0, "reasks": 0, "input_tokens": 0, "output_tokens": 0})
    line = json.loads(output.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in a result line"))
    assert [item["score"] for item in line["ranking"]["items"]] == [None, None]


def test_batch_to_dev_stdout_through_a_pipe(tmp_path):
    requests = write_requests(tmp_path / "in.jsonl", 5)
    with StubServer() as server:
        command = [sys.executable, "-m", "promptrec.cli", *batch_args(server, requests, "/dev/stdout")]
        env = {**os.environ, "PROMPTREC_CACHE_DIR": str(tmp_path / "cache"), "PROMPTREC_FEEDBACK_DB": str(tmp_path / "f.db")}
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines() if line.startswith('{"id"')]
    assert sorted(ids) == [f"r{i}" for i in range(5)]


def _sleepy_backend(catalog):
    """A backend whose earlier requests answer later: request i (whose history starts with item i) sleeps
    (24 - i) x 4 ms, so with several workers they finish out of input order."""
    import re

    from promptrec.backends import BaseBackend, Completion

    position = {item.title: IDS.index(item_id) for item_id, item in catalog.items()}

    class Sleepy(BaseBackend):
        supports_concurrency = True
        name = "sleepy"

        def complete(self, messages, params):
            text = messages[-1]["content"]
            first = re.search(r'^1\. "([^"]+)"', text, flags=re.MULTILINE).group(1)
            time.sleep((24 - position[first]) * 0.004)
            labels = list(dict.fromkeys(re.findall(r"^\[([A-Z])\]", text, flags=re.MULTILINE)))
            return Completion(text=" > ".join(f"[{label}]" for label in labels), model=self.name)

    return Sleepy()


def test_lines_are_written_in_input_order_by_default_and_as_finished_on_request(tmp_path, demo_catalog):
    from promptrec.batch import run_batch
    from promptrec.ranker import Ranker

    entries = read_requests(write_requests(tmp_path / "in.jsonl", 24), demo_catalog)
    ranker = Ranker(_sleepy_backend(demo_catalog), "movies", cache=None)
    ordered = run_batch(entries, tmp_path / "ordered.jsonl", lambda scenario: ranker, workers=6)
    assert ordered.succeeded == 24
    assert [line["id"] for line in output_lines(tmp_path / "ordered.jsonl")] == [f"r{i}" for i in range(24)]
    loose = run_batch(entries, tmp_path / "loose.jsonl", lambda scenario: ranker, workers=6, ordered=False)
    assert loose.succeeded == 24
    assert sorted(line["id"] for line in output_lines(tmp_path / "loose.jsonl")) == sorted(f"r{i}" for i in range(24))


def test_a_resumed_run_counts_the_error_lines_it_skips(tmp_path, demo_catalog):
    from promptrec.batch import Drain, error_line

    entries = read_requests(write_requests(tmp_path / "in.jsonl", 3), demo_catalog)
    output = tmp_path / "out.jsonl"
    with Drain(output) as drain:
        drain.put_line(error_line("r1", TimeoutError("slow")), error_type="TimeoutError")
    again = Drain(output)
    assert [e.id for e in again.pending(entries)] == ["r0", "r2"]
    assert (again.summary.skipped, again.summary.skipped_failed, again.summary.failed_total) == (1, 1, 1)
    assert again.summary.as_dict()["failed_total"] == 1
