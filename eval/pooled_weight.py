"""The embedded model's fusion weight pooled over several full-catalog runs' validation users.

    python eval/pooled_weight.py eval/results/tables-llm-full/movielens eval/results/tables-llm-full/cds-books

Reads each run's per-user validation NDCG@10 at every weight (``results.json``), concatenates the users and
applies the same one-standard-error rule as the runs (:func:`promptrec.evaluation.fusion.choose_weight`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptrec.evaluation.fusion import choose_weight  # noqa: E402


def _runs(folder: Path) -> list[dict]:
    """The full-catalog runs of one evaluation folder; a missing or unreadable file ends the script with a line
    that names it."""
    path = folder / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path}: not found (give folders written by promptrec eval --protocol full)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: cannot read it ({exc})") from None
    runs = results.get("full_catalog") if isinstance(results, dict) else None
    if not runs:
        raise SystemExit(f"{path}: no full-catalog runs (promptrec eval --protocol full writes them)")
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="evaluation folders holding results.json")
    folders = parser.parse_args(argv).folders
    pooled: dict[float, list[float]] = {}
    for folder in folders:
        for run in _runs(folder):
            weight = (run.get("choice") or {}).get("weight")
            if not weight or "per_user" not in weight:
                raise SystemExit(f"{folder}: no per-user validation values (re-run it with this version)")
            print(f"{run['name']}: {weight['users']} validation users, chosen {weight['weight']}, best {weight['best_weight']}")
            for w, values in weight["per_user"].items():
                pooled.setdefault(float(w), []).extend(values)
    if not any(pooled.values()):
        raise SystemExit("no validation users in these runs: nothing to choose a weight from")
    choice = choose_weight(pooled)
    print(f"pooled: {choice.users} validation users; best weight {choice.best_weight:.1f}, chosen {choice.weight:.1f} "
          "(one-standard-error rule)")
    print("| weight | validation NDCG@10 | ± s.e. | paired s.e. vs best |\n|---|---|---|---|")
    for w in sorted(choice.curve):
        print(f"| {w:.1f} | {choice.curve[w]:.4f} | {choice.se[w]:.4f} | {choice.paired_se[w]:.4f} |")


if __name__ == "__main__":
    main()
