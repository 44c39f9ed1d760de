"""``promptrec index build``: builds and caches, finds the entry again, and bad input is one clear line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from promptrec.cli.index import index_group as main  # the command group (``promptrec index``)


def test_index_build_then_found_in_the_cache(tmp_path):
    runner = CliRunner()
    args = ["build", "--catalog", "demo", "--retriever", "bm25", "--index-dir", str(tmp_path), "--json"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    record = json.loads(first.output.strip().splitlines()[-1])
    assert (record["retriever"], record["engine"], record["items"], record["from_cache"]) == ("bm25", "local", 24, False)
    again = json.loads(runner.invoke(main, args).output.strip().splitlines()[-1])
    assert again["from_cache"] and again["entry"] == record["entry"]
    text = runner.invoke(main, args[:-1])
    assert "found in the cache" in text.output
    assert main.name == "index"


def test_bad_input_is_one_clear_line(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["build", "--catalog", str(tmp_path / "nope.jsonl"), "--index-dir", str(tmp_path)])
    assert missing.exit_code != 0 and "Traceback" not in missing.output and "nope.jsonl" in missing.output
    unknown = runner.invoke(main, ["build", "--catalog", "demo", "--retriever", "magic", "--index-dir", str(tmp_path)])
    assert unknown.exit_code != 0 and "unknown retriever 'magic'" in unknown.output
    needs = runner.invoke(main, ["build", "--catalog", "demo", "--retriever", "popularity", "--index-dir", str(tmp_path)])
    assert needs.exit_code != 0 and "needs interactions" in needs.output


def test_your_own_columns(tmp_path):
    (tmp_path / "items.tsv").write_text("sku\tname\tbrand\np1\tTrail shoes\tAcme\np2\tRain jacket\tNorth\n")
    (tmp_path / "orders.csv").write_text("customer,sku\nc1,p1\nc1,p2\nc2,p1\n")
    args = ["build", "--catalog", str(tmp_path / "items.tsv"), "--id-col", "sku", "--title-col", "name",
            "--retriever", "cooccurrence", "--interactions", str(tmp_path / "orders.csv"), "--user-col", "customer",
            "--item-col", "sku", "--index-dir", str(tmp_path / "index"), "--json"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.strip().splitlines()[-1])["items"] == 2
    missing = CliRunner().invoke(main, ["build", "--catalog", str(tmp_path / "items.tsv"), "--index-dir", str(tmp_path)])
    assert missing.exit_code != 0 and "missing column 'id'" in missing.output and "the columns are: sku, name, brand" in missing.output
