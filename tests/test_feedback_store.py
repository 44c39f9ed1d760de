"""The feedback store: SQLite shared by threads and processes, validation, negative items, JSONL export and import."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from feedback_helpers import ALIEN, HEAT, MATRIX, UP, python

from promptrec.errors import DataError
from promptrec.feedback import FeedbackRecord, FeedbackStore, demote


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback.sqlite3")


def test_add_list_clear(store):
    store.add("u1", "movies", ALIEN, "liked", shown=[ALIEN, UP, "m09"], timestamp=10)
    store.add("u1", "movies", "m12", "rating", title="Up", rating=4.5, comment=" fun ", timestamp=20)
    store.add("u2", "books", "b1", "clicked", title="Dune", timestamp=15)
    assert [r.item_id for r in store.list()] == ["m03", "b1", "m12"]  # oldest first
    first, second = store.list("u1")
    assert first.shown == ["m03", "m12", "m09"] and first.item_title == "Alien" and first.rating is None
    assert second.rating == 4.5 and second.comment == "fun" and second.timestamp == 20
    assert [r.item_id for r in store.list("u1", limit=1)] == ["m12"]  # the newest one
    assert store.list("u1", "books") == [] and store.count("u2", "books") == 1
    assert store.clear("u1") == 2 and store.count() == 1 and store.clear() == 1 and store.count() == 0


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"label": "loved"}, "label"),
        ({"label": "rating"}, "rating"),
        ({"label": "liked", "rating": 5}, "rating"),
        ({"label": "rating", "rating": 6}, "rating"),
        ({"label": "liked", "user_id": " "}, "user_id"),
        ({"label": "liked", "title": None}, "item_title"),
        ({"label": "liked", "shown": [None]}, "shown"),
    ],
)
def test_add_rejects_bad_values(store, kwargs, field):
    args = {"user_id": "u1", "scenario": "movies", "item": "m03", "title": "Alien", **kwargs}
    with pytest.raises(DataError) as info:
        store.add(**args)
    assert info.value.field == field
    assert store.count() == 0


def test_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTREC_FEEDBACK_DB", str(tmp_path / "env" / "fb.sqlite3"))
    assert FeedbackStore().path == tmp_path / "env" / "fb.sqlite3"
    assert (tmp_path / "env" / "fb.sqlite3").is_file()
    monkeypatch.delenv("PROMPTREC_FEEDBACK_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from promptrec.feedback_store import default_feedback_db

    assert default_feedback_db().name == "feedback.sqlite3" and "promptrec" in default_feedback_db().parts


def test_wal_mode_and_not_a_database(tmp_path, store):
    import sqlite3

    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    bogus = tmp_path / "bogus.sqlite3"
    bogus.write_bytes(b"this is not a database at all" * 100)
    from promptrec.feedback_store import FeedbackStoreError

    with pytest.raises(FeedbackStoreError, match="bogus.sqlite3"):
        FeedbackStore(bogus)


def test_written_by_one_process_read_by_another(store):
    cli = "from promptrec.cli.feedback import feedback_group; feedback_group()"
    python(cli, "add", "--db", str(store.path), "--user", "u1", "--scenario", "movies", "--item", "m03",
           "--title", "Alien", "--label", "liked", "--shown", "m03,m12", "--comment", "scary")
    (record,) = store.list("u1")
    assert (record.item_id, record.label, record.shown, record.comment) == ("m03", "liked", ["m03", "m12"], "scary")
    store.add("u1", "movies", UP, "disliked")
    listed = python(cli, "list", "--db", str(store.path), "--user", "u1", "--json").stdout.splitlines()
    assert [FeedbackRecord.model_validate_json(line) for line in listed] == store.list("u1")
    negatives = python(
        "import sys; from promptrec.feedback_store import FeedbackStore; print(sorted(FeedbackStore(sys.argv[1]).negative_items('u1')))",
        str(store.path),
    ).stdout
    assert negatives.strip() == "['m12']"


WRITER = """
import sys, time
from pathlib import Path
from promptrec.feedback_store import FeedbackStore
path, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
folder = Path(path).parent
(folder / f"ready-{worker}").touch()
while not (folder / "go").exists():  # start together, so the writes really overlap
    time.sleep(0.005)
store = FeedbackStore(path)
for i in range(count):
    store.add(f"u{worker}", "movies", f"w{worker}-{i}", "clicked", title=f"Item {i}", shown=[f"w{worker}-{i}", "x"])
