"""Which user representation should the semantic retriever use? Chosen on validation users, never on the test
users of the check's pair (books->movies, which has no validation users after the leak guard).

    python eval/semantic_pooling.py [--choose cds-books,movies-cds,cds-movies,books-cds,movies-books]
                                    [--check books-movies] [--embedder minilm]

For each pair, the evaluation's own 20-candidate cold-start cases (``build_cases``, seed 0, 500 test and 200
validation users, as ``promptrec eval -d PAIR --no-llm -n 500`` samples them) are embedded the way the semantic
row embeds them (the embedder's item text), and every variant scores the candidates:

* ``mean``: the cosine with the normalised mean of the history vectors (what the retriever does);
* ``recencyD``: a mean weighted by ``D ** age`` (the newest item weighs 1);
* ``max``, ``topKmean``: the largest (the mean of the K largest) cosines with single history items;
* ``lseT``: ``T log sum exp(cos / T)`` over the history items, between the mean and the max;
* ``hubA``, ``centerA``: the catalog's mean vector ``m`` taken out (``c.u - A c.m``; or both sides centred),
  which pushes down items that are close to everything.

The variant is chosen on the pooled validation users of the ``--choose`` pairs and adopted only if it beats
``mean`` by more than two paired standard errors; then the check pair's test users are scored, once, for
``mean`` and for the best variant, whatever the numbers are.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

Variant = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def variants() -> dict[str, Variant]:
    """name -> f(history vectors H (oldest first), candidate vectors C, catalog mean m) -> scores."""
    out: dict[str, Variant] = {"mean": lambda H, C, m: C @ _unit(H.mean(0))}
    for d in (0.9, 0.7, 0.5):
        out[f"recency{d}"] = lambda H, C, m, d=d: C @ _unit((H * (d ** np.arange(len(H))[::-1])[:, None]).sum(0))
    out["max"] = lambda H, C, m: (C @ H.T).max(1)
    for k in (2, 3):
        out[f"top{k}mean"] = lambda H, C, m, k=k: np.sort(C @ H.T, axis=1)[:, -k:].mean(1)
    for t in (0.05, 0.1, 0.2):
        out[f"lse{t}"] = lambda H, C, m, t=t: t * np.log(np.exp((C @ H.T) / t).sum(1))
    for a in (0.25, 0.5, 1.0, 2.0):
        out[f"hub{a}"] = lambda H, C, m, a=a: C @ _unit(H.mean(0)) - a * (C @ m)
        out[f"center{a}"] = lambda H, C, m, a=a: _unit(C - a * m) @ _unit((H - a * m).mean(0))
    return out


def ndcg10(scores: np.ndarray, truth: int) -> float:
    """NDCG@10 of the truth at position ``truth``, ties broken by candidate position (as ``ranked_ids``)."""
    rank = int((scores > scores[truth]).sum() + (scores[:truth] == scores[truth]).sum())
    return 1.0 / float(np.log2(rank + 2)) if rank < 10 else 0.0


def embedded_cases(pair: str, split: str, embedder: str) -> dict[str, Any]:
    """The pair's cases of ``split`` as vector positions, the vectors, and the target catalog's mean vector."""
    from promptrec.evaluation.datasets import load_dataset
    from promptrec.evaluation.protocol import ProtocolConfig, build_cases
    from promptrec.retrieval.embedders import get_embedder

    dataset = load_dataset(pair)
    test, valid = build_cases(dataset, ProtocolConfig(users=500, valid_users=200, seed=0))
    cases = test if split == "test" else valid
    model = get_embedder(embedder)
    items = {item.id: item for c in cases for item in c.query.history + c.query.candidates}
    where = {item_id: i for i, item_id in enumerate(items)}
    vectors = model.embed([model.text(item) for item in items.values()])
    rng = np.random.default_rng(0)
    sample = rng.choice(len(dataset.pool), size=min(1000, len(dataset.pool)), replace=False)
    mean = model.embed([model.text(dataset.items[dataset.pool[i]]) for i in sample]).mean(axis=0)
    packed = [([where[i.id] for i in c.query.history], [where[i.id] for i in c.query.candidates],
               [i.id for i in c.query.candidates].index(c.truth)) for c in cases]  # the truth: metric only
    return {"vectors": vectors, "mean": mean, "cases": packed}


def score(data: dict[str, Any], names: list[str]) -> dict[str, np.ndarray]:
    table = variants()
    vectors, mean = data["vectors"], data["mean"]
    return {name: np.array([ndcg10(table[name](vectors[h], vectors[c], mean), t) if h else 0.0
                            for h, c, t in data["cases"]]) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--choose", default="cds-books,movies-cds,cds-movies,books-cds,movies-books")
    parser.add_argument("--check", default="books-movies")
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    names = list(variants())
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for pair in [p for p in args.choose.split(",") if p]:
        values = score(embedded_cases(pair, "valid", args.embedder), names)
        print(f"{pair}: {len(values['mean'])} validation users, mean {values['mean'].mean():.4f}", flush=True)
        for name in names:
            pooled[name].append(values[name])
    base = np.concatenate(pooled["mean"])
    rows = []
    for name in names:
        diff = np.concatenate(pooled[name]) - base
        rows.append((name, float(np.concatenate(pooled[name]).mean()), float(diff.mean()),
                     float(diff.std() / np.sqrt(len(diff)))))
        print(f"  {name:12} NDCG@10 {rows[-1][1]:.4f}   - mean {rows[-1][2]:+.4f} ± {rows[-1][3]:.4f}  ({len(diff)} users)")
    best = max(rows, key=lambda r: r[2])
    adopted = best[0] if best[2] > 2 * best[3] else "mean"
    print(f"best on validation: {best[0]} ({best[2]:+.4f} ± {best[3]:.4f}); adopted: {adopted}")
    values = score(embedded_cases(args.check, "test", args.embedder), ["mean", best[0]])
    for name in dict.fromkeys(["mean", best[0]]):
        v = values[name]
        print(f"{args.check} test ({len(v)} users): {name} NDCG@10 {v.mean():.4f} ± {v.std() / np.sqrt(len(v)):.4f}")


if __name__ == "__main__":
    main()
