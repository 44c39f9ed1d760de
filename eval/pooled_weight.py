"""The embedded model's fusion weight pooled over several full-catalog runs' validation users.

    python eval/pooled_weight.py eval/results/tables-llm-full/movielens eval/results/tables-llm-full/cds-books

Reads each run's per-user validation NDCG@10 at every weight (``results.json``), concatenates the users and
applies the same one-standard-error rule as the runs (:func:`promptrec.evaluation.fusion.choose_weight`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptrec.evaluation.fusion import choose_weight  # noqa: E402


def main() -> None:
    pooled: dict[float, list[float]] = {}
    for folder in sys.argv[1:]:
        results = json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))
        for run in results["full_catalog"]:
            weight = run["choice"].get("weight")
            if not weight or "per_user" not in weight:
                raise SystemExit(f"{folder}: no per-user validation values (re-run it with this version)")
            print(f"{run['name']}: {weight['users']} validation users, chosen {weight['weight']}, best {weight['best_weight']}")
            for w, values in weight["per_user"].items():
                pooled.setdefault(float(w), []).extend(values)
    choice = choose_weight(pooled)
    print(f"pooled: {choice.users} validation users; best weight {choice.best_weight:.1f}, chosen {choice.weight:.1f} "
          "(one-standard-error rule)")
    print("| weight | validation NDCG@10 | ± s.e. | paired s.e. vs best |\n|---|---|---|---|")
    for w in sorted(choice.curve):
        print(f"| {w:.1f} | {choice.curve[w]:.4f} | {choice.se[w]:.4f} | {choice.paired_se[w]:.4f} |")


if __name__ == "__main__":
    main()
