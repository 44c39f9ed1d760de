"""Resource bounds: memory grows linearly with catalog and history size; a prompt holds only what fits.

    python eval/bench_resources.py [--sizes 10000:1000,30000:3000,100000:10000] [--candidates 100]
                                   [--window 20] [--context 4096] [--overflow-candidates 1000] [--out eval/results/resources.json]

For each ``catalog:history`` size, a synthetic catalog and one user's history are written to temporary JSONL
files, and a fresh Python process (so that peak RSS belongs to that size alone) then:

1. reads them with ``promptrec.data.read_catalog`` / ``read_histories`` under ``tracemalloc`` (peak traced
   Python allocations, and the process's RSS growth over the reading);
2. ranks ``--candidates`` catalog items for that user with ``Ranker(window=--window, max_history=<whole
   history>)`` on a scripted backend (no model; it answers the labels in shown order and counts tokens with
   promptrec's 4-characters-a-token estimate against a ``--context`` token window): every prompt must fit
   the window, the history is cut to what fits, and the candidates go through sliding windows;
3. checks that ranking ``--overflow-candidates`` (1000) without a window, which cannot fit, is refused with
   a clear ``ContextOverflowError`` rather than sent truncated.

Printed: a line per size and a JSON file. ``tracemalloc MB`` is the peak traced while reading, ``B/item`` that
peak per catalog + history item, ``RSS +MB`` the RSS growth over the reading, ``rank +MB`` the peak traced
during ``rank`` above what the loaded data already held, ``max tokens`` the largest prompt sent against the
context window, ``max cands`` the most candidates in one prompt.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptrec.backends.base import Completion, GenerationParams, Message, Usage, estimate_tokens
from promptrec.data import Catalog, UserHistory, read_catalog, read_histories
from promptrec.errors import ContextOverflowError
from promptrec.ranker import Ranker

_GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation")
_LABEL_LINE = re.compile(r"^\[(\w+)\] ", re.MULTILINE)


@dataclass
class ScriptedBackend:
    """No model: answers every label shown, in shown order, and records each prompt's size."""

    context_window: int
    name: str = "scripted"
    supports_grammar: bool = False
    prompt_tokens: list[int] = field(default_factory=list)
    prompt_candidates: list[int] = field(default_factory=list)

    def count_tokens(self, messages: list[Message]) -> int:
        """promptrec's tokenizer-free estimate."""
        return estimate_tokens(messages)

    def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        """The shown labels in order; the prompt's token count and candidate count are recorded."""
        labels = _LABEL_LINE.findall(messages[-1]["content"])
        tokens = self.count_tokens(messages)
        self.prompt_tokens.append(tokens)
        self.prompt_candidates.append(len(labels))
        answer = " > ".join(f"[{label}]" for label in labels)
        return Completion(text=answer, model=self.name, usage=Usage(input_tokens=tokens, output_tokens=len(labels)))


def write_inputs(folder: Path, n_items: int, n_history: int) -> tuple[Path, Path]:
    """A synthetic catalog of ``n_items`` movies and one user's history of its first ``n_history`` items."""
    catalog = folder / f"catalog_{n_items}.jsonl"
    with catalog.open("w", encoding="utf-8") as out:
        for i in range(n_items):
            record = {"id": f"i{i}", "title": f"Synthetic Movie Number {i} ({1950 + i % 70})",
                      "year": 1950 + i % 70, "genres": [_GENRES[i % 8], _GENRES[(i * 7 + 3) % 8]]}
            out.write(json.dumps(record) + "\n")
    history = folder / f"history_{n_history}.jsonl"
    history.write_text(json.dumps({"user_id": "u1", "history": [f"i{i}" for i in range(n_history)]}) + "\n",
                       encoding="utf-8")
    return catalog, history


