"""The full-catalog protocol's report: its Markdown section, its results.json entry and its rows."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from promptrec.evaluation.compare import MARGIN, MARKER, Paired, versus_best
from promptrec.evaluation.fullcatalog import FullMethod, FullRun, metrics_of, random_expected, summarize
from promptrec.evaluation.fusion import WeightChoice
from promptrec.evaluation.metrics import (
    BUCKETS,
    FULL_MAIN,
    FULL_METRICS,
    FULL_TABLE_METRICS,
    history_bucket,
    standard_error,
)


def _fmt(value: float, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


#: rows that are not baselines: they use the LLM, or repeat a retriever on the LLM's users, or are the bound
_NOT_BASELINE_KINDS = ("pool", "llm", "fused")


def versus_baseline(run: FullRun) -> dict[str, Paired]:
    """Every row but the best baseline (random and each retriever alone, on all test users) against it,
    paired by user on the main metric (:mod:`promptrec.evaluation.compare`)."""
    values = {m.name: {case_id: v[FULL_MAIN] for case_id, v in m.values().items()} for m in run.methods}
    baselines = [m.name for m in run.methods if m.kind not in _NOT_BASELINE_KINDS
                 and len(m.ranks) == len(run.test) and not m.name.startswith("profile")]
    return versus_best(values, baselines)


def method_summary(run: FullRun, method: FullMethod, paired: Paired | None = None) -> dict[str, Any]:
    """Everything results.json says about one row (``paired``: its difference to the best baseline)."""
    values = method.values()
    cases = {c.case_id: c for c in run.test}
    by: dict[str, dict[str, float]] = {}
    for bucket in BUCKETS:
        ids = [i for i in values if history_bucket(min(len(cases[i].history), run.config.history)) == bucket]
        if ids:
            by[bucket] = {"n": float(len(ids)), FULL_MAIN: summarize(values, ids)[FULL_MAIN]}
    summary: dict[str, Any] = {
        "name": method.name,
        "kind": method.kind,
        "users": len(values),
        "metrics": summarize(values),
        "standard_error": {m: standard_error(v[m] for v in values.values()) for m in FULL_METRICS},
        "by_history_length": by,
        "unrankable": sum(1 for r in method.ranks.values() if r == math.inf),
    }
    if method.costs:
        costs = list(method.costs.values())
        summary["cost_per_user"] = {key: statistics.fmean(c[key] for c in costs) for key in costs[0]}
    if method.params:
        summary["params"] = method.params
    if paired is not None:
        summary["versus_best_baseline"] = paired.as_dict()
    return summary


def full_section(run: FullRun) -> list[str]:
    """The Markdown section of one full-catalog run."""
    lines = [f"## {run.dataset.name} (full catalog)", ""]
    lines += _table(["protocol", ""], [[k, str(v).replace("|", "\\|")] for k, v in run.protocol.items()])
    expected = random_expected(run.catalog_size)
    rows = [["random (expected, whole catalog)", "—", *(_fmt(expected[m]) for m in FULL_TABLE_METRICS), "—", "—", "—"]]
    paired = versus_baseline(run)
    for method in run.methods:
        s = method_summary(run, method)
        cost = s.get("cost_per_user")
        if cost:
            cost_text = f"{cost['input_tokens']:.0f} in + {cost['output_tokens']:.0f} out tokens, {cost['seconds']:.2f} s"
            if cost.get("cached"):
                cost_text += f" ({cost['cached']:.0%} from the answer cache)"
        elif "ms_per_user" in method.params:
            cost_text = f"{method.params['ms_per_user']:.1f} ms"
        else:
            cost_text = "—"
        versus = "best baseline" if method.name not in paired else paired[method.name].text()
        rows.append([method.name, str(s["users"]), *(_fmt(s["metrics"][m]) for m in FULL_TABLE_METRICS),
                     _fmt(s["standard_error"][FULL_MAIN]), versus if paired else "—", cost_text])
    lines += ["", f"### Full-catalog metrics ({len(run.test)} test users; LLM rows on {len(run.llm_test)})", ""]
    header = f"Δ {FULL_MAIN} vs best baseline ± paired s.e. ({MARKER}: > {MARGIN:g} s.e.)"
    lines += _table(["method", "users", *FULL_TABLE_METRICS, f"± s.e. {FULL_MAIN}", header, "cost per user"], rows)
    counts = {b: sum(1 for c in run.test if history_bucket(min(len(c.history), run.config.history)) == b) for b in BUCKETS}
    slice_rows = []
    for method in run.methods:
        by = method_summary(run, method)["by_history_length"]
        slice_rows.append([method.name, *(f"{by[b][FULL_MAIN]:.4f} (n={by[b]['n']:.0f})" if b in by else "—"
                                          for b in BUCKETS)])
    lines += ["", f"### {FULL_MAIN} by history length (all test users: " +
              ", ".join(f"{b}: {n}" for b, n in counts.items()) + ")", ""]
    lines += _table(["method", *BUCKETS], slice_rows)
    choice = run.choice
    if "valid_recall" in choice:
        lines += ["", f"### Pool retriever (chosen on {choice['valid_users']} validation users by Recall@{run.pool_size})", ""]
        lines += _table(["retriever", f"validation Recall@{run.pool_size} ± s.e."],
                        [[n, f"{v:.4f} ± {choice['valid_recall_se'][n]:.4f}"] for n, v in choice["valid_recall"].items()])
        lines += ["", f"chosen: {choice['retriever']}"]
    weight = choice.get("weight")
    if isinstance(weight, WeightChoice):
        lines += ["", f"### Fusion weight (chosen on {weight.users} validation users, never on test)", ""]
        lines += _table(["weight on LLM", f"validation {FULL_MAIN}", "± s.e.", "paired s.e. vs best"],
                        [[f"{w:.1f}", _fmt(v), _fmt(weight.se[w]), _fmt(weight.paired_se.get(w, math.nan))]
                         for w, v in weight.curve.items()])
        lines += ["", f"best weight {weight.best_weight:.1f}; chosen {weight.weight:.1f} (the smallest weight within "
                  "one paired standard error of the best; 0 = the retriever alone)"]
    return lines + pipeline_section(run) + [""]


def full_summary(run: FullRun) -> dict[str, Any]:
    """results.json's entry for a full-catalog run."""
    paired = versus_baseline(run)
    choice = dict(run.choice)
    weight = choice.get("weight")
    if isinstance(weight, WeightChoice):
        choice["weight"] = {"weight": weight.weight, "best_weight": weight.best_weight, "users": weight.users,
                            "curve": weight.curve, "se": weight.se, "paired_se": weight.paired_se,
                            "valid_users": [c.user_id for c in run.llm_valid], "per_user": weight.per_user}
    return {
        "name": run.dataset.name,
        "protocol": run.protocol,
        "catalog_size": run.catalog_size,
        "pool": run.pool_size,
        "random_expected": random_expected(run.catalog_size),
        "choice": choice,
        "methods": [method_summary(run, m, paired.get(m.name)) for m in run.methods],
        "pipeline": {"folder": str(run.files.folder) if run.files else None,
                     "config": run.pipeline.to_dict() if run.pipeline is not None else None},
    }


