"""Feedback as in-context examples: choosing which of a user's reactions go into the next prompt.

The store (:class:`~promptrec.feedback_store.FeedbackStore`) keeps what users did with recommendations;
:func:`select_examples` picks the few records that enter a prompt, as plain dicts for the scenario
templates (``examples``), each with a ready ``text`` line such as::

    liked "Alien" when shown with "Up", "Heat" and 2 more
    rated "Dune" 2/5 (books)
    disliked "Up" when shown with "Alien"; comment: "too childish"

>>> store = FeedbackStore()
>>> chosen = select_examples(store, "u1", "movies", candidates, n=3, strategy="similar")
>>> scenario.render(history, labelled, examples=chosen.examples)

Feedback changes the rendered prompt, so it changes the completion cache key too: an answer cached
before the feedback is never served after it.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from promptrec.data import Item
from promptrec.errors import ScenarioError
from promptrec.feedback_store import (
    LABELS,
    NEGATIVE_RATING,
    FeedbackRecord,
    FeedbackStore,
    FeedbackStoreError,
    ImportResult,
    Label,
    default_feedback_db,
)
from promptrec.scenario import Scenario, escape_item_text, load_scenario

__all__ = [
    "DEFAULT_TOKEN_BUDGET",
    "LABELS",
    "NEGATIVE_RATING",
    "FeedbackConfig",
    "FeedbackRecord",
    "FeedbackStore",
    "FeedbackStoreError",
    "ImportResult",
    "Label",
    "SelectedExamples",
    "default_feedback_db",
    "demote",
    "example_text",
    "header_tokens",
    "select_examples",
]

logger = logging.getLogger(__name__)

SelectionStrategy = Literal["recent", "similar"]
#: Tokens of feedback a prompt takes by default (header included), estimated at four characters a token.
DEFAULT_TOKEN_BUDGET = 300
_SHOWN_TITLES = 3  # shown items named in an example; the rest are counted


@dataclass(frozen=True)
class SelectedExamples:
    """The feedback chosen for one prompt, and what the token budget cut.

    ``examples`` go to :meth:`Scenario.render(examples=...) <promptrec.scenario.Scenario.render>` as they
    are, in the order shown (most relevant first); ``records`` are the same, as stored.
    """

    examples: list[dict[str, Any]] = field(default_factory=list)
    records: list[FeedbackRecord] = field(default_factory=list)
    available: int = 0  # eligible records (one per item: its latest reaction)
    cut: int = 0  # chosen examples left out to stay within the budget
    cut_tokens: int = 0  # their estimated tokens
    tokens: int = 0  # estimated tokens of the examples kept, header included (0 when none)
    token_budget: int | None = DEFAULT_TOKEN_BUDGET

    def __len__(self) -> int:
        return len(self.examples)

    def __bool__(self) -> bool:
        return bool(self.examples)


def select_examples(
    store: FeedbackStore | Sequence[FeedbackRecord],
    user_id: str,
    scenario: str,
    candidates: Sequence[Item | str] = (),
    *,
    n: int = 3,
    strategy: SelectionStrategy = "recent",
    cross_scenario: bool = False,
    token_budget: int | None = DEFAULT_TOKEN_BUDGET,
    catalog: Mapping[str, Item] | None = None,
    prompts: Scenario | None = None,
) -> SelectedExamples:
    """Choose up to ``n`` of ``user_id``'s feedback records as in-context examples for a prompt.

    Args:
        store: a :class:`FeedbackStore`, or records already loaded (e.g. a replay in an evaluation).
        user_id: whose feedback.
        scenario: the scenario of the prompt; only its feedback is used unless ``cross_scenario``.
        candidates: the items (or titles) about to be ranked; ``similar`` compares against them, and
            their titles name shown items in the examples.
        n: how many examples at most (0 = none).
        strategy: ``recent`` (the newest first) or ``similar`` (BM25 of each fed-back item's title against
            the candidates' titles, best first, by promptrec's one BM25; records with no overlap follow, newest
            first).
        cross_scenario: draw from the user's other scenarios too, naming each example's scenario.
        token_budget: most tokens (four characters a token, the default template's header included) the
            examples may take; the least relevant are cut and counted. None = no limit.
        catalog: item id -> Item, to name the items that were shown alongside (optional).
        prompts: the scenario whose templates word the example lines (``feedback_example.j2``) and whose
            user template's header around them is measured for the budget (:func:`header_tokens`);
            default: the built-in scenario called ``scenario``, else ``default``.

    Each item appears once, with the user's latest reaction to it.
    """
    if strategy not in ("recent", "similar"):
        raise ValueError(f"unknown example strategy '{strategy}'; choose 'recent' or 'similar'")
    wanted_scenario = None if cross_scenario else scenario
    if isinstance(store, FeedbackStore):
        records = store.list(user_id, wanted_scenario)
    else:
        records = [
            r for r in store if r.user_id == user_id and (wanted_scenario is None or r.scenario == wanted_scenario)
        ]
    latest: dict[tuple[str, str], FeedbackRecord] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        latest.pop((record.scenario, record.item_id), None)
        latest[(record.scenario, record.item_id)] = record
    newest_first = sorted(latest.values(), key=lambda r: r.timestamp, reverse=True)
    candidate_titles = [c.title if isinstance(c, Item) else str(c) for c in candidates]
    if strategy == "similar" and candidate_titles:
        scores = _bm25(candidate_titles, [r.item_title for r in newest_first])
        order = sorted(range(len(newest_first)), key=lambda i: -scores[i])  # stable: ties stay newest first
        newest_first = [newest_first[i] for i in order]
    chosen = newest_first[: max(0, n)]

    titles = {r.item_id: r.item_title for r in latest.values()}
    titles.update({c.id: c.title for c in candidates if isinstance(c, Item)})
    if catalog is not None:
        titles.update({i: catalog[i].title for r in chosen for i in r.shown if i in catalog})
    kept: list[FeedbackRecord] = []
    examples: list[dict[str, Any]] = []
    prompts = prompts if prompts is not None else _builtin(scenario)
    tokens = header_tokens(prompts)
    cut_tokens = 0
    for record in chosen:
        example = _example(record, scenario, cross_scenario, titles, prompts)
        cost = _line_tokens(example["text"])
        if cut_tokens == 0 and (token_budget is None or tokens + cost <= token_budget):
            kept.append(record)
            examples.append(example)
            tokens += cost
        else:  # once one is cut, the less relevant rest is too, so the order stays "most relevant first"
            cut_tokens += cost
    cut = len(chosen) - len(kept)
    if cut:
        logger.info("feedback examples for %s: %d of %d cut by the %s-token budget", user_id, cut, len(chosen), token_budget)
    return SelectedExamples(
        examples=examples,
        records=kept,
        available=len(latest),
        cut=cut,
        cut_tokens=cut_tokens,
        tokens=tokens if examples else 0,
        token_budget=token_budget,
    )


def example_text(
    record: FeedbackRecord, *, name_scenario: bool = False, titles: Mapping[str, str] | None = None,
    prompts: Scenario | None = None,
) -> str:
    """One escaped line that shows a reaction as a demonstration, e.g. ``liked "Alien" when shown with "Up"``,
    worded by ``feedback_example.j2`` of ``prompts`` (default: the built-in ``default`` scenario).

    ``name_scenario`` adds the record's scenario in parentheses; ``titles`` (item id -> title) names the
    items that were shown with it (at most three, the rest counted).
    """
    others = [item_id for item_id in record.shown if item_id != record.item_id]
    named = [_quoted(titles[i], 60) for i in others if titles and i in titles][:_SHOWN_TITLES]
    rated = record.label == "rating" and record.rating is not None
    example = {
        "label": record.label if rated or record.label != "rating" else "rated",
        "title": _quoted(record.item_title, 100),
        "rating": f"{record.rating:g}" if rated else "",
        "scenario": escape_item_text(record.scenario, 40) if name_scenario else "",
        "named": named,
        "rest": len(others) - len(named),
        "comment": _quoted(record.comment, 120) if record.comment else "",
    }
    return (prompts or _builtin("default")).render_text("feedback_example", example=example)


def header_tokens(prompts: Scenario | None = None) -> int:
    """Estimated tokens (four characters a token, rounded up) of what the user template of ``prompts``
    (default: the built-in ``default``) adds around feedback examples: its header and closing line, measured
    as the growth of the rendered prompt with one empty example, less that example's own line."""
    return _header_tokens(prompts or _builtin("default"))


@functools.lru_cache(maxsize=64)
def _header_tokens(prompts: Scenario) -> int:
    empty = {"text": "", "label": "liked", "rating": None, "scenario": "", "same_scenario": True, "item_id": "",
             "title": "", "comment": None, "timestamp": 0.0}
    candidates = [("A", Item(id="a", title="A"))]

    def length(examples: list[dict[str, Any]]) -> int:
        return sum(len(m["content"]) for m in prompts.render([], candidates, examples=examples))

    chars = length([empty]) - length([]) - 3  # "- " and the newline belong to the line
    return max(0, -(-chars // 4))


@functools.lru_cache(maxsize=16)
def _builtin(name: str) -> Scenario:
    """The built-in scenario ``name`` (for its texts), else the built-in ``default``."""
    try:
        return load_scenario(name)
    except ScenarioError:
        return load_scenario("default")


def __getattr__(name: str) -> Any:
    if name == "HEADER_TOKENS":  # measured from the default template, once it is asked for
        return header_tokens()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class FeedbackConfig:
    """How a :class:`~promptrec.ranker.Ranker` uses feedback: ``examples`` records per prompt, chosen by
    ``selection`` (``recent`` or ``similar`` to the candidates), optionally from the user's other scenarios,
    within ``token_budget``. Items the user rejected are moved to the end of the ranking (``rejected="demote"``),
    left out of the candidates (``"remove"``) or treated like any other (``"keep"``)."""

    store: FeedbackStore
    examples: int = 3
    selection: SelectionStrategy = "recent"
    cross_scenario: bool = False
    token_budget: int | None = DEFAULT_TOKEN_BUDGET
    rejected: Literal["demote", "remove", "keep"] = "demote"


def demote(candidates: Sequence[Item], rejected: Collection[str]) -> list[Item]:
    """``candidates`` with the ``rejected`` ids moved to the end, each part in its given order."""
    return [c for c in candidates if c.id not in rejected] + [c for c in candidates if c.id in rejected]


def _example(
    record: FeedbackRecord, scenario: str, cross_scenario: bool, titles: Mapping[str, str], prompts: Scenario
) -> dict[str, Any]:
    text = example_text(record, name_scenario=cross_scenario, titles=titles, prompts=prompts)
    return {
        "text": text,
        "label": record.label,
        "rating": record.rating,
        "scenario": escape_item_text(record.scenario, 40),
        "same_scenario": record.scenario == scenario,
        "item_id": record.item_id,
        "title": escape_item_text(record.item_title, 100),
        "comment": escape_item_text(record.comment, 120) if record.comment else None,
        "timestamp": record.timestamp,
    }


def _quoted(text: str, max_chars: int) -> str:
    return json.dumps(escape_item_text(text, max_chars), ensure_ascii=False)


def _line_tokens(text: str) -> int:
    """Estimated tokens of one rendered example line (``- `` + text + newline), rounded up."""
    return (len(text) + 3 + 3) // 4


def _bm25(queries: Sequence[str], documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """BM25 of each document (a fed-back title) against the candidates' titles taken together.

    promptrec's one BM25 (:class:`~promptrec.retrieval.bm25_index.BM25Index`: bm25s' tokens and Lucene
    weights) over the fed-back titles, so idf comes from them; a word counts once per candidate title that has
    it. ``k1 = 1.2`` (short titles saturate early), as this order has always used.
    """
    if not documents:
        return []
    from promptrec.retrieval.bm25_index import BM25Index, tokenize  # numpy and bm25s only for "similar"

    index = BM25Index.from_texts(documents, k1=k1, b=b)
    query = Counter(word for title in queries for word in dict.fromkeys(tokenize(title, index.stop)))
    return [float(score) for score in index.scores(query)]
