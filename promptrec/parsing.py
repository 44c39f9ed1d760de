"""From a model's answer to a valid permutation of the candidates. Pure functions, no I/O.

The parser accepts the shapes models actually produce: a JSON list (of labels, titles or objects),
``[C] > [A] > [B]``, numbered or bulleted lines (``1. (C) Alien``, ``1. **C** - Alien``), bare label
sequences (``C, A, B``, one label per line, labels in markdown bold), titles (in any case, in library order
as in "Matrix, The (1999)", separated by lines, ``>``, commas or RecLM-eval's ``<end>``), and a sentence
that names labels in order ("C first, then A, then B"), with reasoning (``<think>`` blocks, prose before an
``Answer:``) around them and full-width or superscript characters in them. Every reading is tried and the
one that names the most distinct candidates wins. Then the answer is repaired as rank_llm does: duplicates,
hallucinated items and history items are dropped, and candidates the answer left out are appended in the
caller's fallback order. It never raises on model output.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from promptrec.ranking import AnswerFormat, ParseReport

logger = logging.getLogger(__name__)

_REASONING = re.compile(r"<(think|thinking|reasoning|reflection)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_REASONING_CLOSE = re.compile(r"</(think|thinking|reasoning|reflection)>", re.IGNORECASE)
_ANSWER_MARKER = re.compile(
    r"^[ \t#*_>]*(?:final[ \t]+)?(?:answer|ranking|ranked[ \t]+list|recommendations?|output)[ \t]*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_REASONING_OPEN = re.compile(r"<(think|thinking|reasoning|reflection)>", re.IGNORECASE)
_BRACKET_LABEL = re.compile(r"\[\s*([A-Za-z]{1,2}|\d{1,4})\s*\]")
_LIST_LINE = re.compile(r"^(?:\d{1,4} ?[.):]|[-*•+](?= )|#\d{1,4}[.:]?) ?(.+)$")
_LIST_MARKER = re.compile(r"^(?:\d{1,4} ?[.):]|[-*•+](?= )|#\d{1,4}[.:]?) ?")
_MARKUP = re.compile(r"\*\*|__|`")
#: words that may stand before a label ("1. Candidate C: Alien", "option B")
_LABEL_NOUN = r"(?:(?i:candidate|option|item|choice|movie|film|book|product|game|track|article|no\.)\s?)?"
#: a title in library order, "Matrix, The (1999)": the article moved back to the front for matching
_LIBRARY_ORDER = re.compile(
    r"^(?P<body>.+?), (?P<article>the|an?|les?|la|l'|il|el|los|las|der|die|das|den|det|de|het|os?|as)"
    r"(?P<rest>(?: \([^()]*\))*)$",
    re.IGNORECASE,
)
_TRAILING_PARENS = re.compile(r"(?: ?\([^()]*\))+$")
#: separators of a list of items written on one line (RecLM-eval asks for titles each followed by <end>)
_SEGMENT_SEPARATORS = (re.compile(r"<\s*end\s*>", re.IGNORECASE), re.compile(r"\s*(?:>|→|⇒|➜)\s*"),
                       re.compile(r"\s*[,;|]\s*"))
_SEGMENT_STRIP = " \t\"'*_`.:!"
#: a segment this long is prose, not an item: it is not reported as a hallucinated item
_SEGMENT_WORDS = 12
#: words after "A" or "I" that make it a label ("A and B", "I first"), not an article or a pronoun
_LABEL_FOLLOWERS = frozenset(
    "and or then first second third fourth fifth next last followed is comes ranks goes over before after at "
    "because since".split()
)
_SEPARATORS = r"[\s,;>|→\-–—.]"
_TITLE_SPLIT = re.compile(r" [-–—:] | ?\( ?(?:because|since|as)\b", re.IGNORECASE)
_JSON_START = re.compile(r"\[\s*[\"\d\-{\]]|\{\s*[\"}]")
_PARTIAL_JSON = re.compile(r"\[\s*(\"(?:[^\"\\]|\\.)*\"\s*(?:,\s*\"(?:[^\"\\]|\\.)*\"\s*)*)")
_QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"")
_NON_ALNUM = re.compile(r"[\W_]+")
_ARROWS = (">", "→", "⇒", "➜")
_FORMAT_PRIORITY: tuple[AnswerFormat, ...] = ("json", "arrow", "list", "labels", "titles")

#: Fuzzy title matches below this similarity (difflib ratio on normalised text) count as hallucinations.
TITLE_MATCH_THRESHOLD = 0.75


def label_alphabet(n: int) -> list[str]:
    """Labels for ``n`` candidates: ``A``..``Z`` up to 26, else ``1``..``n``."""
    if n <= 26:
        return [chr(ord("A") + i) for i in range(n)]
    return [str(i + 1) for i in range(n)]


def normalize_text(text: str) -> str:
    """Casefolded, NFKC-normalised text with punctuation removed and spaces collapsed (for title matching)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_ALNUM.sub(" ", text).split())


