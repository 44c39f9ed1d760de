"""`promptrec eval` end to end through click's CliRunner: on the generated fixtures always, on the real datasets where present."""

import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from click.testing import CliRunner  # noqa: E402
from conftest import DATASETS, TINYCROSS, TINYLENS, needs_datasets  # noqa: E402

from promptrec.cli.eval import eval_command  # noqa: E402


@needs_datasets
def test_eval_command_with_baselines_only(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        eval_command,
        ["-d", "movielens", "-d", "office", "-d", "bookcrossing", "--data-dir", str(DATASETS), "-n", "25",
         "--valid-users", "5", "--seed", "7", "--no-llm", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "| popularity |" in result.output and "25 sampled of 610 (seed 7;" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["metric_by_method.png", "ndcg_by_history.png", "report.md",
                                                     "results.json", "rows.jsonl", "users.jsonl"]


@needs_datasets
def test_eval_command_reports_bad_datasets_and_protocols(tmp_path):
    result = CliRunner().invoke(eval_command, ["-d", "nope", "--no-llm", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "unknown dataset 'nope'" in result.output
    result = CliRunner().invoke(
        eval_command, ["-d", "movielens", "--data-dir", str(DATASETS), "--protocol", "cross-domain", "--no-llm", "-o", str(tmp_path)]
    )
    assert result.exit_code != 0 and "is llmrank, not cross-domain" in result.output


@needs_datasets
@pytest.mark.model
def test_eval_command_on_the_bundled_model(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        eval_command,
        ["-d", "movielens", "-d", "bookcrossing", "--data-dir", str(DATASETS), "-n", "4", "--valid-users", "1",
         "--history", "5", "--mode", "score", "--calibrate", "--force", "-o", str(out), "--cache-dir", str(tmp_path / "cache")],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    llm = next(m for m in results["datasets"][0]["methods"] if m["kind"] == "llm")
    assert llm["name"].startswith("LLM SmolLM2-135M-Instruct") and "mode=score, calibrate=True" in llm["name"]
    assert llm["users"] == 4 and llm["answers"]["answers"] == 4 and llm["answers"]["failures"] == 0
    assert llm["answers"]["input_tokens"] > 0 and 0.0 <= llm["metrics"]["NDCG@10"] <= 1.0
    (pointwise,) = results["pointwise"]
    (name,) = [n for n in pointwise["auc"] if n.startswith("LLM")]
    assert "mode=pointwise, calibrate=True" in name and pointwise["records"] == 4
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    scores = [row["score"] for row in rows if row.get("method") == name]
    assert len(scores) == 4 and len(set(scores)) > 1  # one log-odds per record, not a constant


@needs_datasets
def test_eval_command_full_protocol_on_real_data(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(eval_command, [
        "-d", "movielens", "-d", "books-movies", "--data-dir", str(DATASETS), "--protocol", "full", "--protocol", "auto",
        "-n", "30", "--valid-users", "30", "--retriever", "popularity", "--retriever", "cooccurrence",
        "--retriever", "bm25", "--no-llm", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "## movielens (full catalog)" in result.output and "## books->movies (full catalog)" in result.output
    assert "## movielens\n" in result.output  # the 20-candidate protocol ran too
    results = json.loads((out / "results.json").read_text())
    (ml, bm) = results["full_catalog"]
    assert ml["catalog_size"] == 9724 and bm["protocol"]["protocol"].endswith("(books -> movies)")
    assert [m["name"] for m in ml["methods"]][:4] == ["random", "popularity", "cooccurrence", "bm25"]
    assert all(m["users"] == 30 for m in ml["methods"])
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert sum(1 for r in rows if r.get("protocol") == "full") == 2 * 30 * 5


# ------------------------------------------------------------------ on the generated fixtures, always

FIXTURE_SPECS = ["-d", f"movielens:{TINYLENS}", "-d", f"crossdomain:{TINYCROSS}:books:movies"]


def _run(args, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(eval_command, [*FIXTURE_SPECS, *args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result, out, json.loads((out / "results.json").read_text())


def test_both_protocols_on_the_fixtures_with_the_baselines_only(tmp_path):
    result, out, results = _run(["--protocol", "auto", "--protocol", "full", "--no-llm", "-n", "12",
                                 "--valid-users", "10", "--seed", "3"], tmp_path)
    for heading in ("## tinylens\n", "## tinycross:books->movies\n", "## tinylens (full catalog)",
                    "## tinycross:books->movies (full catalog)", "12 sampled of 40 (seed 3", "- mode: none (baselines only)"):
        assert heading in result.output
    assert "mode: generate" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "data", "metric_by_method.png", "ndcg_by_history.png",
                                                     "report.md", "results.json", "rows.jsonl", "users.jsonl"]
    users = [json.loads(line) for line in (out / "users.jsonl").read_text().splitlines()]
    for name in ("tinylens", "tinycross:books->movies"):  # one sample: both protocols list the same test users
        (twenty,) = [u for u in users if u["dataset"] == name and u["protocol"] == "candidates" and u["split"] == "test"]
        (full,) = [u for u in users if u["dataset"] == name and u["protocol"] == "full" and u["split"] == "test"]
        assert twenty["user_ids"] == full["user_ids"] and twenty["sha256"] == full["sha256"] and twenty["users"] == 12
        assert result.output.count(f"ids sha256 {twenty['sha256']}") == 2
    lens, cross = results["datasets"]
    assert (lens["name"], cross["name"]) == ("tinylens", "tinycross:books->movies")
    assert [m["name"] for m in lens["methods"]][:4] == ["random", "popularity", "co-occurrence", "bm25"]
    assert all(m["kind"] != "llm" for d in results["datasets"] for m in d["methods"])
    full_lens, full_cross = results["full_catalog"]
    assert (full_lens["catalog_size"], full_cross["catalog_size"]) == (100, 50)
    assert all(m["users"] == 12 for m in full_lens["methods"] if m["name"] != "random (expected, whole catalog)")
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    twenty = [r for r in rows if r.get("protocol") != "full" and r["dataset"] == "tinylens"]
    assert twenty and all(len(r["candidates"]) == 20 and r["truth"] in r["candidates"] for r in twenty)
    assert {r["user_id"] for r in twenty} <= {str(u) for u in range(1, 41)}


def test_both_protocols_on_the_fixtures_with_a_stand_in_llm(tmp_path):
    from openai_stub import StubServer

    with StubServer() as server:  # an OpenAI-compatible server ranking the labels in reverse shown order
        _, out, results = _run(["--protocol", "auto", "--protocol", "full", "--backend", "openai:stub", "--base-url",
                                server.url, "--api-key", "unused", "-n", "8", "--valid-users", "6", "--llm-users", "5",
                                "--llm-valid-users", "4", "--no-cache", "--force"], tmp_path)
    for dataset in results["datasets"]:
        (llm,) = [m for m in dataset["methods"] if m["kind"] == "llm"]
        assert llm["name"] == "LLM stub (sequential)" and llm["users"] == 8
        assert llm["answers"]["answers"] == 8 and llm["answers"]["failures"] == 0
        assert llm["answers"]["invalid_format_rate"] == 0.0 and llm["answers"]["hallucinated_rate"] == 0.0
        assert any(m["kind"] == "fused" for m in dataset["methods"])
    for full in results["full_catalog"]:
        names = [m["name"] for m in full["methods"]]
        assert "LLM stub (sequential) reranks the pool" in names, names
    # 20 candidates: 8 test + 4 validation users per dataset; full catalog: 5 + 4 LLM users per dataset
    assert server.calls == 2 * (8 + 4) + 2 * (5 + 4)
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    llm_rows = [r for r in rows if r["kind"] == "llm" and r.get("protocol") != "full"]
    assert len(llm_rows) == 16 and all(r["llm"]["input_tokens"] > 0 for r in llm_rows)


def test_bad_datasets_and_protocols_are_one_line_errors_on_the_fixtures(tmp_path):
    result = CliRunner().invoke(eval_command, ["-d", "nope", "--no-llm", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "unknown dataset 'nope'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(eval_command, ["-d", f"movielens:{TINYLENS}", "--protocol", "cross-domain", "--no-llm",
                                               "-o", str(tmp_path)])
    assert result.exit_code != 0 and "is llmrank, not cross-domain" in result.output
    result = CliRunner().invoke(eval_command, ["-d", f"movielens:{tmp_path / 'absent'}", "--no-llm", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "movies.csv" in result.output and "Traceback" not in result.output


def test_a_weight_on_fewer_than_100_validation_users_is_refused_without_force(tmp_path):
    from openai_stub import StubServer

    with StubServer() as server:
        result = CliRunner().invoke(eval_command, ["-d", f"movielens:{TINYLENS}", "--backend", "openai:stub",
                                                   "--base-url", server.url, "--api-key", "unused", "-n", "4",
                                                   "--no-cache", "-o", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "chosen on 36 validation users, fewer than 100" in result.output and "--force" in result.output
    assert server.calls == 0  # refused before any model call


def _amazon_like(folder):
    """The documented cross-domain format as a converted Amazon pair: item_id, domain, title; a position column."""
    folder.mkdir()
    (folder / "items.csv").write_text("item_id,domain,title\n" + "".join(
        f"f{i},food,Food item {i} {'spicy' if i % 2 else 'sweet'}\n" for i in range(30)) + "".join(
        f"k{i},kitchen,Kitchen tool {i} {'pan' if i % 3 else 'knife'}\n" for i in range(30)))
    rows = ["user_id,item_id,domain,position"]
    for u in range(120):
        seq = [f"f{u % 30}", f"f{(u * 7) % 30}", f"k{u % 30}", f"f{(u + 3) % 30}", f"k{(u * 5 + 1) % 30}"]
        seq = list(dict.fromkeys(seq))
        rows += [f"u{u},{item},{'food' if item[0] == 'f' else 'kitchen'},{p}" for p, item in enumerate(seq)]
    (folder / "interactions.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_crossdomain_with_a_position_column_no_leak_and_a_renamed_copy_gives_the_same_numbers(tmp_path):
    import shutil

    from promptrec.evaluation.datasets import load_dataset

    first = _amazon_like(tmp_path / "pair")
    second = tmp_path / "another-name"
    shutil.copytree(first, second)
    numbers = []
    for folder in (first, second):
        out = tmp_path / f"run-{folder.name}"
        result = CliRunner().invoke(eval_command, ["-d", f"crossdomain:{folder}:food:kitchen", "--no-llm",
                                                   "--protocol", "auto", "--protocol", "full", "--retriever",
                                                   "popularity", "--retriever", "bm25", "-o", str(out)])
        assert result.exit_code == 0, result.output
        results = json.loads((out / "results.json").read_text())
        numbers.append([[(m["name"], m["metrics"]) for m in d["methods"]]
                        for d in results["datasets"] + results["full_catalog"]])
        assert "leak guard" in result.output and "order from the 'position' column" in result.output
    assert numbers[0] == numbers[1]
    dataset = load_dataset(f"crossdomain:{first}:food:kitchen")
    position = {}
    for line in (first / "interactions.csv").read_text().splitlines()[1:]:
        user, item, _, where = line.split(",")
        position[(user, item)] = int(where)
    for record in dataset.test.records:  # no source item ordered after the truth
        assert all(position[(record.user_id, i)] < position[(record.user_id, record.truth)] for i in record.history)


def test_without_o_the_run_goes_under_the_user_data_folder_not_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMPTREC_EVAL_DIR", str(tmp_path / "data" / "eval"))
    result = CliRunner().invoke(eval_command, ["-d", f"movielens:{TINYLENS}", "-n", "6", "--valid-users", "0",
                                               "--no-llm"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "results").exists()
    runs = list((tmp_path / "data" / "eval").iterdir())
    assert len(runs) == 1 and (runs[0] / "report.md").is_file()
    assert f"report: {runs[0] / 'report.md'}" in result.stderr  # where it went is said
    from promptrec.cli.eval import default_eval_dir

    monkeypatch.delenv("PROMPTREC_EVAL_DIR")
    assert default_eval_dir().parts[-2:] == ("promptrec", "eval") and str(tmp_path) not in str(default_eval_dir())
