"""Stored users' histories kept in memory between requests: the bound, and that a change in the database
(new interactions, an edited item) is seen by the next recommendation."""

from __future__ import annotations

import pytest

pytest.importorskip("sqlalchemy", reason="needs the server extra")

from service_helpers import started_service  # noqa: E402

from promptrec.data import Interaction, Item, UserHistory  # noqa: E402
from promptrec.service.histories import HistoryCache  # noqa: E402


def history(user: str, size: int) -> UserHistory:
    return UserHistory(user_id=user, interactions=[Interaction(item=Item(id=f"{user}-{i}", title=f"T{i}"))
                                                   for i in range(size)])


def test_the_cache_is_bounded_by_interactions_least_recently_used_first():
    cache = HistoryCache(max_interactions=10)
    cache.put("a", 1, 1, history("a", 4))
    cache.put("b", 1, 1, history("b", 4))
    assert cache.get("a", 1, 1) is not None  # a is now the most recently used
    cache.put("c", 1, 1, history("c", 4))  # 12 > 10: b goes
    assert cache.get("b", 1, 1) is None and cache.get("a", 1, 1) is not None and cache.interactions == 8
    cache.put("big", 1, 1, history("big", 11))  # larger than the whole bound: not kept
    assert cache.get("big", 1, 1) is None and len(cache) == 2
    assert cache.get("a", 2, 1) is None and cache.get("a", 1, 2) is None  # other versions: a miss
    assert cache.known_version("a", 1) == 1 and cache.known_version("a", 2) is None
    cache.put("a", 2, 1, history("a", 2))  # a replaced, not added
    assert cache.interactions == 6 and cache.get("a", 2, 1) is not None


@pytest.fixture()
def service(tmp_path):
    rows = "user_id,item_id,timestamp,rating\nh1,m05,1,5\nh1,m08,2,4\nh2,m01,1,5\n"
    with started_service(tmp_path, rows, "h.sqlite3") as service:
        yield service


def test_a_history_is_made_once_and_made_again_when_the_database_changes(service, tmp_path):
    first = service.recommend_user("h1", 5)
    hits = service.histories.hits
    assert service.recommend_user("h1", 5).ids() == first.ids()
    assert service.histories.hits == hits + 1  # the second answer reused the history
    more = tmp_path / "more.csv"
    more.write_text("user_id,item_id,timestamp,rating\nh1,m02,3,5\n")
    assert service.seed_interactions(str(more)) == 1  # e.g. another process seeding the shared database
    after = service.recommend_user("h1", 5)
    assert "m02" not in after.ids()  # now in the history, so never recommended again
    cached = service.histories.get("h1", service.store.user_state("h1").interactions_version,
                                   service.engine.catalog_version)
    assert cached is not None and [i.item.id for i in cached.interactions] == ["m05", "m08", "m02"]


def test_an_edited_item_reaches_the_histories_made_before(service):
    service.recommend_user("h2", 5)
    service.upsert_items([Item(id="m01", title="The Matrix (edited)", attributes={"genres": ["Action", "Sci-Fi"]})])
    service.recommend_user("h2", 5)
    state = service.store.user_state("h2")
    cached = service.histories.get("h2", state.interactions_version, service.engine.catalog_version)
    assert cached is not None and cached.interactions[0].item.title == "The Matrix (edited)"