"""


def test_concurrent_processes_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite3"  # no process creates it first: they race on the schema too
    workers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), "200"], stderr=subprocess.PIPE, text=True)
        for w in range(4)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{w}").exists() for w in range(4)) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read() if worker.stderr else ""
    store = FeedbackStore(path)
    records = store.list()
    assert len(records) == 800 and len({r.uid for r in records}) == 800
    for w in range(4):
        assert {r.item_id for r in store.list(f"u{w}")} == {f"w{w}-{i}" for i in range(200)}
    writers_in_time_order = [r.user_id for r in records]
    switches = sum(a != b for a, b in zip(writers_in_time_order, writers_in_time_order[1:]))
    assert switches > 3  # the writers did take turns (not one after another)


def test_concurrent_threads_share_one_store(store):
    def write(thread: int) -> None:
        for i in range(50):
            store.add("u1", "movies", f"t{thread}-{i}", "liked", title="T")

    threads = [threading.Thread(target=write, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count("u1") == 300


def test_negative_items(store):
    store.add("u1", "movies", UP, "disliked", timestamp=1)
    store.add("u1", "movies", HEAT, "rating", rating=2, timestamp=2)
    store.add("u1", "movies", ALIEN, "rating", rating=2.5, timestamp=3)
    store.add("u1", "movies", MATRIX, "disliked", timestamp=4)
    store.add("u1", "movies", MATRIX, "liked", timestamp=5)  # changed their mind
    store.add("u1", "movies", UP, "skipped", timestamp=6)  # decides nothing
    store.add("u1", "books", "b1", "disliked", title="Dune", timestamp=7)
    store.add("u2", "movies", ALIEN, "disliked", timestamp=8)
    assert store.negative_items("u1", "movies") == {"m12", "m09"}
    assert store.negative_items("u1") == {"m12", "m09", "b1"}
    assert store.negative_items("u3") == set()
    assert [c.id for c in demote([UP, ALIEN, HEAT, MATRIX], store.negative_items("u1", "movies"))] == ["m03", "m01", "m12", "m09"]


def test_export_import_round_trip(store, tmp_path):
    store.add("u1", "movies", ALIEN, "liked", shown=["m03", "m12"], comment="héllo \"quoted\"", timestamp=1.5)
    store.add("u1", "books", "b1", "rating", title="Dune", rating=4, timestamp=2)
    store.add("u2", "movies", UP, "skipped", timestamp=3)
    path = tmp_path / "out.jsonl"
    assert store.export_jsonl(path) == 3
    assert [json.loads(line)["item_id"] for line in path.read_text(encoding="utf-8").splitlines()] == ["m03", "b1", "m12"]
    other = FeedbackStore(tmp_path / "other.sqlite3")
    result = other.import_jsonl(path)
    assert (result.read, result.added, result.duplicates) == (3, 3, 0)
    assert other.list() == store.list()
    again = other.import_jsonl(path)  # idempotent: same uids are skipped
    assert (again.added, again.duplicates) == (0, 3) and other.count() == 3
    assert store.export_jsonl(tmp_path / "u1.jsonl", user_id="u1", scenario="books") == 1


def test_import_without_uid_is_idempotent(store, tmp_path):
    path = tmp_path / "plain.jsonl"
    line = {"user_id": "u1", "scenario": "movies", "item_id": "m03", "item_title": "Alien", "label": "liked", "timestamp": 5}
    path.write_text(json.dumps(line) + "\n\n" + json.dumps({**line, "item_id": "m04"}) + "\n", encoding="utf-8")
    assert store.import_jsonl(path).added == 2
    assert store.import_jsonl(path).added == 0 and store.count() == 2


@pytest.mark.parametrize(
    "bad_line, line_no, field, words",
    [
        ("{not json", 2, None, "invalid JSON"),
        ('["a list"]', 2, None, "expected a JSON object"),
        ('{"user_id": "u1", "scenario": "movies", "item_id": "m1", "label": "liked", "timestamp": 1}', 2, "item_title", "Field required"),
        ('{"user_id": "u1", "scenario": "movies", "item_id": "m1", "item_title": "X", "label": "meh", "timestamp": 1}', 2, "label", "liked"),
        ('{"user_id": "u1", "scenario": "movies", "item_id": "m1", "item_title": "X", "label": "rating", "rating": 9}', 2, "rating", "less than or equal to 5"),
        ('{"user_id": "u1", "scenario": "movies", "item_id": "m1", "item_title": "X", "label": "liked", "lable": "x"}', 2, "lable", "Extra inputs"),
        ('{"user_id": "u1", "scenario": "movies", "item_id": "m1", "item_title": "X", "label": "liked", "shown": "m1"}', 2, "shown", "list"),
    ],
)
def test_malformed_import_names_file_line_field_and_imports_nothing(store, tmp_path, bad_line, line_no, field, words):
    store.add("u0", "movies", ALIEN, "liked")
    good = json.dumps({"user_id": "u1", "scenario": "movies", "item_id": "m2", "item_title": "Y", "label": "liked", "timestamp": 1})
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([good, bad_line, good.replace("m2", "m3")]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        store.import_jsonl(path)
    assert str(info.value).startswith(f"{path}:{line_no}")
    assert info.value.line == line_no and info.value.field == field and words in str(info.value)
    assert store.count() == 1  # nothing partial


# ---------------------------------------------------------------------------------------- hardening (issue 27)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

GOOD = {"user_id": "u1", "scenario": "movies", "item_id": "m01", "item_title": "Alien", "label": "liked",
        "timestamp": 1700000000.0}

#: (name, the JSONL line): an invalid record is an error naming its line, never counted as "already present"
BAD_RECORDS = [
    ("rating NaN", json.dumps({**GOOD, "label": "rating"})[:-1] + ', "rating": NaN}', "NaN"),
    ("timestamp NaN", json.dumps({k: v for k, v in GOOD.items() if k != "timestamp"})[:-1] + ', "timestamp": NaN}',
     "NaN"),
    ("timestamp Infinity", json.dumps({k: v for k, v in GOOD.items() if k != "timestamp"})[:-1] + ', "timestamp": Infinity}',
     "Infinity"),
    ("timestamp 1e999", json.dumps({k: v for k, v in GOOD.items() if k != "timestamp"})[:-1] + ', "timestamp": 1e999}',
     "1e999"),
    ("rating over 5", json.dumps({**GOOD, "label": "rating", "rating": 6}), "rating"),
    ("unknown label", json.dumps({**GOOD, "label": "loved"}), "label"),
    ("empty title", json.dumps({**GOOD, "item_title": " "}), "item_title"),
]


@pytest.mark.parametrize(("name", "line", "words"), BAD_RECORDS, ids=[case[0] for case in BAD_RECORDS])
def test_import_refuses_an_invalid_record_with_its_line_and_adds_nothing(tmp_path, store, name, line, words):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({**GOOD, "item_id": "m02"}) + "\n" + line + "\n")
    with pytest.raises(DataError) as info:
        store.import_jsonl(path)
    assert info.value.line == 2 and words in str(info.value)
    assert store.count() == 0  # all or nothing


def test_import_tells_already_present_from_added(tmp_path, store):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "item_id": "m02"}) + "\n")
    first = store.import_jsonl(path)
    assert (first.read, first.added, first.duplicates) == (2, 2, 0)
    path.write_text(path.read_text() + json.dumps({**GOOD, "item_id": "m03"}) + "\n")
    second = store.import_jsonl(path)
    assert (second.read, second.added, second.duplicates) == (3, 1, 2)
    assert store.count() == 3


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_add_refuses_non_finite_timestamps_and_ratings(store, value):
    with pytest.raises(DataError, match="timestamp"):
        store.add("u1", "movies", "m01", "liked", title="Alien", timestamp=value)
    with pytest.raises(DataError, match="rating"):
        store.add("u1", "movies", "m01", "rating", title="Alien", rating=value)
    assert store.count() == 0


def test_export_does_not_replace_a_symlink_or_its_target(tmp_path, store):
    store.add("u1", "movies", "m01", "liked", title="Alien")
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with pytest.raises(DataError, match="symbolic link"):
        store.export_jsonl(link)
    assert link.is_symlink() and target.read_text() == "keep me\n"
    with pytest.raises(DataError, match="folder"):
        store.export_jsonl(tmp_path)
    assert store.export_jsonl(tmp_path / "real.jsonl") == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(
    st.fixed_dictionaries({"user_id": st.sampled_from(["u1", "u2", ""]), "scenario": st.just("movies"),
                           "item_id": st.sampled_from(["m1", "m2", "m3"]), "item_title": st.sampled_from(["A", "B", " "]),
                           "label": st.sampled_from(["liked", "rating", "disliked", "meh"]),
                           "rating": st.one_of(st.none(), st.floats(-1, 7, allow_nan=False)),
                           "timestamp": st.floats(0, 2e9, allow_nan=False)}).map(json.dumps),
    st.sampled_from(['{"user_id": "u1", "timestamp": NaN}', "not json", "[1]", '{"rating": Infinity}'])), max_size=6))
def test_import_property_every_line_is_stored_or_refused(tmp_path_factory, lines):
    """Nothing is silently dropped: an import adds every new record, or raises DataError and adds none."""
    from promptrec.feedback_store import FeedbackStore

    folder = tmp_path_factory.mktemp("prop")
    fresh = FeedbackStore(folder / "f.sqlite3")
    path = folder / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    try:
        result = fresh.import_jsonl(path)
    except DataError as error:
        assert error.path == str(path) and fresh.count() == 0
    else:
        assert result.read == len(lines) and fresh.count() == result.added == len(set(lines))
