"""promptrec against the raw engine and a peer listwise reranker, scaling and the cache, in one run (issue 8).

    python eval/bench.py [--users 200] [--threads 1] [--budget-min 35] [--skip-peer] [--quick]

One process, one model (the bundled SmolLM2-135M GGUF), the same MovieLens users (latest-small, LLMRank
protocol: last 20 history items, the truth plus 19 seeded negatives). Calls are interleaved round-robin per
user (order rotated from user to user); every llama.cpp KV cache is emptied (in-process: ``llm.reset()``;
the server: a one-token request on another prompt) before each timed call; medians reported.

1. Overhead, on the first ``--overhead-users`` users: promptrec score mode against the same forward pass in
   plain llama-cpp-python; promptrec generate mode against ``Llama.create_chat_completion`` with the same
   messages, grammar and parameters; promptrec's OpenAI backend against the ``openai`` client sending the
   same request body, both to a ``python -m llama_cpp.server`` on 127.0.0.1 serving the same GGUF.
2. Score mode, generate mode and a peer listwise reranker (rerankers' RankGPT ranker, through litellm, to
   the same server) on every user, until ``--budget-min`` minutes have passed: time, tokens, the rate of
   answers that needed no repair, NDCG@10 (ir-measures).
3. Scaling (score mode, ``Ranker(window=20)`` past 20 candidates): time and peak memory per ranking as
   candidates (10, 20, 50, 100) and history (5, 20, 50) grow; a linear fit of time against prompt tokens.
4. Cache: part 2's promptrec rankings again, from the completion cache: throughput and backend calls.

Writes eval/results/bench.json and eval/results/bench.png.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_common import (  # noqa: E402
    PREFIX,
    Runs,
    bare_forward,
    linear_fit,
    local_backend,
    machine_note,
    movielens_cases,
    peak_rss_mib,
    quiet_logs,
    reset_peak_rss,
    round_robin,
    timed,
    user_history,
    write_json,
)

from promptrec import Ranker  # noqa: E402
from promptrec.backends.llamacpp import LlamaCppBackend  # noqa: E402
from promptrec.backends.local_server import serve_gguf  # noqa: E402
from promptrec.backends.openai import OpenAIBackend  # noqa: E402
from promptrec.cache import CompletionCache  # noqa: E402
from promptrec.evaluation.cases import Case  # noqa: E402
from promptrec.evaluation.metrics import mean, per_case, random_reference, standard_error  # noqa: E402
from promptrec.ranking import Ranking  # noqa: E402

ALIAS = "smollm2"
SERVER_METHODS = ("promptrec server", "raw server", "peer RankGPT")


class CountingBackend:
    """Delegates to a backend and counts the model calls (``complete`` and ``score_labels``)."""

    def __init__(self, inner: LlamaCppBackend) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def complete(self, messages: Any, params: Any) -> Any:
        """Count, then complete."""
        self.calls += 1
        return self.inner.complete(messages, params)

    def score_labels(self, messages: Any, labels: Any, prefix: str = PREFIX) -> Any:
        """Count, then score."""
        self.calls += 1
        return self.inner.score_labels(messages, labels, prefix)


class EngineTimer:
    """Adds up the seconds spent inside the engine: llama-cpp-python's ``eval`` and
    ``create_chat_completion`` on the in-process model, and the HTTP request of promptrec's OpenAI backend."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def wrap(self, owner: Any, name: str) -> None:
        """Replace ``owner.name`` (a bound method) by a timed one, on this instance only; a timed call made
        inside another (``create_chat_completion`` calls ``eval``) is not counted twice."""
        inner = getattr(owner, name)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            self._depth += 1
            try:
                return inner(*args, **kwargs)
            finally:
                self._depth -= 1
                if not self._depth:
                    self.seconds += time.perf_counter() - start

        setattr(owner, name, timed_call)

    def around(self, call: Callable[[Case], Any]) -> Callable[[Case], dict[str, Any]]:
        """``call`` with the engine seconds of that one call added to its result row."""

        def run(case: Case) -> dict[str, Any]:
            self.seconds = 0.0
            row = call(case)
            row = row if isinstance(row, dict) else {"result": row}
            return {**row, "engine_s": self.seconds}

        return run


