"""Pointwise yes/no evaluation on TALLRec's Book-Crossing JSON: will the user like this book? (AUC)

Each record is ``{"instruction", "input", "output": "Yes." | "No."}`` whose input reads::

    User Preference: "Title" written by Author, ...
    User Unpreference: "Title" written by Author, ...
    Whether the user will like the target book ""Title" written by Author"?

Books are identified by title and author (the data has no ids). The baselines score the target book:
random (seeded), popularity (how often the book is liked in ``valid.json``: in preference lists and as a
"Yes." target; never counted on the test file) and BM25 (liked books' text vs. the target's). An LLM method
(a :class:`~promptrec.ranker.Ranker` in ``pointwise`` mode) is shown the liked books as the history and the
target as the one candidate, and scores it by log P("Yes") - log P("No"); the disliked books are not shown.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from promptrec.data import Item
from promptrec.errors import DataError
from promptrec.evaluation.baselines import BM25Baseline, Scored, item_text
from promptrec.evaluation.cases import Query
from promptrec.evaluation.files import clean_text
from promptrec.evaluation.metrics import auc

_INPUT = re.compile(
    r'^User Preference: (?P<liked>.*)\nUser Unpreference: (?P<disliked>.*)\n'
    r'Whether the user will like the target book "(?P<target>.*)"\?$',
    re.DOTALL,
)
_BOOK = re.compile(r'"(.*?)" written by (.*?)(?=, "|$)')


class PointwiseMethod(Protocol):
    """What scores a record: a name and ``score(query)`` whose one candidate is the target book."""

    name: str

    def score(self, query: Query) -> Scored: ...


@dataclass(frozen=True)
class PointwiseCase:
    """One like/dislike record: what the user liked and disliked, the target book and the label (1 = Yes)."""

    case_id: str
    liked: tuple[Item, ...]
    disliked: tuple[Item, ...]
    target: Item
    label: int


@dataclass
class PointwiseDataset:
    """TALLRec-style pointwise data: test and validation records and every book they mention."""

    name: str
    test: tuple[PointwiseCase, ...]
    valid: tuple[PointwiseCase, ...]
    items: dict[str, Item]
    protocol: str = "pointwise"
    scenario: str = "books"
    notes: dict[str, str] = field(default_factory=dict)


def _books(text: str, path: Path, line: int, field_name: str, items: dict[str, Item]) -> tuple[Item, ...]:
    """The books of a ``"Title" written by Author, ...`` list, added to ``items``."""
    text = text.strip()
    found = _BOOK.findall(text)
    if ", ".join(f'"{t}" written by {a}' for t, a in found) != text:
        raise DataError(f'expected "Title" written by Author, ...: {text[:80]!r}', path=path, line=line, field=field_name)
    books = []
    for title, author in found:
        title, author = clean_text(title) or "(untitled)", clean_text(author)
        key = f"{title.casefold()} / {author.casefold()}"
        if key not in items:
            items[key] = Item(id=key, title=title, attributes={"author": author} if author else {})
        books.append(items[key])
    return tuple(books)


def json_list(path: Path) -> list[tuple[int, object]]:
    """(line, element) for each element of a JSON list file, so that errors can name the element's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 ({exc.reason})", path=path) from None
    decoder = json.JSONDecoder()
    whitespace = re.compile(r"[\s,]*")
    position = whitespace.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", position):
        raise DataError("expected a JSON list of records", path=path, line=text.count("\n", 0, position) + 1)
    position, line, counted = position + 1, 1, 0
    elements: list[tuple[int, object]] = []
    while True:
        position = whitespace.match(text, position).end()  # type: ignore[union-attr]
        line += text.count("\n", counted, position)
        counted = position
        if text.startswith("]", position):
            return elements
        try:
            element, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None
        elements.append((line, element))


def _read(path: Path, split: str, items: dict[str, Item]) -> tuple[PointwiseCase, ...]:
    cases = []
    for index, (line, record) in enumerate(json_list(path)):
        if not isinstance(record, dict):
            raise DataError("expected an object", path=path, line=line)
        output = str(record.get("output", "")).strip().rstrip(".").casefold()
        if output not in ("yes", "no"):
            raise DataError(f"expected 'Yes.' or 'No.', got {record.get('output')!r}", path=path, line=line, field="output")
        match = _INPUT.match(str(record.get("input", "")))
        if not match:
            raise DataError("input does not follow TALLRec's book template", path=path, line=line, field="input")
        target = _books(match["target"], path, line, "input.target", items)
        if len(target) != 1:
            raise DataError("expected exactly one target book", path=path, line=line, field="input.target")
        cases.append(
            PointwiseCase(
                case_id=f"{split}:{index}",
                liked=_books(match["liked"], path, line, "input.preference", items),
                disliked=_books(match["disliked"], path, line, "input.unpreference", items),
                target=target[0],
                label=1 if output == "yes" else 0,
            )
        )
    return tuple(cases)


