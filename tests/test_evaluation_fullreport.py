"""The full-catalog report: its table with the paired column, results.json's entry, rows and rankings."""

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import TINYLENS  # noqa: E402

from promptrec.evaluation.datasets import load_dataset  # noqa: E402
from promptrec.evaluation.fullcatalog import run_full  # noqa: E402
from promptrec.evaluation.fullreport import full_rankings, full_rows, full_section, full_summary  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig  # noqa: E402


def test_the_section_pairs_every_row_with_the_best_baseline_and_shows_how_to_repeat_it(tmp_path):
    dataset = load_dataset(f"movielens:{TINYLENS}")
    run = run_full(dataset, ProtocolConfig(users=15, valid_users=10, seed=2), retrievers=("popularity", "cooccurrence"),
                   pool_size=10, folder=tmp_path / "data")
    text = "\n".join(full_section(run))
    assert "| Δ NDCG@10 vs best baseline ± paired s.e. (▲: > 2 s.e.) | cost per user |" in text
    summary = full_summary(run)
    names = [m["name"] for m in summary["methods"]]
    assert names[:3] == ["random", "popularity", "cooccurrence"]
    compared = [m for m in summary["methods"] if "versus_best_baseline" in m]
    assert len(compared) == len(names) - 1  # every row but the best baseline itself
    best = compared[0]["versus_best_baseline"]["baseline"]
    assert best in ("popularity", "cooccurrence") and f"| {best} |" in text and "best baseline" in text
    assert "promptrec rank --config" in text and "```toml" in text and 'retriever = "' in text
    assert summary["pipeline"]["config"]["retrieval"]["pool"] == 10
    assert len(full_rows(run)) == sum(len(m.ranks) for m in run.methods)
    rankings = full_rankings(run)
    assert {r["method"] for r in rankings} == {"random", "popularity", "cooccurrence"}  # the bound ranks nothing
    assert all(len(r["ranked"]) == 10 and r["protocol"] == "full" for r in rankings)