class Peer:
    """rerankers' RankGPT ranker (its prompt and its parser) sent through litellm to the local server.

    rerankers calls ``litellm.completion(api_key, model, messages, temperature=0)`` with no ``api_base``
    and no ``max_tokens``; the call is wrapped to add the server's URL and a cap of 8 tokens per candidate
    (``[12] > `` is at most 6), and to keep the raw answer and token usage.
    """

    def __init__(self, base_url: str) -> None:
        import litellm
        from rerankers import Reranker
        from rerankers.models import rankgpt_rankers

        self.base_url = base_url
        self.max_tokens = 160
        self.last: dict[str, Any] = {}

        def completion(**kwargs: Any) -> Any:
            response = litellm.completion(api_base=self.base_url, max_tokens=self.max_tokens, **kwargs)
            usage = response.usage
            self.last = {"text": response.choices[0].message.content or "", "prompt_tokens": usage.prompt_tokens,
                         "completion_tokens": usage.completion_tokens}
            return response

        rankgpt_rankers.completion = completion  # the module's own name for litellm.completion
        self.ranker = Reranker(f"openai/{ALIAS}", model_type="rankgpt", api_key="sk-no-key-required", verbose=0)

    def rank(self, case: Case) -> dict[str, Any]:
        """Rank ``case``'s candidates: the history is the query, each candidate a passage."""
        history = "; ".join(_text(item) for item in case.query.history)
        query = f"the movie to watch next for a user who watched, oldest first: {history}"
        candidates = list(case.query.candidates)
        self.max_tokens = 8 * len(candidates)
        result = self.ranker.rank(query, [_text(item) for item in candidates], doc_ids=[c.id for c in candidates])
        order = [str(r.document.doc_id) for r in result.results]
        numbers = [int(x) for x in "".join(ch if ch.isdigit() else " " for ch in self.last["text"]).split()]
        valid = sorted(numbers) == list(range(1, len(candidates) + 1))
        return {"order": order, "valid": valid, **self.last}


def _text(item: Any) -> str:
    genres = item.attributes.get("genres") or []
    return " ".join(f"{item.title} ({', '.join(genres)})".split()) if genres else " ".join(item.title.split())


def ranking_row(ranking: Ranking) -> dict[str, Any]:
    """What part 2 keeps of a promptrec ranking."""
    return {"order": ranking.ids(), "valid": not ranking.report.repaired and ranking.report.floored == 0,
            "prompt_tokens": ranking.usage.input_tokens, "completion_tokens": ranking.usage.output_tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="users for part 2 (fewer if --budget-min runs out)")
    parser.add_argument("--overhead-users", type=int, default=12, help="users for part 1 (the first of --users)")
    parser.add_argument("--scale-users", type=int, default=2, help="users per point in part 3")
    parser.add_argument("--budget-min", type=float, default=35.0, help="no new part-2 user after this many minutes")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads, in-process and in the server")
    parser.add_argument("--skip-peer", action="store_true", help="leave out the RankGPT peer")
    parser.add_argument("--quick", action="store_true", help="a tiny run for smoke testing")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench.json"))
    args = parser.parse_args()
    if args.quick:
        args.users, args.overhead_users, args.scale_users = 2, 2, 1
    quiet_logs()
    machine = machine_note(args.threads)
    print(machine)
    report: dict[str, Any] = {"machine": machine, "threads": args.threads, "quick": args.quick}
    backend = local_backend(args.threads)
    counting = CountingBackend(backend)
    cases = movielens_cases(args.users)
    with tempfile.TemporaryDirectory() as folder, serve_gguf(alias=ALIAS, threads=args.threads, log=Path(folder) / "server.log") as url:
        cache = CompletionCache(Path(folder) / "cache")
        rankers = {"score": Ranker(counting, "movies", mode="score", max_history=20, cache=cache),  # type: ignore[arg-type]
                   "generate": Ranker(counting, "movies", max_history=20, cache=cache)}  # type: ignore[arg-type]
        report["model"] = backend.name
        report["overhead"], report["compare"], runs, done = compare(args, backend, rankers, cases, url)
        report["scaling"] = scaling(args, backend)
        report["cache"] = cache_run(rankers, counting, done, runs)
    write_json(args.out, report)
    plot(report, args.out.with_suffix(".png"))
    print_report(report)


