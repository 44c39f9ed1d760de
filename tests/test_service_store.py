"""The service's database, on SQLite and on a real PostgreSQL server: the same tests on both."""

from __future__ import annotations

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy", reason="needs the server extra")

from service_helpers import DATABASES, database_url  # noqa: E402

from promptrec.data import Item  # noqa: E402
from promptrec.service.settings import sqlalchemy_url  # noqa: E402
from promptrec.service.store import Store, StoredFeedback, StoredUser, StoreError  # noqa: E402


@pytest.fixture(params=DATABASES)
def url(request, tmp_path) -> str:
    return sqlalchemy_url(database_url(request.param, tmp_path))


def items(*ids: str) -> list[Item]:
    return [Item(id=i, title=f"Title {i}", attributes={"genres": ["Drama"], "n": int(i[1:])}) for i in ids]


def feedback(uid: str, user: str, item: str, label: str = "liked", rating: float | None = None) -> StoredFeedback:
    return StoredFeedback(0, uid, user, item, label, rating, 1.0)


def test_items_are_upserted_in_catalog_order_and_every_change_bumps_the_version(url):
    store = Store(url)
    assert store.catalog_version() == 0 and store.items() == []
    store.upsert_items(items("i1", "i2", "i3"))
    v1 = store.catalog_version()
    store.upsert_items([Item(id="i2", title="Renamed", attributes={"x": 1}), *items("i4")])
    assert store.catalog_version() > v1
    stored = store.items()
    assert [s.item.id for s in stored] == ["i1", "i2", "i3", "i4"]  # first-added order, an edit keeps its place
    assert store.get_item("i2").item == Item(id="i2", title="Renamed", attributes={"x": 1})
    assert store.get_item("i1").item.attributes == {"genres": ["Drama"], "n": 1}
    assert store.get_item("nope") is None
    changes = store.changes(v1)
    assert [s.item.id for s in changes.items] == ["i2", "i4"] and changes.version == store.catalog_version()
    assert store.changes(changes.version).items == []


def test_only_new_seeding_keeps_what_the_database_has(url):
    store = Store(url)
    store.upsert_items([Item(id="i1", title="Edited by the app")])
    assert store.upsert_items(items("i1", "i2"), only_new=True) == 1
    assert store.get_item("i1").item.title == "Edited by the app"
    assert store.count_items() == 2
    version = store.catalog_version()
    assert store.upsert_items(items("i1", "i2"), only_new=True) == 0
    assert store.catalog_version() == version  # a restart that seeds nothing new changes nothing


def test_hiding_is_stored_survives_an_edit_and_is_a_change(url):
    store = Store(url)
    store.upsert_items(items("i1", "i2"))
    before = store.catalog_version()
    assert store.set_hidden("i1") is True
    assert store.set_hidden("missing") is False
    assert store.get_item("i1").hidden
    assert [s.item.id for s in store.changes(before).items] == ["i1"]
    store.upsert_items([Item(id="i1", title="New title")])
    assert store.get_item("i1").hidden  # an upsert does not show a hidden item again
    assert [s.item.id for s in store.search_items("title")] == ["i2"]
    assert [s.item.id for s in store.search_items("title", include_hidden=True)] == ["i2", "i1"]  # prefix first


def test_search_needs_every_word_ranks_title_prefixes_first_and_escapes_wildcards(url):
    store = Store(url)
    store.upsert_items([Item(id="a", title="The Alien Returns"), Item(id="b", title="Alien", attributes={"g": "Horror"}),
                        Item(id="c", title="Up", attributes={"g": "alien horror"}), Item(id="d", title="100% Pure")])
    assert [s.item.id for s in store.search_items("alien")] == ["b", "a", "c"]
    assert [s.item.id for s in store.search_items("ALIEN horror")] == ["b", "c"]
    assert [s.item.id for s in store.search_items("%")] == ["d"]
    assert [s.item.id for s in store.search_items("alien", limit=1, offset=1)] == ["a"]


def test_feedback_is_kept_in_arrival_order_creates_users_and_skips_known_uids(url):
    store = Store(url)
    store.upsert_items(items("i1", "i2"))
    assert store.add_feedback([feedback("f1", "u1", "i1"), feedback("f2", "u1", "i2", "rating", 4.5)]) == 2
    assert store.add_feedback([feedback("f1", "u1", "i1"), feedback("f3", "u2", "i1", "disliked")]) == 1
    got = store.feedback("u1")
    assert [(f.uid, f.item_id, f.label, f.rating) for f in got] == [("f1", "i1", "liked", None), ("f2", "i2", "rating", 4.5)]
    assert [f.uid for f in store.feedback("u1", label="rating")] == ["f2"]
    assert [f.uid for f in store.feedback("u1", limit=1)] == ["f2"]
    assert store.get_user("u2") is not None and store.user_exists("u2") and not store.user_exists("u3")
    assert store.count_feedback() == 3


