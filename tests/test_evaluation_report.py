"""The run folder: report.md, results.json, rows.jsonl and the plots, written from runs."""

import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, REVERSED, ScriptedBackend, needs_datasets  # noqa: E402

from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.llm import llm_factory  # noqa: E402
from promptrec.evaluation.pointwise import run_pointwise  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402
from promptrec.evaluation.report import write_report  # noqa: E402
from promptrec.evaluation.runner import run_dataset  # noqa: E402


@needs_datasets
def test_run_with_a_scripted_llm_writes_every_file(tmp_path):
    backend = ScriptedBackend([REVERSED] * 30 + ["[A] > [A] > [Z]"] * 5 + ["nonsense"] * 10)  # 10 valid + 10 test alternate, then test
    config = ProtocolConfig(users=30, valid_users=10, seed=4)
    movies = run_dataset(load_dataset("movielens", DATASETS), config, [llm_factory(backend, history=config.history)],
                         force=True)
    cross = run_dataset(load_dataset("books-cds", DATASETS), ProtocolConfig(users=10, valid_users=5),
                        [llm_factory(ScriptedBackend([REVERSED] * 15), history=20)], force=True)
    points = run_pointwise(load_dataset("bookcrossing", DATASETS), 100, seed=0)
    paths = write_report(tmp_path / "run", [movies, cross], [points], {"seed": 4})
    names = [m.name for m in movies.methods]
    assert names[:5] == ["random", "popularity", "co-occurrence", "bm25", "semantic"]
    assert names[5] == "LLM test (sequential)" and sum(m.kind == "fused" for m in movies.methods) == 2
    report = paths["report"].read_text()
    for text in ("random (expected)", "| popularity |", "| bm25 |", "weight on LLM", "history length",
                 "30 sampled of 610 (seed 4;", "the last 20 items (H)", "books->cds", "AUC (100 records)"):
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


def test_on_the_fixtures_a_run_with_a_scripted_llm_writes_every_file(tmp_path):
    from conftest import TINYLENS

    config = ProtocolConfig(users=6, valid_users=4, seed=1)
    backend = ScriptedBackend([REVERSED] * 10)
    run = run_dataset(load_dataset(f"movielens:{TINYLENS}"), config, [llm_factory(backend, history=config.history)],
                      force=True)
    paths = write_report(tmp_path / "run", [run], [], {"seed": 1, "command": "promptrec eval -d tinylens"})
    assert len(backend.requests) == 10 and backend.answers == []
    report = paths["report"].read_text()
    for text in ("# promptrec evaluation", "- seed: 1", "- command: promptrec eval -d tinylens", "## tinylens",
                 "| popularity |", "LLM test (sequential)", "6 sampled of 40 (seed 1; the same users", "ids sha256",
                 "Δ NDCG@10 vs best baseline"):
        assert text in report
    results = json.loads(paths["results"].read_text())
    assert results["meta"]["seed"] == 1 and results["pointwise"] == [] and results["full_catalog"] == []
    (dataset,) = results["datasets"]
    llm = next(m for m in dataset["methods"] if m["kind"] == "llm")
    assert llm["answers"]["answers"] == 6 and llm["answers"]["invalid_format_rate"] == 0.0
    rows = [json.loads(line) for line in paths["rows"].read_text().splitlines()]
    assert len(rows) == len(dataset["methods"]) * 6 and {r["method"] for r in rows} == {m["name"] for m in dataset["methods"]}
    for plot in ("plot_methods", "plot_history"):
        assert paths[plot].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_md_puts_the_paired_error_beside_each_row_and_marks_two_standard_errors(tmp_path):
    from conftest import TINYLENS

    from promptrec.evaluation.metrics import per_case
    from promptrec.evaluation.protocol import build_cases
    from promptrec.evaluation.runner import DatasetRun, MethodResult

    dataset = load_dataset(f"movielens:{TINYLENS}")
    config = ProtocolConfig(users=12, valid_users=0, seed=2)
    test, _ = build_cases(dataset, config)

    def method(name, kind, where):  # the truth at a fixed place in the candidate order
        orders = {}
        for case in test:
            others = [i.id for i in case.query.candidates if i.id != case.truth]
            orders[case.case_id] = others[:where] + [case.truth] + others[where:]
        return MethodResult(name, kind, orders, per_case(test, orders))

    methods = [method("random", "baseline", 15), method("popularity", "baseline", 4), method("clearly better", "llm", 0),
               method("noisy", "llm", 4)]
    methods[3].values[test[0].case_id] = dict(methods[2].values[test[0].case_id])  # better on one user only
    run = DatasetRun(dataset, config, test, [], methods, {"protocol": "toy"})
    paths = write_report(tmp_path / "run", [run], [], {"mode": "none (baselines only)"})
    rows: dict[str, str] = {}
    for line in paths["report"].read_text().splitlines():  # the first table: the test metrics
        if line.startswith("| "):
            rows.setdefault(line.split(" | ")[0][2:], line)
    assert rows["popularity"].endswith("| best baseline |")
    assert rows["clearly better"].endswith(" ▲ |") and "+0.6131 ± 0.0000" in rows["clearly better"]
    assert "▲" not in rows["noisy"] and "▲" not in rows["random"] and " -0." in rows["random"]
    results = json.loads(paths["results"].read_text())
    better = next(m for m in results["datasets"][0]["methods"] if m["name"] == "clearly better")
    assert better["versus_best_baseline"]["baseline"] == "popularity" and better["versus_best_baseline"]["beats_by_2_se"]