def compare(
    args: argparse.Namespace, backend: LlamaCppBackend, rankers: dict[str, Ranker], cases: list[Case], url: str
) -> tuple[dict[str, Any], dict[str, Any], Runs, list[Case]]:
    """Parts 1 and 2 in one interleaved loop: the raw paths run on the first ``--overhead-users`` users."""
    import openai

    client = openai.OpenAI(api_key="sk-no-key-required", base_url=url, max_retries=0)
    server = OpenAIBackend(ALIAS, base_url=url)
    via_server = Ranker(server, "movies", max_history=20)  # generate mode, unconstrained (no grammar over HTTP)
    llm = backend._llm
    prepared: dict[str, Any] = {}
    engine = EngineTimer()
    for owner, name in ((llm, "eval"), (llm, "create_chat_completion"), (server, "_send")):
        engine.wrap(owner, name)

    def request(case: Case, name: str) -> Any:
        key = f"{name}|{case.case_id}"
        if key not in prepared:
            ranker = via_server if name == "server" else rankers[name]
            prepared[key] = ranker.prepare(user_history(case), list(case.query.candidates))
        return prepared[key]

    def raw_chat(case: Case) -> Any:
        req = request(case, "generate")
        p = req.params
        return llm.create_chat_completion(messages=req.messages, max_tokens=p.max_tokens, temperature=p.temperature,
                                          seed=p.seed, grammar=backend._grammar(p.grammar) if p.grammar else None)

    def raw_server(case: Case) -> Any:
        req = request(case, "server")
        return client.chat.completions.create(**server.request_body(req.messages, req.params))

    def flush() -> None:
        client.chat.completions.create(model=ALIAS, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)

    def rank(ranker: Ranker, case: Case) -> dict[str, Any]:
        return ranking_row(ranker.rank(user_history(case), list(case.query.candidates)))

    part2: dict[str, Callable[[Case], Any]] = {
        "score": engine.around(functools.partial(rank, rankers["score"])),
        "generate": engine.around(functools.partial(rank, rankers["generate"])),
    }
    peer_note = "skipped (--skip-peer)"
    if not args.skip_peer:
        try:
            peer = Peer(url)
            peer.rank(cases[0])  # warm-up: litellm's first call sets itself up
            part2["peer RankGPT"] = peer.rank
            peer_note = ("rerankers 0.10.0 RankGPTRanker ('rerankers[gpt]' from PyPI) via litellm to the local server; "
                         "its prompt and parser, max_tokens 8 per candidate added")
        except Exception as exc:  # noqa: BLE001 - the benchmark goes on without the peer, and says why
            peer_note = f"failed: {type(exc).__name__}: {exc}"
            print(f"peer RankGPT not run: {peer_note}", file=sys.stderr)
    part1 = {
        "raw score": lambda case: bare_forward(backend, backend._chat_prompt(request(case, "score").messages) + PREFIX),
        "raw chat": raw_chat,
        "promptrec server": engine.around(lambda case: via_server.rank(user_history(case), list(case.query.candidates))),
        "raw server": raw_server,
    }
    for ranker in (*rankers.values(), via_server):  # warm-up (label tokens, grammar), in an order never cached
        ranker.rank(user_history(cases[0]), list(reversed(cases[0].query.candidates)))
    for name in ("score", "generate", "server"):  # the raw paths' requests, rendered untimed
        for case in cases[: args.overhead_users]:
            request(case, name)

    def before(name: str) -> None:
        if name in SERVER_METHODS:
            flush()
        else:
            backend.reset()

    start = time.monotonic()
    deadline = start + 60 * args.budget_min
    head = cases[: args.overhead_users]
    runs = round_robin(head, {**part2, **part1}, before=before, progress="parts 1+2", deadline=deadline)
    runs = round_robin(cases[len(head):], part2, before=before, runs=runs, progress="part 2",
                       deadline=deadline, first_index=len(head))
    n1 = len(runs.seconds["raw score"])
    done = cases[: len(runs.seconds["score"])]
    wall = time.monotonic() - start
    print(f"part 2 ran {len(done)} of {len(cases)} users in {wall / 60:.1f} min; part 1 {n1} users")

    def first(name: str) -> float:
        return statistics.median(runs.seconds[name][:n1])

    overhead: dict[str, Any] = {"users": n1, "median_s": {}, "overhead_pct": {}, "overhead_pct_paired": {},
                                "in_call_pct": {}, "in_call_ms": {},
                                "in_call_note": "promptrec's time outside llm.eval / create_chat_completion / the HTTP "
                                                "request, over the time inside, in the same call (all rankings)"}
    for mine, raw in (("score", "raw score"), ("generate", "raw chat"), ("promptrec server", "raw server")):
        overhead["median_s"][mine], overhead["median_s"][raw] = first(mine), first(raw)
        overhead["overhead_pct"][mine] = 100 * (first(mine) / first(raw) - 1)
        overhead["overhead_pct_paired"][mine] = 100 * (runs.paired_ratio(mine, raw) - 1)
    for mine in ("score", "generate", "promptrec server"):  # measured inside each call: no load noise
        rows = runs.results[mine]
        overhead["in_call_pct"][mine] = 100 * statistics.median(
            (t - row["engine_s"]) / row["engine_s"] for t, row in zip(runs.seconds[mine], rows))
        overhead["in_call_ms"][mine] = 1000 * statistics.median(
            t - row["engine_s"] for t, row in zip(runs.seconds[mine], rows))
    overhead["goal_pct"] = 5.0
    overhead["same_answers_server"] = sum(
        a["result"].raw == b.choices[0].message.content
        for a, b in zip(runs.results["promptrec server"], runs.results["raw server"])
    )
    compare_rows: dict[str, Any] = {"users": len(done), "wall_min": wall / 60, "peer": peer_note, "methods": {}}
    for name in part2:
        rows = runs.results[name]
        ndcg = per_case(done, {case.case_id: row["order"] for case, row in zip(done, rows)})
        values = [ndcg[case.case_id]["NDCG@10"] for case in done]
        compare_rows["methods"][name] = {
            "median_s": statistics.median(runs.seconds[name]),
            "prompt_tokens": statistics.median(row["prompt_tokens"] for row in rows),
            "completion_tokens": statistics.median(row["completion_tokens"] for row in rows),
            "valid_before_repair": sum(row["valid"] for row in rows) / len(rows),
            "ndcg@10": mean(values),
            "ndcg@10_se": standard_error(values),
        }
    compare_rows["random_ndcg@10"] = random_reference(len(done[0].query.candidates))["NDCG@10"]
    compare_rows["first_run_rankings_per_s"] = (
        2 * len(done) / (sum(runs.seconds["score"]) + sum(runs.seconds["generate"]))
    )
    return overhead, compare_rows, runs, done