def full_rows(run: FullRun) -> list[dict[str, Any]]:
    """One row per (method, test case) for rows.jsonl."""
    cases = {c.case_id: c for c in run.test}
    rows = []
    for method in run.methods:
        for case_id, rank in method.ranks.items():
            rows.append({
                "dataset": run.dataset.name, "protocol": "full", "method": method.name, "kind": method.kind,
                "case_id": case_id, "user_id": cases[case_id].user_id, "history_length": len(cases[case_id].history),
                "truth": cases[case_id].truth, "truth_rank": None if rank == math.inf else int(rank),
                **metrics_of(rank), **({"cost": method.costs[case_id]} if case_id in method.costs else {}),
            })
    return rows


def full_rankings(run: FullRun) -> list[dict[str, Any]]:
    """One line per (method, test user) for rankings.jsonl: the ids the pipeline ranked first (its top N)."""
    cases = {c.case_id: c for c in run.test}
    return [{"dataset": run.dataset.name, "protocol": "full", "method": method.name, "kind": method.kind,
             "user_id": cases[case_id].user_id, "ranked": ranked}
            for method in run.methods for case_id, ranked in method.rankings.items()]


def pipeline_section(run: FullRun) -> list[str]:
    """How to repeat a line of rankings.jsonl with ``promptrec rank`` (the configuration embedded)."""
    if run.files is None or run.pipeline is None or not run.test:
        return []
    user = run.test[0].user_id
    lines = ["", "### The pipeline measured here (what `promptrec rank` runs)", "",
             "Every row above is the shipped `promptrec.pipeline.Recommender`, built by "
             "`PipelineConfig.make_recommender` from these files; `rankings.jsonl` holds each row's top "
             f"{run.pool_size} per user. To repeat a line (here the fused pipeline for test user {user}):", "",
             "```", run.files.rank_command(user), "```", "",
             f"and one retriever's line with `--retriever NAME --llm-weight 0` "
             f"(e.g. `{run.files.rank_command(user, retriever=run.choice.get('retriever', 'popularity'))}`).", "",
             "```toml", run.pipeline.to_toml().rstrip(), "```"]
    return lines
