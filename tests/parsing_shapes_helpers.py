"""A generator of answer shapes: a known order wrapped the way models write it (prose, analysis, tags, tables,
headings, code, other scripts). Every shape states its order unambiguously: a careful person reads exactly
``order`` from it. Used by tests/test_parsing_shapes.py (through hypothesis, and 2,500 seeded answers) and
eval/bench_parse_generated.py (seeded answers, the recovery rate per shape beside an earlier parser).

The choices go through a ``Dice``, so the same generator runs on hypothesis draws (which shrink) and on a
seeded ``random.Random`` (which counts thousands of answers quickly).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from promptrec.parsing import label_alphabet

T = TypeVar("T")

#: candidate titles as MovieLens writes them; no title is contained in another
TITLES = [
    "Fargo (1996)", "Alien (1979)", "Heat (1995)", "Matrix, The (1999)", "Toy Story (1995)", "Casablanca (1942)",
    "Vertigo (1958)", "Jaws (1975)", "Rocky (1976)", "Psycho (1960)", "Amelie (2001)", "Gladiator (2000)",
    "Inception (2010)", "Memento (2000)", "Titanic (1997)", "Goodfellas (1990)", "Braveheart (1995)",
    "Chinatown (1974)", "Rashomon (1950)", "Metropolis (1927)", "Amadeus (1984)", "Unforgiven (1992)",
    "Ratatouille (2007)", "Zodiac (2007)", "Oldboy (2003)", "Parasite (2019)", "Whiplash (2014)",
    "Godfather, The (1972)", "Shining, The (1980)", "Blade Runner (1982)", "Pulp Fiction (1994)",
    "Forrest Gump (1994)", "Silence of the Lambs, The (1991)", "Usual Suspects, The (1995)", "Fight Club (1999)",
    "Big Lebowski, The (1998)", "Princess Bride, The (1987)", "Back to the Future (1985)", "Groundhog Day (1993)",
    "Good Will Hunting (1997)",
]
#: titles the user has watched (named in reasons; never candidates)
HISTORY = ["Se7en (1995)", "Heathers (1989)", "Moonrise Kingdom (2012)", "Drive (2011)", "Arrival (2016)"]

PREAMBLES = [
    "", "Sure! Here is my ranking based on your viewing history.", "Based on the movies you watched recently, "
    "I think you will enjoy these.", "Okay, let's think about what this user likes.",
    "You seem to enjoy dark, character-driven stories.",
]
REASONS = [
    "a tense thriller", "darker than {other}", "for fans of {other}", "because you enjoyed {hist}",
    "similar in tone to {hist}", "lighter than {other} but just as sharp", "a classic you have not seen",
    "if you liked {other}, this is a step up",
]


class Dice:
    """The choices a generator makes."""

    def __init__(self, pick: Callable[[Sequence[Any]], Any], integer: Callable[[int, int], int],
                 shuffle: Callable[[list[Any]], list[Any]]):
        self.pick, self.integer, self.shuffle = pick, integer, shuffle

    @classmethod
    def seeded(cls, seed: int) -> Dice:
        rnd = random.Random(seed)
        return cls(rnd.choice, rnd.randint, lambda xs: rnd.sample(xs, len(xs)))

    @classmethod
    def hypothesis(cls, draw: Callable[[Any], Any]) -> Dice:
        from hypothesis import strategies as st

        return cls(lambda xs: draw(st.sampled_from(list(xs))), lambda a, b: draw(st.integers(a, b)),
                   lambda xs: list(draw(st.permutations(xs))))

    def coin(self) -> bool:
        return bool(self.integer(0, 1))


@dataclass(frozen=True)
class Item:
    label: str
    title: str  # as the candidate set has it

    def name(self, dice: Dice, *, commas: bool = True) -> str:
        """The title as an answer writes it: plain, with year, in library order, or lower case."""
        plain = _plain(self.title)
        forms = [plain, f"{plain} {_year(self.title)}", plain.lower()]
        if commas and plain != self.title.rsplit(" (", 1)[0]:
            forms.append(self.title)  # "Matrix, The (1999)"
        return dice.pick(forms)


def _plain(title: str) -> str:
    body = title.rsplit(" (", 1)[0]
    if ", " in body:
        head, article = body.rsplit(", ", 1)
        return f"{article} {head}"
    return body


def _year(title: str) -> str:
    return "(" + title.rsplit(" (", 1)[1]


@dataclass
class Case:
    """One generated answer: the candidates, the order it states (labels, best first) and its shape."""

    shape: str
    text: str
    labels: list[str]
    titles: list[str]
    order: list[str]
    format: str | None  # the format the parser should report, where the shape fixes it


def _reason(dice: Dice, items: Sequence[Item], me: Item) -> str:
    others = [item for item in items if item != me]
    text = dice.pick(REASONS)
    other = _plain(dice.pick(others).title) if others else "Heat"
    return text.format(other=other, hist=_plain(dice.pick(HISTORY)))


def _label(dice: Dice, item: Item) -> str:
    return dice.pick([f"[{item.label}]", item.label, f"({item.label})", f"**{item.label}**"])


def _shuffled_other_order(dice: Dice, ranked: list[Item], everyone: list[Item]) -> list[Item]:
    """A different order of (some of) the candidates, for an analysis or a first draft."""
    for _ in range(5):
        other = dice.shuffle(everyone)[: max(2, len(ranked))]
        if [i.label for i in other] != [i.label for i in ranked]:
            return other
    return list(reversed(everyone))


# --- the shapes: each returns (text, the format the parser should report or None) ---------------------------


def arrow(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    if dice.coin():
        return dice.pick([" > ", ">", " → "]).join(f"[{i.label}]" for i in ranked), "arrow"
    return dice.pick([" > ", ", "]).join(i.label for i in ranked), "labels"


def lead_in_labels(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    lower = not ranked[0].label.isdigit() and dice.coin()
    lead = dice.pick(["my ranking:", "My ranking:", "Ranking:", "Recommended IDs:", "The order is", "Top picks:",
                      "Here you go:"])
    body = ", ".join(i.label.lower() if lower else i.label for i in ranked)
    return f"{lead} {body}", "labels"


def numbered_titles(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    dash = dice.pick([" - ", " — ", ": ", " (", " because "])
    lines = []
    for n, item in enumerate(ranked, 1):
        reason = _reason(dice, everyone, item)
        tail = f"{dash}{reason})" if dash == " (" else f"{dash}{reason}"
        name = f"**{item.name(dice)}**" if dice.coin() else item.name(dice)
        lines.append(f"{n}. {name}{tail if dash != ' because ' else ' because ' + reason}")
    return "\n".join(lines), "list"


def numbered_labels(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    lines = [f"{n}. {_label(dice, i)} {i.name(dice)} - {_reason(dice, everyone, i)}" for n, i in enumerate(ranked, 1)]
    return "\n".join(lines), "list"


def bullets(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    mark = dice.pick(["-", "*", "•"])
    lines = []
    for item in ranked:
        lines.append(f"{mark} **{item.name(dice)}**: {_reason(dice, everyone, item)}")
        if dice.coin():
            lines.append(f"    {mark} similar to {_plain(dice.pick(everyone).title)}")
    return "\n".join(lines), "list"


def headings(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    level = dice.pick(["##", "###"])
    blocks = []
    for n, item in enumerate(ranked, 1):
        head = dice.pick([f"{n}. {item.name(dice)}", f"{n}. [{item.label}] {item.name(dice)}", item.name(dice)])
        block = f"{level} {head}\n**Why:** {_reason(dice, everyone, item)}."
        if dice.coin():
            block += f"\n- Genre: drama\n- Similar to: {_plain(dice.pick(everyone).title)}"
        blocks.append(block)
    return "\n\n".join(blocks), "headings"


def table(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    rank_head, label_head, title_head, why_head = (
        dice.pick(["Rank", "#", "Position"]), dice.pick(["Label", "ID", "Candidate"]),
        dice.pick(["Title", "Movie"]), dice.pick(["Why", "Reason", "Why it fits"]),
    )
    rows = [(n, item) for n, item in enumerate(ranked, 1)]
    stated = dice.coin()
    if stated:
        rows = dice.shuffle(rows)
    with_label = dice.coin()
    head = [rank_head] + ([label_head] if with_label else []) + [title_head, why_head]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n, item in rows:
        cells = [str(n)] + ([item.label] if with_label else []) + [item.name(dice), _reason(dice, everyone, item)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), "table"


def stated_ranks(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    style = dice.pick(["Rank {n}: {x}", "#{n} {x}", "**Rank {n}** - {x}", "{x} (rank {n})"])
    rows = dice.shuffle([(n, item) for n, item in enumerate(ranked, 1)])
    if [n for n, _ in rows] == sorted(n for n, _ in rows):
        rows = list(reversed(rows))
    lines = []
    for n, item in rows:
        x = dice.pick([item.name(dice), f"[{item.label}] {item.name(dice)}", item.label])
        line = style.format(n=n, x=x)
        if not style.startswith("{x}"):
            line += f" - {_reason(dice, everyone, item)}"
        lines.append(line)
    return "\n".join(lines), "ranks"


def json_answer(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    kind = dice.pick(["labels", "titles", "objects", "ranked objects", "wrapped"])
    if kind == "labels":
        value: Any = [int(i.label) if i.label.isdigit() and dice.coin() else i.label for i in ranked]
    elif kind == "titles":
        value = [i.name(dice) for i in ranked]
    elif kind == "objects":
        value = [{"label": i.label, "reason": _reason(dice, everyone, i)} for i in ranked]
    elif kind == "ranked objects":
        value = dice.shuffle([{"rank": n, "title": i.name(dice), "why": _reason(dice, everyone, i)}
                              for n, i in enumerate(ranked, 1)])
    else:
        value = {"reasoning": f"The user likes {_plain(dice.pick(everyone).title)}.", "ranking": [i.label for i in ranked]}
    text = json.dumps(value, ensure_ascii=False, indent=dice.pick([None, 2]))
    return (f"```json\n{text}\n```" if dice.coin() else text), "json"


def code(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    items = ", ".join(f"'{i.label}'" for i in ranked)
    body = dice.pick([f"ranking = [{items}]", f"print([{items}])", f"return ({items})", f"[{items}]"])
    return f"```python\n{body}\n```", "code"


def cjk(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    labels = [i.label for i in ranked]
    text = dice.pick(["我的排名是", "推荐顺序：", "我认为最适合的是"]) + labels[0]
    if len(labels) > 1:
        text += "，其次是" + labels[1]
    if len(labels) > 2:
        text += "，然后是" + "、".join(labels[2:])
    return text + "。", None


def prose_labels(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    labels = [i.label for i in ranked]
    text = f"I would put {labels[0]} first"
    for label in labels[1:-1]:
        text += dice.pick([f", then {label}", f", followed by {label}"])
    return text + f" and {labels[-1]} last.", "labels"


def one_per_line(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    if dice.coin():
        return "\n".join(_label(dice, i) for i in ranked), None
    return "<end>".join(i.name(dice, commas=False) for i in ranked) + "<end>", "titles"


BASE_SHAPES: dict[str, Callable[[Dice, list[Item], list[Item]], tuple[str, str | None]]] = {
    "arrow": arrow, "lead_in_labels": lead_in_labels, "numbered_titles": numbered_titles,
    "numbered_labels": numbered_labels, "bullets": bullets, "headings": headings, "table": table,
    "stated_ranks": stated_ranks, "json": json_answer, "code": code, "cjk": cjk, "prose_labels": prose_labels,
    "one_per_line": one_per_line,
}
#: shapes a committed answer may take after analysis (the ones that cannot be confused with an analysis)
INNER = ["arrow", "lead_in_labels", "numbered_titles", "numbered_labels", "table", "json", "code", "headings"]


def _analysis(dice: Dice, ranked: list[Item], everyone: list[Item]) -> str:
    """Reasoning that names candidates in another order than the answer."""
    other = _shuffled_other_order(dice, ranked, everyone)
    style = dice.pick(["prose", "labels", "list"])
    if style == "prose":
        return " ".join(f"{_plain(i.title)} could work because {_reason(dice, everyone, i)}." for i in other)
    if style == "labels":
        return "Comparing " + ", ".join(f"[{i.label}]" for i in other) + " against the user's taste."
    return "Let me consider each candidate:\n" + "\n".join(f"- {i.label}: {_plain(i.title)}, {_reason(dice, everyone, i)}"
                                                            for i in other)


def think_tags(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    inner, fmt = BASE_SHAPES[dice.pick(INNER)](dice, ranked, everyone)
    tag = dice.pick(["think", "thinking", "reasoning"])
    return f"<{tag}>\n{_analysis(dice, ranked, everyone)}\n</{tag}>\n\n{inner}", fmt


def answer_tags(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    inner, fmt = BASE_SHAPES[dice.pick(INNER)](dice, ranked, everyone)
    tag = dice.pick(["answer", "final_answer", "ranking"])
    return f"{_analysis(dice, ranked, everyone)}\n\n<{tag}>\n{inner}\n</{tag}>", fmt


def final_answer(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    inner, fmt = BASE_SHAPES[dice.pick(INNER)](dice, ranked, everyone)
    marker = dice.pick(["Final answer:", "**Final ranking:**", "## Final Ranking", "Answer:", "Here is my ranking:",
                        "So my final ranking is:"])
    return f"{_analysis(dice, ranked, everyone)}\n\n{marker}\n{inner}", fmt


def revision(dice: Dice, ranked: list[Item], everyone: list[Item]) -> tuple[str, str | None]:
    draft = _shuffled_other_order(dice, ranked, everyone)
    first = " > ".join(f"[{i.label}]" for i in draft) if dice.coin() else ", ".join(i.label for i in draft)
    inner, fmt = BASE_SHAPES[dice.pick(["arrow", "numbered_titles", "numbered_labels", "lead_in_labels"])](
        dice, ranked, everyone)
    phrase = dice.pick(["Actually, let me revise:", "On second thought, a better order:", "Let me reconsider.",
                        "Correction:", "Revised ranking:"])
    return f"Ranking: {first}\n\nHmm, {_plain(draft[0].title)} may not fit.\n{phrase}\n{inner}", fmt


WRAPPED_SHAPES = {"think_tags": think_tags, "answer_tags": answer_tags, "final_answer": final_answer,
                  "revision": revision}
SHAPES = {**BASE_SHAPES, **WRAPPED_SHAPES}
#: shapes that read labels out of sentences: the order is limited to a few items there
_SHORT = {"cjk", "prose_labels"}


def make_case(dice: Dice, shape: str | None = None) -> Case:
    """One answer: a candidate set (letters, or numbers past 26), a known order of some of them, a shape."""
    shape = shape or dice.pick(sorted(SHAPES))
    numeric = shape not in ("cjk", "prose_labels", "code") and dice.integer(0, 9) == 0
    n = dice.integer(27, 32) if numeric else dice.integer(3, 20)
    labels = label_alphabet(n)
    titles = dice.shuffle(TITLES)[:n]
    everyone = [Item(label, title) for label, title in zip(labels, titles)]
    k = dice.integer(2, min(n, 6 if shape in _SHORT else n))
    ranked = dice.shuffle(everyone)[:k]
    text, fmt = SHAPES[shape](dice, ranked, everyone)
    if shape in BASE_SHAPES and shape not in ("cjk",):
        preamble = dice.pick(PREAMBLES)
        text = f"{preamble}\n\n{text}" if preamble else text
    if dice.integer(0, 3) == 0 and shape not in ("cjk",):
        a, b = dice.shuffle(everyone)[:2]
        text += f"\n\nExplanation: {_plain(a.title)} is a better match than {_plain(b.title)} for this user."
    return Case(shape, text, labels, titles, [i.label for i in ranked], fmt)


def is_read(case: Case, order: list[int], report: Any) -> bool:
    """Whether the parse recovered exactly the stated order (and named nothing else)."""
    named = [case.labels[i] for i in order[: report.valid]]
    return named == case.order


def squash(text: str) -> str:
    """One line, for failure messages."""
    return re.sub(r"\s+", " ", text)[:300]
