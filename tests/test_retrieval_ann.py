"""The HNSW graph: recall@100 against exact search, bytes round trip, in-place upserts."""

from __future__ import annotations

import numpy as np

from promptrec.retrieval.ann import HNSW


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((50, dim))
    return unit(centers[rng.integers(0, 50, n)] + 0.5 * rng.standard_normal((n, dim)))


def recall(graph: HNSW, vectors: np.ndarray, queries: np.ndarray, k: int = 100) -> float:
    hits = []
    for query in queries:
        truth = set(np.argsort(-(vectors @ query))[:k].tolist())
        hits.append(len(truth & set(graph.search(query, k).tolist())) / k)
    return float(np.mean(hits))


def test_recall_at_100_against_exact_search_and_a_round_trip_through_bytes():
    vectors = clustered(5000)
    queries = unit(vectors[:20] + vectors[20:40])
    graph = HNSW.build(vectors)
    assert len(graph) == 5000
    assert recall(graph, vectors, queries) >= 0.95
    saved = graph.to_bytes()
    assert saved.dtype == np.uint8
    loaded = HNSW.from_bytes(saved)
    assert [loaded.search(q, 10).tolist() for q in queries[:5]] == [graph.search(q, 10).tolist() for q in queries[:5]]


def test_upsert_replaces_moved_vectors_and_appends_new_ones():
    vectors = clustered(2000, seed=1)
    graph = HNSW.build(vectors)
    target = unit(np.ones((1, 32)))[0]
    moved = np.asarray([7, 11])
    grown = np.concatenate([vectors, clustered(100, seed=2)])
    grown[moved] = target
    graph.upsert(np.concatenate([moved, np.arange(2000, 2100)]), grown[np.concatenate([moved, np.arange(2000, 2100)])])
    assert len(graph) == 2100
    assert set(graph.search(target, 2).tolist()) == {7, 11}
    assert recall(graph, grown, unit(grown[:10] + grown[2050:2060])) >= 0.95


RAY_AFTER_USEARCH = """
import numpy as np
from promptrec.retrieval.ann import HNSW
HNSW.build(np.eye(8, dtype=np.float32))
import ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
print(ray.get(ray.put(41)) + 1)
ray.shutdown()
"""


def test_ray_starts_in_a_process_that_built_an_hnsw_graph_first():
    """usearch and Ray each carry a C++ standard library; with usearch's loaded first, ray.init() aborted in
    std::regex (SIGABRT). ann loads Ray's first where Ray is installed."""
    import importlib.util
    import subprocess
    import sys

    import pytest

    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    done = subprocess.run([sys.executable, "-c", RAY_AFTER_USEARCH], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "42"
