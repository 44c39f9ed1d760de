"""Matching what an answer names against one candidate set: labels, titles in any of their written forms,
fuzzy titles, and the user's history. Pure functions, no I/O.

Every lookup is memoised per distinct mention, and fuzzy comparisons are pruned by length and capped per
answer, so that resolving the mentions of an answer stays linear in its length.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Fuzzy title matches below this similarity (difflib ratio on normalised text) count as hallucinations.
TITLE_MATCH_THRESHOLD = 0.75
#: at most this many fuzzy comparisons (mention x title form) per answer; past it, only exact and contained
#: titles are matched (a real answer needs a few hundred; this bounds a degenerate megabyte of invented items)
FUZZY_BUDGET = 1_000

_NON_ALNUM = re.compile(r"[\W_]+")
#: a title in library order, "Matrix, The (1999)": the article moved back to the front for matching
_LIBRARY_ORDER = re.compile(
    r"^(?P<body>.+?), (?P<article>the|an?|les?|la|l'|il|el|los|las|der|die|das|den|det|de|het|os?|as)"
    r"(?P<rest>(?: \([^()]*\))*)$",
    re.IGNORECASE,
)
_TRAILING_PARENS = re.compile(r"(?: ?\([^()]*\))+$")
_MARKUP = re.compile(r"\*\*|__|`")
#: text longer than this is not read for a title's variant forms (library order, trailing parentheses)
_LONGEST_TITLE = 300


def label_alphabet(n: int) -> list[str]:
    """Labels for ``n`` candidates: ``A``..``Z`` up to 26, else ``1``..``n``."""
    if n <= 26:
        return [chr(ord("A") + i) for i in range(n)]
    return [str(i + 1) for i in range(n)]


def normalize_text(text: str) -> str:
    """Casefolded, NFKC-normalised text with punctuation removed and spaces collapsed (for title matching)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_ALNUM.sub(" ", text).split())


def title_forms(title: str) -> list[str]:
    """The forms a title may be written in, normalised: as given, with a library-order article moved back
    to the front ("Matrix, The (1999)" -> "the matrix 1999"), and each without trailing parentheses (years,
    alternative titles). Distinct, longest first (ties alphabetical, so every run reads alike)."""
    text = unicodedata.normalize("NFKC", title).strip()
    if len(text) > _LONGEST_TITLE:  # a sentence, not a title: only its normalised text (keeps this linear)
        return [normalize_text(text)] if normalize_text(text) else []
    forms = [text]
    library = _LIBRARY_ORDER.match(text)
    if library:
        forms.append(f"{library['article']} {library['body']}{library['rest']}".replace("' ", "'"))
    forms += [_TRAILING_PARENS.sub("", form).strip() for form in forms]
    normalised = [normalize_text(form) for form in forms]
    return sorted({form for form in normalised if form}, key=lambda form: (-len(form), form))


def display_forms(title: str) -> list[str]:
    """The un-normalised short forms of a title (as given, article in front, without parentheses), for the
    case-sensitive search of titles under 4 characters."""
    text = unicodedata.normalize("NFKC", title).strip()
    forms = [text]
    library = _LIBRARY_ORDER.match(text)
    if library:
        forms.append(f"{library['article']} {library['body']}{library['rest']}")
    forms += [_TRAILING_PARENS.sub("", form).strip() for form in forms]
    return [form for form in dict.fromkeys(forms) if form]


@dataclass(frozen=True)
class Mention:
    """One item an answer names.

    ``kind`` is ``label`` (a candidate label), ``text`` (a title, possibly with words around it, that may
    contain the title anywhere), ``segment`` (a piece of a sentence: it may hold at most ``SEGMENT_SLACK``
    words besides the title) or ``prose`` (too long to be an item: not reported as invented when it names
    nothing).
    """

    kind: str
    value: str


#: words besides a title that a ``segment`` mention may hold ("I'd put Heat first", "then Alien")
SEGMENT_SLACK = 4


@dataclass
class Resolved:
    """Mentions resolved to candidates: the order of first mentions, and what was dropped."""

    order: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    hallucinated: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)  # items too long to be items: neither read nor reported

    @property
    def credible(self) -> bool:
        """Whether this reading looks like the ranking: at least two candidates, and at least half of the
        items it found (invented ones included) are candidates or history items."""
        resolved = len(self.order) + len(self.duplicates) + len(self.history)
        return len(self.order) >= 2 and resolved >= len(self.hallucinated)


def _fuzzy_possible(a: str, b: str) -> bool:
    """Whether difflib's ratio of ``a`` and ``b`` can reach the threshold (it is at most 2·min / sum)."""
    return 2 * min(len(a), len(b)) >= TITLE_MATCH_THRESHOLD * (len(a) + len(b))


