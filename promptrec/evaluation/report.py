"""Writing a run's folder: report.md (tables), results.json, rows.jsonl (one line per method and user), plots."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptrec.evaluation.compare import MARGIN, MARKER, Paired
from promptrec.evaluation.fullreport import full_rankings, full_rows, full_section, full_summary
from promptrec.evaluation.metrics import BUCKETS, MAIN_METRIC, TABLE_METRICS, history_bucket, random_reference
from promptrec.evaluation.plots import plot_by_history, plot_by_method
from promptrec.evaluation.pointwise import PointwiseRun
from promptrec.evaluation.protocol import users_hash
from promptrec.evaluation.runner import DatasetRun
from promptrec.evaluation.summary import (
    case_rows,
    dataset_summary,
    fmt,
    method_summary,
    pointwise_rows,
    pointwise_summary,
    versus_baseline,
)

#: the column of each row's paired difference to the best baseline
PAIRED_HEADER = f"Δ {MAIN_METRIC} vs best baseline ± paired s.e. ({MARKER}: > {MARGIN:g} s.e.)"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def paired_text(paired: Paired | None) -> str:
    """The paired-difference cell of a row (``best baseline`` for the baseline itself)."""
    return "best baseline" if paired is None else paired.text()


def metrics_table(run: DatasetRun) -> list[str]:
    """Every method's test metrics beside the analytic random reference, and each one's difference to the
    best baseline with its paired standard error (marked where it exceeds two)."""
    reference = random_reference(run.config.candidates)
    paired = versus_baseline(run)
    rows = [["random (expected)", "—", *(fmt(reference[m]) for m in TABLE_METRICS), "—", "—"]]
    for method in run.methods:
        summary = method_summary(run, method)
        rows.append(
            [
                method.name,
                str(summary["users"]),
                *(fmt(summary["metrics"][m]) for m in TABLE_METRICS),
                fmt(summary["standard_error"][MAIN_METRIC]),
                paired_text(paired.get(method.name)) if paired else "—",
            ]
        )
    return _table(["method", "users", *TABLE_METRICS, f"± s.e. {MAIN_METRIC}", PAIRED_HEADER], rows)


def slices_table(run: DatasetRun) -> list[str]:
    """NDCG@10 per history-length bucket (the cold-start slices)."""
    counts = {b: sum(1 for c in run.test if history_bucket(c.history_length) == b) for b in BUCKETS}
    header = ["method", *(f"{b} (n={counts[b]})" for b in BUCKETS)]
    rows = []
    for method in run.methods:
        by = method_summary(run, method)["by_history_length"]
        rows.append([method.name, *(fmt(by[b][MAIN_METRIC]) if b in by else "—" for b in BUCKETS)])
    return _table(header, rows)


def answers_table(run: DatasetRun) -> list[str]:
    """The LLMs' answer error rates (RecLM-eval), tokens and latency."""
    rows = []
    for method in run.methods:
        if method.kind != "llm":
            continue
        a = method_summary(run, method)["answers"]
        rows.append(
            [
                method.name,
                f"{a['answers']:.0f}",
                f"{a['failures']:.0f}",
                *(fmt(a[key], 3) for key in ("hallucinated_rate", "duplicate_rate", "history_item_rate",
                                              "invalid_format_rate", "incomplete_rate")),
                f"{a['reasks']:.0f}",
                f"{a['cached']:.0f}",
                f"{a['input_tokens']:.0f}",
                f"{a['output_tokens']:.0f}",
                f"{fmt(a['latency_mean_s'], 2)} / {fmt(a['latency_p95_s'], 2)} / {a['latency_total_s']:.0f}",
            ]
        )
    header = ["method", "answers", "failures", "hallucinated", "duplicate", "history item", "invalid format",
              "incomplete", "re-asks", "cached", "input tokens", "output tokens", "latency mean / p95 / total (s)"]
    return _table(header, rows) if rows else []


