"""The position-bias curve: the main metric with the true item forced to each position of the shown list.

A protocol switch for measuring position bias (LLMRank, section 4.2), never used for the quality tables: the
case's candidates keep their seeded order and only the truth is moved, to position 0, 1, ... n-1. The method
must show the candidates in the order given (a :class:`~promptrec.ranker.Ranker` with ``shuffle=False``);
its permutation passes then start from that order. Only this placement and the metric read the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from promptrec.evaluation.baselines import Method, ranked_ids
from promptrec.evaluation.cases import Case
from promptrec.evaluation.metrics import MAIN_METRIC, aggregate, per_case


def force_position(case: Case, position: int) -> Case:
    """``case`` with its truth moved to ``position`` of the candidate list, the others in their order."""
    candidates = case.query.candidates
    if not 0 <= position < len(candidates):
        raise ValueError(f"position must be in 0..{len(candidates) - 1}, not {position}")
    truth = next(item for item in candidates if item.id == case.truth)
    others = [item for item in candidates if item.id != case.truth]
    moved = (*others[:position], truth, *others[position:])
    query = replace(case.query, case_id=f"{case.case_id}@{position}", candidates=moved)
    return Case(query=query, truth=case.truth, split=case.split)


def position_curve(
    cases: Sequence[Case],
    method: Method,
    positions: Sequence[int],
    metric: str = MAIN_METRIC,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, float]:
    """position -> the mean ``metric`` of ``method`` over ``cases`` with the truth forced there.

    Each case is ranked at every position before the next case, so a backend that keeps the shared prompt
    prefix (the user's history) in its KV cache evaluates only the candidate block again."""
    moved: dict[int, list[Case]] = {position: [] for position in positions}
    orders: dict[str, list[str]] = {}
    total, done = len(cases) * len(positions), 0
    for case in cases:
        for position in positions:
            forced = force_position(case, position)
            moved[position].append(forced)
            orders[forced.case_id] = ranked_ids(forced.query, method.score(forced.query).scores)
            done += 1
            if progress is not None:
                progress(done, total)
    return {position: aggregate(per_case(moved[position], orders))[metric] for position in positions}


def spread(curve: dict[int, float]) -> float:
    """max - min of a curve: how much the metric depends on where the truth is shown."""
    return max(curve.values()) - min(curve.values())
