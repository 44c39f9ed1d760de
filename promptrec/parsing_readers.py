"""The readings of an answer: each reader cuts the text into the items it would rank, in its own way.

A reading is *structural* when its items come from the answer's structure (a JSON or code list, a table
row, a list line or heading, a line of labels, one piece between separators): only the item itself
counts, not a title named in its reason. It is a *scan* when it picks every label or title out of
running text (brackets anywhere, titles anywhere, labels in a sentence). Every reader is linear in the
text's length: expressions run on whitespace-collapsed lines with bounded repetitions, and JSON decoding
has a budget proportional to the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from promptrec.parsing_match import Matcher, Mention, display_forms, normalize_text
from promptrec.ranking import AnswerFormat

_MARKUP = re.compile(r"\*\*|__|`")
_BRACKET_LABEL = re.compile(r"\[\s*([A-Za-z]{1,2}|\d{1,4})\s*\]")
_LIST_LINE = re.compile(r"^(?:\d{1,4} ?[.):]|[-*•+](?= )|#\d{1,4}[.:]?) ?(.+)$")
_LIST_MARKER = re.compile(r"^(?:\d{1,4} ?[.):]|[-*•+](?= )|#\d{1,4}[.:]?) ?")
_HEADING = re.compile(r"^#{1,6} +(.+)$")
#: words that may stand before a label ("1. Candidate C: Alien", "option B")
_LABEL_NOUN = r"(?:(?i:candidate|option|item|choice|movie|film|book|product|game|track|article|no\.|id)\s?)?"
#: a detail line under an item ("Why: darker than The Matrix", "- Genre: crime"): not an item itself
_FIELD = re.compile(
    r"^(?:why|reasons?|reasoning|because|genres?|year|released|ratings?|description|explanation|notes?|summary|"
    r"plot|pros|cons|similar|fit|match|score|confidence|director|cast|starring|tags?|runtime|rationale|"
    r"comments?|details?|justification|themes?|mood|tone)(?: [\w'’]+){0,3} ?[:：]",
    re.IGNORECASE,
)
#: a heading that names a section, not an item
_SECTION_HEADING = re.compile(
    r"^(?:(?:my|the|final|revised|updated|top|\d+)\s+)*(?:answer|rankings?|ranked list|recommendations?|"
    r"analysis|explanation|reasoning|summary|output|results?|picks|conclusion|notes?|overview|thoughts)\b",
    re.IGNORECASE,
)
_QUOTED_HEAD = re.compile(r"^[\"“]([^\"“”]{1,300})[\"”]")
_TITLE_SPLIT = re.compile(r" [-–—:] | ?\( ?(?:because|since|as)\b", re.IGNORECASE)
#: separators of items written on one line (RecLM-eval asks for titles each followed by <end>), each with
#: the characters that must be in the text for it to split anything
_SEGMENT_SEPARATORS = ((re.compile(r"<\s*end\s*>", re.IGNORECASE), ("<",)),
                       (re.compile(r"\s*(?:>|→|⇒|➜)\s*"), (">", "→", "⇒", "➜")),
                       (re.compile(r"\s*[,;|]\s*"), (",", ";", "|")))
_SEGMENT_STRIP = " \t\"'*_`.:!"
#: a segment this long is prose, not an item: it is not reported as a hallucinated item
_SEGMENT_WORDS = 12
_CONNECTIVE = re.compile(
    r"^(?:(?:and|or|then|next|followed by|after that|finally|lastly|last|also|plus|&|with)\b[ ,]*)+", re.IGNORECASE
)
_CJK = re.compile(r"[\u2e80-\u2fff\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
#: words after "A" or "I" that make it a label ("A and B", "I first"), not an article or a pronoun
_LABEL_FOLLOWERS = frozenset(
    "and or then first second third fourth fifth next last followed is comes ranks goes over before after at "
    "because since".split()
)
_FOLLOWER = re.compile(r"\s+([a-z]+)")
_PROSE_LABEL = re.compile(r"(?<![A-Za-z0-9\u00c0-\u024f'’])([A-Z]{1,2})(?![A-Za-z0-9\u00c0-\u024f'’])")
_SEPARATORS = r"[\s,;>|→\-–—.]"
_JSON_START = re.compile(r"\[\s*[\"\d\-{\]]|\{\s*[\"}]")
_PARTIAL_JSON = re.compile(r"\[\s*(\"(?:[^\"\\\n]|\\.){0,300}\"\s*(?:,\s*\"(?:[^\"\\\n]|\\.){0,300}\"\s*)*)")
_QUOTED = re.compile(r"\"((?:[^\"\\\n]|\\.){0,300})\"")
_CODE_SPAN = re.compile(r"\[([^\[\]]{1,20000})\]|\(([^()]{1,20000})\)")
_CODE_QUOTED = re.compile(r"['\"‘“]([^'\"‘’“”\n]{1,200})['\"’”]")
_ARROWS = (">", "→", "⇒", "➜")
_SEQ_SEP = r"[\s,;>|→⇒➜\-–—.*_`]"
#: JSON keys that hold an item, and keys that state its rank
_ITEM_KEYS = ("label", "id", "item", "title", "name", "movie", "candidate")
_RANK_KEYS = ("rank", "position", "place")
_ORDINALS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())}
_RANK_LINE = re.compile(
    r"^(?:#{1,6} )?(?:[-*•+] )?(?:(?:rank(?:ed)?|position|place|no\.?|number|top) ?#? ?(\d{1,3})"
    r"|#(\d{1,3})|(\d{1,3})(?:st|nd|rd|th)(?: (?:place|choice|pick))?"
    r"|(" + "|".join(_ORDINALS) + r")(?: (?:place|choice|pick))?)\b ?[:.)\-–—]? ?(.+)$",
    re.IGNORECASE,
)
_TRAILING_RANK = re.compile(r"^(.+?) ?[(\[,\-–—]? ?(?:rank(?:ed)?|position) ?[:#]? ?(\d{1,3}) ?[)\]]?$", re.IGNORECASE)
#: words before a sequence of labels: "my ranking:", "The order is"
_LEAD_IN = re.compile(r"^[^:：\n]{0,80}(?:[:：]|\b(?:is|are)\b)")
_LEAD_LABEL = re.compile(r"\b(?:is|are|be)\s+\[?([A-Z]{1,2}|\d{1,4})\]?$")
_TABLE_ROW = re.compile(r"^ *\|.*\|")
_TABLE_RULE = re.compile(r"^ *\|? *:?-{2,}:? *(?:\| *:?-+:? *)*\|? *$")
_RANK_HEADERS = frozenset("# rank ranking position pos place no no. nr order number".split())
_LABEL_HEADERS = frozenset("label labels id candidate option letter choice key code".split())
_TITLE_HEADERS = frozenset(
    "title movie film book item name product game track song album article recommendation pick show".split()
)


@dataclass
class Reading:
    """One way of reading an answer: its format name, the items in order, and whether it is structural."""

    format: AnswerFormat
    mentions: list[Mention]
    structural: bool
    segments: bool = False  # pieces between separators, the least deliberate structure


def lines(text: str) -> list[str]:
    """Lines with runs of whitespace collapsed (which also keeps the regular expressions linear)."""
    return [" ".join(line.split()) for line in text.splitlines()]


def _label_pattern(matcher: Matcher) -> str:
    return r"\d{1,4}" if matcher.numeric else r"[A-Za-z]{1,2}"


def item_mention(body: str, matcher: Matcher, leading: re.Pattern[str], kind: str = "text") -> Mention | None:
    """The item a list line, heading or table cell names: a leading label, else its title (the text before a
    `` - `` or a "(because"); ``None`` for an empty body or a detail field ("Why: ...")."""
    body = " ".join(_MARKUP.sub("", body).split()).strip("*_ ").strip()
    if not body or _FIELD.match(body):
        return None
    head = leading.match(body)
    token = next((group for group in head.groups() if group), None) if head else None
    if token is not None and matcher.label(token) is not None:
        return Mention("label", matcher.labels[matcher.label(token)])  # type: ignore[index]
    quoted = _QUOTED_HEAD.match(body)  # '"Heat (1995)" (Crime, Drama)': the quoted title
    text = quoted.group(1) if quoted else _TITLE_SPLIT.split(body, maxsplit=1)[0].strip(" \"'*_`")
    return Mention(kind, text) if text else None


def _leading(matcher: Matcher) -> re.Pattern[str]:
    label = _label_pattern(matcher)
    return re.compile(rf"^{_LABEL_NOUN}(?:\[ ?({label}) ?\]|\( ?({label}) ?\)|({label})(?: ?[.):\-–—] | ?$))")


# --- JSON and code -----------------------------------------------------------------------------------------


def _json_element(element: object) -> Mention | None:
    if isinstance(element, dict):
        for key in _ITEM_KEYS:
            if key in element:
                return _json_element(element[key])
        return None
    if isinstance(element, bool) or element is None:
        return None
    if isinstance(element, (int, float, str)):
        text = str(element).strip()
        bracket = _BRACKET_LABEL.fullmatch(text)
        return Mention("label", bracket.group(1)) if bracket else Mention("text", text)
    return None


def _stated_rank(element: object) -> int | None:
    if isinstance(element, dict):
        for key in _RANK_KEYS:
            value = element.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().isdigit():
                return int(value)
    return None


def _json_lists(value: Any) -> Iterator[list[Mention]]:
    """Every list in a decoded JSON value, in text order; a list of objects that all state a rank is read
    in the order of their ranks."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            elements = node
            ranks = [_stated_rank(e) for e in node]
            if node and all(rank is not None for rank in ranks):
                elements = [e for _, _, e in sorted(zip(ranks, range(len(node)), node), key=lambda t: t[:2])]
            mentions = [m for m in map(_json_element, elements) if m is not None]
            if mentions:
                yield mentions
            stack.extend(reversed([e for e in node if isinstance(e, (dict, list))]))


