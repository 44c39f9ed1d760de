"""OpenAI Batch API export and import (:mod:`promptrec.openai_batch`) against the stub server's ranking rule."""

import json

import pytest
from click.testing import CliRunner
from conftest import ScriptedBackend
from openai_stub import StubServer, answer

from promptrec.backends import get_backend
from promptrec.batch import read_requests, run_batch
from promptrec.cli import main
from promptrec.errors import DataError, OptionError
from promptrec.openai_batch import check_request_bodies, export_requests, import_results
from promptrec.ranker import Ranker

IDS = [f"m{i:02d}" for i in range(1, 25)]


def write_requests(path, n):
    with path.open("w") as handle:
        for i in range(n):
            history = [IDS[(i + j) % 24] for j in range(3)]
            candidates = [IDS[(i + 3 + j) % 24] for j in range(5)]
            handle.write(json.dumps({"id": f"r{i}", "user_id": f"u{i}", "history": history, "candidates": candidates}) + "\n")
    return path


def rankers(backend, **options):
    made = {}

    def ranker_for(scenario):
        name = scenario or "movies"
        if name not in made:
            made[name] = Ranker(backend, name, **options)
        return made[name]

    return ranker_for


def answered(exported, failing=()):
    """What the Batch API would return for ``exported``: the stub's answer per request, an error for ``failing``."""
    records = []
    for line in exported.read_text().splitlines():
        request = json.loads(line)
        if request["custom_id"] in failing:
            records.append({"custom_id": request["custom_id"], "response": None,
                            "error": {"code": "server_error", "message": "x"}})
        else:
            records.append({"custom_id": request["custom_id"], "error": None,
                            "response": {"status_code": 200, "body": answer(request["body"])}})
    return records


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_export_then_import_gives_the_lines_a_live_run_writes(tmp_path, demo_catalog):
    entries = read_requests(write_requests(tmp_path / "in.jsonl", 8), demo_catalog)
    with StubServer() as server:
        ranker_for = rankers(get_backend("openai:stub", base_url=server.url))
        exported = tmp_path / "batch.jsonl"
        assert export_requests(entries, ranker_for, exported) == 8
        assert server.calls == 0  # exporting asks nothing
        requests = [json.loads(line) for line in exported.read_text().splitlines()]
        assert [r["custom_id"] for r in requests] == [f"r{i}" for i in range(8)]
        assert all(r["method"] == "POST" and r["url"] == "/v1/chat/completions" for r in requests)
        live = run_batch(entries, tmp_path / "live.jsonl", ranker_for)
        assert live.succeeded == 8
        # the bodies exported are the bodies a live run sends
        assert [r["body"] for r in requests] == server.bodies
    results = write_jsonl(tmp_path / "results.jsonl", list(reversed(answered(exported))))  # any order
    summary = import_results(entries, ranker_for, results, tmp_path / "imported.jsonl")
    assert (summary.total, summary.succeeded, summary.failed, summary.skipped) == (8, 8, 0, 0)
    assert summary.input_tokens == live.input_tokens > 0 and summary.errors == {}
    # byte for byte the lines of the live run (in the results file's order)
    live_lines = {json.loads(line)["id"]: line for line in (tmp_path / "live.jsonl").read_text().splitlines()}
    imported_lines = (tmp_path / "imported.jsonl").read_text().splitlines()
    assert imported_lines == [live_lines[f"r{i}"] for i in reversed(range(8))]


