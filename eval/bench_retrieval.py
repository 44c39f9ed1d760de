"""Retrieval-stage speed and memory on synthetic catalogs: index build, cache load, memory, per-user latency.

    python eval/bench_retrieval.py [--sizes 10000,100000,1000000] [--users 200] [--pool 20]
                                   [--retrievers popularity,cooccurrence,bm25,semantic,semantic-64,bm25+semantic]
                                   [--skip-1m semantic] [--out eval/results/retrieval.json]

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
   alike: median and 95th percentile in milliseconds.

The interest-profile retriever is BM25 or semantic with the LLM's profile as the query: its retrieval costs
what those cost, plus one LLM call (not measured here). ``--skip-1m`` names retrievers left out at 1M items.
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

    if name.startswith("semantic-"):  # semantic-128, semantic-64: the first dimensions only
        return SemanticRetriever(catalog, dim=int(name.split("-")[1]), cache=cache)
    return make_retriever(name, catalog, interactions=interactions, index_cache=cache)


def index_bytes(retriever: Any) -> int:
    members = getattr(retriever, "retrievers", [retriever])
    total = 0
    for member in members:
        for value in vars(member).values():
            if isinstance(value, np.ndarray):
                total += value.nbytes
            elif hasattr(value, "data") and hasattr(value, "indices") and hasattr(value, "indptr"):
                total += value.data.nbytes + value.indices.nbytes + value.indptr.nbytes
    return total


def run_size(n: int, names: list[str], users: int, pool: int) -> dict[str, Any]:
    from promptrec.data import UserHistory
    from promptrec.retrieval import IndexCache
    from promptrec.retrieval.semantic import load_wordllama

    load_wordllama()  # the embedding model's own load is not any index's build time
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
            result["retrievers"][name] = {"build_s": round(build, 2), "load_s": round(load, 2),
                                          "index_mb": round(index_bytes(loaded) / 2**20, 1), "rss_mb": round(grown, 1)}
            del retriever
            print(f"  {n:>9} {name:<14} built in {build:.2f}s, loaded in {load:.2f}s", file=sys.stderr, flush=True)
        times: dict[str, list[float]] = {name: [] for name in names}
        for index, history in enumerate(chosen):
            user = UserHistory.from_items(catalog.resolve(history), user_id=f"u{index}")
            for offset in range(len(names)):  # rotate the order from user to user
                name = names[(index + offset) % len(names)]
                t0 = time.perf_counter()
                retrieved = retrievers[name].retrieve(user, pool)
                times[name].append((time.perf_counter() - t0) * 1000)
                assert len(retrieved) == pool
        for name in names:
            values = sorted(times[name])
            result["retrievers"][name].update(
                latency_ms_median=round(statistics.median(values), 2),
                latency_ms_p95=round(values[int(0.95 * (len(values) - 1))], 2),
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--retrievers", default="popularity,cooccurrence,bm25,semantic,semantic-64,bm25+semantic")
    parser.add_argument("--skip-1m", default="", help="retrievers left out at 1M items (comma-separated)")
    parser.add_argument("--out", default="eval/results/retrieval.json")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: one size
    args = parser.parse_args()
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
    header = (f"{'items':>9} {'retriever':<14} {'build s':>8} {'load s':>7} {'index MB':>9} {'RSS +MB':>8} "
              f"{'median ms':>10} {'p95 ms':>8} {'x build':>8} {'x median':>9}")
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
            print(f"{result['items']:>9} {name:<14} {row['build_s']:>8.2f} {row['load_s']:>7.2f} "
                  f"{row['index_mb']:>9.1f} {row['rss_mb']:>8.1f} {row['latency_ms_median']:>10.2f} "
                  f"{row['latency_ms_p95']:>8.2f} {ratio_build:>8} {ratio_lat:>9}")
            previous[name] = row
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": note, "pool": args.pool, "users": args.users, "results": results},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