def _title_forms(title: str) -> list[str]:
    """The forms a title may be written in, normalised: as given, with a library-order article moved back
    to the front ("Matrix, The (1999)" -> "the matrix 1999"), and each without trailing parentheses (years,
    alternative titles). Distinct, longest first."""
    text = unicodedata.normalize("NFKC", title).strip()
    forms = [text]
    library = _LIBRARY_ORDER.match(text)
    if library:
        forms.append(f"{library['article']} {library['body']}{library['rest']}".replace("' ", "'"))
    forms += [_TRAILING_PARENS.sub("", form).strip() for form in forms]
    normalised = [normalize_text(form) for form in forms]
    return sorted({form for form in normalised if form}, key=len, reverse=True)


def _display_forms(title: str) -> list[str]:
    """The un-normalised short forms of a title (as given, article in front, without parentheses), for the
    case-sensitive search of titles under 4 characters."""
    text = unicodedata.normalize("NFKC", title).strip()
    forms = [text]
    library = _LIBRARY_ORDER.match(text)
    if library:
        forms.append(f"{library['article']} {library['body']}{library['rest']}")
    forms += [_TRAILING_PARENS.sub("", form).strip() for form in forms]
    return [form for form in dict.fromkeys(forms) if form]


@dataclass
class _Mention:
    kind: str  # "label", "text", or "prose" (a text too long to be an item: not reported as hallucinated)
    value: str


@dataclass
class _Resolved:
    order: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    hallucinated: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


class _Matcher:
    """Resolves label and title mentions against one candidate set."""

    def __init__(self, labels: Sequence[str], titles: Sequence[str], history_titles: Sequence[str]):
        self.labels = [label.upper() for label in labels]
        self.label_index = {label: i for i, label in enumerate(self.labels)}
        self.numeric = bool(labels) and all(label.isdigit() for label in labels)
        self.forms = [_title_forms(t) for t in titles]
        self.exact: dict[str, int] = {}
        for i, forms in enumerate(self.forms):
            for form in forms:
                self.exact.setdefault(form, i)  # a form two candidates share goes to the first
        candidate_forms = set(self.exact)
        self.history = {form for t in history_titles for form in _title_forms(t)} - candidate_forms

    def title_index(self, wanted: str) -> int | None:
        """The candidate one of whose title forms is contained in, or closely resembles, ``wanted``."""
        contained = [
            (len(form), -i, i)
            for i, forms in enumerate(self.forms)
            for form in forms
            if len(form) >= 4 and f" {form} " in f" {wanted} "
        ]
        if contained:
            return max(contained)[2]
        scores = [
            (difflib.SequenceMatcher(None, wanted, form).ratio(), -i, i)
            for i, forms in enumerate(self.forms)
            for form in forms
        ]
        best = max(scores, default=(0.0, 0, -1))
        return best[2] if best[0] >= TITLE_MATCH_THRESHOLD else None

    def is_history(self, wanted: str) -> bool:
        return any(difflib.SequenceMatcher(None, wanted, h).ratio() >= TITLE_MATCH_THRESHOLD for h in self.history)

    def label(self, text: str) -> int | None:
        """The candidate whose label ``text`` is (``C``, ``[C]``, ``(C)``, ``**C**``), else ``None``."""
        token = _MARKUP.sub("", text).strip().strip("[]()").strip().upper()
        return self.label_index.get(token)

    def index(self, mention: _Mention) -> int | str | None:
        """A candidate index, ``"history"`` for an item the user already has, or ``None``."""
        label = self.label_index.get(mention.value.strip().upper())
        if mention.kind == "label" or label is not None:
            return label
        wanted_forms = _title_forms(mention.value)
        if not wanted_forms:
            return None
        for wanted in wanted_forms:
            if wanted in self.exact:
                return self.exact[wanted]
        if any(wanted in self.history for wanted in wanted_forms):  # exact history titles win over fuzzy matches
            return "history"
        found = self.title_index(wanted_forms[0])
        if found is not None:
            return found
        return "history" if any(self.is_history(wanted) for wanted in wanted_forms) else None

    def resolve(self, mentions: list[_Mention]) -> _Resolved:
        result = _Resolved()
        seen: set[int] = set()
        for mention in mentions:
            index = self.index(mention)
            if index == "history":
                result.history.append(mention.value)
            elif index is None:
                if mention.kind != "prose":  # a long segment of prose is not an invented item
                    result.hallucinated.append(mention.value)
            elif index in seen:
                result.duplicates.append(self.labels[index])  # type: ignore[index]
            else:
                seen.add(index)  # type: ignore[arg-type]
                result.order.append(index)  # type: ignore[arg-type]
        return result


