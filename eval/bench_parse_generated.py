"""The parser on generated answer shapes, side by side with an earlier parser, and on megabyte answers.

    python eval/bench_parse_generated.py [--answers 5000] [--baseline c1ed901] [--big-mb 3.6]
        [--baseline-kb 0] [--out eval/results/parse_generated.json]

1. Recovery: ``--answers`` seeded answers from tests/parsing_shapes_helpers.py (17 shapes: a known order
   wrapped in prose, analysis, tags, tables, headings, code, other scripts; every one states its order
   unambiguously). Per shape, the share whose stated order the parser reads exactly (and names nothing
   else), for the parser now and for ``promptrec/parsing.py`` at git revision ``--baseline`` (default: the
   parser before issue 29).
2. Size: seconds to parse answers of ``--big-mb`` megabytes of several degenerate kinds (a runaway arrow, a
   never-closed JSON list, random characters, numbered lines, one long line of words), each next to the
   median seconds of a normal answer, on the same machine in the same run.
3. ``--baseline-kb K`` (off by default: the parser before issue 29 is quadratic there, minutes at 100 KB):
   seconds of the baseline parser and of the current one on K kilobytes of the same kinds, side by side.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "eval"))

from parse_answers import _parser_at  # noqa: E402
from parsing_shapes_helpers import SHAPES, TITLES, Dice, is_read, make_case  # noqa: E402

from promptrec.parsing import label_alphabet, parse_ranking  # noqa: E402


def recovery(answers: int, parsers: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per parser and shape, the share of answers whose stated order is read exactly."""
    read: dict[str, collections.Counter[str]] = {name: collections.Counter() for name in parsers}
    total: collections.Counter[str] = collections.Counter()
    for seed in range(answers):
        case = make_case(Dice.seeded(seed))
        total[case.shape] += 1
        for name, parse in parsers.items():
            order, report = parse(case.text, case.labels, case.titles)
            read[name][case.shape] += is_read(case, order, report)
    result = {}
    for name in parsers:
        per_shape = {shape: read[name][shape] / total[shape] for shape in sorted(total)}
        per_shape["all"] = sum(read[name].values()) / answers
        result[name] = per_shape
    result["answers"] = dict(total)  # type: ignore[assignment]
    return result


BIG = {
    "arrow repeated": lambda n: "[C] > [A] > " * (n // 12),
    "JSON list never closed": lambda n: '["C", ' * (n // 6),
    "random characters": lambda n: "".join(random.Random(0).choices("abc DEF[]{}\",:>\n-*#|1234<>/", k=n)),
    "numbered lines": lambda n: "".join(f"{i}. Movie number {i} - like Alien\n" for i in range(n // 34)),
    "one line of words": lambda n: "word " * (n // 5),
    "spaces": lambda n: "1. Alien" + " " * n,
    "newlines": lambda n: "[C] > [A]" + "\n" * n,
    "parentheses": lambda n: "1. " + "(a) " * (n // 4) + "x",
}


def sizes(megabytes: float) -> dict[str, Any]:
    labels, titles = label_alphabet(20), TITLES[:20]
    normal = [make_case(Dice.seeded(seed), "numbered_titles") for seed in range(50)]
    seconds = []
    for case in normal:
        start = time.perf_counter()
        parse_ranking(case.text, case.labels, case.titles)
        seconds.append(time.perf_counter() - start)
    result: dict[str, Any] = {"normal answer": {"chars": statistics.median(len(c.text) for c in normal),
                                                "seconds": statistics.median(seconds)}}
    n = int(megabytes * 1_000_000)
    for name, make in BIG.items():
        text = make(n)
        start = time.perf_counter()
        order, _ = parse_ranking(text, labels, titles)
        assert sorted(order) == list(range(len(labels)))
        result[name] = {"chars": len(text), "seconds": time.perf_counter() - start}
    return result


def beside_baseline(kilobytes: float, baseline: Any) -> dict[str, dict[str, float]]:
    """Seconds of the baseline parser and of the current one on the same answers of ``kilobytes``."""
    labels, titles = label_alphabet(20), TITLES[:20]
    result = {}
    for name, make in BIG.items():
        text = make(int(kilobytes * 1_000))
        row = {}
        for label, parse in (("baseline", baseline), ("now", parse_ranking)):
            start = time.perf_counter()
            parse(text, labels, titles)
            row[label] = time.perf_counter() - start
        result[name] = row
        print(f"{kilobytes:g} KB {name}: baseline {row['baseline']:.2f} s, now {row['now']:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=5000)
    parser.add_argument("--baseline", default="c1ed901", help="git revision of the parser to compare with")
    parser.add_argument("--big-mb", type=float, default=3.6)
    parser.add_argument("--baseline-kb", type=float, default=0, help="also time the baseline on answers this large")
    parser.add_argument("--skip-recovery", action="store_true", help="only the timings")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "parse_generated.json")
    args = parser.parse_args()

    parsers = {"now": parse_ranking, f"at {args.baseline}": _parser_at(args.baseline)}
    result: dict[str, Any] = {}
    if not args.skip_recovery:
        rates = result["recovery"] = recovery(args.answers, parsers)
        print(f"{args.answers} generated answers, {len(SHAPES)} shapes: share whose stated order is read exactly\n")
        print("| shape | answers | " + " | ".join(parsers) + " |")
        print("|---|---|" + "---|" * len(parsers))
        for shape in [*sorted(SHAPES), "all"]:
            count = rates["answers"].get(shape, args.answers)
            print(f"| {shape} | {count} | " + " | ".join(f"{rates[name][shape]:.1%}" for name in parsers) + " |")
    if args.baseline_kb:
        result["beside_baseline"] = beside_baseline(args.baseline_kb, parsers[f"at {args.baseline}"])
    big = result["sizes"] = sizes(args.big_mb)
    print("\nseconds to parse (20 candidates), same machine, same run:\n")
    print("| answer | characters | seconds |")
    print("|---|---|---|")
    for name, row in big.items():
        print(f"| {name} | {row['chars']:,.0f} | {row['seconds']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