def fusion_table(run: DatasetRun) -> list[str]:
    """Which prior each fusion used and the weight the validation split chose."""
    rows = []
    for method in run.methods:
        if method.kind != "fused":
            continue
        p = method.params
        ses = p.get("valid_se", {})
        curve = " ".join(f"{w:.1f}:{v:.3f}" + (f"±{ses[w]:.3f}" if w in ses else "") for w, v in p["valid_curve"].items())
        prior_se = p.get("prior_valid_se", {})
        priors = ", ".join(f"{k} {v:.3f}" + (f"±{prior_se[k]:.3f}" if k in prior_se else "")
                           for k, v in p["prior_valid_" + MAIN_METRIC].items())
        rows.append([method.name, f"{p['prior']} ({p.get('prior_valid_users', '?')} users)", priors,
                     f"{p['weight']:.1f} (best {p.get('best_weight', p['weight']):.1f}, {p.get('valid_users', '?')} users)",
                     fmt(p["valid_" + MAIN_METRIC]), curve])
    header = ["fused method", "prior (chosen on)", f"priors' validation {MAIN_METRIC} ± s.e.",
              "weight on LLM (1-s.e. rule)", f"validation {MAIN_METRIC}", "validation curve (weight:value±s.e.)"]
    return _table(header, rows) if rows else []


def dataset_section(run: DatasetRun) -> list[str]:
    """The Markdown section of one dataset: protocol, metrics, slices, answers, fusion."""
    lines = [f"## {run.dataset.name}", ""]
    lines += _table(["protocol", ""], [[key, value.replace("|", "\\|")] for key, value in run.protocol.items()])
    lines += ["", f"### Test metrics ({len(run.test)} users)", ""] + metrics_table(run)
    lines += ["", f"### {MAIN_METRIC} by history length (cold-start slices)", ""] + slices_table(run)
    answers = answers_table(run)
    if answers:
        lines += ["", "### LLM answers (RecLM-eval error rates: share of answers with at least one)", ""] + answers
    fusion = fusion_table(run)
    if fusion:
        lines += ["", "### Fusion (weight chosen on the validation users, never on test)", ""] + fusion
    return lines + [""]


def pointwise_section(run: PointwiseRun) -> list[str]:
    """The Markdown section of a pointwise dataset: protocol and AUC per method."""
    lines = [f"## {run.dataset.name}", ""]
    lines += _table(["protocol", ""], [[key, value.replace("|", "\\|")] for key, value in run.protocol.items()])
    rows = [["random (expected)", "0.5000"]] + [[name, fmt(value)] for name, value in run.auc.items()]
    lines += ["", f"### AUC ({len(run.cases)} records)", ""] + _table(["method", "AUC"], rows)
    return lines + [""]


def user_lines(runs: Sequence[DatasetRun], full: Sequence[Any]) -> list[dict[str, Any]]:
    """users.jsonl: per dataset, protocol and split, the user ids (sampled order) and their hash."""
    lines = []
    for protocol, items in (("candidates", [(r.dataset.name, r.test, r.valid) for r in runs]),
                            ("full", [(f.dataset.name, f.test, f.valid) for f in full])):
        for name, test, valid in items:
            for split, cases in (("test", test), ("valid", valid)):
                ids = [getattr(c, "user_id", None) or c.query.user_id for c in cases]
                lines.append({"dataset": name, "protocol": protocol, "split": split, "users": len(ids),
                              "sha256": users_hash(ids), "user_ids": ids})
    return lines


