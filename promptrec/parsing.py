"""From a model's answer to a valid permutation of the candidates. Pure functions, no I/O.

The parser accepts the shapes models actually produce: a JSON list (of labels, titles or objects),
``[C] > [A] > [B]``, numbered or bulleted lines, bare label sequences (``C, A, B``) and titles, with
reasoning (``<think>`` blocks, prose before an ``Answer:``) around them and full-width characters in them.
Every reading is tried and the one that names the most distinct candidates wins. Then the answer is
repaired as rank_llm does: duplicates, hallucinated items and history items are dropped, and candidates the
answer left out are appended in the caller's fallback order. It never raises on model output.
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


@dataclass
class _Mention:
    kind: str  # "label" or "text"
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
        self.titles = [normalize_text(t) for t in titles]
        self.history = {normalize_text(t) for t in history_titles} - set(self.titles)

    def title_index(self, wanted: str) -> int | None:
        """The candidate whose normalised title equals, is contained in, or closely resembles ``wanted``."""
        contained = [(len(t), i) for i, t in enumerate(self.titles) if len(t) >= 4 and f" {t} " in f" {wanted} "]
        if contained:
            return max(contained)[1]
        scores = [(difflib.SequenceMatcher(None, wanted, t).ratio(), i) for i, t in enumerate(self.titles)]
        best = max(scores, default=(0.0, -1))
        return best[1] if best[0] >= TITLE_MATCH_THRESHOLD else None

    def is_history(self, wanted: str) -> bool:
        return any(difflib.SequenceMatcher(None, wanted, h).ratio() >= TITLE_MATCH_THRESHOLD for h in self.history)

    def index(self, mention: _Mention) -> int | str | None:
        """A candidate index, ``"history"`` for an item the user already has, or ``None``."""
        label = self.label_index.get(mention.value.strip().upper())
        if mention.kind == "label" or label is not None:
            return label
        wanted = normalize_text(mention.value)
        if not wanted:
            return None
        if wanted in self.titles:
            return self.titles.index(wanted)
        if wanted in self.history:  # exact history titles win over fuzzy candidate matches
            return "history"
        found = self.title_index(wanted)
        if found is not None:
            return found
        return "history" if self.is_history(wanted) else None

    def resolve(self, mentions: list[_Mention]) -> _Resolved:
        result = _Resolved()
        seen: set[int] = set()
        for mention in mentions:
            index = self.index(mention)
            if index == "history":
                result.history.append(mention.value)
            elif index is None:
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
    leading = re.compile(rf"^\[ ?({label}) ?\]|^({label})(?: ?[.):\-–—] | ?$)")
    mentions = []
    for line in _lines(text):
        match = _LIST_LINE.match(line)
        if not match:
            continue
        body = match.group(1).strip().strip("*_`").strip()
        head = leading.match(body)
        token = (head.group(1) or head.group(2)) if head else None
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
        line = line.strip("*_`")
        if sequence.match(line):
            mentions = [_Mention("label", token) for token in re.findall(label, line)]
            if len(mentions) > len(best):
                best = mentions
    return best


def _title_mentions(text: str, titles: Sequence[str], matcher: _Matcher) -> list[_Mention]:
    """Candidate titles found verbatim in the text, in order; titles under 4 characters must match case too.

    History titles are blanked out first, so "Toy Story" is not found inside a recommended "Toy Story 2"
    that the user already has.
    """
    haystack = f" {normalize_text(text)} "
    for seen in sorted(matcher.history, key=len, reverse=True):
        while seen and f" {seen} " in haystack:
            haystack = haystack.replace(f" {seen} ", " \x00 ")
    found = []
    for title in titles:
        needle = normalize_text(title)
        if len(needle) < 4:
            match = re.search(rf"(?<!\w){re.escape(title.strip())}(?!\w)", text) if title.strip() else None
            position = haystack.find(f" {needle} ") if match else -1
        else:
            position = haystack.find(f" {needle} ") if needle else -1
        if position >= 0:
            found.append((position, -len(needle), title))
    return [_Mention("text", title) for _, _, title in sorted(found)]


def _readings(text: str, matcher: _Matcher, titles: Sequence[str]) -> Iterator[tuple[AnswerFormat, list[_Mention]]]:
    for mentions in _json_mentions(text):
        yield "json", mentions
    yield ("arrow" if any(arrow in text for arrow in _ARROWS) else "labels"), _bracket_mentions(text)
    yield "list", _list_mentions(text, matcher)
    yield "labels", _label_sequence_mentions(text, matcher)
    yield "titles", _title_mentions(text, titles, matcher)


def _best_reading(text: str, matcher: _Matcher, titles: Sequence[str]) -> tuple[AnswerFormat, _Resolved]:
    """The reading that names the most distinct candidates; ties go to the earlier format in the priority."""
    best: tuple[AnswerFormat, _Resolved] = ("none", _Resolved())
    best_key = (0, 0)
    for answer_format, mentions in _readings(text, matcher, titles):
        if not mentions:
            continue
        resolved = matcher.resolve(mentions)
        key = (len(resolved.order), -_FORMAT_PRIORITY.index(answer_format))
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
