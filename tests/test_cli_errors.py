"""Every subcommand through a table of bad options, combinations, files and values: one line that says what
and where, exit code 2 for usage or 1 for a failure, never a traceback, and no model loaded to find out."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from promptrec.cli import main

REQUESTS = '{"id": "r1", "history": ["m01"], "candidates": ["m02", "m03"]}\n'

# (arguments, exit code, a fragment of the message); {tmp} is a fresh folder, {req} a valid requests file
CASES = [
    # rank
    (["rank", "--catalog", "demo", "--history", "m01", "--calibrate"], 2, "calibrate needs mode 'score' or 'pointwise'"),
    (["rank", "--catalog", "demo", "--history", "m01", "--mode", "pointwise", "--permutations", "3"], 2, "pointwise mode asks about each candidate alone"),
    (["rank", "--catalog", "demo", "--history", "m01", "--mode", "pointwise", "--window", "5"], 2, "permutations and window do not apply"),
    (["rank", "--catalog", "demo", "--history", "m01", "--backend", "nosuch"], 2, "unknown backend kind 'nosuch'"),
    (["rank", "--catalog", "demo", "--history", "m01", "--strategy", "nosuch"], 2, "Invalid value for '--strategy'"),
    (["rank", "--catalog", "demo", "--history", "m01", "--pool", "0"], 2, "Invalid value for '--pool'"),
    (["rank", "--catalog", "demo", "--history", "m01", "--llm-weight", "1.5"], 2, "Invalid value for '--llm-weight'"),
    (["rank", "--history", "m01"], 2, "--history takes item ids from a catalog"),
    (["rank", "--catalog", "demo", "--user-file", "{tmp}/users.jsonl"], 2, "--user-file needs --user"),
    (["rank", "--catalog", "{tmp}/missing.jsonl", "--history", "m01"], 1, "missing.jsonl: file not found"),
    (["rank", "--catalog", "{tmp}/bad.jsonl", "--history", "m01"], 1, "bad.jsonl:2"),
    (["rank", "--catalog", "demo", "--history", "zzz"], 1, "not in the catalog"),
    (["rank", "--catalog", "demo", "--history", "m01", "--scenario", "nosuch"], 1, "unknown scenario 'nosuch'"),
    (["rank", "--catalog", "demo", "--history", "m01", "--prompts", "{tmp}/nope"], 1, "prompts directory not found"),
    (["rank", "--catalog", "demo", "--history", "m01", "--backend", "llamacpp:{tmp}/nope.gguf"], 1, "model file not found"),
    (["rank", "--catalog", "demo", "--history", "m01", "--retriever", "nosuch"], 1, "unknown retriever 'nosuch'"),
    (["rank", "--catalog", "demo", "--history", "m01", "--retriever", "popularity"], 1, "needs interactions"),
    (["rank", "--catalog", "demo", "--history", "m01", "--interactions", "{tmp}/missing.csv"], 1, "missing.csv: file not found"),
    # batch
    (["batch", "{req}"], 2, "the requests name item ids: give --catalog"),
    (["batch", "{req}", "--retry-errors"], 2, "--retry-errors needs -o OUTPUT"),
    (["batch", "{tmp}/missing.jsonl", "-o", "{tmp}/out.jsonl"], 2, "missing.jsonl"),
    (["batch", "{req}", "-o", "{tmp}/out.jsonl", "--catalog", "demo", "--calibrate"], 2, "calibrate needs mode"),
    (["batch", "{req}", "--catalog", "demo", "--export-openai-batch", "{tmp}/x.jsonl", "--mode", "score"], 2, "one generated answer per request"),
    (["batch", "{req}", "--catalog", "demo", "--export-openai-batch", "{tmp}/x.jsonl"], 2, "cannot write OpenAI Batch API requests"),
    (["batch", "{req}", "-o", "{tmp}/out.jsonl", "--engine", "ray", "--export-openai-batch", "{tmp}/x.jsonl"], 2, "does not export or import"),
    (["batch", "{req}", "-o", "{tmp}/out.jsonl", "--catalog", "{tmp}/missing.jsonl"], 1, "missing.jsonl: file not found"),
    # scenarios, cache, feedback, eval, serve
    (["scenarios", "show", "nosuch"], 1, "unknown scenario 'nosuch'"),
    (["scenarios", "list", "--prompts", "{tmp}/nope"], 1, "prompts directory not found"),
    (["cache", "stats", "--cache-dir", "/proc/promptrec-nope"], 1, "No such file or directory"),
    (["feedback", "add", "--user", "u1", "--item", "m01", "--title", "Alien", "--label", "meh"], 2, "Invalid value for '--label'"),
    (["feedback", "import", "{tmp}/missing.jsonl"], 1, "missing.jsonl"),
    (["feedback", "import", "{tmp}/bad.jsonl"], 1, "bad.jsonl:1"),
    (["eval", "-d", "nosuch"], 1, "unknown dataset 'nosuch'"),
    (["serve-model", "--model", "{tmp}/nope.gguf"], 1, "model file not found"),
]


@pytest.mark.parametrize("args, code, message", CASES, ids=[" ".join(case[0][:4]) + f" #{i}" for i, case in enumerate(CASES)])
def test_bad_input_gets_one_clear_line_and_no_traceback(tmp_path, monkeypatch, args, code, message):
    import llama_cpp

    def no_model_load(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the bad input was found")

    monkeypatch.setattr(llama_cpp, "Llama", no_model_load)
    (tmp_path / "bad.jsonl").write_text('{"id": "m01", "title": "Alien"}\n{"id": "m02", "title": \n')
    (tmp_path / "users.jsonl").write_text(json.dumps({"user_id": "u1", "history": ["m01"]}) + "\n")
    requests = tmp_path / "requests.jsonl"
    requests.write_text(REQUESTS)
    args = [arg.replace("{tmp}", str(tmp_path)).replace("{req}", str(requests)) for arg in args]
    result = CliRunner().invoke(main, args)
    output = result.output
    assert "Traceback" not in output, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, output
    assert message in output, output
    assert output.count("Error:") == 1, output