def _strip_reasoning(text: str) -> tuple[str, bool]:
    stripped = _REASONING.sub(" ", text)
    closes = list(_REASONING_CLOSE.finditer(stripped))
    if closes:  # the opening tag was in the prompt (some chat templates add it)
        stripped = stripped[closes[-1].end() :]
    opened = _REASONING_OPEN.search(stripped)
    if opened:  # cut off while still reasoning: nothing after it is an answer
        stripped = stripped[: opened.start()]
    return stripped, stripped != text


def _json_mentions(text: str) -> list[list[_Mention]]:
    """Every JSON list in the text (or list inside a JSON object), as mention lists; then a cut-off list."""
    decoder = json.JSONDecoder()
    found: list[list[_Mention]] = []
    for start in _JSON_START.finditer(text):
        try:
            value, _ = decoder.raw_decode(text, start.start())
        except (ValueError, RecursionError):
            continue
        lists = [v for v in value.values() if isinstance(v, list)] if isinstance(value, dict) else [value]
        for candidate_list in lists:
            if isinstance(candidate_list, list):
                mentions = [m for m in (_json_element(e) for e in candidate_list) if m is not None]
                if mentions:
                    found.append(mentions)
    for partial in _PARTIAL_JSON.finditer(text):  # e.g. '["C", "A", ' from a truncated answer
        found.append([_Mention("text", value) for value in _QUOTED.findall(partial.group(1))])
    return found


def _json_element(element: object) -> _Mention | None:
    if isinstance(element, dict):
        for key in ("label", "id", "item", "title", "name"):
            if key in element:
                return _json_element(element[key])
        return None
    if isinstance(element, bool) or element is None:
        return None
    if isinstance(element, (int, float, str)):
        text = str(element).strip()
        bracket = _BRACKET_LABEL.fullmatch(text)
        return _Mention("label", bracket.group(1)) if bracket else _Mention("text", text)
    return None


def _bracket_mentions(text: str) -> list[_Mention]:
    return [_Mention("label", m.group(1)) for m in _BRACKET_LABEL.finditer(text)]


def _lines(text: str) -> list[str]:
    """Lines with runs of whitespace collapsed (which also keeps the regular expressions linear)."""
    return [" ".join(line.split()) for line in text.splitlines()]


