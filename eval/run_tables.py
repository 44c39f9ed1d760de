"""The tables of eval/README.md ("Whole pipeline"), one command each, and their compact summary.

    python eval/run_tables.py retrievers     # both protocols, every retriever/baseline, 7 datasets, 200 + 200 users (~4 min)
    python eval/run_tables.py retrievers-large   # full protocol, retrievers only, most of each dataset's users
    python eval/run_tables.py llm            # full protocol with the embedded model: MovieLens and cds->books,
                                             # 15 test + 30 validation LLM users each (about 1.5 hours on a busy 2-core machine)
    python eval/run_tables.py llm-rest       # the embedded model on the other datasets, both protocols (hours)
    python eval/run_tables.py llm-50         # the embedded model on 50 test users of every dataset, 20 candidates
    python eval/run_tables.py llm-200        # the embedded model on 200 test users, MovieLens and cds->books
    python eval/run_tables.py profile        # cds->books again with the LLM interest-profile retriever (after llm)
    python eval/run_tables.py summary eval/results/tables-retrievers eval/results/tables-large/* eval/results/tables-llm-full/*

Runs write eval/results/<name>/ (report.md with every table, its protocol, seeds and user counts;
results.json; rows.jsonl). Answers are cached in eval/results/cache, so an interrupted run resumes.
Options after the preset's name are passed to ``promptrec eval`` (they override the preset's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ["movielens", "games", "books-movies", "cds-books", "movies-cds", "office", "industrial"]

#: full-catalog retriever rows on as many users as each dataset has: (dataset, test users, validation users);
#: validation users are disjoint from the test users, so a dataset's users are split between the two
LARGE = [("movielens", 410, 200), ("games", 2000, 1000), ("books-movies", 146, 100), ("cds-books", 309, 150),
         ("movies-cds", 271, 100), ("office", 1000, 1000), ("industrial", 1000, 987)]

PRESETS: dict[str, list[list[str]]] = {
    "retrievers": [[
        *(a for d in DATASETS for a in ("-d", d)), "--protocol", "auto", "--protocol", "full", "--no-llm",
        "-n", "200", "--valid-users", "200", "--seed", "0", "-o", "eval/results/tables-retrievers",
    ]],
    "retrievers-large": [
        ["-d", d, "--protocol", "full", "--no-llm", "-n", str(n), "--valid-users", str(v), "--seed", "0",
         "-o", f"eval/results/tables-large/{d}"]
        for d, n, v in LARGE
    ],
    "llm": [
        ["-d", d, "--protocol", "full", "-n", "200", "--valid-users", "200", "--llm-users", "15",
         "--llm-valid-users", "30", "--mode", "score", "--history", "20", "--threads", "2", "--seed", "0",
         "--cache-dir", "eval/results/cache", "-o", f"eval/results/tables-llm-full/{d}"]
        for d in ("movielens", "cds-books")
    ],
    # the embedded model on the other datasets: both protocols, 15 test + 30 validation LLM users each
    "llm-rest": [
        *(["-d", d, "--protocol", "auto", "-n", "15", "--valid-users", "200", "--llm-valid-users", "30",
           "--mode", "score", "--history", "20", "--seed", "0", "--cache-dir", "eval/results/cache",
           "-o", f"eval/results/tables-llm-20/{d}"]
          for d in ("games", "books-movies", "movies-cds", "office", "industrial", "movielens")),
        *(["-d", d, "--protocol", "full", "-n", "200", "--valid-users", "200", "--llm-users", "15",
           "--llm-valid-users", "30", "--mode", "score", "--history", "20", "--seed", "0",
           "--cache-dir", "eval/results/cache", "-o", f"eval/results/tables-llm-full/{d}"]
          for d in ("games", "books-movies", "movies-cds", "office", "industrial")),
    ],
    # the embedded model on 50 test users per dataset, 20 candidates (its weight on 30 validation users)
    "llm-50": [
        ["-d", d, "--protocol", "auto", "-n", "50", "--valid-users", "200", "--llm-valid-users", "30",
         "--mode", "score", "--history", "20", "--seed", "0", "--cache-dir", "eval/results/cache",
         "-o", f"eval/results/tables-llm-50/{d}"]
        for d in DATASETS
    ],
    # the embedded model on the 200 test users of the retriever tables, where a prior is strong and where it is weak
    "llm-200": [
        ["-d", d, "--protocol", "auto", "-n", "200", "--valid-users", "200", "--llm-valid-users", "30",
         "--mode", "score", "--history", "20", "--seed", "0", "--cache-dir", "eval/results/cache",
         "-o", f"eval/results/tables-llm-200/{d}"]
        for d in ("movielens", "cds-books")
    ],
    # the LLM's interest profile as a BM25 query, on the same LLM users (the rankings come from the cache)
    "profile": [[
        "-d", "cds-books", "--protocol", "full", "-n", "200", "--valid-users", "200", "--llm-users", "15",
        "--llm-valid-users", "30", "--mode", "score", "--history", "20", "--threads", "2", "--seed", "0",
        *(a for r in ("popularity", "cooccurrence", "bm25", "semantic", "profile") for a in ("--retriever", r)),
        "--cache-dir", "eval/results/cache", "-o", "eval/results/tables-llm-full/cds-books-profile",
    ]],
}


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def summary(folders: list[str]) -> str:
    """Compact Markdown tables (NDCG@10 ± s.e., and full-catalog Recall@20) from run folders."""
    lines: list[str] = []
    candidates: dict[str, dict[str, str]] = {}
    full: dict[str, dict[str, str]] = {}
    users: dict[str, str] = {}
    for folder in folders:
        results = json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))
        for dataset in results.get("datasets", []):
            users[f"{dataset['name']} (20 candidates)"] = dataset["protocol"]["test users"]
            for method in dataset["methods"]:
                value = method["metrics"]["NDCG@10"]
                se = method["standard_error"]["NDCG@10"]
                candidates.setdefault(method["family"], {})[dataset["name"]] = f"{_fmt(value)} ± {_fmt(se)}"
        for dataset in results.get("full_catalog", []):
            users[f"{dataset['name']} (full)"] = dataset["protocol"]["test users"]
            for method in dataset["methods"]:
                m = method["metrics"]
                text = f"{_fmt(m['NDCG@10'])} / {_fmt(m['Recall@20'])} (n={method['users']})"
                name = method["name"].split(" (wsum")[0] + (" + fused" if method["kind"] == "fused" else "")
                full.setdefault(name, {})[dataset["name"]] = text
    for title, table in (("20 candidates: NDCG@10 ± s.e.", candidates), ("full catalog: NDCG@10 / Recall@20", full)):
        if not table:
            continue
        names = list(dict.fromkeys(d for row in table.values() for d in row))
        lines += [f"### {title}", "", "| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += ["| " + method + " | " + " | ".join(row.get(d, "—") for d in names) + " |" for method, row in table.items()]
        lines.append("")
    lines += ["users: " + "; ".join(f"{k}: {v}" for k, v in users.items())]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in (*PRESETS, "summary"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "summary":
        print(summary(sys.argv[2:]))
        return
    from promptrec.cli.eval import eval_command

    preset, extra = sys.argv[1], sys.argv[2:]
    for args in PRESETS[preset]:
        # the presets choose LLM weights on 10-30 validation users on purpose (the model's CPU time): --force
        sys.argv = ["promptrec eval", *args, "--force", *extra]
        eval_command.main(sys.argv[1:], prog_name="promptrec eval", standalone_mode=False)


if __name__ == "__main__":
    main()
