"""Every output and number in README.md, regenerated: run it and copy what it prints.

    python eval/readme.py                 # all three, with a fresh answer cache (about 8 minutes on 2 busy cores)
    python eval/readme.py --skip-eval     # the two outputs only (seconds)

1. The main job, ``promptrec rank --catalog demo --history m01,m03,m04 -k 5``, as CI runs it.
2. The README's Python example (examples/readme.py), as a user would run it.
3. The MovieLens table: ``promptrec eval -d movielens -n 200 --valid-users 200 --no-llm`` (the LLMRank
   protocol, seed 0, baselines only), its test-metrics rows.

Each runs in a fresh process with an empty completion cache and feedback store in a temporary folder, so a
cached answer hides nothing; the dataset is read from ``$PROMPTREC_DATA`` or ``../shared/datasets``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(title: str, command: list[str], env: dict[str, str]) -> str:
    print(f"## {title}\n$ {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{title}: exit code {done.returncode}")
    return done.stdout


def compact_table(report: str) -> str:
    """The report's test-metrics table as the README shows it: method, NDCG@10 with its s.e., HR@10."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### Test metrics"))
    table = []
    for line in lines[start + 2:]:  # the table starts after a blank line and ends at the next one
        if not line.startswith("|"):
            break
        table.append(line)
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    at = {name: header.index(name) for name in ("method", "NDCG@10", "± s.e. NDCG@10", "HR@10")}
    out = ["| method | NDCG@10 (± s.e.) | HR@10 |", "|---|---|---|"]
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        se = cells[at["± s.e. NDCG@10"]]
        out.append(f"| {cells[at['method']]} | {cells[at['NDCG@10']]}" + (f" ± {se}" if se != "—" else "")
                   + f" | {cells[at['HR@10']]} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-eval", action="store_true", help="only the two outputs, not the MovieLens table")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptrec-readme-") as folder:
        env = {**os.environ, "PROMPTREC_CACHE_DIR": f"{folder}/cache", "PROMPTREC_FEEDBACK_DB": f"{folder}/fb.sqlite3",
               "PROMPTREC_EVAL_DIR": f"{folder}/eval"}
        run("main job", ["promptrec", "rank", "--catalog", "demo", "--history", "m01,m03,m04", "-k", "5"], env)
        run("Python", [sys.executable, "examples/readme.py"], env)
        if not options.skip_eval:
            report = run("MovieLens", ["promptrec", "eval", "-d", "movielens", "-n", "200", "--valid-users", "200",
                                       "--no-llm"], env)
            print("## the README's table\n" + compact_table(report))


if __name__ == "__main__":
    main()