def scaling(args: argparse.Namespace, backend: LlamaCppBackend) -> dict[str, Any]:
    """Part 3: score mode, cache off, time and peak memory per ranking as candidates and history grow."""
    grid = [("candidates", n, 20) for n in ((10, 30) if args.quick else (10, 20, 50, 100))]
    grid += [("history", 20, h) for h in ((5,) if args.quick else (5, 50))]
    points = []
    for axis, n, h in grid:
        ranker = Ranker(backend, "movies", mode="score", max_history=h, window=20)
        for case in movielens_cases(args.scale_users, candidates=n, history=h):
            backend.reset()
            reset_peak_rss()
            seconds, ranking = timed(lambda r=ranker, c=case: r.rank(user_history(c), list(c.query.candidates)))
            points.append({"axis": axis, "candidates": n, "history": h, "seconds": seconds,
                           "prompt_tokens": ranking.usage.input_tokens, "passes": ranking.passes,
                           "peak_rss_mib": peak_rss_mib()})
            print(f"scaling: {n} candidates, history {h}: {seconds:.2f} s, {ranking.usage.input_tokens} tokens, "
                  f"{ranking.passes} windows", file=sys.stderr)
    return {"points": points, "fit": linear_fit([p["prompt_tokens"] for p in points], [p["seconds"] for p in points]),
            "note": "score mode, cache off, KV cache emptied before each ranking; windows of 20, stride 10; "
                    "windows after the first reuse the system prompt and history from the KV cache, so prompt "
                    "tokens count every window's full prompt"}


def cache_run(rankers: dict[str, Ranker], counting: CountingBackend, cases: list[Case], runs: Runs) -> dict[str, Any]:
    """Part 4: part 2's promptrec rankings again; every one must come from the cache."""
    counting.calls = 0
    start = time.perf_counter()
    cached = 0
    for case in cases:
        for ranker in rankers.values():
            cached += ranker.rank(user_history(case), list(case.query.candidates)).cached
    seconds = time.perf_counter() - start
    first = sum(sum(runs.seconds[name][: len(cases)]) for name in rankers)
    n = len(cases) * len(rankers)
    return {"rankings": n, "cached": cached, "backend_calls": counting.calls, "seconds": seconds,
            "rankings_per_s": n / seconds, "first_run_rankings_per_s": n / first,
            "speedup": (n / seconds) / (n / first)}