#: decoding attempts that may fail per answer (a failure costs Python's json a scan back to the line start)
_JSON_FAILURES = 64


def json_readings(text: str) -> Iterator[Reading]:
    """Every JSON list in the text (lists inside objects too), then lists of strings cut off mid-way."""
    decoder = json.JSONDecoder()
    budget = 8 * len(text) + 10_000  # characters the decoder may read, in all
    failures = 0
    covered = 0
    for start in _JSON_START.finditer(text):
        begin = start.start()
        if begin < covered:
            continue  # inside a value already read
        if budget <= 0 or failures >= _JSON_FAILURES:
            break
        try:
            value, end = decoder.raw_decode(text, begin)
        except json.JSONDecodeError as error:
            budget -= max(error.pos - begin, 1)
            failures += 1
            continue
        except (ValueError, RecursionError):
            budget -= 2_000
            failures += 1
            continue
        budget -= end - begin
        covered = end
        for mentions in _json_lists(value):
            yield Reading("json", mentions, True)
    for partial in _PARTIAL_JSON.finditer(text):  # e.g. '["C", "A", ' from a truncated answer
        yield Reading("json", [Mention("text", value) for value in _QUOTED.findall(partial.group(1))], True)


def code_readings(text: str, matcher: Matcher) -> Iterator[Reading]:
    """Lists in code that is not JSON: ``['D', 'C']``, ``('D', 'C')``, ``[D, C, A]`` (not objects: their
    keys and reasons are not items)."""
    for span in _CODE_SPAN.finditer(text):
        inner = span.group(1) if span.group(1) is not None else span.group(2)
        if "{" in inner or "}" in inner:
            continue
        quoted = _CODE_QUOTED.findall(inner)
        if len(quoted) >= 2:
            yield Reading("code", [_label_or_text(item, matcher) for item in quoted], True)
            continue
        parts = [part.strip(" \n\t'\"") for part in inner.split(",")]
        if len(parts) >= 2 and all(matcher.label(part) is not None for part in parts if part):
            yield Reading("code", [Mention("label", part) for part in parts if part], True)