class Matcher:
    """Resolves label and title mentions against one candidate set."""

    def __init__(self, labels: Sequence[str], titles: Sequence[str], history_titles: Sequence[str]):
        self.labels = [label.upper() for label in labels]
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        self.numeric = bool(labels) and all(label.isdigit() for label in labels)
        self.titles = list(titles)
        self.forms = [title_forms(t) for t in titles]
        self.flat = [(form, i, form.count(" ")) for i, forms in enumerate(self.forms) for form in forms]
        self.by_first_word: dict[str, list[tuple[str, int, int]]] = {}
        for form, i, spaces in self.flat:
            if len(form) >= 4:
                self.by_first_word.setdefault(form.split(" ", 1)[0], []).append((form, i, spaces))
        self.exact: dict[str, int] = {}
        for i, forms in enumerate(self.forms):
            for form in forms:
                self.exact.setdefault(form, i)  # a form two candidates share goes to the first
        candidate_forms = set(self.exact)
        self.history = {form for t in history_titles for form in title_forms(t)} - candidate_forms
        self._memo: dict[Mention, int | str | None] = {}
        self._fuzzy_left = FUZZY_BUDGET
        self._sequence_matchers: dict[str, difflib.SequenceMatcher[str]] = {}

    def label(self, text: str) -> int | None:
        """The candidate whose label ``text`` is (``C``, ``c``, ``[C]``, ``(C)``, ``**C**``), else ``None``."""
        token = _MARKUP.sub("", text).strip().strip("[]()").strip().upper()
        return self.label_index.get(token)

    def _similar(self, wanted: str, form: str) -> float:
        if self._fuzzy_left <= 0 or not _fuzzy_possible(wanted, form):
            return 0.0
        self._fuzzy_left -= 1
        matcher = self._sequence_matchers.get(form)
        if matcher is None:  # difflib indexes its second sequence: once per title form
            matcher = self._sequence_matchers[form] = difflib.SequenceMatcher(None, "", form)
        matcher.set_seq1(wanted)
        return matcher.ratio() if matcher.quick_ratio() >= TITLE_MATCH_THRESHOLD else 0.0

    def title_index(self, wanted: str, slack: int | None = None) -> int | None:
        """The candidate whose title ``wanted`` contains (the earliest, then the longest form; with at most
        ``slack`` other words when given), else the one it closely resembles, else ``None``."""
        words = wanted.split(" ")
        position = 0
        for word in words:  # each word of the mention, as the first word of a title form there
            found = [
                (-len(form), i)
                for form, i, spaces in self.by_first_word.get(word, ())
                if (slack is None or len(words) - 1 - spaces <= slack)
                and wanted.startswith(form, position)
                and wanted[position + len(form) : position + len(form) + 1] in ("", " ")
            ]
            if found:
                return min(found)[1]
            position += len(word) + 1
        best, best_index = 0.0, None
        if self._fuzzy_left > 0:
            for form, i, _ in self.flat:
                if 2 * min(len(wanted), len(form)) >= TITLE_MATCH_THRESHOLD * (len(wanted) + len(form)):
                    score = self._similar(wanted, form)
                    if score > best:
                        best, best_index = score, i
        return best_index if best >= TITLE_MATCH_THRESHOLD else None

    def is_history(self, wanted: str) -> bool:
        return any(self._similar(wanted, h) >= TITLE_MATCH_THRESHOLD for h in self.history)

    def index(self, mention: Mention) -> int | str | None:
        """A candidate index, ``"history"`` for an item the user already has, or ``None``."""
        if mention not in self._memo:
            self._memo[mention] = self._index(mention)
        return self._memo[mention]

    def _index(self, mention: Mention) -> int | str | None:
        value = mention.value.strip()
        label = self.label_index.get(value.upper())
        if mention.kind == "label" or (label is not None and value == value.upper()):  # "e" alone is no label
            return label
        if mention.kind == "prose":
            return None
        wanted_forms = title_forms(mention.value)
        if not wanted_forms:
            return None
        for wanted in wanted_forms:
            if wanted in self.exact:
                return self.exact[wanted]
        if any(wanted in self.history for wanted in wanted_forms):  # exact history titles win over fuzzy matches
            return "history"
        found = self.title_index(wanted_forms[0], SEGMENT_SLACK if mention.kind == "segment" else None)
        if found is not None:
            return found
        return "history" if any(self.is_history(wanted) for wanted in wanted_forms) else None

    def resolve(self, mentions: Sequence[Mention]) -> Resolved:
        """Mentions in order to candidates: first mentions kept, the rest reported."""
        result = Resolved()
        seen: set[int] = set()
        for mention in mentions:
            index = self.index(mention)
            if index == "history":
                result.history.append(mention.value)
            elif index is None:
                if mention.kind == "prose":  # a long segment of prose is not an invented item
                    result.prose.append(mention.value)
                else:
                    result.hallucinated.append(mention.value)
            elif isinstance(index, int):
                if index in seen:
                    result.duplicates.append(self.labels[index])
                else:
                    seen.add(index)
                    result.order.append(index)
        return result
