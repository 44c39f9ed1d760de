"""The semantic retriever with each embedder on the cross-domain pairs, beside the evaluation's own rows.

    for p in books-movies cds-books movies-cds books-cds cds-movies movies-books; do
        PROMPTREC_EMBEDDER=wordllama promptrec eval -d $p --no-llm -n 500 -o eval/results/embedders/$p
    done
    python eval/semantic_rows.py --results eval/results/embedders [--pairs books-movies,...]

Embedding a whole target catalog (18k-58k items) with MiniLM takes half an hour per pair on two loaded
cores, and the 20-candidate protocol reads the scores of 20 candidates per user only. So this script builds
the evaluation's own cases (:func:`promptrec.evaluation.protocol.build_cases`, the same users, candidates
and seed as ``promptrec eval -n 500``), embeds only the histories and candidates, and scores each candidate
as the evaluation's semantic row does (:class:`promptrec.evaluation.baselines.RetrieverBaseline` over a
:class:`~promptrec.retrieval.SemanticRetriever`: the cosine with the normalised mean of the history's
vectors). The wordllama column is computed the same way and must equal the evaluation's semantic row
(checked per user); popularity and BM25 are read from the evaluation's ``rows.jsonl``. NDCG@10 per user,
its standard error, and the paired standard error of MiniLM's difference from each row.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

PAIRS = ("books-movies", "cds-books", "movies-cds", "books-cds", "cds-movies", "movies-books")


def semantic_ndcg(pair: str, embedder: str) -> dict[str, float]:
    """NDCG@10 per test case of the semantic scores by ``embedder`` on ``pair``'s cases (-n 500)."""
    from promptrec.evaluation.datasets import load_dataset
    from promptrec.evaluation.protocol import ProtocolConfig, build_cases
    from promptrec.retrieval.embedders import get_embedder

    test, _ = build_cases(load_dataset(pair), ProtocolConfig(users=500))
    model = get_embedder(embedder)
    items = {it.id: it for case in test for it in [*case.query.history, *case.query.candidates]}
    ids = list(items)
    vectors = model.embed([model.text(items[i]) for i in ids])
    where = {item_id: row for row, item_id in enumerate(ids)}
    values = {}
    for case in test:
        user = np.mean([vectors[where[it.id]] for it in case.query.history], axis=0)
        norm = float(np.linalg.norm(user))
        user = user / norm if norm > 0 else user
        scores = {it.id: float(vectors[where[it.id]] @ user) for it in case.query.candidates}
        rank = sorted(scores, key=lambda i: -scores[i]).index(case.truth)
        values[case.case_id] = 1 / math.log2(rank + 2) if rank < 10 else 0.0
    return values


def se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True, help="folder of the wordllama evaluations, one per pair")
    parser.add_argument("--pairs", default=",".join(PAIRS))
    args = parser.parse_args()
    print("| pair | users | MiniLM | wordllama | BM25 | popularity | MiniLM - wordllama | MiniLM - BM25 | "
          "MiniLM - popularity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pair in args.pairs.split(","):
        rows = [json.loads(line) for line in (Path(args.results) / pair / "rows.jsonl").open()]
        per: dict[str, dict[str, float]] = {}
        for row in rows:
            if row["case_id"].startswith("test:") and row["method"] in ("popularity", "bm25", "semantic"):
                per.setdefault(row["method"], {})[row["case_id"]] = row["NDCG@10"]
        per["minilm"] = semantic_ndcg(pair, "minilm")
        check = semantic_ndcg(pair, "wordllama")
        users = sorted(per["popularity"])
        if set(users) != set(per["minilm"]) or max(abs(check[u] - per["semantic"][u]) for u in users) > 1e-9:
            raise SystemExit(f"{pair}: the cases or the wordllama scores differ from the evaluation's")
        v = {name: np.asarray([per[name][u] for u in users]) for name in ("minilm", "semantic", "bm25", "popularity")}
        cell = lambda name: f"{v[name].mean():.4f} ± {se(v[name]):.4f}"  # noqa: E731
        diff = lambda name: f"{(v['minilm'] - v[name]).mean():+.4f} ± {se(v['minilm'] - v[name]):.4f}"  # noqa: E731
        print(f"| {pair.replace('-', '→')} | {len(users)} | {cell('minilm')} | {cell('semantic')} | {cell('bm25')} | "
              f"{cell('popularity')} | {diff('semantic')} | {diff('bm25')} | {diff('popularity')} |", flush=True)


if __name__ == "__main__":
    main()
