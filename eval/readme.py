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
            rows = [line for line in report.splitlines() if line.startswith("| ") and "NDCG@1 |" not in line]
            print("## the README's rows\n" + "\n".join(rows[:8]))


if __name__ == "__main__":
    main()
