"""The 20-candidate baselines by hand: ties, seeded random scores, popularity and co-occurrence counts,
BM25 on the catalog's text, a retriever read at the candidates."""

import numpy as np
import pytest

pytest.importorskip("ir_measures", reason="the evaluation tests need: pip install -e '.[eval]'")

from promptrec.data import Item  # noqa: E402
from promptrec.evaluation.baselines import (  # noqa: E402
    BM25Baseline,
    CooccurrenceBaseline,
    Interactions,
    PopularityBaseline,
    RandomBaseline,
    RetrieverBaseline,
    ranked_ids,
)
from promptrec.evaluation.cases import Query  # noqa: E402

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


def test_popularity_counts_distinct_training_users_and_cooccurrence_shared_ones():
    interactions = Interactions([("a", "b", "a"), ("a", "c"), ("b", "c", "d")])
    assert interactions.popularity == {"a": 2, "b": 2, "c": 2, "d": 1}
    assert PopularityBaseline(interactions).score(_query([], ["a", "d", "e"])).scores == {"a": 2.0, "d": 1.0, "e": 0.0}
    # history a, c (a twice counts once): b shares user 0 with a and user 2 with c; d shares user 2 with c
    scores = CooccurrenceBaseline(interactions).score(_query(["a", "c", "a"], ["b", "d", "e"])).scores
    assert scores == {"b": 2.0, "d": 1.0, "e": 0.0}


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