def test_import_counts_errors_by_type_and_resumes(tmp_path, demo_catalog):
    requests = write_requests(tmp_path / "in.jsonl", 5)
    with requests.open("a") as handle:
        handle.write('{"id": "bad", "history": ["m01"], "candidates": ["zz"]}\n')
    entries = read_requests(requests, demo_catalog)
    ranker_for = rankers(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"))
    exported = tmp_path / "batch.jsonl"
    export_requests([e for e in entries if e.error is None], ranker_for, exported)
    records = answered(exported, failing={"r2"})
    records[4] = {"custom_id": "r4", "error": None, "response": {"status_code": 200, "body": {"choices": []}}}
    records.append({"custom_id": "bad", "error": None, "response": {"status_code": 200, "body": {}}})
    results = write_jsonl(tmp_path / "results.jsonl", records)
    output = tmp_path / "out.jsonl"
    summary = import_results(entries, ranker_for, results, output)
    assert (summary.total, summary.succeeded, summary.failed) == (6, 3, 3)
    assert summary.errors == {"PromptrecError": 2, "DataError": 1}
    lines = {json.loads(line)["id"]: json.loads(line) for line in output.read_text().splitlines()}
    assert "the batch API reported an error" in lines["r2"]["error"]["message"]
    assert lines["bad"]["error"]["type"] == "DataError" and "in.jsonl:6" in lines["bad"]["error"]["message"]
    assert lines["r4"]["error"]["message"] == "the batch API answer has no choices"

    again = import_results(entries, ranker_for, results, output)
    assert (again.skipped, again.done) == (6, 0) and len(output.read_text().splitlines()) == 6


def test_import_refuses_a_custom_id_not_in_the_input(tmp_path, demo_catalog):
    entries = read_requests(write_requests(tmp_path / "in.jsonl", 2), demo_catalog)
    ranker_for = rankers(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"))
    results = write_jsonl(tmp_path / "results.jsonl", [{"custom_id": "r0", "error": {"code": "x"}},
                                                       {"custom_id": "zz", "error": {"code": "x"}}])
    with pytest.raises(DataError, match=r"results\.jsonl:2 field 'custom_id': custom_id 'zz' is not in the input"):
        import_results(entries, ranker_for, results, tmp_path / "out.jsonl")
    # the line before it was written whole, and the file closed
    assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == ["r0"]


def test_ctrl_c_during_import_keeps_what_was_written(tmp_path, demo_catalog):
    entries = read_requests(write_requests(tmp_path / "in.jsonl", 4), demo_catalog)
    ranker_for = rankers(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"))
    exported = tmp_path / "batch.jsonl"
    export_requests(entries, ranker_for, exported)
    results = write_jsonl(tmp_path / "results.jsonl", answered(exported))

    def interrupt_after_two(summary):
        if summary.done == 2:
            raise KeyboardInterrupt

    output = tmp_path / "out.jsonl"
    summary = import_results(entries, ranker_for, results, output, on_result=interrupt_after_two)
    assert summary.interrupted and summary.succeeded == 2 and len(output.read_text().splitlines()) == 2
    rest = import_results(entries, ranker_for, results, output)
    assert (rest.skipped, rest.succeeded, rest.interrupted) == (2, 2, False)


@pytest.mark.parametrize("options", [{"permutations": 2}, {"window": 3}])
def test_several_answers_per_request_are_refused_before_anything_is_written(tmp_path, demo_catalog, options):
    entries = read_requests(write_requests(tmp_path / "in.jsonl", 2), demo_catalog)
    ranker_for = rankers(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"), **options)
    with pytest.raises(OptionError, match="one generated answer per request"):
        export_requests(entries, ranker_for, tmp_path / "batch.jsonl")
    assert not (tmp_path / "batch.jsonl").exists()
    results = write_jsonl(tmp_path / "results.jsonl", [{"custom_id": "r0", "error": {"code": "x"}}])
    with pytest.raises(OptionError, match="one generated answer per request"):
        import_results(entries, ranker_for, results, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_backend_without_request_bodies_is_refused_with_the_backend_to_use(tmp_path, demo_catalog):
    entries = read_requests(write_requests(tmp_path / "in.jsonl", 2), demo_catalog)
    with pytest.raises(OptionError, match="use --backend openai:MODEL") as caught:
        export_requests(entries, rankers(ScriptedBackend([])), tmp_path / "batch.jsonl")
    assert caught.value.option == "backend" and not (tmp_path / "batch.jsonl").exists()
    with pytest.raises(OptionError, match="the llamacpp backend cannot write OpenAI Batch API requests"):
        check_request_bodies("llamacpp")  # from its class: no model is loaded
    check_request_bodies("openai:gpt-4o-mini")
    check_request_bodies(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"))


def test_a_bad_request_line_stops_the_export_before_the_file_is_written(tmp_path, demo_catalog):
    requests = write_requests(tmp_path / "in.jsonl", 3)
    with requests.open("a") as handle:
        handle.write('{"id": "bad", "history": ["m01"], "candidates": ["zz"]}\n')
    entries = read_requests(requests, demo_catalog)
    ranker_for = rankers(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(DataError, match=r"in\.jsonl:4 field 'candidates\[0\]'"):
        export_requests(entries, ranker_for, tmp_path / "batch.jsonl")
    assert not (tmp_path / "batch.jsonl").exists()


def test_cli_export_with_the_default_backend_is_a_usage_error_without_loading_a_model(tmp_path, monkeypatch):
    import promptrec.config

    def no_model(*args, **kwargs):
        raise AssertionError("a backend was created")

    monkeypatch.setattr(promptrec.config, "get_backend", no_model)  # where the CLI's backends are made
    requests = write_requests(tmp_path / "in.jsonl", 2)
    exported = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["batch", str(requests), "--catalog", "demo", "--export-openai-batch", str(exported)])
    assert result.exit_code == 2, result.output
    assert "use --backend openai:MODEL" in result.output and "Traceback" not in result.output
    assert not exported.exists()
    refused = CliRunner().invoke(main, ["batch", str(requests), "--catalog", "demo", "--export-openai-batch",
                                        str(exported), "--backend", "openai:m", "--permutations", "3"])
    assert refused.exit_code == 2 and "one generated answer per request" in refused.output and not exported.exists()


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from promptrec.errors import PromptrecError  # noqa: E402

#: (name, what replaces a good result record's fields): that request alone gets an error line naming the line
MALFORMED_RESULTS = [
    ("response a number", {"response": 5}),
    ("body a list", {"response": {"status_code": 200, "body": [1, 2]}}),
    ("choices a string", {"response": {"status_code": 200, "body": {"choices": "abc"}}}),
    ("a choice a number", {"response": {"status_code": 200, "body": {"choices": [7]}}}),
    ("message a list", {"response": {"status_code": 200, "body": {"choices": [{"message": [1]}]}}}),
    ("usage a string", {"response": {"status_code": 200, "body": {"choices": [{"message": {"content": "[A]"}}],
                                                                  "usage": "lots"}}}),
    ("tokens text", {"response": {"status_code": 200, "body": {"choices": [{"message": {"content": "[A]"}}],
                                                               "usage": {"prompt_tokens": "x"}}}}),
    ("content a number", {"response": {"status_code": 200, "body": {"choices": [{"message": {"content": 12}}]}}}),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, demo_catalog):
    folder = tmp_path_factory.mktemp("exported")
    entries = read_requests(write_requests(folder / "in.jsonl", 3), demo_catalog)
    ranker_for = rankers(get_backend("openai:stub", base_url="http://127.0.0.1:9/v1"))
    export_requests(entries, ranker_for, folder / "batch.jsonl")
    return entries, ranker_for, answered(folder / "batch.jsonl")


@pytest.mark.parametrize(("name", "fields"), MALFORMED_RESULTS, ids=[case[0] for case in MALFORMED_RESULTS])
def test_a_malformed_result_fails_that_request_only(tmp_path, exported, name, fields):
    entries, ranker_for, records = exported
    records = [dict(record) for record in records]
    records[1].update(fields)
    results = write_jsonl(tmp_path / "results.jsonl", records)
    summary = import_results(entries, ranker_for, results, tmp_path / "out.jsonl")
    lines = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()}
    assert sorted(lines) == ["r0", "r1", "r2"] and lines["r0"]["ok"] and lines["r2"]["ok"]
    assert not lines["r1"]["ok"] and summary.failed == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.one_of(
    st.recursive(st.none() | st.integers() | st.text(max_size=5) | st.sampled_from(["r0", "r1", "r2", 200]),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                     st.sampled_from(["custom_id", "response", "status_code", "body", "choices", "message", "content",
                                      "usage", "error"]), inner, max_size=4), max_leaves=8).map(json.dumps),
    st.sampled_from(["not json", '{"custom_id": NaN}', "[1]"])), max_size=4))
def test_results_importer_property_only_promptrec_errors(tmp_path_factory, exported, data):
    """Any results file: every line it answers is written (a ranking or an error line), or the import stops
    with a PromptrecError naming the file; never another exception, never an id twice."""
    entries, ranker_for, _ = exported
    folder = tmp_path_factory.mktemp("prop")
    results = folder / "results.jsonl"
    results.write_text("\n".join(data) + "\n")
    output = folder / "out.jsonl"
    try:
        import_results(entries, ranker_for, results, output)
    except PromptrecError as error:
        assert str(results) in str(error) or "results" in str(error)
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()] if output.exists() else []
    assert len(ids) == len(set(ids))
