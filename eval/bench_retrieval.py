"""Retrieval-stage speed and memory on synthetic catalogs: index build, cache load, memory, per-user latency.

    python eval/bench_retrieval.py [--sizes 10000,100000,1000000] [--users 200] [--pool 20]
                                   [--retrievers popularity,cooccurrence,bm25,semantic,semantic-wordllama]
                                   [--skip-1m semantic] [--out eval/results/retrieval.json] [--plot docs/F.png]
    python eval/bench_retrieval.py --ann-compare 100000 --embedder wordllama   # faiss / usearch / hnswlib

For each catalog size a fresh Python process (so that its memory belongs to that size alone):

1. makes a synthetic catalog of N items (titles of 2-5 words from a 30k-word vocabulary drawn Zipf-like,
   1-3 of 20 genres, a year) and an interactions log of N/2 users x 20 interactions drawn from a power-law
   item popularity (10 x N interactions before de-duplication), seeded;
2. for each retriever: builds its index cold into an empty on-disk cache (``build s``: the catalog's
   content hash, the index and writing it), then loads it from that cache in a new retriever (``load s``);
   ``index MB`` is the bytes of the index's arrays, ``RSS +MB`` the process's resident memory growth over
   the cold build (what building it kept, plus allocator slack);
3. times ``retrieve(history, pool)`` for ``--users`` users (their 20 logged items as the history), the
   retrievers interleaved user by user so that the load of other jobs on the shared machine hits them
   alike: median and 95th percentile in milliseconds of wall-clock time, and the median of the calling
   thread's CPU time (``cpu ms``: the call's own cost, without waiting for a core on a loaded machine).

``semantic`` is the default embedder (all-MiniLM-L6-v2), ``semantic-wordllama`` wordllama, ``semantic-64`` the
first 64 of wordllama's dimensions; from 20,000 items on they retrieve through the HNSW graph, and
``recall@100`` is the share of the exact top 100 (history removed) that ``retrieve(user, 100)`` returns, over
the measured users. ``--skip-1m`` names retrievers left out at 1M items (MiniLM embeds about 300-600 synthetic
titles a second here, so 1M items take most of an hour). ``--plot`` draws ms per user against catalog size.

``--ann-compare N`` embeds N synthetic items (``--embedder``), then measures each ANN library's build time and
its recall@100 and ms per query against exact search, for 200 history-mean queries: the measurement that
chose usearch.

The interest-profile retriever is BM25 or semantic with the LLM's profile as the query: its retrieval costs
what those cost, plus one LLM call (not measured here).
The ratio columns compare each size with the previous one, measured in the same run: a retriever that is
linear in the catalog shows about 10x per 10x of catalog.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

GENRES = ["Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family", "Fantasy",
          "History", "Horror", "Music", "Mystery", "Romance", "Sci-Fi", "Sport", "Thriller", "War", "Western",
          "Biography"]
SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "shi", "an", "dor", "el", "qua", "ri", "bel", "zan", "ur",
             "ni", "ost", "pe", "gra", "lun", "sa", "tor", "ve", "mon", "dal", "ir", "fen", "cor", "ja", "wes"]


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic(n: int, seed: int = 0) -> tuple[Any, Any, list[list[str]]]:
    """A catalog of ``n`` items, its interactions (n/2 users x 20) and 20-item user histories."""
    from scipy.sparse import csr_matrix

    from promptrec.data import Catalog, Item
    from promptrec.retrieval import Interactions

    rng = np.random.default_rng(seed)
    vocab = np.array(["".join(rng.choice(SYLLABLES, size=rng.integers(2, 4))) for _ in range(30_000)])
    word_p = 1.0 / np.arange(1, len(vocab) + 1) ** 0.9
    word_p /= word_p.sum()
    lengths = rng.integers(2, 6, size=n)
    words = vocab[rng.choice(len(vocab), size=int(lengths.sum()), p=word_p)]
    cuts = np.concatenate([[0], np.cumsum(lengths)])
    n_genres = rng.integers(1, 4, size=n)
    genres = rng.integers(0, len(GENRES), size=(n, 3))
    years = rng.integers(1930, 2025, size=n)
    items = [
        Item(id=f"i{i}", title=" ".join(words[cuts[i]:cuts[i + 1]]).title(),
             attributes={"year": int(years[i]), "genres": [GENRES[g] for g in genres[i, :n_genres[i]]]})
        for i in range(n)
    ]
    catalog = Catalog(items)
    users = max(1, n // 2)
    item_p = 1.0 / (np.arange(n) + 10.0) ** 0.8
    item_p /= item_p.sum()
    order = rng.permutation(n)  # popularity independent of position
    cols = order[rng.choice(n, size=users * 20, p=item_p)]
    rows = np.repeat(np.arange(users), 20)
    matrix = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(users, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    interactions = Interactions(catalog, matrix, [f"u{u}" for u in range(users)])
    ids = list(catalog)
    histories = [[ids[c] for c in cols[u * 20:(u + 1) * 20]] for u in range(users)]
    return catalog, interactions, histories


def make(name: str, catalog: Any, interactions: Any, cache: Any) -> Any:
    from promptrec.retrieval import SemanticRetriever
    from promptrec.retrieval.factory import make_retriever

    if name.startswith("semantic-"):  # semantic-wordllama, semantic-minilm; semantic-128, -64: wordllama prefixes
        suffix = name.split("-", 1)[1]
        if suffix.isdigit():
            return SemanticRetriever(catalog, embedder="wordllama", dim=int(suffix), cache=cache)
        return SemanticRetriever(catalog, embedder=suffix, cache=cache)
    return make_retriever(name, catalog, interactions=interactions, index_cache=cache)


def recall_at_100(retriever: Any, users: list[Any]) -> float | None:
    """The share of the exact top 100 (history removed) that ``retrieve(user, 100)`` returns; ``None`` for a
    retriever whose retrieve() is exact by construction."""
    from promptrec.retrieval import top_n

    if not getattr(retriever, "uses_ann", False):
        return None
    hits = []
    for user in users:
        exact = top_n(retriever.scores(user), 100, retriever.history_positions(user))
        got = {retriever._where[i] for i in retriever.retrieve(user, 100).ids()}
        hits.append(len(got & set(exact.tolist())) / 100)
    return round(float(np.mean(hits)), 3)


def index_bytes(retriever: Any) -> int:
    """The bytes of a retriever's index arrays (and of its HNSW graph, in memory)."""
    members = getattr(retriever, "retrievers", [retriever])
    total = 0
    for member in members:
        for value in vars(member).values():
            if isinstance(value, np.ndarray):
                total += value.nbytes
            elif hasattr(value, "data") and hasattr(value, "indices") and hasattr(value, "indptr"):
                total += value.data.nbytes + value.indices.nbytes + value.indptr.nbytes
            elif hasattr(value, "index") and hasattr(value.index, "memory_usage"):  # the HNSW graph
                total += int(value.index.memory_usage)
            elif callable(getattr(value, "arrays", None)):  # a BM25Index
                total += sum(array.nbytes for array in value.arrays().values())
    return total