def _list_mentions(text: str, matcher: _Matcher) -> list[_Mention]:
    label = r"\d{1,4}" if matcher.numeric else r"[A-Z]{1,2}"
    leading = re.compile(
        rf"^{_LABEL_NOUN}(?:\[ ?({label}) ?\]|\( ?({label}) ?\)|({label})(?: ?[.):\-–—] | ?$))"
    )
    mentions = []
    for line in _lines(text):
        match = _LIST_LINE.match(line)
        if not match:
            continue
        body = " ".join(_MARKUP.sub("", match.group(1)).split()).strip("*_").strip()
        head = leading.match(body)
        token = next((group for group in head.groups() if group), None) if head else None
        if token is not None and token.upper() in matcher.label_index:
            mentions.append(_Mention("label", token))
        elif body:
            mentions.append(_Mention("text", _TITLE_SPLIT.split(body, maxsplit=1)[0].strip(" \"'*_`")))
    return mentions


def _label_sequence_mentions(text: str, matcher: _Matcher) -> list[_Mention]:
    label = r"\d{1,4}" if matcher.numeric else r"[A-Z]{1,2}"
    sequence = re.compile(rf"^{_SEPARATORS}*{label}(?:{_SEPARATORS}+{label})+{_SEPARATORS}*$")
    best: list[_Mention] = []
    for line in _lines(text):
        line = _MARKUP.sub("", line).strip("*_")
        if sequence.match(line):
            mentions = [_Mention("label", token) for token in re.findall(label, line)]
            if len(mentions) > len(best):
                best = mentions
    return best


def _title_mentions(text: str, titles: Sequence[str], matcher: _Matcher) -> list[_Mention]:
    """Candidate titles found verbatim (in any of their forms) in the text, in order; forms under 4
    characters must match case too.

    History titles are blanked out first, so "Toy Story" is not found inside a recommended "Toy Story 2"
    that the user already has.
    """
    haystack = f" {normalize_text(text)} "
    for seen in sorted(matcher.history, key=len, reverse=True):
        while seen and f" {seen} " in haystack:
            haystack = haystack.replace(f" {seen} ", " \x00 ")
    found = []
    for title, forms in zip(titles, matcher.forms):
        positions = []
        for needle in forms:
            if len(needle) < 4:
                shown = [form for form in _display_forms(title) if normalize_text(form) == needle]
                if not any(re.search(rf"(?<!\w){re.escape(form)}(?!\w)", text) for form in shown):
                    continue
            position = haystack.find(f" {needle} ")
            if position >= 0:
                positions.append((position, -len(needle)))
        if positions:
            found.append((*min(positions), title))
    return [_Mention("text", title) for _, _, title in sorted(found)]


def _segment_mentions(text: str, matcher: _Matcher) -> Iterator[tuple[AnswerFormat, list[_Mention]]]:
    """The answer cut into items at one kind of separator (lines, ``<end>``, arrows, commas), each item a
    label or a title: bare labels one per line, ``**C** > **A**``, lower-case titles, RecLM-eval's
    ``Title<end>Title<end>``. Items as long as a sentence are kept out of the hallucination count."""
    splits = [[line for line in _lines(text) if line.strip()]]
    splits += [[part for line in _lines(text) for part in separator.split(line)] for separator in _SEGMENT_SEPARATORS]
    for parts in splits:
        mentions = []
        for part in parts:
            item = _LIST_MARKER.sub("", _MARKUP.sub("", part).strip()).strip(_SEGMENT_STRIP)
            if not item or item.endswith(":"):
                continue
            if matcher.label(item) is not None:
                mentions.append(_Mention("label", matcher.labels[matcher.label(item)]))  # type: ignore[index]
                continue
            item = _TITLE_SPLIT.split(item, maxsplit=1)[0].strip(_SEGMENT_STRIP)
            long = len(item.split()) > _SEGMENT_WORDS
            mentions.append(_Mention("prose" if long else "text", item))
        if len(mentions) >= 2:
            kind: AnswerFormat = "labels" if all(m.kind == "label" for m in mentions) else "titles"
            yield kind, mentions


