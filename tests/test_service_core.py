"""The service's operations apart from HTTP: seeding (once), stored histories and feedback reaching the
pipeline, sessions, and references checked before anything is written."""

from __future__ import annotations

import pytest

pytest.importorskip("sqlalchemy", reason="needs the server extra")

from service_helpers import private_cache, started_service  # noqa: E402

from promptrec.config import PipelineConfig  # noqa: E402
from promptrec.service.core import NotFoundError, Reaction, RecommendationService, UnknownItemsError  # noqa: E402
from promptrec.service.settings import ServiceSettings  # noqa: E402


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    rows = "user_id,item_id,timestamp,rating\nh1,m05,1,5\nh1,m08,2,4\nh2,m01,1,5\nh2,m03,2,5\n"
    with started_service(tmp_path_factory.mktemp("core"), rows, "core.sqlite3") as service:
        yield service


def test_seeding_twice_adds_nothing_and_keeps_edits(service):
    from promptrec.data import Item

    service.upsert_items([Item(id="m01", title="The Matrix (edited)")])
    assert service.seed_catalog("demo") == 0 and service.seed_interactions(service.settings.interactions) == 0
    assert service.item("m01").item.title == "The Matrix (edited)"
    assert service.store.count_items() == 24 and service.store.count_interactions() == 4


def test_a_stored_history_is_the_users_interactions_oldest_first(service):
    ranking = service.recommend_user("h1", 5)
    assert "m05" not in ranking.ids() and "m08" not in ranking.ids()  # the history is not recommended again
    expected = service.engine.recommend([service.engine.item("m05"), service.engine.item("m08")], 5, user_id="h1")
    assert ranking.ids() == expected.ids()


def test_stored_feedback_reaches_the_pipeline_and_nothing_is_written_for_an_unknown_item(service):
    top = service.recommend_user("h2", 3).ids()[0]
    with pytest.raises(UnknownItemsError, match=r"'zz' \(body\[1\].item\); nothing was stored"):
        service.add_feedback([Reaction("h2", top, "disliked"), Reaction("h2", "zz", "liked")])
    assert service.store.feedback("h2") == []
    assert service.add_feedback([Reaction("h2", top, "disliked")]) == 1
    assert top not in service.recommend_user("h2", 3).ids()
    assert [f.item_id for f in service.feedback("h2")] == [top]


def test_sessions_check_their_items_and_use_their_feedback(service):
    with pytest.raises(UnknownItemsError, match=r"body.history\[0\]"):
        service.recommend_session(["nope"], [], 3)
    plain = service.recommend_session(["m01", "m03"], [], 3).ids()
    steered = service.recommend_session(["m01", "m03"], [Reaction(None, plain[0], "disliked")], 3).ids()
    assert plain[0] not in steered


def test_unknown_items_and_users_are_not_found(service):
    with pytest.raises(NotFoundError, match="item 'nope'"):
        service.item("nope")
    with pytest.raises(NotFoundError, match="item 'nope'"):
        service.hide_item("nope")
    with pytest.raises(NotFoundError, match="item 'nope'"):
        service.similar("nope", 3)
    with pytest.raises(NotFoundError, match="user 'ghost'"):
        service.feedback("ghost")
    assert service.feedback("h1") == []  # a user known from the interactions file


def test_seed_files_are_read_with_your_column_names(tmp_path):
    (tmp_path / "films.tsv").write_text("film\tname\tgenres\nf1\tAlien\tHorror\nf2\tAliens\tAction\nf3\tUp\tAnimation\n")
    (tmp_path / "watches.csv").write_text("viewer,film,when\nv1,f1,2024-01-01\nv1,f2,2024-01-02\nv2,f1,2024-01-03\n")
    config = PipelineConfig.from_dict({"data": {"id_col": "film", "title_col": "name", "user_col": "viewer",
                                                "item_col": "film", "time_col": "when"}})
    with private_cache(tmp_path):
        settings = ServiceSettings(db=str(tmp_path / "s.sqlite3"), catalog=str(tmp_path / "films.tsv"),
                                   interactions=str(tmp_path / "watches.csv"), api_key="k", config=config)
        service = RecommendationService(settings)
        try:
            service.start()
            assert {stored.item.id for stored in service.store.items()} >= {"f1", "f2", "f3"}
            assert service.seed_interactions(str(tmp_path / "watches.csv")) == 0  # the three were added at start
        finally:
            service.close()