def plot(report: dict[str, Any], path: Path) -> None:
    """Three small panels: seconds per ranking by path, time against prompt tokens, NDCG@10."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=80)
    over = report["overhead"]["median_s"]
    names = list(over)
    axes[0].barh(names, [over[n] for n in names], color=["C0" if n.startswith("raw") else "C1" for n in names])
    axes[0].set_xlabel("median s per ranking")
    axes[0].set_title(f"promptrec vs raw engine ({report['overhead']['users']} users)", fontsize=10)
    pts = report["scaling"]["points"]
    for axis, marker in (("candidates", "o"), ("history", "s")):
        sel = [p for p in pts if p["axis"] == axis]
        axes[1].scatter([p["prompt_tokens"] for p in sel], [p["seconds"] for p in sel], marker=marker,
                        label=f"{axis} grows")
    fit = report["scaling"]["fit"]
    xs = [min(p["prompt_tokens"] for p in pts), max(p["prompt_tokens"] for p in pts)]
    axes[1].plot(xs, [fit["intercept_s"] + fit["slope_s_per_token"] * x for x in xs], "k--",
                 label=f"linear fit, R²={fit['r2']:.2f}")
    axes[1].set_xlabel("prompt tokens per ranking (all windows)")
    axes[1].set_ylabel("seconds")
    axes[1].set_title("score mode scaling", fontsize=10)
    axes[1].legend(fontsize=8)
    methods = report["compare"]["methods"]
    axes[2].bar(list(methods), [m["ndcg@10"] for m in methods.values()],
                yerr=[m["ndcg@10_se"] for m in methods.values()], color="C2")
    axes[2].axhline(report["compare"]["random_ndcg@10"], color="k", ls=":", label="random")
    axes[2].set_ylabel("NDCG@10")
    axes[2].set_title(f"MovieLens, {report['compare']['users']} users", fontsize=10)
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{report['model']} | {report['machine'][:90]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def print_report(report: dict[str, Any]) -> None:
    """The tables, on stdout."""
    o = report["overhead"]
    print(f"\n{report['model']} | {report['machine']}")
    print(f"1. promptrec vs raw engine, {o['users']} users (median s; overhead of medians / median of paired ratios; goal <= 5%)")
    for mine, raw in (("score", "raw score"), ("generate", "raw chat"), ("promptrec server", "raw server")):
        print(f"   {mine:<17}{o['median_s'][mine]:>8.3f} vs {raw:<11}{o['median_s'][raw]:>8.3f}: "
              f"{o['overhead_pct'][mine]:+.1f}% / {o['overhead_pct_paired'][mine]:+.1f}%; inside the call: "
              f"{o['in_call_ms'][mine]:.1f} ms = {o['in_call_pct'][mine]:.2f}% of the engine's time")
    c = report["compare"]
    print(f"2. {c['users']} users in {c['wall_min']:.1f} min; peer: {c['peer']}")
    print(f"   {'method':<14}{'median s':>9}{'prompt tok':>11}{'answer tok':>11}{'valid':>7}{'NDCG@10':>9}{'s.e.':>6}")
    for name, m in c["methods"].items():
        print(f"   {name:<14}{m['median_s']:>9.2f}{m['prompt_tokens']:>11.0f}{m['completion_tokens']:>11.0f}"
              f"{m['valid_before_repair']:>7.0%}{m['ndcg@10']:>9.3f}{m['ndcg@10_se']:>6.3f}")
    print(f"   random NDCG@10 expected {c['random_ndcg@10']}")
    s = report["scaling"]
    print("3. scaling (score mode): candidates, history -> median s, tokens, peak RSS MiB")
    keys = sorted({(p["candidates"], p["history"]) for p in s["points"]})
    for n, h in keys:
        sel = [p for p in s["points"] if (p["candidates"], p["history"]) == (n, h)]
        print(f"   {n:>4} {h:>3} -> {statistics.median(p['seconds'] for p in sel):7.2f} s "
              f"{statistics.median(p['prompt_tokens'] for p in sel):7.0f} tok "
              f"{max(p['peak_rss_mib'] for p in sel):7.0f} MiB")
    f = s["fit"]
    print(f"   fit: {f['intercept_s']:.3f} s + {f['slope_s_per_token'] * 1000:.2f} ms/token, R² {f['r2']:.3f}, "
          f"quadratic share at max {f['quadratic_share_at_max']:+.2f}")
    k = report["cache"]
    print(f"4. cache: {k['rankings']} rankings again: {k['rankings_per_s']:.0f}/s vs {k['first_run_rankings_per_s']:.2f}/s "
          f"first run ({k['speedup']:.0f}x), {k['backend_calls']} backend calls, {k['cached']} from the cache")


if __name__ == "__main__":
    main()
