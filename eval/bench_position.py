"""Position bias: NDCG@10 with the true item forced to each position 0..19, before and after debiasing.

    python eval/bench_position.py [--users 10] [--threads 2] [--mode score] [--cache-dir eval/results/cache]

On MovieLens (LLMRank protocol: the user's last 20 items, truth + 19 random negatives, seed 0), the truth is
moved to each position of the shown list (the other candidates keep their seeded order) and each variant of
the Ranker ranks every (user, position) pair with the candidates shown in that order:

- plain: one pass;
- calibrated: the label prior of a content-free prompt divided out (score mode);
- 3 passes: cyclic shifts by 0, 7 and 14 positions, aggregated (mean log-probability / Borda);
- both: calibrated and 3 passes.

Prints the curve of each variant, its spread (max - min over positions) and mean, and the random reference;
writes eval/results/position.json and eval/results/position.png. Answers are cached, so a rerun is cheap.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from promptrec.backends import get_backend
from promptrec.cache import CompletionCache
from promptrec.evaluation.datasets import load_dataset
from promptrec.evaluation.llm import LLMMethod
from promptrec.evaluation.metrics import MAIN_METRIC, random_reference
from promptrec.evaluation.position import position_curve, spread
from promptrec.evaluation.protocol import ProtocolConfig, build_cases
from promptrec.ranker import Ranker

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "calibrated": {"calibrate": True},
    "3 passes": {"permutations": 3},
    "calibrated + 3 passes": {"calibrate": True, "permutations": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", choices=("score", "generate"), default="score")
    parser.add_argument("--backend", default="llamacpp")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache-dir", default="eval/results/cache")
    parser.add_argument("--out", default="eval/results/position")
    args = parser.parse_args()

    config = ProtocolConfig(users=args.users, valid_users=0, seed=args.seed)
    dataset = load_dataset("movielens", args.data_dir)
    cases, _ = build_cases(dataset, config)
    backend = get_backend(args.backend, n_threads=args.threads) if args.backend.startswith("llamacpp") else get_backend(args.backend)
    cache = CompletionCache(args.cache_dir)
    variants = {name: options for name, options in VARIANTS.items()
                if args.mode == "score" or "calibrate" not in options}
    positions = list(range(config.candidates))
    curves: dict[str, dict[int, float]] = {}
    seconds: dict[str, float] = {}
    for name, options in variants.items():
        ranker = Ranker(backend, dataset.scenario, mode=args.mode, shuffle=False, max_history=config.history,
                        seed=args.seed, cache=cache, **options)
        started = time.perf_counter()
        curves[name] = position_curve(
            cases, LLMMethod(ranker, name), positions,
            progress=lambda done, total, n=name: print(f"\r{n}: {done}/{total}", end="", flush=True),
        )
        seconds[name] = time.perf_counter() - started
        print(f"\r{name}: spread {spread(curves[name]):.3f}, mean {sum(curves[name].values()) / len(positions):.3f}"
              f" ({seconds[name]:.0f} s, cached answers included)")
    reference = random_reference(config.candidates)[MAIN_METRIC]
    protocol = {
        "dataset": "movielens-latest-small, LLMRank protocol (last 20 items; truth + 19 random negatives)",
        "users": f"{len(cases)} (seed {args.seed})",
        "switch": "the truth forced to each position 0..19; the other candidates keep their seeded order",
        "backend": backend.name, "mode": args.mode, "machine": f"{platform.machine()}, shared 2-core CPU",
    }
    print("\n" + "\n".join(f"{key}: {value}" for key, value in protocol.items()))
    header = "| position | " + " | ".join(variants) + " |"
    print(f"\n{MAIN_METRIC} by the truth's position (random reference {reference:.3f})\n\n{header}")
    print("|---" * (len(variants) + 1) + "|")
    for position in positions:
        print(f"| {position} | " + " | ".join(f"{curves[name][position]:.3f}" for name in variants) + " |")
    print("| spread (max - min) | " + " | ".join(f"{spread(curves[name]):.3f}" for name in variants) + " |")
    print("| mean | " + " | ".join(f"{sum(curves[n].values()) / len(positions):.3f}" for n in variants) + " |")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({
        "protocol": protocol, "metric": MAIN_METRIC, "random_reference": reference,
        "curves": curves, "spread": {n: spread(c) for n, c in curves.items()}, "seconds": seconds,
    }, indent=2), encoding="utf-8")
    plot(curves, reference, out.with_suffix(".png"), f"{backend.name.rsplit('/', 1)[-1]}, {len(cases)} users")
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


def plot(curves: dict[str, dict[int, float]], reference: float, path: Path, title: str) -> None:
    """One line per variant over the truth's position, the random reference dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, curve in curves.items():
        ax.plot(list(curve), list(curve.values()), marker="o", markersize=3, label=name)
    ax.axhline(reference, color="black", linestyle="dashed", linewidth=1, label="random")
    ax.set_xlabel("position of the true item in the shown list")
    ax.set_ylabel(MAIN_METRIC)
    ax.set_title(f"Position bias ({title})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
