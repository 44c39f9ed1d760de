"""The 20-candidate baselines by hand: ties, seeded random scores, popularity and co-occurrence (the shipped
retrievers over the training interactions), BM25 on the catalog's text, a retriever read at the candidates."""

import math

import numpy as np
import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.data import Catalog, Item, UserHistory  # noqa: E402
from promptrec.evaluation import baselines as baselines_module  # noqa: E402
from promptrec.evaluation.baselines import (  # noqa: E402
    BM25Baseline,
    RandomBaseline,
    RetrieverBaseline,
    interaction_baselines,
    ranked_ids,
)
from promptrec.evaluation.cases import Query  # noqa: E402
from promptrec.retrieval.base import Interactions  # noqa: E402
from promptrec.retrieval.factory import make_retriever  # noqa: E402

CATALOG = [Item(id="a", title="Alien"), Item(id="b", title="Aliens"), Item(id="c", title="Summer Heat"),
           Item(id="d", title="Up"), Item(id="e", title="Heat Wave")]
BY_ID = {item.id: item for item in CATALOG}


def _query(history, candidates, case_id="test:u1"):
    return Query(case_id, "u1", tuple(BY_ID[i] for i in history), tuple(BY_ID[i] for i in candidates))


def test_ranked_ids_break_ties_by_shown_position_and_put_unscored_last():
    query = _query([], ["c", "a", "d", "b"])
    assert ranked_ids(query, {"a": 1.0, "c": 1.0, "d": 2.0}) == ["d", "c", "a", "b"]


def test_random_scores_are_seeded_per_case():
    query = _query([], ["a", "b", "c"])
    assert RandomBaseline(3).score(query).scores == RandomBaseline(3).score(query).scores
    assert RandomBaseline(3).score(query).scores != RandomBaseline(4).score(query).scores
    assert RandomBaseline(3).score(query).scores != RandomBaseline(3).score(_query([], ["a", "b", "c"], "test:u2")).scores


TRAIN = [("a", "b", "a"), ("a", "c"), ("b", "c", "d")]


def test_popularity_counts_distinct_training_users_and_cooccurrence_is_the_shipped_cosine():
    popularity, cooccurrence = interaction_baselines(Catalog(CATALOG), TRAIN)
    assert [popularity.name, cooccurrence.name] == ["popularity", "co-occurrence"]
    assert popularity.score(_query([], ["a", "d", "e"])).scores == {"a": 2.0, "d": 1.0, "e": 0.0}
    # history a, c (a twice counts once); users: a {0, 1}, b {0, 2}, c {1, 2}, d {2}, e none
    # cosine: b = |a&b|/sqrt(2*2) + |c&b|/sqrt(2*2) = 1/2 + 1/2; d = 0 + 1/sqrt(2*1); e = 0
    scores = cooccurrence.score(_query(["a", "c", "a"], ["b", "d", "e"])).scores
    assert scores["b"] == pytest.approx(1.0) and scores["d"] == pytest.approx(1 / math.sqrt(2)) and scores["e"] == 0.0


def test_the_interaction_rows_are_what_the_registry_builds_for_promptrec_rank():
    catalog = Catalog(CATALOG)
    interactions = Interactions.from_sequences(catalog, TRAIN)
    history = UserHistory.from_items([BY_ID["a"], BY_ID["c"]], user_id="u1")
    for row in interaction_baselines(catalog, TRAIN):
        shipped = make_retriever(baselines_module.INTERACTION_ROWS[row.name], catalog, interactions=interactions,
                                 index_cache=False)
        assert type(row.retriever) is type(shipped)
        assert row.retriever.scores(history).tolist() == shipped.scores(history).tolist()
        assert row.score(_query(["a", "c"], ["b", "d", "e"])).scores == {
            i: float(shipped.scores(history)[position]) for position, i in enumerate(catalog) if i in "bde"}