def _label_or_text(item: str, matcher: Matcher) -> Mention:
    index = matcher.label(item)
    return Mention("label", matcher.labels[index]) if index is not None else Mention("segment", item.strip())


# --- tables, stated ranks, lists and headings --------------------------------------------------------------


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") else line
    return [" ".join(_MARKUP.sub("", cell).split()) for cell in line.split("|")]


def _header_kind(cell: str) -> str:
    name = cell.strip().casefold()
    words = normalize_text(name).split()
    first = words[0] if words else name
    if name in _RANK_HEADERS or first in _RANK_HEADERS:
        return "rank"
    if first in _LABEL_HEADERS:
        return "label"
    if first in _TITLE_HEADERS or (len(words) > 1 and words[-1] in _TITLE_HEADERS):
        return "title"
    return "other"


def table_readings(text: str, matcher: Matcher, leading: re.Pattern[str]) -> Iterator[Reading]:
    """Markdown tables: the item of each row is its label or title cell (never a "Why" cell), and a Rank
    column, where there is one, states the order."""
    rows_of_text = text.splitlines()
    i = 0
    while i + 1 < len(rows_of_text):
        if "|" not in rows_of_text[i] or not _TABLE_RULE.match(rows_of_text[i + 1]):
            i += 1
            continue
        kinds = [_header_kind(cell) for cell in _cells(rows_of_text[i])]
        j = i + 2
        rows = []
        while j < len(rows_of_text) and "|" in rows_of_text[j]:
            rows.append(_cells(rows_of_text[j]))
            j += 1
        i = j
        items = [c for c, kind in enumerate(kinds) if kind in ("label", "title")]
        if not items:
            items = [c for c, kind in enumerate(kinds) if kind != "rank"][:1]
        rank_column = kinds.index("rank") if "rank" in kinds else None
        found: list[tuple[int, int, Mention]] = []
        for number, row in enumerate(rows):
            mention = None
            for column in items:
                if column < len(row) and row[column]:
                    mention = item_mention(row[column], matcher, leading)
                    if mention is not None and (mention.kind == "label" or kinds[column] != "label"):
                        break
            if mention is None:
                continue
            rank = None
            if rank_column is not None and rank_column < len(row):
                digits = re.search(r"\d{1,4}", row[rank_column])
                rank = int(digits.group()) if digits else None
            found.append((rank if rank is not None else 10**6, number, mention))
        if len(found) >= 2:
            yield Reading("table", [m for _, _, m in sorted(found, key=lambda t: t[:2])], True)


