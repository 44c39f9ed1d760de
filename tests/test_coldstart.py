"""Cold-start fallbacks: popularity counts, and a diverse sample by maximal marginal relevance."""

import numpy as np

from promptrec.coldstart import FALLBACKS, diverse_scores, popularity_scores


def test_popularity_scores_are_the_counts():
    assert popularity_scores(np.array([3, 0, 5])).tolist() == [3.0, 0.0, 5.0]


def test_a_diverse_sample_takes_one_of_each_cluster_before_a_second():
    rng = np.random.default_rng(0)
    centres = np.eye(3, dtype=np.float32)
    vectors = np.concatenate([c + 0.05 * rng.standard_normal((4, 3)) for c in centres]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = diverse_scores(vectors, 3)
    top = np.argsort(-scores, kind="stable")[:3]
    assert sorted(int(i) // 4 for i in top) == [0, 1, 2]


def test_removed_items_are_never_picked_and_the_order_is_deterministic():
    vectors = np.eye(4, dtype=np.float32)
    removed = np.array([True, False, False, False])
    scores = diverse_scores(vectors, 2, removed)
    assert scores[0] < scores.max() - 1 and np.array_equal(scores, diverse_scores(vectors, 2, removed))
    assert set(FALLBACKS) == {"query", "popularity", "diverse"}