def candidate_rankings(run: DatasetRun) -> list[dict[str, Any]]:
    """rankings.jsonl lines of the 20-candidate protocol: each method's order of each test user's candidates."""
    users = {c.case_id: c.query.user_id for c in run.test}
    return [{"dataset": run.dataset.name, "protocol": run.dataset.protocol, "method": method.name,
             "kind": method.kind, "user_id": users[case_id], "ranked": list(order)}
            for method in run.methods for case_id, order in method.orders.items() if case_id in users]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_report(
    folder: str | Path,
    runs: Sequence[DatasetRun],
    pointwise: Sequence[PointwiseRun] = (),
    meta: dict[str, Any] | None = None,
    full: Sequence[Any] = (),
    configurations: Sequence[Any] = (),
    *,
    save_rankings: bool = False,
) -> dict[str, Path]:
    """Write report.md, results.json, rows.jsonl, users.jsonl and the PNG plots into ``folder`` (and
    rankings.jsonl with ``save_rankings``); returns their paths.

    ``configurations`` are the :class:`~promptrec.config.PipelineConfig` of each LLM method: they go into
    results.json and report.md (without secrets). config.toml is the first full-catalog run's pipeline
    (``promptrec rank --config`` repeats its rankings; it holds the LLM's configuration too), else the first
    LLM's, which ``promptrec eval --config`` reads to repeat the run's LLM. users.jsonl lists every
    protocol's test and validation user ids (one sample per dataset: the protocols share it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    paths = {
        "report": folder / "report.md",
        "results": folder / "results.json",
        "rows": folder / "rows.jsonl",
        "plot_methods": folder / "metric_by_method.png",
        "plot_history": folder / "ndcg_by_history.png",
    }
    results = {
        "meta": meta,
        "datasets": [dataset_summary(run) for run in runs],
        "pointwise": [pointwise_summary(run) for run in pointwise],
        "full_catalog": [full_summary(run) for run in full],
        "configurations": [config.to_dict() for config in configurations],
    }
    shipped = next((run.pipeline for run in full if getattr(run, "pipeline", None) is not None), None)
    if shipped is not None or configurations:
        paths["config"] = folder / "config.toml"
        paths["config"].write_text((shipped or configurations[0]).to_toml(), encoding="utf-8")
    paths["users"] = folder / "users.jsonl"
    with paths["users"].open("w", encoding="utf-8") as out:
        for line in user_lines(runs, full):
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    if save_rankings:
        paths["rankings"] = folder / "rankings.jsonl"
        with paths["rankings"].open("w", encoding="utf-8") as out:
            for run in runs:
                for row in candidate_rankings(run):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            for frun in full:
                for row in full_rankings(frun):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
    paths["results"].write_text(json.dumps(_clean(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with paths["rows"].open("w", encoding="utf-8") as out:
        for run in runs:
            for row in case_rows(run):
                out.write(json.dumps(_clean(row), ensure_ascii=False) + "\n")
        for prun in pointwise:
            for row in pointwise_rows(prun):
                out.write(json.dumps(_clean(row), ensure_ascii=False) + "\n")
        for frun in full:
            for row in full_rows(frun):
                out.write(json.dumps(_clean(row), ensure_ascii=False) + "\n")
    lines = ["# promptrec evaluation", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()] + [""]
    for config in configurations:
        lines += [f"Configuration ({config.backend.spec}, {config.ranker.strategy}):", "", "```toml",
                  config.to_toml().rstrip(), "```", ""]
    lines += [
        "Every table shows the random reference and the random and popularity baselines beside the model. "
        "Ties in a method's scores are broken by the candidates' shuffled order. Fused rows combine an LLM with "
        "the prior (a baseline) that scored best on the validation users, with the weight chosen there, by the "
        "pipeline's own fusion (promptrec.pipeline.fuse: ties go to the better prior rank). Beside each row: its "
        f"difference to the best baseline with the paired standard error over the same users; {MARKER} marks "
        f"more than {MARGIN:g} paired standard errors.",
        "",
    ]
    for run in runs:
        lines += dataset_section(run)
    for prun in pointwise:
        lines += pointwise_section(prun)
    for frun in full:
        lines += full_section(frun)
    if runs:
        plot_by_method(runs, paths["plot_methods"])
        plot_by_history(runs, paths["plot_history"])
        lines += ["## Plots", "", f"![{MAIN_METRIC} by method]({paths['plot_methods'].name})", "",
                  f"![{MAIN_METRIC} by history length]({paths['plot_history'].name})", ""]
    else:
        del paths["plot_methods"], paths["plot_history"]
    paths["report"].write_text("\n".join(lines), encoding="utf-8")
    return paths