def rss_mb() -> float:
    """This process's current resident set size in MB (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unwindowed_outcome(catalog: Catalog, user: UserHistory, candidates: int, context: int) -> str:
    """What ranking ``candidates`` catalog items with no window does: ranks (they fit) or refuses clearly."""
    pool = [catalog[f"i{i}"] for i in range(len(user), len(user) + candidates)]
    try:
        Ranker(ScriptedBackend(context_window=context), "movies", max_history=len(user)).rank(user, pool)
    except ContextOverflowError as exc:
        return f"ContextOverflowError: {exc}"
    return "ranked (fits)"


def measure(
    catalog_path: Path, history_path: Path, candidates: int, window: int, context: int, overflow: int
) -> dict[str, Any]:
    """Load, rank and check one size in this process; what :func:`main` prints for it."""
    rss_start = rss_mb()
    tracemalloc.start()
    started = time.perf_counter()
    catalog = read_catalog(catalog_path)
    user = read_histories(history_path, catalog)["u1"]
    load_s = time.perf_counter() - started
    loaded, load_peak = tracemalloc.get_traced_memory()
    rss_loaded = rss_mb()
    tracemalloc.reset_peak()
    backend = ScriptedBackend(context_window=context)
    ranker = Ranker(backend, "movies", max_history=len(user), window=window)
    pool = [catalog[f"i{i}"] for i in range(len(user), len(user) + candidates)]
    started = time.perf_counter()
    ranking = ranker.rank(user, pool)
    rank_s = time.perf_counter() - started
    _, rank_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    unwindowed = unwindowed_outcome(catalog, user, overflow, context)
    n_items, n_history = len(catalog), len(user)
    return {
        "catalog_items": n_items, "history_items": n_history, "candidates": candidates, "window": window,
        "context_window": context,
        "load_s": round(load_s, 2), "load_tracemalloc_peak_mb": load_peak / 2**20,
        "load_bytes_per_item": load_peak / (n_items + n_history),
        "rss_start_mb": rss_start, "rss_after_load_mb": rss_loaded, "peak_rss_mb": peak_rss_mb(),
        "rank_s": round(rank_s, 2), "rank_extra_tracemalloc_peak_mb": (rank_peak - loaded) / 2**20,
        "prompts": len(backend.prompt_tokens), "max_prompt_tokens": max(backend.prompt_tokens),
        "max_candidates_in_a_prompt": max(backend.prompt_candidates),
        "history_used": ranking.history_used, "history_dropped": ranking.history_dropped,
        "ranked": len(ranking.items), "unwindowed_candidates": overflow, "unwindowed": unwindowed,
    }


def run_size(folder: Path, n_items: int, n_history: int, args: argparse.Namespace) -> dict[str, Any]:
    """One size in a fresh Python process (so its peak RSS is its own); the child's JSON result."""
    catalog, history = write_inputs(folder, n_items, n_history)
    command = [sys.executable, __file__, "--child", str(catalog), str(history),
               "--candidates", str(args.candidates), "--window", str(args.window), "--context", str(args.context),
               "--overflow-candidates", str(args.overflow_candidates)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per size."""
    header = ("catalog", "history", "load s", "tracemalloc MB", "B/item", "RSS +MB", "peak RSS MB", "rank s",
              "rank +MB", "prompts", "max tokens", "max cands", "hist used", "hist dropped")
    print(" | ".join(header))
    for r in rows:
        cells = (r["catalog_items"], r["history_items"], r["load_s"], f"{r['load_tracemalloc_peak_mb']:.1f}",
                 f"{r['load_bytes_per_item']:.0f}", f"{r['rss_after_load_mb'] - r['rss_start_mb']:.1f}",
                 f"{r['peak_rss_mb']:.1f}", r["rank_s"], f"{r['rank_extra_tracemalloc_peak_mb']:.1f}", r["prompts"],
                 f"{r['max_prompt_tokens']} / {r['context_window']}", r["max_candidates_in_a_prompt"],
                 r["history_used"], r["history_dropped"])
        print(" | ".join(str(c) for c in cells))
    for r in rows:
        print(f"without a window, {r['unwindowed_candidates']} candidates: {r['unwindowed']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:1000,30000:3000,100000:10000", help="catalog:history,...")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--overflow-candidates", type=int, default=1000, help="ranked once without a window")
    parser.add_argument("--out", default="eval/results/resources.json")
    parser.add_argument("--child", nargs=2, metavar=("CATALOG", "HISTORY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(Path(args.child[0]), Path(args.child[1]), args.candidates, args.window, args.context,
                         args.overflow_candidates)
        print(json.dumps(result))
        return
    sizes = [tuple(int(n) for n in size.split(":")) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="promptrec-resources-") as folder:
        rows = [run_size(Path(folder), n_items, n_history, args) for n_items, n_history in sizes]
    print_table(rows)
    report = {"machine": f"{platform.machine()}, Python {platform.python_version()}", "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
