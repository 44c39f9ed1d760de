"""End to end: run the harness on real data, write the run folder, and the ``eval`` command."""

import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from click.testing import CliRunner  # noqa: E402
from conftest import DATASETS, ScriptedBackend  # noqa: E402

from promptrec.evaluation.cli import eval_command  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.llm import llm_factory  # noqa: E402
from promptrec.evaluation.pointwise import run_pointwise  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402
from promptrec.evaluation.report import write_report  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}")

REVERSED = " > ".join(f"[{chr(65 + i)}]" for i in reversed(range(20)))


class TitleLengthMethod:
    """A pointwise method that sees only the query (history and target), never the label."""

    name = "LLM stand-in"

    def __init__(self):
        self.queries = []

    def score(self, query):
        from promptrec.evaluation.baselines import Scored

        self.queries.append(query)
        (target,) = query.candidates
        return Scored({target.id: float(len(target.title))}, {})


def test_pointwise_methods_are_scored_on_every_sampled_record():
    dataset = load_dataset("bookcrossing", DATASETS)
    method = TitleLengthMethod()
    run = run_pointwise(dataset, 40, seed=1, methods=[method])
    assert len(method.queries) == 40 and set(run.scores[method.name]) == {c.case_id for c in run.cases}
    assert all(q.history == c.liked for q, c in zip(method.queries, run.cases))
    assert 0.0 <= run.auc[method.name] <= 1.0 and set(run.auc) == {"random", "popularity", "bm25", method.name}


def test_run_with_a_scripted_llm_writes_every_file(tmp_path):
    backend = ScriptedBackend([REVERSED] * 30 + ["[A] > [A] > [Z]"] * 5 + ["nonsense"] * 10)  # 10 valid + 10 test alternate, then test
    config = ProtocolConfig(users=30, valid_users=10, seed=4)
    movies = run_dataset(load_dataset("movielens", DATASETS), config, [llm_factory(backend, history=config.history)])
    cross = run_dataset(load_dataset("books-cds", DATASETS), ProtocolConfig(users=10, valid_users=5),
                        [llm_factory(ScriptedBackend([REVERSED] * 15), history=20)])
    points = run_pointwise(load_dataset("bookcrossing", DATASETS), 100, seed=0)
    paths = write_report(tmp_path / "run", [movies, cross], [points], {"seed": 4})
    names = [m.name for m in movies.methods]
    assert names[:5] == ["random", "popularity", "co-occurrence", "bm25", "semantic"]
    assert names[5] == "LLM test (sequential)" and sum(m.kind == "fused" for m in movies.methods) == 2
    report = paths["report"].read_text()
    for text in ("random (expected)", "| popularity |", "| bm25 |", "weight on LLM", "history length",
                 "30 sampled of 610 (seed 4)", "the last 20 items (H)", "books->cds", "AUC (100 records)"):
        assert text in report
    results = json.loads(paths["results"].read_text())
    llm = next(m for m in results["datasets"][0]["methods"] if m["kind"] == "llm")
    assert llm["answers"]["answers"] == 30 and llm["users"] == 30
    assert llm["answers"]["duplicate_rate"] == pytest.approx(5 / 30) and llm["answers"]["invalid_format_rate"] == pytest.approx(5 / 30)
    assert llm["answers"]["reasks"] == 5 and llm["answers"]["hallucinated_rate"] == pytest.approx(5 / 30)
    fused = next(m for m in results["datasets"][0]["methods"] if m["kind"] == "fused")
    assert 0.0 <= fused["fusion"]["weight"] <= 1.0 and fused["fusion"]["prior"] in ("popularity", "co-occurrence", "bm25", "semantic")
    assert fused["fusion"]["valid_users"] == 10 and fused["fusion"]["prior_valid_users"] == 10
    assert set(fused["fusion"]["valid_se"]) == set(fused["fusion"]["valid_curve"])
    rows = [json.loads(line) for line in paths["rows"].read_text().splitlines()]
    assert len(rows) == 30 * 8 + 10 * 8 + 100 * 3
    row = next(r for r in rows if r["kind"] == "llm")
    assert row["truth"] in row["candidates"] and row["truth_rank"] == row["order"].index(row["truth"]) + 1
    assert "llm" in row and row["llm"]["input_tokens"] > 0
    for plot in ("plot_methods", "plot_history"):
        assert paths[plot].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_domain_prompt_names_the_source_domain():
    backend = ScriptedBackend([REVERSED])
    dataset = load_dataset("books-cds", DATASETS)
    method = llm_factory(backend)(dataset)
    run = run_dataset(dataset, ProtocolConfig(users=1, valid_users=0), [lambda _: method], fusion=False)
    (messages, _), = backend.requests
    user = messages[-1]["content"]
    assert user.startswith("I have read the following books, oldest first:")
    assert "I have not listened to any albums yet." in user and "candidate albums" in user
    history_titles = [item.title for item in run.test[0].query.history]
    assert all(title.replace('"', "'")[:20] in user for title in history_titles)


def test_eval_command_with_baselines_only(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        eval_command,
        ["-d", "movielens", "-d", "office", "-d", "bookcrossing", "--data-dir", str(DATASETS), "-n", "25",
         "--valid-users", "5", "--seed", "7", "--no-llm", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "| popularity |" in result.output and "25 sampled of 610 (seed 7)" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["metric_by_method.png", "ndcg_by_history.png", "report.md",
                                                     "results.json", "rows.jsonl"]


def test_eval_command_reports_bad_datasets_and_protocols(tmp_path):
    result = CliRunner().invoke(eval_command, ["-d", "nope", "--no-llm", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "unknown dataset 'nope'" in result.output
    result = CliRunner().invoke(
        eval_command, ["-d", "movielens", "--data-dir", str(DATASETS), "--protocol", "cross-domain", "--no-llm", "-o", str(tmp_path)]
    )
    assert result.exit_code != 0 and "is llmrank, not cross-domain" in result.output


@pytest.mark.model
def test_eval_command_on_the_bundled_model(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        eval_command,
        ["-d", "movielens", "-d", "bookcrossing", "--data-dir", str(DATASETS), "-n", "4", "--valid-users", "1",
         "--history", "5", "--mode", "score", "--calibrate", "-o", str(out), "--cache-dir", str(tmp_path / "cache")],
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


def test_the_command_module_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys, promptrec.evaluation.cli, promptrec.evaluation; "
            "print(sorted(m for m in ('ir_measures', 'bm25s', 'matplotlib', 'llama_cpp') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_ranker_options_are_refused():
    with pytest.raises(ValueError, match="does not take nonsense"):
        llm_factory(ScriptedBackend([]), ranker_options={"nonsense": 1})


def test_model_labels_name_the_model_not_the_url():
    from types import SimpleNamespace

    from promptrec.evaluation.llm import model_label

    assert model_label(SimpleNamespace(name="llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf")) == "SmolLM2-135M-Instruct.Q4_1"
    assert model_label(SimpleNamespace(name="openai:smollm2@http://127.0.0.1:8765/v1")) == "smollm2"
    assert model_label(SimpleNamespace(name="openai:meta/llama-3@https://host/v1")) == "llama-3"
