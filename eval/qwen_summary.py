"""The numbers of eval/README.md's "The 1.5B model, measured", from the run folders of ``eval/qwen_eval.py``.

    python eval/qwen_summary.py eval/results/qwen1.5b/movielens-score eval/results/qwen1.5b/cds-books-score

Per run: each method's test NDCG@10 ± s.e. (results.json), the LLM's paired difference from random and from
the prior the fusion uses (rows.jsonl, the same test users), and the fusion's validation curve: the best
weight above 0 against w = 0, in paired standard errors (the 1-s.e. rule gives the LLM a weight only when
some w > 0 is within one paired s.e. of the best and the best is above w = 0).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path


def paired(rows: list[dict], a: str, b: str) -> tuple[float, float, int]:
    """Mean and standard error of NDCG@10(a) - NDCG@10(b) over the users both were measured on."""
    by = {}
    for row in rows:
        by.setdefault(row["method"], {})[row["case_id"]] = row["NDCG@10"]
    common = sorted(set(by[a]) & set(by[b]))
    diffs = [by[a][c] - by[b][c] for c in common]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    return statistics.fmean(diffs), se, len(diffs)


def summary(folder: Path) -> None:
    result = json.loads((folder / "results.json").read_text())
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines() if line.strip()]
    for dataset in result["datasets"]:
        print(f"## {dataset['name']} ({folder})")
        llm = next((m["name"] for m in dataset["methods"] if m["kind"] == "llm"), None)
        for m in dataset["methods"]:
            se = m["standard_error"].get("NDCG@10") if isinstance(m["standard_error"], dict) else m["standard_error"]
            print(f"  {m['name']}: {m['metrics']['NDCG@10']:.4f} ± {se:.4f} ({m['users']} users)")
        fused = next((m for m in dataset["methods"] if m.get("fusion", {}).get("fusion") == "wsum"), None)
        if llm is None or fused is None:
            continue
        prior = fused["fusion"]["prior"]
        for other in ("random", prior):
            diff, se, n = paired([r for r in rows if r["dataset"] == dataset["name"]], llm, other)
            print(f"  LLM - {other}, test: {diff:+.4f} ± {se:.4f} paired s.e. ({diff / se:+.1f} s.e., {n} users)")
        f = fused["fusion"]
        curve, pse = f["valid_curve"], f["valid_paired_se"]
        w0 = curve["0.0"]
        best = max((w for w in curve if float(w) > 0), key=lambda w: curve[w])
        gap = curve[best] - w0
        units = gap / pse[best] if pse[best] else float("nan")
        print(f"  validation ({f['valid_users']} users): w = 0 (the prior {prior}) {w0:.4f}; best w > 0 is {best}: "
              f"{curve[best]:.4f}, {gap:+.4f} = {units:+.1f} paired s.e.; LLM alone (w = 1) {curve['1.0']:.4f} "
              f"({(curve['1.0'] - w0) / pse['1.0']:+.1f} paired s.e.); chosen w = {f['weight']}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        summary(Path(arg))