def ranks_reading(text_lines: Sequence[str], matcher: Matcher, leading: re.Pattern[str]) -> Reading:
    """Lines that state their rank ("Rank 5: Alien", "#2 Heat", "3rd: C", "Second: Up", "Alien (rank 1)"),
    read in the order of the ranks they state."""
    found: list[tuple[int, int, Mention]] = []
    for number, line in enumerate(text_lines):
        if not line:
            continue
        line = " ".join(_MARKUP.sub("", line).split())
        head = _RANK_LINE.match(line)
        if head:
            digits = head.group(1) or head.group(2) or head.group(3)
            rank = int(digits) if digits else _ORDINALS[head.group(4).casefold()]
            body = head.group(5)
        else:
            tail = _TRAILING_RANK.match(_LIST_MARKER.sub("", line))
            if not tail:
                continue
            rank, body = int(tail.group(2)), tail.group(1)
        mention = item_mention(body, matcher, leading)
        if mention is not None:
            found.append((rank, number, mention))
    mentions = [m for _, _, m in sorted(found, key=lambda t: t[:2])] if len(found) >= 2 else []
    return Reading("ranks", mentions, True)


def list_readings(text: str, matcher: Matcher, leading: re.Pattern[str]) -> Iterator[Reading]:
    """Numbered or bulleted lines at the outermost indentation (sub-bullets are details), and markdown
    headings as items ("## 1. Fargo")."""
    items: list[tuple[int, str]] = []
    headings: list[Mention] = []
    for raw in text.splitlines():
        if not raw or raw.isspace():
            continue
        indent = len(raw) - len(raw.lstrip(" \t"))
        line = " ".join(raw.split())
        heading = _HEADING.match(line)
        if heading:
            body = _LIST_MARKER.sub("", _MARKUP.sub("", heading.group(1)).strip()).strip()
            if body and not _SECTION_HEADING.match(body):
                mention = item_mention(body, matcher, leading)
                if mention is not None:
                    headings.append(mention)
            continue
        match = _LIST_LINE.match(line) or _LIST_LINE.match(re.sub(r"^(?:\*\*|__)", "", line))
        if match:
            items.append((indent, match.group(1)))
    top = min((indent for indent, _ in items), default=0)
    mentions = [item_mention(body, matcher, leading) for indent, body in items if indent <= top + 1]
    yield Reading("list", [m for m in mentions if m is not None], True)
    if len(headings) >= 2:
        yield Reading("headings", headings, True)


# --- labels and segments -----------------------------------------------------------------------------------


def bracket_line_reading(text_lines: Sequence[str], matcher: Matcher) -> Reading:
    """Lines made of bracketed labels and separators only (``[C] > [A] > [B]``, after a lead-in, or cut off
    in the last label: ``[C] > [A] > [B``), and lines that are one label in any form (``[C]``, ``**A**``,
    ``D``), read in order."""
    label = _label_pattern(matcher)
    line_pattern = re.compile(
        rf"^(?:[^:：\[]{{0,80}}[:：])??{_SEQ_SEP}*\[ ?(?:{label}) ?\](?:{_SEQ_SEP}*\[ ?(?:{label}) ?\])*"
        rf"{_SEQ_SEP}*(?:\[ ?({label})?)?$"
    )
    mentions = []
    arrow = False
    for line in text_lines:
        if not line:
            continue
        if "[" in line and (match := line_pattern.match(line)):
            mentions += [Mention("label", m.group(1)) for m in _BRACKET_LABEL.finditer(line)]
            if match.group(1) and matcher.label(match.group(1)) is not None:
                mentions.append(Mention("label", match.group(1)))  # the label the answer was cut off in
            arrow = arrow or any(a in line for a in _ARROWS)
        elif len(line) <= 12 and (index := matcher.label(line.strip(" .,;"))) is not None:
            mentions.append(Mention("label", matcher.labels[index]))
    return Reading("arrow" if arrow else "labels", mentions, True)


