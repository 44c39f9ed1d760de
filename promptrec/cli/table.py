"""The ranking table ``rank`` prints, and the notes under it on stderr."""

from __future__ import annotations

import click

from promptrec.ranking import Ranking
from promptrec.safe_output import redact_text, terminal_text


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def print_table(ranking: Ranking, scores: bool = False, reasons: bool = False) -> None:
    """The ranking as a table on stdout: rank, label, id, the stages' scores (``scores``; ``feedback`` when the
    feedback stage ran), the title, and why each item is recommended (``reasons``); then notes on stderr."""
    feedback = scores and any(r.feedback_score is not None for r in ranking.items)
    stage_names = ("retrieval", *(("feedback",) if feedback else ()), "llm", "fused") if scores else ()
    rows = []
    for r in ranking.items:
        stage_values = (r.retrieval_score, *((r.feedback_score,) if feedback else ()), r.llm_score, r.fused_score)
        # ids and titles are data: their escape sequences and control characters are shown, not obeyed
        title = terminal_text(r.item.title + (f"  ({r.reason})" if reasons and r.reason else ""))
        rows.append((str(r.rank), f"[{r.label}]" if r.label else "-", terminal_text(r.item.id),
                     *((_number(v) for v in stage_values) if scores else ()), title))
    header = ("rank", "label", "id", *stage_names, "title")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    if ranking.feedback:
        done = ranking.feedback
        click.echo(f"\nfeedback: {len(done['liked'])} liked, {len(done['rejected'])} rejected "
                   f"({done['rejected_mode']})" + (f", {len(done['skipped_unknown'])} not in the catalog"
                                                   if done.get("skipped_unknown") else ""), err=True)
    if ranking.retriever is not None:
        stage = (f"\nretriever {ranking.retriever} | pool {ranking.pool} | LLM weight {ranking.llm_weight} "
                 f"({ranking.fusion})")
        if ranking.mode == "retrieval":
            stage += " | the LLM was not asked (--llm-weight W lets it rank the pool)"
        if ranking.profile is not None:
            stage += f" | profile: {terminal_text(ranking.profile)}"
        click.echo(stage, err=True)
    if ranking.mode == "retrieval":
        return
    report = ranking.report
    notes = [f"answer format: {report.format}" + (f" (structured: {report.structured})" if report.structured else ""), f"{report.valid} candidates named"
             + (f" over {ranking.passes} passes" if ranking.passes > 1 else "")]
    for name in ("duplicates", "hallucinated", "history", "missing"):
        values = getattr(report, name)
        if values:
            notes.append(f"{len(values)} {name}")
    if report.reasks:
        notes.append(f"{report.reasks} re-ask")
    if ranking.history_dropped:
        notes.append(f"{ranking.history_dropped} oldest history items dropped")
    if ranking.feedback_examples or ranking.feedback_cut:
        notes.append(f"{ranking.feedback_examples} feedback examples ({ranking.feedback_cut} cut by the budget)")
    if ranking.demoted:
        notes.append(f"{len(ranking.demoted)} disliked items moved last")
    click.echo(
        f"\n{redact_text(ranking.backend)} | scenario {ranking.scenario} ({ranking.strategy}) | "
        f"{ranking.usage.input_tokens} prompt + {ranking.usage.output_tokens} answer tokens | " + ", ".join(notes),
        err=True,
    )