def ann_compare(n: int, embedder: str, queries: int = 200, k: int = 100) -> dict[str, Any]:
    """recall@k and ms per query against exact search, and build time, for faiss-cpu, usearch and hnswlib
    on ``n`` synthetic items embedded by ``embedder``; queries are the normalised means of 20 items."""
    from promptrec.retrieval.embedders import get_embedder

    catalog, _, histories = synthetic(n)
    model = get_embedder(embedder)
    t0 = time.perf_counter()
    vectors = model.embed([model.text(item) for item in catalog.values()])
    embed_s = time.perf_counter() - t0
    where = {item_id: i for i, item_id in enumerate(catalog)}
    rng = np.random.default_rng(2)
    picked = [histories[i] for i in rng.choice(len(histories), size=queries, replace=False)]
    Q = np.stack([vectors[[where[i] for i in h]].mean(axis=0) for h in picked])
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    t0 = time.perf_counter()
    truth = [np.argsort(-(vectors @ q))[:k] for q in Q]
    exact_ms = (time.perf_counter() - t0) * 1000 / queries
    out: dict[str, Any] = {"items": n, "embedder": model.name, "dim": vectors.shape[1], "embed_s": round(embed_s, 1),
                           "exact_ms": round(exact_ms, 2), "libraries": {}}

    built: dict[str, tuple[Any, Any]] = {}

    def measure(label: str, build: Any, search: Any) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        index = build()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0  # CPU of every thread of the build
        built[label] = (index, search)
        out["libraries"][label] = {"build_s": round(wall, 1), "build_cpu_s": round(cpu, 1)}
        print(f"  {label:<38} built in {wall:7.1f}s ({cpu:.1f} CPU s)", file=sys.stderr, flush=True)

    import faiss
    import hnswlib
    from usearch.index import Index

    from promptrec.retrieval.ann import HNSW

    dim = vectors.shape[1]

    def faiss_build() -> Any:
        index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 128
        index.add(vectors)
        index.hnsw.efSearch = 400
        return index

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    measure("faiss-cpu HNSWFlat M16 ef128/400", faiss_build, lambda ix, q: ix.search(q[None, :], k)[1][0])
    faiss.omp_set_num_threads(1)

    def hnswlib_build() -> Any:
        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=n, ef_construction=128, M=16)
        index.add_items(vectors, np.arange(n))
        index.set_ef(400)
        index.set_num_threads(1)
        return index

    measure("hnswlib M16 ef128/400", hnswlib_build, lambda ix, q: ix.knn_query(q[None, :], k)[0][0])
    measure("usearch f16 M16 ef128/400 (promptrec)", lambda: HNSW.build(vectors), lambda ix, q: ix.search(q, k))

    def usearch_f32() -> Any:
        index = Index(ndim=dim, metric="ip", dtype="f32", connectivity=16, expansion_add=128, expansion_search=400)
        index.add(np.arange(n, dtype=np.uint64), vectors)
        return index

    measure("usearch f32 M16 ef128/400", usearch_f32, lambda ix, q: np.asarray(ix.search(q, k, threads=1).keys))
    # the searches interleaved query by query (the order rotating), so that other jobs' load hits each alike;
    # the calling thread's CPU time is the search's own cost
    labels = list(built)
    found: dict[str, list[np.ndarray]] = {label: [] for label in labels}
    wall: dict[str, float] = dict.fromkeys(labels, 0.0)
    cpu: dict[str, float] = dict.fromkeys(labels, 0.0)
    for number, query in enumerate(Q):
        for offset in range(len(labels)):
            label = labels[(number + offset) % len(labels)]
            index, search = built[label]
            t0, c0 = time.perf_counter(), time.thread_time()
            found[label].append(np.asarray(search(index, query)))
            wall[label] += time.perf_counter() - t0
            cpu[label] += time.thread_time() - c0
    for label in labels:
        recall = float(np.mean([len(set(f.tolist()) & set(t.tolist())) / k for f, t in zip(found[label], truth)]))
        out["libraries"][label].update(recall_at_100=round(recall, 3), ms_per_query=round(wall[label] * 1000 / queries, 3),
                                       cpu_ms_per_query=round(cpu[label] * 1000 / queries, 3))
        print(f"  {label:<38} recall@{k} {recall:.3f}  {wall[label] * 1000 / queries:.3f} ms/query "
              f"({cpu[label] * 1000 / queries:.3f} CPU ms)", file=sys.stderr, flush=True)
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """ms per user (median) against catalog size, one colour per retriever, log-log: the call's CPU time
    (solid) and the wall clock (dotted), which on a shared machine adds the waits for a core."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    names = sorted({name for r in results for name in r["retrievers"]})
    for number, name in enumerate(names):
        rows = [(r["items"], r["retrievers"][name]) for r in results if name in r["retrievers"]]
        color = f"C{number}"
        ax.plot([n for n, _ in rows], [row.get("cpu_ms_median", row["latency_ms_median"]) for _, row in rows],
                marker="o", color=color, label=f"{name} (CPU)")
        ax.plot([n for n, _ in rows], [row["latency_ms_median"] for _, row in rows], marker=".", linestyle=":",
                color=color, alpha=0.6)
    ax.axhline(10, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalog items")
    ax.set_ylabel("ms per user (median retrieve, pool 20)")
    ax.set_title("Retrieval per user by catalog size\n(solid: the call's CPU time; dotted: wall clock on 2 shared cores)",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def run_size(n: int, names: list[str], users: int, pool: int) -> dict[str, Any]:
    from promptrec.data import UserHistory
    from promptrec.retrieval import IndexCache
    from promptrec.retrieval.embedders import get_embedder

    for name in names:  # the embedding models' own load is not any index's build time
        if name.startswith("semantic"):
            suffix = name.partition("-")[2]
            get_embedder(None if not suffix else "wordllama" if suffix.isdigit() else suffix).embed(["warm up"])
    started = time.perf_counter()
    catalog, interactions, histories = synthetic(n)
    made = time.perf_counter() - started
    rng = np.random.default_rng(1)
    chosen = [histories[i] for i in rng.choice(len(histories), size=min(users, len(histories)), replace=False)]
    from promptrec.retrieval import catalog_fingerprint

    t0 = time.perf_counter()
    catalog_fingerprint(catalog), interactions.fingerprint()  # computed once per catalog, shared by every index
    hashed = time.perf_counter() - t0
    result: dict[str, Any] = {"items": n, "users_logged": interactions.n_users, "interactions": len(interactions),
                              "synthesis_s": round(made, 1), "hash_s": round(hashed, 2), "retrievers": {}}
    retrievers = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            cache = IndexCache(Path(folder) / name.replace("+", "_"))
            before = rss_mb()
            t0 = time.perf_counter()
            retriever = make(name, catalog, interactions, cache).build()
            build = time.perf_counter() - t0
            grown = rss_mb() - before
            t0 = time.perf_counter()
            loaded = make(name, catalog, interactions, cache).build()
            load = time.perf_counter() - t0
            assert getattr(loaded, "index_loaded_from_cache", True) or "+" in name
            retrievers[name] = loaded
            size = index_bytes(loaded)
            result["retrievers"][name] = {"build_s": round(build, 2), "load_s": round(load, 2),
                                          "index_mb": round(size / 2**20, 1), "rss_mb": round(grown, 1),
                                          "build_us_per_item": round(build / n * 1e6, 1),
                                          "bytes_per_item": round(size / n, 1),
                                          "ann": bool(getattr(loaded, "uses_ann", False))}
            del retriever
            print(f"  {n:>9} {name:<18} built in {build:.2f}s, loaded in {load:.2f}s", file=sys.stderr, flush=True)
        times: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for index, history in enumerate(chosen):
            user = UserHistory.from_items(catalog.resolve(history), user_id=f"u{index}")
            for offset in range(len(names)):  # rotate the order from user to user
                name = names[(index + offset) % len(names)]
                t0, c0 = time.perf_counter(), time.thread_time()
                retrieved = retrievers[name].retrieve(user, pool)
                times[name].append((time.perf_counter() - t0) * 1000)
                cpu[name].append((time.thread_time() - c0) * 1000)
                assert len(retrieved) == pool
        users_measured = [UserHistory.from_items(catalog.resolve(h), user_id=f"u{i}") for i, h in enumerate(chosen)]
        for name in names:
            values = sorted(times[name])
            result["retrievers"][name].update(
                latency_ms_median=round(statistics.median(values), 2),
                latency_ms_p95=round(values[int(0.95 * (len(values) - 1))], 2),
                # the CPU time of the calling thread: what the call costs, without the waits for a core that
                # other jobs on a shared machine add to the wall-clock latency (every retrieve is one thread)
                cpu_ms_median=round(statistics.median(cpu[name]), 2),
                recall_at_100=recall_at_100(retrievers[name], users_measured[:20]),
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--retrievers", default="popularity,cooccurrence,bm25,semantic,semantic-wordllama")
    parser.add_argument("--skip-1m", default="semantic", help="retrievers left out at 1M items (comma-separated)")
    parser.add_argument("--out", default="eval/results/retrieval.json")
    parser.add_argument("--plot", help="draw ms per user against catalog size into this PNG")
    parser.add_argument("--ann-compare", type=int, help="compare faiss-cpu, usearch and hnswlib on N items")
    parser.add_argument("--embedder", default="minilm", help="--ann-compare: the embedder of the items")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: one size
    args = parser.parse_args()
    if args.ann_compare:
        result = ann_compare(args.ann_compare, args.embedder)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        return
    names = [n for n in args.retrievers.split(",") if n]
    if args.one:
        if args.one >= 1_000_000:
            names = [n for n in names if n not in set(args.skip_1m.split(","))]
        print(json.dumps(run_size(args.one, names, args.users, args.pool)))
        return
    load = os.getloadavg()[0]
    note = (f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average {load:.2f} at "
            f"start), Python {platform.python_version()}, numpy {np.__version__}")
    print(note)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        child = subprocess.run([sys.executable, __file__, "--one", str(size), "--users", str(args.users), "--pool",
                                str(args.pool), "--retrievers", args.retrievers, "--skip-1m", args.skip_1m],
                               capture_output=True, text=True)
        sys.stderr.write(child.stderr)
        if child.returncode != 0:
            raise SystemExit(f"size {size} failed")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    header = (f"{'items':>9} {'retriever':<18} {'build s':>8} {'load s':>7} {'index MB':>9} {'B/item':>7} {'RSS +MB':>8} "
              f"{'median ms':>10} {'p95 ms':>8} {'cpu ms':>7} {'recall':>6} {'x build':>8} {'x median':>9}")
    print(header)
    previous: dict[str, dict[str, float]] = {}
    for result in results:
        print(f"# {result['items']} items, {result['users_logged']} logged users, {result['interactions']} "
              f"interactions (synthesised in {result['synthesis_s']}s; content hashes {result['hash_s']}s, once "
              "for every index)")
        for name, row in result["retrievers"].items():
            before = previous.get(name)
            ratio_build = f"{row['build_s'] / before['build_s']:.1f}x" if before and before["build_s"] else "-"
            ratio_lat = (f"{row['latency_ms_median'] / before['latency_ms_median']:.1f}x"
                         if before and before["latency_ms_median"] else "-")
            recall = f"{row['recall_at_100']:.3f}" if row.get("recall_at_100") is not None else "exact"
            print(f"{result['items']:>9} {name:<18} {row['build_s']:>8.2f} {row['load_s']:>7.2f} "
                  f"{row['index_mb']:>9.1f} {row['bytes_per_item']:>7.0f} {row['rss_mb']:>8.1f} "
                  f"{row['latency_ms_median']:>10.2f} {row['latency_ms_p95']:>8.2f} {row.get('cpu_ms_median', 0):>7.2f} "
                  f"{recall:>6} {ratio_build:>8} "
                  f"{ratio_lat:>9}")
            previous[name] = row
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": note, "pool": args.pool, "users": args.users, "results": results},
                              indent=2))
    print(f"wrote {out}")
    if args.plot:
        plot(results, Path(args.plot))
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
