"""From a model's answer to a valid permutation of the candidates, read as a person would. Pure functions,
no I/O.

1. Reasoning is dropped: ``<think>``-style blocks (and all before a dangling ``</think>``), and everything
   outside ``<answer>``-style tags where the answer has them.
2. The committed answer wins: the text after the last answer marker ("Final answer:", "## Ranking", "my
   ranking:") or revision ("Actually, let me revise:", "on second thought") is read on its own, and beats
   whatever an analysis before it named, as long as it names at least two candidates (or as many as the
   whole answer).
3. Every reading of that text is tried (:mod:`promptrec.parsing_readers`: JSON, code lists, tables,
   stated ranks, numbered lines, headings, label sequences, separated items, and scans for labels or
   titles anywhere). A structural reading that looks like the ranking (two or more candidates, at most half
   of its items invented) beats the scans, so a title named in a reason or a "Why" column is not a ranked
   item; among the rest, the reading that names the most distinct candidates wins, ties going to the
   earlier format in ``FORMAT_PRIORITY``.
4. The answer is repaired as rank_llm does: duplicates, invented items and history items are dropped, and
   candidates the answer left out are appended in the caller's fallback order.

It never raises on model output, and it is linear in the answer's length (every reader is; an answer longer
than ``WINDOW`` characters is read from its start and its end).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from promptrec.parsing_match import TITLE_MATCH_THRESHOLD, Matcher, Resolved, label_alphabet, normalize_text
from promptrec.parsing_readers import Reading, names_candidates, readings
from promptrec.ranking import AnswerFormat, ParseReport

__all__ = ["FORMAT_PRIORITY", "TITLE_MATCH_THRESHOLD", "WINDOW", "label_alphabet", "normalize_text", "parse_ranking"]

logger = logging.getLogger(__name__)

#: the order in which readings naming as many candidates win
FORMAT_PRIORITY: tuple[AnswerFormat, ...] = (
    "json", "code", "table", "ranks", "arrow", "headings", "list", "labels", "titles"
)
_REASONING_TAG = re.compile(r"<(/?)(think|thinking|reasoning|reflection|analysis|scratchpad|thoughts?)>", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<(/?)(answer|final_answer|final|ranking|output|result)>", re.IGNORECASE)
_KEYWORD = r"(?:answer|rankings?|ranked[ \t]+list|recommendations?|output|答案|排名|推荐)"
#: where the committed answer starts: "Final answer:", "Here is my ranking:", "## Final Ranking", "**Answer**"
_ANSWER_MARKER = re.compile(
    rf"^[ \t#*_>\-]*(?:[\w'’]+[ \t]+){{0,6}}?(?:(?:final|revised|updated|corrected)[ \t]+)?{_KEYWORD}"
    rf"[^\n:：]{{0,40}}[:：]"
    rf"|^[ \t]*(?:#{{1,6}}[ \t]*|\*\*|__)(?:[\w'’]+[ \t]+){{0,4}}?(?:(?:final|revised|updated)[ \t]+)?{_KEYWORD}\b"
    rf"[^\n:：]{{0,40}}$"
    r"|\bfinal[ \t]+(?:answer|ranking|order|list)\b(?:[ \t]+is)?[ \t]*[:：]?",
    re.IGNORECASE | re.MULTILINE,
)
#: where a revision of an earlier answer starts
_REVISION = re.compile(
    r"\b(?:actually|on second thought|scratch that|correction|let me (?:revise|reconsider|correct|re-?rank|"
    r"rethink|redo|fix|adjust|reorder|change)|i(?:'ll| will) revise|(?:revised|updated|corrected|new|better) "
    r"(?:ranking|order|list|answer))\b[ \t]*[:：]?",
    re.IGNORECASE,
)
#: where an explanation after the answer starts (the answer section ends there)
_SECTION_END = re.compile(
    r"^[ \t#*_>]*(?:explanation|reasoning|rationale|justification|analysis)\b[^\n:：]{0,30}[:：]",
    re.IGNORECASE | re.MULTILINE,
)
#: an answer longer than this many characters is read from its first and last halves (a person reads
#: the start and the end of a runaway answer, not megabytes of its middle); keeps a parse under a second
WINDOW = 32_000
#: at most this many answer markers and revisions are tried, the last first (keeps the parser linear)
_MAX_SECTIONS = 4


@dataclass
class _Choice:
    format: AnswerFormat
    resolved: Resolved
    structural: bool = False


_NONE = _Choice("none", Resolved())


def _window(text: str) -> str:
    """The answer, or its first and last ``WINDOW // 2`` characters where it is longer than ``WINDOW``."""
    if len(text) <= WINDOW:
        return text
    logger.debug("answer of %d characters: reading its first and last %d", len(text), WINDOW // 2)
    return f"{text[: WINDOW // 2]}\n{text[-(WINDOW // 2) :]}"


def _strip_reasoning(text: str) -> tuple[str, bool]:
    """The text without reasoning blocks; a dangling close tag (the opening one was in the prompt) drops all
    before it, an unclosed one (cut off while reasoning) all after it. One pass over the tags."""
    pieces: list[str] = []
    inside: str | None = None
    last = 0
    for tag in _REASONING_TAG.finditer(text):
        closing, name = tag.group(1) == "/", tag.group(2).casefold()
        if inside is None:
            if closing:
                pieces, last = [], tag.end()
            else:
                pieces.append(text[last : tag.start()])
                inside = name
        elif closing and name == inside:
            inside, last = None, tag.end()
    if inside is None:
        pieces.append(text[last:])
    stripped = " ".join(pieces)
    return stripped, stripped != text


def _answer_region(text: str) -> tuple[str, bool]:
    """The content of the last ``<answer>``-style tag (to the end where it is not closed), or the text."""
    opened: int | None = None
    region: tuple[int, int] | None = None
    for tag in _ANSWER_TAG.finditer(text):
        if tag.group(1) != "/":
            opened = tag.end()
        elif opened is not None:
            region, opened = (opened, tag.start()), None
    if opened is not None:
        region = (opened, len(text))
    if region is None:
        return text, False
    inner = text[region[0] : region[1]]
    return inner, bool(text[: region[0]].strip(" \t\n<>/") or text[region[1] :].strip(" \t\n<>/"))


def _tier(reading: Reading) -> int:
    """How deliberate a structure is: machine formats, then lists and lines of labels, then separated pieces."""
    if reading.format in ("json", "table"):
        return 2
    return 0 if reading.segments else 1


def _best_reading(text: str, matcher: Matcher) -> _Choice:
    """A structural reading that looks like the ranking, else any reading.

    Among structural readings, a more deliberate structure (``_tier``) wins unless a less deliberate one names
    more than twice as many candidates; within a tier, and among all readings, the one naming the most
    distinct candidates wins, ties to the earlier format in ``FORMAT_PRIORITY``, then to the reading that
    accounts for more of the answer (so an invented title between ``<end>`` markers is reported), then to
    the earlier one. Where no reading names a candidate, the items of the list that named none (the user's
    history, invented titles) are still reported, with the format ``none``."""
    best, best_key = _NONE, (0, 0, 0)
    structural, structural_key, structural_tier = _NONE, (0, 0, 0), -1
    unread = Resolved()  # the list that named no candidate at all: its items are still reported
    for reading in readings(text, matcher):
        if not reading.mentions:
            continue
        resolved = matcher.resolve(reading.mentions)
        if not resolved.order:
            found = len(resolved.history) + len(resolved.hallucinated)
            if reading.structural and not reading.segments and found > len(unread.history) + len(unread.hallucinated):
                unread = Resolved(history=resolved.history, hallucinated=resolved.hallucinated)
            continue
        key = (len(resolved.order), -FORMAT_PRIORITY.index(reading.format), len(reading.mentions))
        if key > best_key:
            best, best_key = _Choice(reading.format, resolved), key
        if not reading.structural or not resolved.credible:
            continue
        if names_candidates(resolved.hallucinated + resolved.prose, matcher):
            continue
        tier = _tier(reading)
        if tier == structural_tier:
            wins = key > structural_key
        elif tier > structural_tier:
            wins = structural_tier < 0 or 2 * key[0] >= structural_key[0]
        else:
            wins = key[0] > 2 * structural_key[0]
        if wins:
            structural, structural_key, structural_tier = _Choice(reading.format, resolved, True), key, tier
    if structural.resolved.order:
        return structural
    return best if best.resolved.order else _Choice("none", unread)


def _committed(text: str, matcher: Matcher) -> tuple[_Choice, bool]:
    """The reading of the committed answer, and whether text around it was dropped."""
    points = [(m.start(), m.end(), "answer") for m in _ANSWER_MARKER.finditer(text)]
    points += [(m.start(), m.end(), "revision") for m in _REVISION.finditer(text)]
    whole: _Choice | None = None
    tried: set[str] = set()
    for start, end, kind in sorted(points, reverse=True)[:_MAX_SECTIONS]:
        marker = " ".join(text[start:end].casefold().split())
        if marker in tried:  # "The answer is: [A] ... The answer is: [B]": a repeated phrase commits to nothing
            continue
        tried.add(marker)
        stop = _SECTION_END.search(text, end)
        stops = [stop.start(), len(text)] if stop else [len(text)]
        for section_end in stops:  # an explanation after the answer is cut off, unless it is inside the answer
            choice = _best_reading(text[end:section_end], matcher)
            named = len(choice.resolved.order)
            accepted = named >= 2 and (kind == "answer" or choice.structural)
            if not accepted and named >= 1 and section_end == len(text):
                whole = whole or _best_reading(text, matcher)
                accepted = named >= len(whole.resolved.order)
            if accepted:
                return choice, bool(text[:start].strip() or text[section_end:].strip())
    return whole or _best_reading(text, matcher), False


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
    listed = set(fallback_order)
    fallback_order += [i for i in range(n) if i not in listed]
    try:
        matcher = Matcher(labels, titles, history_titles)
        cleaned, stripped = _strip_reasoning(unicodedata.normalize("NFKC", _window(text or "")))
        region, outside = _answer_region(cleaned)
        choice, dropped = _committed(region, matcher)
        stripped = stripped or ((outside or dropped) and bool(choice.resolved.order))
    except Exception:  # a parser bug must not lose a ranking; the fallback order is still a valid answer
        logger.exception("parser failed on an answer; using the fallback order")
        choice, stripped = _NONE, False
    resolved = choice.resolved
    chosen = set(resolved.order)
    missing = [i for i in fallback_order if i not in chosen]
    report = ParseReport(
        format=choice.format,
        valid=len(resolved.order),
        duplicates=resolved.duplicates,
        hallucinated=resolved.hallucinated,
        history=resolved.history,
        missing=[labels[i] for i in missing],
        stripped_reasoning=stripped,
        truncated=truncated,
    )
    return resolved.order + missing, report