def label_sequence_reading(text_lines: Sequence[str], matcher: Matcher) -> Reading:
    """The longest line that is only labels and separators (``C, A, B``, ``c > a > b``), after an optional
    lead-in ("my ranking: c, a, b"); lower-case letters only where every one is a label."""
    label = _label_pattern(matcher)
    sequence = re.compile(rf"^{_SEPARATORS}*{label}(?:{_SEPARATORS}+{label})+{_SEPARATORS}*$")
    tokens_in = re.compile(label)
    best: list[Mention] = []
    for line in text_lines:
        if not line:
            continue
        line = _MARKUP.sub("", line).strip("*_")
        if not sequence.match(line):
            lead = _LEAD_IN.match(line)
            line = line[lead.end() :] if lead else ""
            if not sequence.match(line):
                continue
        tokens = tokens_in.findall(line)
        if any(t != t.upper() for t in tokens) and any(matcher.label(t) is None for t in tokens):
            continue
        if len(tokens) > len(best):
            best = [Mention("label", t) for t in tokens]
    return Reading("labels", best, True)


def segment_mentions(part: str, matcher: Matcher, first: bool) -> list[Mention]:
    """The items one piece between separators names: a label (also after a lead-in "my ranking: c", or
    labels next to CJK text "是C", "B、E"), else a title with at most a few words around it."""
    item = _LIST_MARKER.sub("", _MARKUP.sub("", part).strip()).strip(_SEGMENT_STRIP)
    if not item or item.endswith(":") or _FIELD.match(item):
        return []
    if _CJK.search(item):
        pieces = [piece.strip(_SEGMENT_STRIP) for piece in _CJK.split(item)]
        pieces = [piece for piece in pieces if piece]
        if pieces and all(matcher.label(piece) is not None for piece in pieces):
            return [Mention("label", matcher.labels[matcher.label(piece)]) for piece in pieces]  # type: ignore[index]
    for candidate in _label_forms(item, first):
        index = matcher.label(candidate)
        if index is not None:
            return [Mention("label", matcher.labels[index])]
    if first and (":" in item or "：" in item):  # "I'd rank them: Heat first"
        item = re.split(r"[:：]", item)[-1].strip(_SEGMENT_STRIP) or item
    item = _CONNECTIVE.sub("", item).strip(_SEGMENT_STRIP) or item
    item = _TITLE_SPLIT.split(item, maxsplit=1)[0].strip(_SEGMENT_STRIP)
    if not item:
        return []
    return [Mention("prose" if len(item.split()) > _SEGMENT_WORDS else "segment", item)]


def _label_forms(item: str, first: bool) -> Iterator[str]:
    """The strings in a piece that may be exactly a label (labels are at most 4 characters)."""
    if len(item) <= 6:
        yield item
    bare = _CONNECTIVE.sub("", item).strip(_SEGMENT_STRIP) if len(item) <= 24 else ""
    if bare and (bare == item or bare == bare.upper()):  # "then C", but not "then e"
        yield bare
        words = bare.split()
        if len(words) == 2 and words[1].casefold() in ("first", "second", "third", "next", "last"):
            yield words[0]
    colon = max(item.rfind(":"), item.rfind("："))
    if 0 <= colon and len(item) - colon <= 8:
        yield item[colon + 1 :].strip(_SEGMENT_STRIP)
    if first and len(item) > 3:
        lead = _LEAD_LABEL.search(item[-40:])
        if lead:
            yield lead.group(1)


