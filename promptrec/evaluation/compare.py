"""Each row against the best baseline, paired by user: the difference, its standard error, and a marker.

A row and a baseline are measured on the same users, so their difference is measured per user; its
standard error (the paired s.e.) is far smaller than either row's own. The *best baseline* is the baseline
row with the highest mean on the test users (random, popularity, co-occurrence, BM25, semantic, and on the
full catalog every retriever alone). A row is marked :data:`MARKER` where it beats that baseline by more
than :data:`MARGIN` paired standard errors, over the users both were measured on (an LLM row measured on a
subset is compared on that subset).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from promptrec.evaluation.metrics import standard_error

#: how many paired standard errors a row must beat the best baseline by to be marked
MARGIN = 2.0
#: the marker of such a row in report.md
MARKER = "▲"


@dataclass(frozen=True)
class Paired:
    """One row minus the best baseline, per user: mean difference, its standard error, the users."""

    baseline: str
    difference: float
    se: float
    users: int

    @property
    def beats(self) -> bool:
        """Whether the row beats the baseline by more than :data:`MARGIN` paired standard errors."""
        return self.difference > 0 and not math.isnan(self.se) and self.difference > MARGIN * self.se

    def text(self) -> str:
        """``+0.0123 ± 0.0045 ▲`` (the marker only where :attr:`beats`)."""
        if self.users == 0 or math.isnan(self.difference):
            return "—"
        se = "—" if math.isnan(self.se) else f"{self.se:.4f}"
        return f"{self.difference:+.4f} ± {se}" + (f" {MARKER}" if self.beats else "")

    def as_dict(self) -> dict[str, object]:
        """For results.json."""
        return {"baseline": self.baseline, "difference": self.difference, "paired_se": self.se,
                "users": self.users, f"beats_by_{MARGIN:g}_se": self.beats}


def best_baseline(values: Mapping[str, Mapping[str, float]], baselines: Sequence[str]) -> str | None:
    """The baseline (of ``baselines``, names in ``values``: row -> case id -> metric) with the highest mean;
    ties go to the first listed."""
    means = {name: statistics.fmean(values[name].values()) for name in baselines if values.get(name)}
    return max(means, key=lambda n: (means[n], -baselines.index(n))) if means else None


def versus_best(values: Mapping[str, Mapping[str, float]], baselines: Sequence[str]) -> dict[str, Paired]:
    """Every row of ``values`` (row -> case id -> metric) but the best baseline, paired against it."""
    best = best_baseline(values, baselines)
    if best is None:
        return {}
    reference = values[best]
    result = {}
    for name, per_case in values.items():
        if name == best:
            continue
        common = [case for case in per_case if case in reference]
        diffs = [per_case[case] - reference[case] for case in common]
        result[name] = Paired(best, statistics.fmean(diffs) if diffs else math.nan, standard_error(diffs), len(diffs))
    return result


__all__ = ["MARGIN", "MARKER", "Paired", "best_baseline", "versus_best"]
