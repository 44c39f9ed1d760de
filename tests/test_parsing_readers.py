"""Tests of promptrec.parsing_readers: each reader on the shape it reads, and the parser's work growing
linearly with the answer (counted operations, never wall-clock time)."""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from pathlib import Path

import pytest

from promptrec import parsing, parsing_match, parsing_readers
from promptrec.parsing import label_alphabet, parse_ranking
from promptrec.parsing_match import Matcher
from promptrec.parsing_readers import (
    bracket_line_reading,
    code_readings,
    json_readings,
    label_sequence_reading,
    lines,
    list_readings,
    prose_label_scan,
    ranks_reading,
    segment_readings,
    table_readings,
)

TITLES = ["The Matrix", "Toy Story", "Alien", "Heat", "Fargo"]
M = Matcher(label_alphabet(5), TITLES, [])
LEADING = parsing_readers._leading(M)


def values(reading):
    return [mention.value for mention in reading.mentions]


def test_json_lists_inside_objects_and_ranked_objects():
    found = [values(r) for r in json_readings('{"ranking": ["C", "A"], "also": [{"rank": 2, "id": "E"}, {"rank": 1, "id": "B"}]}')]
    assert found[:2] == [["C", "A"], ["B", "E"]]


def test_json_failures_are_bounded():
    # every '["' starts a value that fails at the end; Python's json scans back to the line start to say where,
    # so only a bounded number of failures is tried (the cut-off list is still read by the partial reader)
    readings = list(json_readings('["C", ' * 5_000))
    assert readings and values(readings[0]) == ["C"]


def test_code_lists_but_not_objects_or_prose_parentheses():
    assert [values(r) for r in code_readings("x = ['D', 'C']; y = (E, A)", M)] == [["D", "C"], ["E", "A"]]
    assert list(code_readings("[{'label': 'C', 'why': 'like Heat'}] (and also Alien, Heat)", M)) == []


def test_table_reads_the_item_column_in_rank_order():
    text = "| Why | Title | Rank |\n|:--|:--|--:|\n| like Heat | Alien | 2 |\n| tighter than Alien | Fargo | 1 |"
    assert [values(r) for r in table_readings(text, M, LEADING)] == [["Fargo", "Alien"]]


def test_stated_ranks_need_two_lines():
    assert values(ranks_reading(lines("Rank 2: Heat\nRank 1: [C] Alien"), M, LEADING)) == ["C", "Heat"]
    assert values(ranks_reading(lines("Rank 1: Heat"), M, LEADING)) == []


def test_list_reads_outermost_items_and_headings_separately():
    text = "## 1. Alien\n- Why: like Heat\n## 2. Fargo\n\n1. Heat\n   - similar to Alien\n2. Up"
    found = {r.format: values(r) for r in list_readings(text, M, LEADING)}
    assert found == {"list": ["Heat", "Up"], "headings": ["Alien", "Fargo"]}


def test_label_lines_and_sequences():
    assert values(bracket_line_reading(lines("Ranking: [C] > [A] > [B\n[E]\nD"), M)) == ["C", "A", "B", "E", "D"]
    assert values(label_sequence_reading(lines("So, the order is c, a, b\nI am ok"), M)) == ["c", "a", "b"]
    assert values(label_sequence_reading(lines("it is a, ok"), M)) == []  # lower case only where all are labels


def test_segments_read_cjk_and_lead_ins():
    # (the parser reads NFKC-normalised text: the full-width comma is a comma there)
    found = [values(r) for r in segment_readings(unicodedata.normalize("NFKC", "我的排名是C，其次是D，然后是A、B"), M)]
    assert ["C", "D", "A", "B"] in found
    assert [2, 3] in [M.resolve(r.mentions).order for r in segment_readings("I'd put Alien first, then Heat", M)]


def test_prose_labels_skip_articles_and_pronouns():
    assert values(prose_label_scan("I think C fits. A great film; then E, and A last.", M)) == ["C", "E", "A"]


# --- linear work -------------------------------------------------------------------------------------------

PARSER_FILES = {str(Path(m.__file__).resolve()) for m in (parsing, parsing_match, parsing_readers)}


class _Counting:
    """A compiled pattern that adds the characters each call may scan to a shared counter."""

    def __init__(self, pattern: re.Pattern[str], counter: list[int]):
        self._pattern, self._counter = pattern, counter

    def __getattr__(self, name):
        return getattr(self._pattern, name)

    def _offer(self, string, pos=0):
        self._counter[0] += max(len(string) - pos, 0) + 1

    def match(self, string, pos=0, *args):
        # from the start of a string it may read all of it (a slice taken per match shows here); from a
        # position inside a string, what it matched
        found = self._pattern.match(string, pos, *args)
        self._counter[0] += (len(string) if pos == 0 else (found.end() - pos if found else 0)) + 1
        return found

    def fullmatch(self, string, pos=0, *args):
        self._offer(string, pos)
        return self._pattern.fullmatch(string, pos, *args)

    def search(self, string, pos=0, *args):
        self._offer(string, pos)
        return self._pattern.search(string, pos, *args)

    def finditer(self, string, pos=0, *args):
        self._offer(string, pos)
        return self._pattern.finditer(string, pos, *args)

    def findall(self, string, pos=0, *args):
        self._offer(string, pos)
        return self._pattern.findall(string, pos, *args)

    def split(self, string, *args, **kwargs):
        self._offer(string)
        return self._pattern.split(string, *args, **kwargs)

    def sub(self, repl, string, *args, **kwargs):
        self._offer(string)
        return self._pattern.sub(repl, string, *args, **kwargs)


