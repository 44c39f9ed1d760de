"""What is decided before a backend is called: the candidates' labels and order, the answer contract, and
a prompt whose history fits the model's context."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptrec.backends import Backend, GenerationParams, Message
from promptrec.data import Item
from promptrec.errors import ContextOverflowError, DataError
from promptrec.scenario import Scenario, load_scenario

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedRequest:
    """Everything decided before the backend is called: the prompt, the parameters and the labelling.

    It is deterministic for a given ranker, user, candidate list and feedback, so a request exported to a
    batch API today can be finished with :meth:`Ranker.finish <promptrec.ranker.Ranker.finish>` later.
    """

    user_id: str
    messages: list[Message]
    params: GenerationParams
    labelled: list[tuple[str, Item]]
    fallback: list[int]
    history_titles: list[str]
    history_used: int
    history_dropped: int
    k: int | None
    examples: list[dict[str, Any]] = field(default_factory=list)
    examples_cut: int = 0
    demote: frozenset[str] = frozenset()
    item_messages: list[list[Message]] = field(default_factory=list)
    """pointwise mode: one prompt per labelled candidate, in shown order (``messages`` is the first)"""

    @property
    def labels(self) -> list[str]:
        """The candidates' labels in shown order."""
        return [label for label, _ in self.labelled]


def _texts(scenario: Scenario | None) -> Scenario:
    """The scenario whose templates word the texts: the given one, else the built-in ``default``."""
    return scenario if scenario is not None else _default_scenario()


@functools.lru_cache(maxsize=1)
def _default_scenario() -> Scenario:
    return load_scenario("default")


def answer_instruction(labels: Sequence[str], scenario: Scenario | None = None) -> str:
    """The output contract of generate mode, as shown to the model (the parser reads exactly this):
    ``answer_generate.j2`` of ``scenario`` (default: the built-in ``default``)."""
    return _texts(scenario).render_text("answer_generate", labels=list(labels), n_candidates=len(labels))


def choice_instruction(labels: Sequence[str], scenario: Scenario | None = None) -> str:
    """The output contract of score mode: one label, whose first token is read as the ranking
    (``answer_score.j2``)."""
    return _texts(scenario).render_text("answer_score", labels=list(labels), n_candidates=len(labels))


#: pointwise mode's answers: the first token of the answer is read as one of these
YES_NO = ("Yes", "No")


def yes_no_instruction(scenario: Scenario | None = None) -> str:
    """The output contract of pointwise mode: Yes or No, whose first token is read as the score
    (``answer_pointwise.j2``)."""
    return _texts(scenario).render_text("answer_pointwise", answers=list(YES_NO))


def reask_text(answer: str, labels: Sequence[str], scenario: Scenario | None = None) -> str:
    """Generate mode's follow-up after an ``answer`` that named none of the ``labels`` (``reask.j2``; the
    template is shown the answer's first 80 characters)."""
    return _texts(scenario).render_text("reask", answer=answer.strip()[:80], labels=list(labels), n_candidates=len(labels))


def label_list_grammar(labels: Sequence[str]) -> str:
    """A GBNF grammar whose sentences are exactly ``len(labels)`` candidate labels joined by `` > ``."""
    alternatives = " | ".join(f'"[{label}]"' for label in labels)
    rest = ' " > " item' * (len(labels) - 1)
    return f"root ::= item{rest}\nitem ::= {alternatives}\n"


def checked_candidates(candidates: Sequence[Item]) -> list[Item]:
    """``candidates`` as a list; a :class:`DataError` if it is empty or repeats an id."""
    candidates = list(candidates)
    if not candidates:
        raise DataError("the candidate list is empty; give at least one candidate", field="candidates")
    seen: set[str] = set()
    for item in candidates:
        if item.id in seen:
            raise DataError(f"candidate id '{item.id}' appears more than once", field="candidates")
        seen.add(item.id)
    return candidates


def shown_order(candidates: Sequence[Item], user_id: str, seed: int, shuffle: bool) -> list[int]:
    """The order in which candidates are shown: a random permutation seeded by seed, user and candidates."""
    order = list(range(len(candidates)))
    if shuffle:
        key = "\x1f".join([str(seed), user_id, *(item.id for item in candidates)])
        random.Random(key).shuffle(order)
    return order


def fit_history(
    render: Callable[[Sequence[Item]], list[Message]],
    history: Sequence[Item],
    max_history: int,
    backend: Backend,
    answer_tokens: int,
) -> tuple[list[Message], int]:
    """The prompt with as many of the most recent history items as fit the context, and how many that is.

    ``render(items)`` renders the prompt for a history; the context must also hold ``answer_tokens``.
    """
    window = backend.context_window
    if window is not None:  # a history line takes at least two tokens, so no more than window / 2 items can fit
        max_history = min(max_history, window // 2)
    recent = list(history[-max_history:]) if max_history else []
    if window is None:
        return render(recent), len(recent)
    budget = window - answer_tokens

    def fits(keep: int) -> tuple[bool, list[Message]]:
        messages = render(recent[len(recent) - keep :])
        return backend.count_tokens(messages) <= budget, messages

    ok, messages = fits(len(recent))
    if ok:
        return messages, len(recent)
    ok, best = fits(0)
    if not ok:
        raise ContextOverflowError(
            f"the candidates do not fit the {window}-token context of {backend.name} even with no history; "
            "use fewer candidates or a larger context (n_ctx)"
        )
    low, high, kept = 0, len(recent) - 1, 0  # the largest number of recent items that fits
    while low < high:
        middle = (low + high + 1) // 2
        ok, candidate = fits(middle)
        if ok:
            low, best, kept = middle, candidate, middle
        else:
            high = middle - 1
    logger.info("dropped %d oldest history items to fit the context", len(recent) - kept)
    return best, kept
