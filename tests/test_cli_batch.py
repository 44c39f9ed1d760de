"""``promptrec batch`` (the library's behaviour is in test_batch.py)."""

import json

from click.testing import CliRunner

from promptrec.cli.batch import batch


def test_without_an_output_the_lines_go_to_stdout_in_input_order(tmp_path):
    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(
        '{"id": "%s", "history": ["%s"], "candidates": {"generator": "semantic", "n": 3, "llm_weight": 0}}\n' % (i, h)
        for i, h in [("r1", "m01"), ("r2", "Alien"), ("r3", "m99"), ("r4", "the matrix")]))
    result = CliRunner().invoke(batch, [str(requests), "--catalog", "demo", "--workers", "4", "--json",
                                        "--cache-dir", str(tmp_path / "cache"), "--no-feedback"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["r1", "r2", "r3", "r4"]  # input order, with 4 workers
    assert [line["ok"] for line in lines] == [True, True, False, True]  # a title is a history item too
    assert "'m99' is not in the catalog (nor a title there)" in lines[2]["error"]["message"]
    summary = json.loads(result.stderr.splitlines()[-7])  # --json goes to stderr when the lines use stdout
    assert summary["failed_total"] == 1
    assert result.exit_code == 1 and "1 request(s) failed" in result.stderr


def test_options_that_need_a_results_file_say_so(tmp_path):
    (tmp_path / "results.jsonl").write_text("")
    for flag in ("--retry-errors", f"--import-openai-batch={tmp_path / 'results.jsonl'}"):
        result = CliRunner().invoke(batch, ["requests.jsonl", flag])
        assert result.exit_code == 2 and "needs -o OUTPUT" in result.output


def test_a_retriever_that_needs_interactions_is_refused_once_up_front(tmp_path):
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"id": "a", "history": ["m01"], "candidates": {"generator": "cooccurrence", "n": 5}}\n' * 1
                        + '{"id": "b", "history": ["m01"], "candidates": {"generator": "popularity+bm25", "n": 5}}\n')
    result = CliRunner().invoke(batch, [str(requests), "--catalog", "demo", "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2
    assert "requests use the cooccurrence, popularity+bm25 retriever" in result.output and "--interactions" in result.output
    out = tmp_path / "out.jsonl"
    assert not out.exists() or not out.read_text()  # nothing was ranked


def test_batch_says_when_the_input_is_missing(tmp_path):
    result = CliRunner().invoke(batch, [str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2 and "is not a file" in result.output


# ---------------------------------------------------------------------------------------- hardening (issue 27)

import pytest  # noqa: E402
from openai_stub import StubServer  # noqa: E402

REQUEST = '{"id": "a", "history": ["m01"], "candidates": ["m02", "m03"]}\n'


@pytest.mark.parametrize(("output", "words"), [
    ("/proc/self/promptrec-out.jsonl", "cannot write the results"),
    ("no/such/folder/out.jsonl", "does not exist"),
    ("in.jsonl", "is the input file"),
    (".", "directory"),
])
def test_an_unusable_output_fails_before_any_work(tmp_path, monkeypatch, output, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text(REQUEST)
    with StubServer() as server:
        result = CliRunner().invoke(batch, ["in.jsonl", "-o", output, "--catalog", "demo", "--backend", "openai:stub",
                                            "--base-url", server.url])
        assert server.calls == 0  # nothing was ranked
    assert result.exit_code in (1, 2) and words in result.output and "Traceback" not in result.output
    assert (tmp_path / "in.jsonl").read_text() == REQUEST  # the requests are untouched


@pytest.mark.parametrize("price", ["nan", "inf", "-inf"])
def test_a_price_that_is_not_a_number_is_refused(tmp_path, price):
    (tmp_path / "in.jsonl").write_text(REQUEST)
    result = CliRunner().invoke(batch, [str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--price-in", price])
    assert result.exit_code == 2 and ("--price-in" in result.output or "batch.price_in" in result.output)


def test_the_json_summary_is_valid_json(tmp_path):
    (tmp_path / "in.jsonl").write_text(REQUEST)
    with StubServer() as server:
        result = CliRunner().invoke(batch, [str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--catalog", "demo",
                                            "--backend", "openai:stub", "--base-url", server.url, "--json",
                                            "--cache-dir", str(tmp_path / "cache"), "--no-feedback"])
    summary = json.loads(result.stdout.splitlines()[0], parse_constant=lambda name: pytest.fail(name))
    assert summary["succeeded"] == 1
