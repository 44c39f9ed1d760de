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
from collections.abc import Sequence
from dataclasses import dataclass, field

from promptrec.ranking import AnswerFormat, ParseReport

logger = logging.getLogger(__name__)

_REASONING = re.compile(r"<(think|thinking|reasoning|reflection)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_REASONING_CLOSE = re.compile(r"</(think|thinking|reasoning|reflection)>", re.IGNORECASE)
_ANSWER_MARKER = re.compile(
    r"(?:^|\n)[\s#*_>]*(?:final\s+)?(?:answer|ranking|ranked\s+list|recommendations?|output)\s*[:：]",
    re.IGNORECASE,
)
_BRACKET_LABEL = re.compile(r"\[\s*([A-Za-z]{1,2}|\d{1,4})\s*\]")
_LIST_LINE = re.compile(r"^\s*(?:\d{1,4}\s*[.):]|[-*•+]|#\d{1,4}[.:]?)\s*(.+?)\s*$")
_SEPARATORS = r"[\s,;>|→\-–—.]"
_TITLE_SPLIT = re.compile(r"\s+[-–—:]\s+|\s*\(\s*(?:because|since|as)\b", re.IGNORECASE)
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
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(text.split())


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

    def title_index(self, text: str) -> int | None:
        wanted = normalize_text(text)
        if not wanted:
            return None
        if wanted in self.titles:
            return self.titles.index(wanted)
        contained = [(len(t), i) for i, t in enumerate(self.titles) if len(t) >= 4 and f" {t} " in f" {wanted} "]
        if contained:
            return max(contained)[1]
        scores = [(difflib.SequenceMatcher(None, wanted, t).ratio(), i) for i, t in enumerate(self.titles)]
        best = max(scores, default=(0.0, -1))
        return best[1] if best[0] >= TITLE_MATCH_THRESHOLD else None

    def is_history(self, text: str) -> bool:
        wanted = normalize_text(text)
        return bool(wanted) and any(
            wanted == h or difflib.SequenceMatcher(None, wanted, h).ratio() >= TITLE_MATCH_THRESHOLD
            for h in self.history
        )

    def resolve(self, mentions: list[_Mention]) -> _Resolved:
        result = _Resolved()
        seen: set[int] = set()
        for mention in mentions:
            if mention.kind == "label":
                index = self.label_index.get(mention.value.upper())
            else:
                index = self.label_index.get(mention.value.strip().upper())
                if index is None:
                    index = self.title_index(mention.value)
            if index is None:
                if mention.kind == "text" and self.is_history(mention.value):
                    result.history.append(mention.value)
                else:
                    result.hallucinated.append(mention.value)
            elif index in seen:
                result.duplicates.append(self.labels[index])
            else:
                seen.add(index)
                result.order.append(index)
        return result


def _strip_reasoning(text: str) -> tuple[str, bool]:
    stripped = _REASONING.sub(" ", text)
    closes = list(_REASONING_CLOSE.finditer(stripped))
    if closes:  # the opening tag was in the prompt (some chat templates add it)
        stripped = stripped[closes[-1].end() :]
    return stripped, stripped != text


def _json_mentions(text: str) -> list[_Mention]:
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char not in "[{":
            continue
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            lists = [v for v in value.values() if isinstance(v, list)]
            value = lists[0] if lists else None
        if isinstance(value, list) and value:
            mentions = [m for m in (_json_element(e) for e in value) if m is not None]
            if mentions:
                return mentions
    return []


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


def _list_mentions(text: str, matcher: _Matcher) -> list[_Mention]:
    label = r"\d{1,4}" if matcher.numeric else r"[A-Za-z]{1,2}"
    leading = re.compile(rf"^\[?\s*({label})\s*\]?(?:\s*[.):\-–—]\s+|\s*$)|^\[\s*({label})\s*\]")
    mentions = []
    for line in text.splitlines():
        match = _LIST_LINE.match(line)
        if not match:
            continue
        body = match.group(1).strip().strip("*_`")
        head = leading.match(body)
        if head:
            mentions.append(_Mention("label", head.group(1) or head.group(2)))
        else:
            mentions.append(_Mention("text", _TITLE_SPLIT.split(body, maxsplit=1)[0].strip(" \"'*_`")))
    return mentions


def _label_sequence_mentions(text: str, matcher: _Matcher) -> list[_Mention]:
    label = r"\d{1,4}" if matcher.numeric else r"[A-Z]{1,2}"
    sequence = re.compile(rf"^{_SEPARATORS}*{label}(?:{_SEPARATORS}+{label})+{_SEPARATORS}*$")
    best: list[_Mention] = []
    for line in text.splitlines():
        line = line.strip().strip("*_`")
        if sequence.match(line):
            mentions = [_Mention("label", token) for token in re.findall(label, line)]
            if len(mentions) > len(best):
                best = mentions
    return best


def _title_mentions(text: str, titles: Sequence[str]) -> list[_Mention]:
    haystack = f" {normalize_text(text)} "
    found = []
    for title in titles:
        needle = normalize_text(title)
        position = haystack.find(f" {needle} ") if needle else -1
        if position >= 0:
            found.append((position, -len(needle), title))
    return [_Mention("text", title) for _, _, title in sorted(found)]


def _readings(text: str, matcher: _Matcher, titles: Sequence[str]) -> list[tuple[AnswerFormat, list[_Mention]]]:
    arrow_or_labels: AnswerFormat = "arrow" if ">" in text else "labels"
    return [
        ("json", _json_mentions(text)),
        (arrow_or_labels, _bracket_mentions(text)),
        ("list", _list_mentions(text, matcher)),
        ("labels", _label_sequence_mentions(text, matcher)),
        ("titles", _title_mentions(text, titles)),
    ]


def _best_reading(text: str, matcher: _Matcher, titles: Sequence[str]) -> tuple[AnswerFormat, _Resolved]:
    best: tuple[AnswerFormat, _Resolved] = ("none", _Resolved())
    for answer_format, mentions in _readings(text, matcher, titles):
        if not mentions:
            continue
        resolved = matcher.resolve(mentions)
        if len(resolved.order) > len(best[1].order):
            best = (answer_format, resolved)
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
    fallback_order = [i for i in (fallback or ()) if 0 <= i < n]
    fallback_order += [i for i in range(n) if i not in set(fallback_order)]
    try:
        matcher = _Matcher(labels, titles, history_titles)
        cleaned, stripped = _strip_reasoning(unicodedata.normalize("NFKC", text or ""))
        answer_format, resolved = _best_reading(cleaned, matcher, titles)
        markers = list(_ANSWER_MARKER.finditer(cleaned))
        if markers:  # prefer what follows the last "Answer:" when it names as many candidates
            tail_format, tail = _best_reading(cleaned[markers[-1].end() :], matcher, titles)
            if tail.order and len(tail.order) >= len(resolved.order):
                answer_format, resolved, stripped = tail_format, tail, True
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