def segment_readings(text: str, matcher: Matcher) -> Iterator[Reading]:
    """The answer cut into items at one kind of separator (lines, ``<end>``, arrows, commas). Lines indented
    deeper than the answer's outermost lines are details (sub-bullets), and table rows are left to the
    table reader."""
    raw = [line for line in text.splitlines() if line.strip() and not _TABLE_ROW.match(line)]
    top = min((len(line) - len(line.lstrip(" \t")) for line in raw), default=0)
    nonblank = [" ".join(line.split()) for line in raw if len(line) - len(line.lstrip(" \t")) <= top + 1]
    splits = [[[line] for line in nonblank]]
    splits += [[separator.split(line) for line in nonblank] for separator, marks in _SEGMENT_SEPARATORS
               if any(mark in text for mark in marks)]  # (a separator the text lacks would repeat the lines)
    most = 40 * len(matcher.labels) + 100  # more pieces than that are not a ranking: the rest is not read
    for split in splits:
        mentions: list[Mention] = []
        for parts in split:
            for number, part in enumerate(parts):
                mentions += segment_mentions(part, matcher, number == 0)
            if len(mentions) >= most:
                break
        if len(mentions) >= 2:
            kind: AnswerFormat = "labels" if all(m.kind == "label" for m in mentions) else "titles"
            yield Reading(kind, mentions, True, segments=True)


# --- scans: labels and titles anywhere ---------------------------------------------------------------------


def bracket_scan(text: str) -> Reading:
    """Every ``[C]`` in the text, in order."""
    mentions = [Mention("label", m.group(1)) for m in _BRACKET_LABEL.finditer(text)]
    return Reading("arrow" if any(arrow in text for arrow in _ARROWS) else "labels", mentions, False)


def title_scan(text: str, matcher: Matcher) -> Reading:
    """Candidate titles found verbatim (in any of their forms) in the text, in order; forms under 4
    characters must match case too. History titles are blanked out first, so "Toy Story" is not found
    inside a recommended "Toy Story 2" that the user already has."""
    haystack = f" {normalize_text(text)} "
    for seen in sorted(matcher.history, key=len, reverse=True):
        while seen and f" {seen} " in haystack:
            haystack = haystack.replace(f" {seen} ", " \x00 ")
    found = []
    for title, forms in zip(matcher.titles, matcher.forms):
        positions = []
        for needle in forms:
            if len(needle) < 4:
                shown = [form for form in display_forms(title) if normalize_text(form) == needle]
                if not any(re.search(rf"(?<!\w){re.escape(form)}(?!\w)", text) for form in shown):
                    continue
            position = haystack.find(f" {needle} ")
            if position >= 0:
                positions.append((position, -len(needle)))
        if positions:
            found.append((*min(positions), title))
    return Reading("titles", [Mention("text", title) for _, _, title in sorted(found)], False)


def prose_label_scan(text: str, matcher: Matcher, least: int = 2) -> Reading:
    """Letter labels named in running text, in order ("I would put C first, then A and B", "是C，其次是D").
    "A" and "I" followed by a lower-case word count only where that word is one that follows a label
    ("A and B", "I first"): "A great film" and "I think" name no candidate."""
    if matcher.numeric:
        return Reading("labels", [], False)
    mentions = []
    for match in _PROSE_LABEL.finditer(text):
        token = match.group(1)
        if token not in matcher.label_index:
            continue
        follower = _FOLLOWER.match(text, match.end())
        if token in ("A", "I") and follower and follower.group(1) not in _LABEL_FOLLOWERS:
            continue
        mentions.append(Mention("label", token))
    return Reading("labels", mentions if len({m.value for m in mentions}) >= least else [], False)


def names_candidates(texts: Sequence[str], matcher: Matcher) -> bool:
    """Whether pieces a reading could not read name candidates, by label in running text or by title (so
    the reading lost items a person would see: "I would rank C first", "E and D", "my ranking: Heat first")."""
    if not texts:
        return False
    if not matcher.numeric and any(prose_label_scan(text, matcher, least=1).mentions for text in texts):
        return True
    return bool(title_scan("\n".join(texts), matcher).mentions)


def readings(text: str, matcher: Matcher) -> Iterator[Reading]:
    """Every reading of ``text``, structural ones first."""
    text_lines = lines(text)
    leading = _leading(matcher)
    yield from json_readings(text)
    yield from code_readings(text, matcher)
    yield from table_readings(text, matcher, leading)
    yield ranks_reading(text_lines, matcher, leading)
    yield bracket_line_reading(text_lines, matcher)
    yield from list_readings(text, matcher, leading)
    yield label_sequence_reading(text_lines, matcher)
    yield from segment_readings(text, matcher)
    yield bracket_scan(text)
    yield title_scan(text, matcher)
    yield prose_label_scan(text, matcher)
