"""The Amazon loaders (LLMRank's RecBole files, MiniOneRec's folders): the real files where present, malformed copies."""

import csv
import json

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, needs_datasets  # noqa: E402

from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.amazon import load_llmrank, load_minionerec  # noqa: E402
from promptrec.evaluation.datasets import load_dataset  # noqa: E402


@needs_datasets
def test_games_uses_llmrank_fixed_negatives_in_order():
    dataset = load_dataset("games", DATASETS)
    assert len(dataset.test.records) == 6000 and len(dataset.items) == 16859
    assert dataset.items["219"].title == 'Tomee "Moonlight" N64 USB Controller for PC/ Mac (Clear Blue)'  # &quot;
    first = {}
    with (DATASETS / "amazon-games-llmrank" / "Games-6k.random").open() as handle:
        for line in handle:
            user, ids = line.rstrip("\n").split("\t")
            first.setdefault(user, ids.split())
    record = next(r for r in dataset.test.records if r.user_id == "40610")
    assert record.fixed_negatives == tuple(first["40610"])
    with (DATASETS / "amazon-games-llmrank" / "Games-6k.test.inter").open() as handle:
        row = next(line.rstrip("\n").split("\t") for line in handle if line.startswith("40610\t"))
    assert record.history == tuple(row[1].split()) and record.truth == row[2]
    valid = next(r for r in dataset.valid.records if r.user_id == "40610")
    assert valid.truth == record.history[-1] and valid.history == record.history[:-1]


@needs_datasets
def test_minionerec_takes_each_users_last_row():
    dataset = load_dataset("office", DATASETS)
    assert dataset.scenario == "products" and len(dataset.items) == 3459
    assert len(dataset.test.records) == 2024 and len(dataset.valid.records) == 1795
    rows = list(csv.DictReader((DATASETS / "amazon-industrial-office-minionerec/test/Office_Products_5_2016-10-2018-11.csv").open()))
    last = [row for row in rows if row["user_id"] == "A3520"][-1]
    record = next(r for r in dataset.test.records if r.user_id == "A3520")
    assert record.truth == last["item_id"] and list(record.history) == [str(i) for i in json.loads(last["history_item_id"])]
    assert all("&amp;" not in item.title for item in dataset.items.values())


def test_malformed_recbole_files(tmp_path):
    (tmp_path / "G.item").write_text("item_id:token\ttitle:token_seq\n0\tA &amp; B\n1\tC\n2\tD\n")
    (tmp_path / "G.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n7\t0 1\t2\n")
    (tmp_path / "G.valid.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n7\t0\t1\n")
    (tmp_path / "G.random").write_text("7\t2 1 0\n")
    dataset = load_llmrank(tmp_path / "G")
    assert dataset.items["0"].title == "A & B"
    (tmp_path / "G.random").write_text("7\t2 1 0\n8\t1\n")
    with pytest.raises(DataError, match=r"G\.random:2 field 'user_id'"):
        load_llmrank(tmp_path / "G")
    (tmp_path / "G.test.inter").write_text("user_id:token\titem_id_list:token_seq\titem_id:token\n7\t0 5\t2\n")
    with pytest.raises(DataError, match=r"G\.test\.inter:2 field 'item_id_list'"):
        load_llmrank(tmp_path / "G")


def test_malformed_minionerec_history(tmp_path):
    for folder in ("index", "test", "valid"):
        (tmp_path / folder).mkdir()
    (tmp_path / "index" / "Shop.item.json").write_text(json.dumps({"0": {"title": "Pen"}, "1": {"title": "Ink"}}))
    header = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid,item_sid\n"
    (tmp_path / "valid" / "Shop_x.csv").write_text(header + 'u,[],Ink,"[0]",1,[],s\n')
    (tmp_path / "test" / "Shop_x.csv").write_text(header + 'u,[],Ink,"[0]",1,[],s\nu,[],Ink,"[0, ",1,[],s\n')
    with pytest.raises(DataError, match=r"Shop_x\.csv:3 field 'history_item_id'"):
        load_minionerec(tmp_path / "Shop")