def load_tallrec(path: str | Path, name: str = "bookcrossing") -> PointwiseDataset:
    """``path`` = the test JSON; the validation JSON is ``valid.json`` beside it."""
    path = Path(path)
    items: dict[str, Item] = {}
    test = _read(path, "test", items)
    valid_path = path.with_name("valid.json")
    valid = _read(valid_path, "valid", items)
    return PointwiseDataset(
        name=name,
        test=test,
        valid=valid,
        items=items,
        notes={
            "files": f"{path} , {valid_path}",
            "task": "pointwise: does the user like the target book (Yes./No.)? metric: AUC",
            "popularity": f"times the book is liked in {valid_path.name} (preference lists and Yes. targets)",
        },
    )


@dataclass
class PointwiseRun:
    """AUC per method on a seeded sample of test records."""

    dataset: PointwiseDataset
    cases: list[PointwiseCase]
    scores: dict[str, dict[str, float]]
    auc: dict[str, float]
    protocol: dict[str, str]


def content_key(cases: Sequence[PointwiseCase]) -> str:
    """A SHA-256 (16 hex digits) of the records' ids, targets and labels: the sample's seed derives from it,
    never from the dataset's name or folder."""
    digest = hashlib.sha256()
    for case in cases:
        digest.update(f"{case.case_id}\x1f{case.target.id}\x1f{case.label}\n".encode())
    return digest.hexdigest()[:16]


def run_pointwise(
    dataset: PointwiseDataset,
    n: int | None,
    seed: int,
    methods: Sequence[PointwiseMethod] = (),
    progress: Callable[[str, int, int], None] | None = None,
) -> PointwiseRun:
    """Score a seeded sample of ``n`` test records (all when ``None``) with the baselines and ``methods``
    (LLMs, shown the liked books and the target alone); AUC for each."""
    cases = sorted(dataset.test, key=lambda c: c.case_id)
    if n is not None and n < len(cases):
        cases = random.Random(f"{seed}|users|{content_key(cases)}|test").sample(cases, n)
    liked: Counter[str] = Counter()
    for case in dataset.valid:
        liked.update(item.id for item in case.liked)
        if case.label:
            liked[case.target.id] += 1
    bm25 = BM25Baseline(list(dataset.items.values()))
    scores: dict[str, dict[str, float]] = {"random": {}, "popularity": {}, "bm25": {}}
    for case in cases:
        scores["random"][case.case_id] = random.Random(f"{seed}|random|{case.case_id}").random()
        scores["popularity"][case.case_id] = float(liked[case.target.id])
        text = " ".join(item_text(item) for item in case.liked)
        scores["bm25"][case.case_id] = bm25.text_scores(text, [case.target.id])[case.target.id]
    for method in methods:
        scores[method.name] = {}
        for done, case in enumerate(cases, start=1):
            query = Query(case_id=case.case_id, user_id=case.case_id, history=case.liked, candidates=(case.target,))
            scores[method.name][case.case_id] = method.score(query).scores[case.target.id]
            if progress is not None:
                progress(f"{dataset.name}: {method.name}", done, len(cases))
    labels = [case.label for case in cases]
    aucs = {name: auc(labels, [by_case[c.case_id] for c in cases]) for name, by_case in scores.items()}
    protocol = {
        "dataset": dataset.name,
        "protocol": "pointwise yes/no (TALLRec Book-Crossing)",
        "records": f"{len(cases)} sampled of {len(dataset.test)} test records (seed {seed}); "
        f"{sum(labels)} positive",
        "seeds": f"{seed}",
        "LLM prompt": "the liked books as the history, the target as the one candidate, Yes or No; "
        "score = log P(Yes) - log P(No) of the answer's first token",
        **dataset.notes,
    }
    return PointwiseRun(dataset, cases, scores, aucs, protocol)
