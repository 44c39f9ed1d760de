"""Cross-domain cold-start on any data: the documented format (both layouts), its errors, and the protocol."""

import csv

import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from conftest import DATASETS, TINYCROSS, needs_datasets  # noqa: E402

from promptrec.data import UserHistory  # noqa: E402
from promptrec.errors import DataError  # noqa: E402
from promptrec.evaluation.baselines import interaction_baselines  # noqa: E402
from promptrec.evaluation.crossdomain import (  # noqa: E402
    build_cross_domain,
    cold_start_pairs,
    load_cross_domain,
    load_crossdomain,
    parse_spec,
    read_crossdomain,
    stable_share,
)
from promptrec.evaluation.datasets import load_dataset, resolve  # noqa: E402
from promptrec.evaluation.pipelines import pipeline_catalog  # noqa: E402
from promptrec.evaluation.protocol import ProtocolConfig, build_cases  # noqa: E402

ITEMS = """id,title,domain,creator
g1,Olive Oil,grocery,Acme
g2,Basmati Rice,grocery,
g3,Green Tea &amp; Honey,grocery,Leaf
k1,Chef Knife,kitchen,Blade
k2,Cutting Board,kitchen,
k3,Rice Cooker,kitchen,Zo
k4,Tea Kettle,kitchen,
"""
# u1..u6 have both domains; b-users only one
INTERACTIONS = """user_id,item_id,timestamp,rating,domain
u1,g2,2021-03-01,5,grocery
u1,k3,2021-02-01T10:00:00Z,4,kitchen
u1,g1,100,5,
u1,k1,2021-05-01,3,kitchen
u2,g3,5,5,grocery
u2,k4,6,,kitchen
u3,g1,1,4,grocery
u3,k2,2,4,kitchen
u4,g2,1,4,grocery
u4,k3,2,5,kitchen
u5,g3,1,4,grocery
u5,k4,2,5,kitchen
u6,g1,1,4,grocery
u6,k1,3,5,kitchen
u6,k2,2,5,kitchen
b1,k1,1,5,kitchen
b2,g1,1,5,grocery
"""


def _popularity(dataset):
    """Distinct training users per item as the popularity row counts them (over both domains' catalog)."""
    catalog, _ = pipeline_catalog(dataset)
    counts = interaction_baselines(catalog, dataset.test.train)[0].retriever.scores(UserHistory())
    return {item_id: int(n) for item_id, n in zip(catalog, counts) if n}


def _single(tmp_path, items=ITEMS, interactions=INTERACTIONS):
    (tmp_path / "items.csv").write_text(items)
    (tmp_path / "interactions.csv").write_text(interactions)
    return tmp_path


def test_single_file_layout_history_truth_and_training(tmp_path):
    data = read_crossdomain(_single(tmp_path))
    assert data.domain_of["g3"] == "grocery" and data.items["g3"].title == "Green Tea & Honey"
    assert data.items["g1"].attributes == {"creator": "Acme"}  # the domain column is not an attribute
    dataset = build_cross_domain(data, "grocery", "kitchen", cold_start_share=1.0)  # every overlap user
    records = {r.user_id: r for r in dataset.test.records}
    assert sorted(records) == ["u1", "u2", "u3", "u4", "u5", "u6"]
    # u1: g1 at t=100 (1970); the first kitchen item is k3 (2021-02-01); g2 (2021-03-01) came after it, so it
    # is not history (no leak from the future) but stays a known item (never a negative)
    assert records["u1"].history == ("g1",) and records["u1"].truth == "k3"
    assert records["u1"].known == {"g1", "g2", "k1", "k3"}
    assert dataset.notes["leak guard"].startswith("1 of 6 cold-start users had grocery items ordered after")
    assert records["u6"].truth == "k2"  # earliest time, not file order
    assert set(dataset.pool) == {"k1", "k2", "k3", "k4"} and dataset.scenario == "products"
    assert _popularity(dataset) == {"k1": 1, "g1": 1}  # only b1 and b2 train
    assert dataset.disjoint_valid_users and dataset.valid.records == dataset.test.records


