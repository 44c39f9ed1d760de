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
