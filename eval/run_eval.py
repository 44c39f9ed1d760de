"""Reproduce the evaluation table of the project README: the embedded model against the baselines.

    python eval/run_eval.py                      # movielens, games, books->movies, cds->books; 30 users each, score mode
    python eval/run_eval.py -n 200 --threads 2   # options given after these override them (-d adds a dataset)

Writes eval/results/readme/ (report.md, results.json, rows.jsonl, PNG plots) and prints the report.
"""

from __future__ import annotations

import sys

from promptrec.cli.eval import eval_command

DEFAULTS = [
    "-d", "movielens", "-d", "games", "-d", "books-movies", "-d", "cds-books",
    "-n", "30", "--valid-users", "10", "--force", "--history", "20", "--seed", "0",
    "--backend", "llamacpp", "--strategy", "sequential", "--mode", "score",
    "-o", "eval/results/readme",
]

if __name__ == "__main__":
    sys.argv = ["promptrec eval", *DEFAULTS, *sys.argv[1:]]
    eval_command()