def test_bridge_users_are_a_stable_share_and_train_both_domains(tmp_path):
    data = read_crossdomain(_single(tmp_path))
    dataset = build_cross_domain(data, "grocery", "kitchen")
    cohort = {r.user_id for r in dataset.test.records}
    expected = {u for u in ("u1", "u2", "u3", "u4", "u5", "u6") if stable_share(u) < 0.5}
    assert cohort == expected and 0 < len(cohort) < 6
    train_items = [set(items) for items in dataset.test.train]
    bridges = {"u1", "u2", "u3", "u4", "u5", "u6"} - cohort
    assert len(train_items) == len(bridges) + 2  # bridge users plus b1, b2
    for record in dataset.test.records:  # a cold-start user's truth never enters the training data
        assert all(not ({record.truth} <= items and set(record.history) <= items) for items in train_items)
    # the other way round every kitchen item comes after the user's first grocery item: no history, no users
    with pytest.raises(DataError, match="no cold-start user has a 'kitchen' item ordered before their first 'grocery'"):
        build_cross_domain(data, "kitchen", "grocery")


def test_one_folder_per_domain(tmp_path):
    for domain, items, rows in (
        ("books", "id,title\nb1,Dune\nb2,Emma\n", "user_id,item_id,timestamp\nu1,b1,1\nu1,b2,2\nu2,b2,1\n"),
        ("music", "id,title\nm1,Help\nm2,Kid A\nm3,Blue\n", "user_id,item_id,timestamp\nu1,m2,5\nu1,m1,3\nu2,m3,9\n"),
    ):
        (tmp_path / domain).mkdir()
        (tmp_path / domain / "items.csv").write_text(items)
        (tmp_path / domain / "interactions.csv").write_text(rows)
    dataset = load_crossdomain(f"{tmp_path}:books:music")
    assert dataset.scenario == "music" and dataset.name == "books->music"
    records = {r.user_id: (r.history, r.truth) for r in build_cross_domain(read_crossdomain(tmp_path), "books", "music",
                                                                             cold_start_share=1.0).test.records}
    assert records == {"u1": (("b1", "b2"), "m1"), "u2": (("b2",), "m3")}


def test_spec_and_registry(tmp_path):
    assert parse_spec("/a:b/data:grocery:kitchen") == ("/a:b/data", "grocery", "kitchen")
    with pytest.raises(DataError, match="crossdomain:PATH:SOURCE:TARGET"):
        parse_spec("data")
    assert resolve(f"crossdomain:{tmp_path}:grocery:kitchen") == ("crossdomain", f"{tmp_path}:grocery:kitchen",
                                                                   f"{tmp_path.name}:grocery->kitchen")
    dataset = load_dataset(f"crossdomain:{_single(tmp_path)}:grocery:kitchen")
    assert dataset.protocol == "cross-domain" and dataset.source_domain == "grocery"
    test, valid = build_cases(dataset, ProtocolConfig(users=2, valid_users=1, candidates=2))
    assert not {c.query.user_id for c in test} & {c.query.user_id for c in valid}
    for case in test + valid:
        assert all(item.id.startswith("g") for item in case.query.history)
        assert all(item.id.startswith("k") for item in case.query.candidates)


@pytest.mark.parametrize(
    "items, interactions, match",
    [
        (ITEMS, INTERACTIONS.replace("u2,g3,5,5,grocery", "u2,g3,5,5,kitchen"), r"interactions\.csv:6 field 'domain'"),
        (ITEMS, INTERACTIONS.replace("u3,g1,1,4", "u3,zz,1,4"), r"interactions\.csv:8 field 'item_id'"),
        (ITEMS, INTERACTIONS.replace("u4,g2,1,4", "u4,g2,soon,4"), r"interactions\.csv:10 field 'timestamp'"),
        (ITEMS, INTERACTIONS.replace("u5,g3,1,4", "u5,g3,1,good"), r"interactions\.csv:12 field 'rating'"),
        (ITEMS.replace("k2,Cutting Board,kitchen", "k2,Cutting Board,"), INTERACTIONS, r"items\.csv.* field 'domain'"),
        (ITEMS, INTERACTIONS.replace("timestamp", "when"), r"interactions\.csv:1 field 'timestamp'.*one of: timestamp, time, position, seq"),
    ],
)
def test_malformed_files_name_file_line_field(tmp_path, items, interactions, match):
    with pytest.raises(DataError, match=match):
        read_crossdomain(_single(tmp_path, items, interactions))