def _prose_label_mentions(text: str, matcher: _Matcher) -> list[_Mention]:
    """Letter labels named in running text, in order ("I would put C first, then A and B"). "A" and "I"
    followed by a lower-case word count only where that word is one that follows a label ("A and B",
    "I first"): "A great film" and "I think" name no candidate."""
    if matcher.numeric:
        return []
    mentions = []
    for match in re.finditer(r"(?<![\w'’])([A-Z]{1,2})(?![\w'’])", text):
        token = match.group(1)
        if token not in matcher.label_index:
            continue
        follower = re.match(r"\s+([a-z]+)", text[match.end() :])
        if token in ("A", "I") and follower and follower.group(1) not in _LABEL_FOLLOWERS:
            continue
        mentions.append(_Mention("label", token))
    return mentions if len({m.value for m in mentions}) >= 2 else []


def _readings(text: str, matcher: _Matcher, titles: Sequence[str]) -> Iterator[tuple[AnswerFormat, list[_Mention]]]:
    for mentions in _json_mentions(text):
        yield "json", mentions
    yield ("arrow" if any(arrow in text for arrow in _ARROWS) else "labels"), _bracket_mentions(text)
    yield "list", _list_mentions(text, matcher)
    yield "labels", _label_sequence_mentions(text, matcher)
    yield "titles", _title_mentions(text, titles, matcher)
    yield from _segment_mentions(text, matcher)
    yield "labels", _prose_label_mentions(text, matcher)


def _best_reading(text: str, matcher: _Matcher, titles: Sequence[str]) -> tuple[AnswerFormat, _Resolved]:
    """The reading that names the most distinct candidates; ties go to the earlier format in the priority,
    then to the reading that accounts for more of the answer (so an invented title between ``<end>``
    markers is reported), then to the earlier reading."""
    best: tuple[AnswerFormat, _Resolved] = ("none", _Resolved())
    best_key = (0, 0, 0)
    for answer_format, mentions in _readings(text, matcher, titles):
        if not mentions:
            continue
        resolved = matcher.resolve(mentions)
        key = (len(resolved.order), -_FORMAT_PRIORITY.index(answer_format), len(mentions))
        if resolved.order and key > best_key:
            best, best_key = (answer_format, resolved), key
    return best


def parse_ranking(
    text: str,
    labels: Sequence[str],
    titles: Sequence[str],
    *,
    fallback: Sequence[int] | None = None,
    history_titles: Sequence[str] = (),
    truncated: bool = False,
) -> tuple[list[int], ParseReport]:
    """Parse an answer into a permutation of candidate indices, best first, and report what was repaired.

    Args:
        text: the model's answer.
        labels: the candidates' labels, in the order they were shown.
        titles: the candidates' titles, same order.
        fallback: the order in which candidates the answer left out are appended (default: shown order).
        history_titles: titles of the user's history, so that recommending them is reported as such.
        truncated: the answer was cut off (``finish_reason == "length"``); recorded in the report.
    """
    n = len(labels)
    fallback_order = list(dict.fromkeys(i for i in (fallback or ()) if 0 <= i < n))
    fallback_order += [i for i in range(n) if i not in set(fallback_order)]
    try:
        matcher = _Matcher(labels, titles, history_titles)
        cleaned, stripped = _strip_reasoning(unicodedata.normalize("NFKC", text or ""))
        answer_format, resolved = _best_reading(cleaned, matcher, titles)
        markers = list(_ANSWER_MARKER.finditer(cleaned))
        if markers:  # prefer what follows the last "Answer:" when it names as many candidates
            tail_format, tail = _best_reading(cleaned[markers[-1].end() :], matcher, titles)
            if tail.order and len(tail.order) >= len(resolved.order):
                answer_format, resolved = tail_format, tail
                stripped = stripped or bool(cleaned[: markers[-1].start()].strip())
    except Exception:  # a parser bug must not lose a ranking; the fallback order is still a valid answer
        logger.exception("parser failed on an answer; using the fallback order")
        answer_format, resolved, stripped = "none", _Resolved(), False
    order = list(resolved.order)
    chosen = set(order)
    missing = [i for i in fallback_order if i not in chosen]
    order.extend(missing)
    report = ParseReport(
        format=answer_format,
        valid=len(resolved.order),
        duplicates=resolved.duplicates,
        hallucinated=resolved.hallucinated,
        history=resolved.history,
        missing=[labels[i] for i in missing],
        stripped_reasoning=stripped,
        truncated=truncated,
    )
    return order, report