def test_a_failing_batch_stores_nothing(url):
    store = Store(url)
    store.upsert_items(items("i1"))
    bad = StoredFeedback(0, "f2", "u1", "i1", "liked", None, None)  # type: ignore[arg-type]  # NOT NULL timestamp
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        store.add_feedback([feedback("f1", "u1", "i1"), bad])
    assert store.count_feedback() == 0 and store.get_user("u1") is None


def test_interactions_are_a_history_per_user_and_pairs_are_added_once(url):
    store = Store(url)
    store.upsert_items(items("i1", "i2", "i3"))
    assert store.add_interactions([("u1", "i2", 20.0, 4.0), ("u1", "i1", 10.0, None), ("u2", "i3", None, None)]) == 3
    assert store.add_interactions([("u1", "i2", 99.0, 1.0)]) == 0
    assert [(h.item_id, h.timestamp, h.rating) for h in store.history("u1")] == [("i1", 10.0, None), ("i2", 20.0, 4.0)]
    assert store.all_interactions() == {"u1": ["i1", "i2"], "u2": ["i3"]}
    assert store.user_exists("u2") and store.count_interactions() == 3


def test_the_users_state_skips_a_history_the_caller_has_and_interaction_changes_bump_a_version(url):
    store = Store(url)
    store.upsert_items(items("i1", "i2", "i3"))
    first = store.user_state("u1")
    assert first.history == [] and first.feedback == [] and first.catalog_version == store.catalog_version()
    store.add_interactions([("u1", "i2", 20.0, 4.0), ("u1", "i1", 10.0, None)])
    store.add_feedback([feedback("f1", "u1", "i3", "disliked")])
    state = store.user_state("u1", known_interactions=first.interactions_version)
    assert state.interactions_version > first.interactions_version  # the known history is stale: read again
    assert [(h.item_id, h.timestamp, h.rating) for h in state.history] == [(h.item_id, h.timestamp, h.rating)
                                                                         for h in store.history("u1")]
    assert [(f.uid, f.item_id, f.label) for f in state.feedback] == [("f1", "i3", "disliked")]
    again = store.user_state("u1", known_interactions=state.interactions_version)
    assert again.history is None and again.interactions_version == state.interactions_version  # still current
    assert [f.uid for f in again.feedback] == ["f1"]  # feedback is always read
    assert store.add_interactions([("u1", "i2", 99.0, 1.0)]) == 0  # nothing new: the version stays
    assert store.user_state("u1").interactions_version == state.interactions_version
    store.delete_user("u1")
    assert store.user_state("u1").interactions_version > state.interactions_version


def test_users_are_created_updated_and_deleted_with_everything_they_did(url):
    store = Store(url)
    store.upsert_items(items("i1"))
    store.upsert_user(StoredUser("u1", ["a"], "first"))
    store.upsert_user(StoredUser("u1", ["b"], "second"))
    assert (store.get_user("u1").labels, store.get_user("u1").comment) == (["b"], "second")
    store.add_feedback([feedback("f1", "u1", "i1")])
    store.add_interactions([("u1", "i1", 1.0, None)])
    assert store.delete_user("u1") is True
    assert store.get_user("u1") is None and store.feedback("u1") == [] and store.history("u1") == []
    assert store.delete_user("u1") is False


def test_a_reopened_database_has_everything(url):
    store = Store(url)
    store.upsert_items(items("i1", "i2"))
    store.set_hidden("i2")
    store.add_feedback([feedback("f1", "u1", "i1")])
    version = store.catalog_version()
    store.close()
    again = Store(url)
    assert [s.item.id for s in again.items()] == ["i1", "i2"] and again.get_item("i2").hidden
    assert [f.uid for f in again.feedback("u1")] == ["f1"] and again.catalog_version() == version


def test_item_pages_follow_a_cursor_to_the_end(url):
    store = Store(url)
    store.upsert_items(items(*(f"i{n}" for n in range(1, 6))))
    page, cursor = store.item_page(0, 2)
    seen = [s.item.id for s in page]
    while cursor is not None:
        page, cursor = store.item_page(cursor, 2)
        seen += [s.item.id for s in page]
    assert seen == ["i1", "i2", "i3", "i4", "i5"]


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    store = Store(sqlalchemy_url(str(tmp_path / "s.sqlite3")))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_bad_databases_are_named_clearly(tmp_path):
    with pytest.raises(StoreError, match="in-memory SQLite"):
        Store("sqlite://")
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store("mysql://localhost/x")
    not_a_db = tmp_path / "junk.sqlite3"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(sqlalchemy_url(str(not_a_db)))
    closed = f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/x"
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot open the database postgresql"):
        Store(closed)


def _closed_port() -> int:
    from service_helpers import free_port

    return free_port()