def test_unknown_domains_and_layouts(tmp_path):
    data = read_crossdomain(_single(tmp_path))
    with pytest.raises(DataError, match="no target domain 'garden'.*'grocery', 'kitchen'"):
        build_cross_domain(data, "grocery", "garden")
    (tmp_path / "items.csv").unlink()
    with pytest.raises(DataError, match="give both items.csv"):
        read_crossdomain(tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        read_crossdomain(tmp_path / "nope")


@needs_datasets
def test_cross_domain_pairs_and_cold_start_records():
    root = DATASETS / "amazon_books_cds_movies_recsys24"
    pairs = cold_start_pairs(root, "cds", "books")
    assert [(s.name, t.name) for s, t in pairs] == [("cds_3_5__5.csv", "books_8_10.csv"), ("cds_3_5__6.csv", "books_10_10.csv")]
    dataset = load_dataset("cds-books", DATASETS)
    assert dataset.name == "cds->books" and dataset.protocol == "cross-domain" and dataset.scenario == "books"
    # 459 cold-start users; 256 have no CD rated before their first book (they drop out), and others lose the
    # CDs they rated after it (the leak guard: nothing from after the truth is history)
    assert len(dataset.test.records) == 203 and "256 users had no cds item before it" in dataset.notes["leak guard"]
    source_items: dict[str, dict[str, float]] = {}
    target_items: dict[str, list[tuple[float, str]]] = {}
    for row in csv.DictReader((root / "raw/CDs/cds_3_5__5.csv").open()):
        source_items.setdefault(row["user_id"], {})[row["item_id"]] = float(row["timestamp"])
    for row in csv.DictReader((root / "raw/CDs/books_8_10.csv").open()):
        target_items.setdefault(row["user_id"], []).append((float(row["timestamp"]), row["item_id"]))
    pool = set(dataset.pool)
    checked = 0
    for record in [r for r in dataset.test.records if r.user_id in source_items][:50]:
        first = min(target_items[record.user_id])[0]
        mine = source_items[record.user_id]
        assert set(record.history) <= set(mine)  # history from the source domain only
        assert all(mine[item] <= first for item in record.history)  # never after the truth
        assert set(record.history) >= {item for item, when in mine.items() if when < first}  # all before it
        assert dict(target_items[record.user_id])[first] == record.truth or record.truth in record.known
        assert not set(record.history) & pool  # no target-domain item in the history
        assert {item for _, item in target_items[record.user_id]} <= record.known
        checked += 1
    assert checked


def test_cross_domain_training_leaves_out_the_cold_start_users(tmp_path):
    header = "user_id,item_id,rating,timestamp,title,brand,category\n"
    (tmp_path / "raw" / "Books").mkdir(parents=True)
    (tmp_path / "raw" / "CDs").mkdir(parents=True)
    (tmp_path / "raw" / "Books" / "books_3_5__4.csv").write_text(
        header + "u1,b1,5,3,Dune,Herbert,\"['Fiction']\"\nu1,b2,4,1,Emma,Austen,[]\nu1,b3,4,2,Ulysses,Joyce,[]\n"
    )
    (tmp_path / "raw" / "Books" / "cds_8_10.csv").write_text(header + "u1,c2,5,20,Help,Beatles,[]\nu1,c1,5,11,Abbey Road,Beatles,[]\n")
    (tmp_path / "raw" / "CDs" / "cds_5_10.csv").write_text(header + "u2,c2,5,1,Help,Beatles,[]\nu2,c3,5,1,Kid A,Radiohead,[]\nu3,c3,3,1,Kid A,Radiohead,[]\n")
    dataset = load_cross_domain(tmp_path / "books-cds")
    (record,) = dataset.test.records
    assert record.history == ("b2", "b3", "b1") and record.truth == "c1" and record.known >= {"c1", "c2", "b1"}
    assert dataset.items["c1"].attributes == {"artist": "Beatles"} and dataset.items["b1"].attributes["author"] == "Herbert"
    assert _popularity(dataset) == {"c2": 1, "c3": 2}  # u1's own ratings never count
    assert set(dataset.pool) == {"c1", "c2", "c3"}


def test_malformed_recsys24_category(tmp_path):
    header = "user_id,item_id,rating,timestamp,title,brand,category\n"
    (tmp_path / "raw" / "Books").mkdir(parents=True)
    (tmp_path / "raw" / "Books" / "books_3_5__4.csv").write_text(header + "u1,b1,5,10,Dune,Herbert,\"['Fiction']\"\n")
    (tmp_path / "raw" / "Books" / "cds_8_10.csv").write_text(header + "u1,c1,5,11,Abbey Road,Beatles,['Rock'\n")
    with pytest.raises(DataError, match=r"cds_8_10\.csv:2 field 'category'"):
        load_cross_domain(tmp_path / "books-cds")


def test_the_committed_fixture_gives_cold_start_users_with_source_histories_and_target_truths():
    dataset = load_dataset(f"crossdomain:{TINYCROSS}:books:movies")
    assert dataset.name == "tinycross:books->movies" and dataset.protocol == "cross-domain"
    assert (dataset.source_domain, dataset.target_domain, dataset.scenario) == ("books", "movies", "movies")
    assert dataset.disjoint_valid_users and len(dataset.pool) == 50 and all(i.startswith("m") for i in dataset.pool)
    users = {r.user_id for r in dataset.test.records}
    assert users and all(stable_share(u) < 0.5 for u in users)  # the stable half of the users with both domains
    with (TINYCROSS / "interactions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for record in dataset.test.records:
        mine = sorted((float(r["timestamp"]), r["item_id"]) for r in rows if r["user_id"] == record.user_id)
        assert list(record.history) == [i for _, i in mine if i.startswith("b")]
        assert record.truth == next(i for _, i in mine if i.startswith("m"))
    everyone = {r["user_id"] for r in rows}
    assert len(dataset.test.train) == len(everyone) - len(users)  # one training sequence per other user
    trained = {i for sequence in dataset.test.train for i in sequence}
    assert {"b", "m"} == {i[0] for i in trained}  # bridge users train both domains
    config = ProtocolConfig(users=10, valid_users=10)
    test, valid = build_cases(dataset, config)
    assert not {c.query.user_id for c in test} & {c.query.user_id for c in valid}


# ------------------------------------------------------------------ issue 26: leak, order, splits, errors


def _history_is_before_truth(dataset, rows, order="position"):
    """Every test record's history items come before its truth in the files' order column (ties: file order)."""
    when = {}
    for n, row in enumerate(rows):
        when.setdefault((row["user_id"], row["item_id"]), (float(row[order]), n))
    for record in dataset.test.records:
        truth = when[(record.user_id, record.truth)]
        assert all(when[(record.user_id, item)] < truth for item in record.history), record


def test_no_source_item_ordered_after_the_truth_enters_the_history(tmp_path):
    # the Amazon conversion that leaked: sequence positions, source items before AND after the first target item
    items = "item_id,domain,title\n" + "".join(f"f{i},food,Food {i}\n" for i in range(8)) + \
        "".join(f"k{i},kitchen,Kitchen {i}\n" for i in range(8))
    rows = ["user_id,item_id,domain,position"]
    for u in range(40):
        seq = [f"f{u % 8}", f"k{u % 8}", f"f{(u + 1) % 8}", f"f{(u + 2) % 8}", f"k{(u + 3) % 8}"]
        if u % 5 == 0:
            seq = [f"k{u % 8}", f"f{u % 8}"]  # nothing before the truth: this user drops out
        rows += [f"u{u},{item},{'food' if item[0] == 'f' else 'kitchen'},{p}" for p, item in enumerate(seq)]
    (tmp_path / "items.csv").write_text(items)
    (tmp_path / "interactions.csv").write_text("\n".join(rows) + "\n")
    dataset = load_crossdomain(f"{tmp_path}:food:kitchen")
    records = dataset.test.records
    assert records and all(len(r.history) == 1 and r.known >= {r.truth} for r in records)
    with (tmp_path / "interactions.csv").open() as handle:
        _history_is_before_truth(dataset, list(csv.DictReader(handle)))
    cohort = sum(1 for u in range(40) if stable_share(f"u{u}") < 0.5)
    dropped = sum(1 for u in range(0, 40, 5) if stable_share(f"u{u}") < 0.5)
    assert len(records) == cohort - dropped
    assert f"{cohort} of {cohort} cold-start users had food items ordered after" in dataset.notes["leak guard"]
    assert f"{dropped} users had no food item before it and drop out" in dataset.notes["leak guard"]
    assert "order from the 'position' column" in dataset.notes["layout"]


@pytest.mark.parametrize("column", ["position", "seq", "time", "timestamp"])
def test_any_documented_order_column_orders_the_interactions(tmp_path, column):
    rows = f"user_id,item_id,{column}\nu1,g1,3\nu1,k1,2\nu1,g2,1\nu1,k2,4\nb1,k2,1\n"
    data = read_crossdomain(_single(tmp_path, interactions=rows))
    (record,) = build_cross_domain(data, "grocery", "kitchen", cold_start_share=1.0).test.records
    assert (record.history, record.truth) == (("g2",), "k1")  # g1 (3) comes after the truth k1 (2)


def test_ties_in_the_order_column_keep_the_file_order(tmp_path):
    rows = "user_id,item_id,position\nu1,g2,1\nu1,g1,1\nu1,k3,2\nu1,k1,2\nb1,k2,1\n"
    data = read_crossdomain(_single(tmp_path, interactions=rows))
    (record,) = build_cross_domain(data, "grocery", "kitchen", cold_start_share=1.0).test.records
    assert (record.history, record.truth) == (("g2", "g1"), "k3")


def test_a_split_column_or_file_names_test_and_validation_users(tmp_path):
    rows = ["user_id,item_id,timestamp,split"]
    for u, split in ((1, "test"), (2, "test"), (3, "validation"), (4, "train"), (5, "")):
        rows += [f"u{u},g{u % 3 + 1},1,{split}", f"u{u},k{u % 4 + 1},2,{split}"]
    dataset = load_crossdomain(f"{_single(tmp_path, interactions=chr(10).join(rows) + chr(10))}:grocery:kitchen")
    assert [r.user_id for r in dataset.test.records] == ["u1", "u2"]
    assert [r.user_id for r in dataset.valid.records] == ["u3"]
    assert len(dataset.test.train) == 2  # u4 (train) and u5 (not named) are training users
    assert "split column: 2 test, 1 valid, 1 train" in dataset.notes["splits"]
    test, valid = build_cases(dataset, ProtocolConfig(users=5, valid_users=5, candidates=2))
    assert {c.query.user_id for c in test} == {"u1", "u2"} and {c.query.user_id for c in valid} == {"u3"}
    # the same as a file
    other = tmp_path / "file"
    other.mkdir()
    (other / "items.csv").write_text(ITEMS)
    (other / "interactions.csv").write_text("\n".join(",".join(r.split(",")[:3]) for r in rows) + "\n")
    (other / "splits.csv").write_text("user_id,split\nu1,test\nu2,test\nu3,valid\nu4,train\n")
    again = load_crossdomain(f"{other}:grocery:kitchen")
    assert again.test.records == dataset.test.records and again.valid.records == dataset.valid.records
    (other / "splits.csv").write_text("user_id,split\nu1,test\nu1,holdout\n")
    with pytest.raises(DataError, match=r"splits\.csv:3 field 'split': unknown split 'holdout'"):
        read_crossdomain(other)


def test_a_duplicate_id_across_domains_names_both_files_lines_and_the_id(tmp_path):
    for domain, items in (("books", "id,title\nb1,Dune\nx7,Emma\n"), ("music", "id,title\nm1,Help\nm2,Blue\nx7,Kid A\n")):
        (tmp_path / domain).mkdir()
        (tmp_path / domain / "items.csv").write_text(items)
        (tmp_path / domain / "interactions.csv").write_text("user_id,item_id,timestamp\n")
    with pytest.raises(DataError) as error:
        read_crossdomain(tmp_path)
    message = str(error.value)
    assert error.value.path.endswith("music/items.csv") and error.value.line == 4 and error.value.field == "id"
    assert "item id 'x7' (domain 'music') was already read at items.csv:3 (domain 'books')" in message


def test_one_items_file_duplicate_and_missing_domain_have_line_numbers(tmp_path):
    with pytest.raises(DataError, match=r"items\.csv:9 field 'id': item id 'g1' \(domain 'kitchen'\) was already read "
                                        r"at items\.csv:2 \(domain 'grocery'\)"):
        read_crossdomain(_single(tmp_path, items=ITEMS + "g1,Olive Oil Again,kitchen,\n"))
    with pytest.raises(DataError, match=r"items\.csv:6 field 'domain': missing domain"):
        read_crossdomain(_single(tmp_path, items=ITEMS.replace("k2,Cutting Board,kitchen", "k2,Cutting Board,")))


def test_a_tab_separated_file_gets_a_hint_and_tsv_is_read(tmp_path):
    tabbed = ITEMS.replace(",", "\t")
    with pytest.raises(DataError, match=r"items\.csv:1 .*this file is tab-separated: name it \.tsv"):
        read_crossdomain(_single(tmp_path, items=tabbed))
    (tmp_path / "items.csv").unlink()
    (tmp_path / "items.tsv").write_text(tabbed)
    assert read_crossdomain(tmp_path).items["g3"].title == "Green Tea & Honey"


def test_one_recsys24_file_is_a_rated_log_read_by_the_cross_domain_row_reader(tmp_path):
    """read_amazon_log (-d amazon:FILE, the replay's Amazon data) reads rows as load_cross_domain does."""
    from promptrec.evaluation.crossdomain import read_amazon_log

    header = "user_id,item_id,rating,timestamp,title,brand,category\n"
    path = tmp_path / "books.csv"
    path.write_text(header + "u1,b1,5,20,Dune &amp;amp; More,Frank Herbert,\"['Sci-Fi', ' ']\"\n"
                             "u1,b2,2,10,Emma,Jane Austen,[]\nu2,b1,4,10,Dune again,X,[]\n")
    log = read_amazon_log(path)
    assert log.name == "amazon-books" and log.scenario == "books"
    assert [(e.item_id, e.timestamp, e.rating) for e in log.sequences["u1"]] == [("b2", 10.0, 2.0), ("b1", 20.0, 5.0)]
    assert log.items["b1"].title == "Dune & More"  # the first row of an id names it
    assert log.items["b1"].attributes == {"genres": ["Sci-Fi"], "author": "Frank Herbert"}
    other = tmp_path / "garden.csv"
    other.write_text(header + "u1,g1,4,1,Rake,Acme,[]\n")
    assert read_amazon_log(other).items["g1"].attributes == {"brand": "Acme"}
    path.write_text(header + "u1,b1,nan,20,Dune,X,[]\n")
    with pytest.raises(DataError, match=r"books\.csv:2 field 'rating': not a finite number"):
        read_amazon_log(path)