def test_cross_domain_co_occurrence_links_source_history_items_to_target_candidates():
    # a and b are source-domain items (in the catalog the rows index, never candidates); d and e target items
    popularity, cooccurrence = interaction_baselines(Catalog(CATALOG), [("a", "d"), ("a", "d"), ("b", "e")])
    scores = cooccurrence.score(_query(["a"], ["d", "e"])).scores
    assert scores["d"] > 0 and scores["e"] == 0.0
    assert popularity.score(_query(["a"], ["d", "e"])).scores == {"d": 2.0, "e": 1.0}


def test_the_old_names_warn_and_still_give_the_counts_they_gave():
    with pytest.warns(DeprecationWarning, match="interaction_baselines"):
        popularity_baseline = baselines_module.PopularityBaseline
    with pytest.warns(DeprecationWarning, match="interaction_baselines"):
        cooccurrence_baseline = baselines_module.CooccurrenceBaseline
    with pytest.warns(DeprecationWarning, match="Interactions.from_sequences"):
        interactions = baselines_module.Interactions(TRAIN)
    assert interactions.popularity == {"a": 2, "b": 2, "c": 2, "d": 1}
    assert popularity_baseline(interactions).score(_query([], ["a", "d", "e"])).scores == {"a": 2.0, "d": 1.0, "e": 0.0}
    # counts: b shares user 0 with a and user 2 with c; d shares user 2 with c; e is unseen (0, not -inf)
    scores = cooccurrence_baseline(interactions).score(_query(["a", "c", "a"], ["b", "d", "e"])).scores
    assert scores == {"b": 2.0, "d": 1.0, "e": 0.0}
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        baselines_module.Nope  # noqa: B018


def test_bm25_scores_candidates_sharing_history_words_over_the_whole_catalog():
    bm25 = BM25Baseline(CATALOG)
    scores = bm25.score(_query(["c"], ["e", "a", "d"])).scores
    assert scores["e"] > 0 and scores["a"] == scores["d"] == 0.0
    assert bm25.text_scores("heat", ["c", "zz"])["zz"] == 0.0 and bm25.text_scores("heat", ["c"])["c"] > 0
    assert bm25.text_scores("the of and", ["a", "b"]) == {"a": 0.0, "b": 0.0}  # stop words only


class FixedRetriever:
    catalog = {"a": None, "b": None, "c": None}

    def __init__(self):
        self.users = []

    def scores(self, user):
        self.users.append(user)
        return np.array([0.5, 2.0, 1.0])


def test_a_retriever_baseline_reads_the_catalog_scores_at_the_candidates():
    retriever = FixedRetriever()
    scored = RetrieverBaseline("fixed", retriever).score(_query(["d"], ["c", "b", "e"]))
    assert scored.scores == {"c": 1.0, "b": 2.0, "e": float("-inf")}  # e is outside its catalog
    (user,) = retriever.users
    assert user.user_id == "u1" and [item.id for item in user.items] == ["d"]


def test_the_runner_s_interaction_rows_never_count_a_held_out_item():
    from promptrec.evaluation.cases import EvalDataset
    from promptrec.evaluation.interaction_log import leave_last_out
    from promptrec.evaluation.runner import baselines

    test, valid = leave_last_out({"u1": ["a", "b", "e"], "u2": ["a", "e"], "u3": ["b", "c", "d"]})
    dataset = EvalDataset("tiny", "llmrank", "movies", BY_ID, tuple(BY_ID), test, valid)
    rows = {m.name: m for m in baselines(dataset, "test", 0, None)}
    assert list(rows) == ["random", "popularity", "co-occurrence"]
    # e is u1's and u2's held-out test item and d u3's: no training user has them
    assert rows["popularity"].score(_query(["a", "b"], ["e", "d", "c", "a"])).scores == {"e": 0.0, "d": 0.0, "c": 1.0,
                                                                                          "a": 2.0}
    assert rows["co-occurrence"].score(_query(["a", "b"], ["e", "d", "c"])).scores["e"] == 0.0
    valid_rows = {m.name: m for m in baselines(dataset, "valid", 0, None)}
    # validation holds out b (u1) and c (u3); training is what precedes: a (u1), nothing (u2), b (u3)
    assert valid_rows["popularity"].score(_query(["a"], ["b", "c"])).scores == {"b": 1.0, "c": 0.0}