class _CountingRe:
    """The ``re`` module as the parser modules see it during a count: every pattern counts its scans."""

    def __init__(self, counter: list[int]):
        self._counter = counter

    def __getattr__(self, name):
        return getattr(re, name)

    def compile(self, pattern, flags=0):
        return _Counting(re.compile(pattern, flags), self._counter)

    def _call(self, name, pattern, *args, flags=0, **kwargs):
        return getattr(self.compile(pattern, flags), name)(*args, **kwargs)

    def match(self, pattern, string, flags=0):
        return self._call("match", pattern, string, flags=flags)

    def search(self, pattern, string, flags=0):
        return self._call("search", pattern, string, flags=flags)

    def split(self, pattern, string, maxsplit=0, flags=0):
        return self._call("split", pattern, string, maxsplit, flags=flags)

    def sub(self, pattern, repl, string, count=0, flags=0):
        return self._call("sub", pattern, repl, string, count, flags=flags)

    def findall(self, pattern, string, flags=0):
        return self._call("findall", pattern, string, flags=flags)

    def finditer(self, pattern, string, flags=0):
        return self._call("finditer", pattern, string, flags=flags)


class _CountingDecoder(json.JSONDecoder):
    counter: list[int] = [0]

    def raw_decode(self, s, idx=0):
        try:
            value, end = super().raw_decode(s, idx)
        except json.JSONDecodeError as error:
            self.counter[0] += error.pos + 1  # the error message counts lines from the start of the text
            raise
        self.counter[0] += end - idx + 1
        return value, end


@pytest.fixture
def work(monkeypatch):
    """``work(text)``: the operations one parse of ``text`` takes: Python lines executed in the parser's
    modules, plus characters offered to regular expressions and to the JSON decoder."""
    counter = [0]
    for module in (parsing, parsing_match, parsing_readers):
        monkeypatch.setattr(module, "re", _CountingRe(counter))
        for name, value in list(vars(module).items()):
            if isinstance(value, re.Pattern):
                monkeypatch.setattr(module, name, _Counting(value, counter))
    _CountingDecoder.counter = counter
    monkeypatch.setattr(parsing_readers.json, "JSONDecoder", _CountingDecoder)

    def local(frame, event, arg):
        if event == "line":
            counter[0] += 1
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename in PARSER_FILES else None

    def measure(text: str) -> int:
        counter[0] = 0
        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            order, _ = parse_ranking(text, label_alphabet(20), [f"Movie Title {i}" for i in range(20)] )
        finally:
            sys.settrace(previous)
        assert sorted(order) == list(range(20))
        return counter[0]

    return measure


def _junk(size: int) -> str:
    return "".join(random.Random(size).choices("abc DEF[]{}\",:>\n-*#|1234<>/", k=size))


#: answers that grow without bound, by the size asked for (about that many characters)
GROWING = {
    "arrow-repeated": lambda n: "[C] > [A] > " * (n // 12),
    "one-long-line-of-words": lambda n: "word " * (n // 5),
    "numbered-lines-with-reasons": lambda n: "".join(f"{i}. Movie Title {i % 20} - like Movie Title 3\n" for i in range(n // 40)),
    "table-rows": lambda n: "| Rank | Title | Why |\n|---|---|---|\n" + "| 1 | Movie Title 2 | like Heat |\n" * (n // 30),
    "answer-markers": lambda n: "Answer: C\n" * (n // 10),
    "json-never-closed": lambda n: '["C", ' * (n // 6),
    "think-tags": lambda n: "<think>" * (n // 7),
    "revisions": lambda n: "Actually, C > A. " * (n // 17),
    "cjk-labels": lambda n: "是C，其次是D，" * (n // 10),
    "random-junk": _junk,
    "spaces": lambda n: "1. Alien" + " " * n + ".",
    "newlines": lambda n: "[C] > [A]" + "\n" * n,
    "parentheses": lambda n: "1. " + "(a) " * (n // 4) + "x",
    "library-order-commas": lambda n: "1. " + "x, the " * (n // 7) + "y",
}


@pytest.mark.parametrize("shape", sorted(GROWING))
def test_parse_work_grows_linearly(work, shape):
    small, large = work(GROWING[shape](1_500)), work(GROWING[shape](6_000))
    assert large <= 6 * small, (small, large)  # 4 times the text: linear is 4x, quadratic would be 16x


def test_an_answer_longer_than_the_window_costs_as_much_as_the_window(work, monkeypatch):
    monkeypatch.setattr(parsing, "WINDOW", 2_000)
    at_window = work(GROWING["random-junk"](2_000))
    far_beyond = work(GROWING["random-junk"](200_000))
    assert far_beyond <= 2 * at_window, (at_window, far_beyond)
