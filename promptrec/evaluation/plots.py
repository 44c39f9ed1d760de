"""PNG plots of a run (matplotlib, headless): the main metric by method per domain, and by history length."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from promptrec.evaluation.metrics import BUCKETS, MAIN_METRIC, random_reference
from promptrec.evaluation.runner import DatasetRun
from promptrec.evaluation.summary import family, method_summary, ordered_families


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_by_method(runs: Sequence[DatasetRun], path: Path) -> Path:
    """Grouped bars: one group per dataset, one bar per method family; the random reference dashed."""
    plt = _pyplot()
    families = ordered_families(runs)
    width = 0.8 / max(1, len(families))
    fig, ax = plt.subplots(figsize=(max(7.0, 2.0 * len(runs) + 3.0), 5.5))
    for index, name in enumerate(families):
        xs, ys = [], []
        for position, run in enumerate(runs):
            for method in run.methods:
                if family(method) == name:
                    xs.append(position - 0.4 + width * (index + 0.5))
                    ys.append(method.summary()[MAIN_METRIC])
        ax.bar(xs, ys, width, label=name)
    for position, run in enumerate(runs):
        level = random_reference(run.config.candidates)[MAIN_METRIC]
        ax.hlines(level, position - 0.45, position + 0.45, colors="black", linestyles="dashed", linewidth=1)
    ax.set_xticks(range(len(runs)), [f"{run.dataset.name}\n({len(run.test)} users)" for run in runs])
    ax.set_ylabel(MAIN_METRIC)
    ax.set_title(f"{MAIN_METRIC} by method (dashed: random reference)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_by_history(runs: Sequence[DatasetRun], path: Path) -> Path:
    """One panel per dataset: the main metric per history-length bucket, one line per method family."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(max(7.0, 3.5 * len(runs)), 5.0), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        for method in run.methods:
            by = method_summary(run, method)["by_history_length"]
            xs = [i for i, b in enumerate(BUCKETS) if b in by]
            ax.plot(xs, [by[BUCKETS[i]][MAIN_METRIC] for i in xs], marker="o", label=family(method))
        ax.axhline(random_reference(run.config.candidates)[MAIN_METRIC], color="black", linestyle="dashed", linewidth=1)
        ax.set_xticks(range(len(BUCKETS)), list(BUCKETS))
        ax.set_xlabel("history length")
        ax.set_title(run.dataset.name)
    axes[0][0].set_ylabel(MAIN_METRIC)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
