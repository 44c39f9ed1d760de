"""The ranking table."""

import click
from click.testing import CliRunner

from promptrec.cli.table import print_table
from promptrec.data import Item
from promptrec.ranking import ParseReport, RankedItem, Ranking


def test_the_table_lists_rank_id_and_title_and_the_stage_scores():
    items = [RankedItem(item=Item(id=f"i{n}", title=f"Title {n}"), rank=n, label="", score=1.0 / n,
                        retrieval_score=1.0 / n, retrieval_rank=n, llm_score=None, fused_score=1.0 / n) for n in (1, 2)]
    ranking = Ranking(items=items, user_id="u", raw="", report=ParseReport(), backend="none", scenario="default",
                      strategy="none", mode="retrieval", history_used=0, history_dropped=0)

    @click.command()
    def show() -> None:
        print_table(ranking, scores=True)

    out = CliRunner().invoke(show).output
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["rank", "label", "id"] and "retrieval" in lines[0]
    assert lines[1].split()[0] == "1" and "Title 1" in lines[1] and "i2" in lines[2]


# ---------------------------------------------------------------------------------------- hardening (issue 27)

import pytest  # noqa: E402

#: (name, a title as it is in a catalog): the table shows it with no escape sequence or control character
HOSTILE_TITLES = [
    ("clear screen", "Evil\x1b[2J\x1b[HMovie"),
    ("window title", "Evil\x1b]0;pwned\x07Movie"),
    ("colours", "\x1b[31mRed\x1b[0m Movie"),
    ("carriage return", "Good Movie\rEvil Movie"),
    ("backspaces", "Movie\x08\x08\x08\x08\x08Evil"),
    ("bidi override", "Movie \u202eliveE"),
    ("newline", "Movie\nrank 1 [A] fake row"),
]


@pytest.mark.parametrize(("name", "title"), HOSTILE_TITLES, ids=[case[0] for case in HOSTILE_TITLES])
def test_escape_sequences_in_titles_and_ids_are_neutralised(name, title):
    items = [RankedItem(item=Item(id=f"i\x1b[1m{n}", title=title), rank=n, label="A", score=1.0, retrieval_score=1.0,
                        retrieval_rank=n, llm_score=None, fused_score=1.0, reason="because \x1b[5mblink") for n in (1, 2)]
    ranking = Ranking(items=items, user_id="u", raw="", report=ParseReport(), backend="openai:m@http://u:pw-123456@h/v1",
                      scenario="default", strategy="none", mode="retrieval", history_used=0, history_dropped=0)

    @click.command()
    def show() -> None:
        print_table(ranking, scores=True, reasons=True)

    result = CliRunner().invoke(show)
    out = result.output
    assert result.exit_code == 0 and "Movie" in out
    assert all(ch.isprintable() or ch == "\n" for ch in out)  # no ESC, CR, BS, bidi: nothing a terminal obeys
    assert len(out.splitlines()) == 3  # header and two rows: a newline in a title makes no fake row
