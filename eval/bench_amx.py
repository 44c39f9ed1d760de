"""What the AMX protection costs: llama.cpp speed with and without its extra buffer types, side by side.

promptrec loads models with ``use_extra_bufts = False`` on CPUs with AMX (see promptrec/backends/amx.py),
because llama.cpp's AMX kernel crashes there. Extra buffer types also carry llama.cpp's CPU weight
repacking (Q4_0 into interleaved layouts), so the choice can cost speed. This script measures, in one run,
for the bundled SmolLM2-135M (Q4_1) and a Q4_0 copy of it (requantized here with llama.cpp's own quantizer:
the speed is what is measured, not the quality):

* prompt processing: tokens/s evaluating a 512-token prompt in one batch (from an empty KV cache);
* generation: tokens/s decoding 64 tokens one at a time (batches of one token, which AMX does not crash on).

Each (model, extra buffers on/off) runs in its own child process, so a crash is reported by its signal
instead of ending the benchmark; the configurations are interleaved round-robin for ``--rounds`` rounds
and medians reported. Usage::

    python eval/bench_amx.py [--rounds 3] [--threads 2] [--out eval/results/bench_amx.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import llama_cpp
from promptrec.backends import amx
path, extra, threads = sys.argv[1], sys.argv[2] == "on", int(sys.argv[3])
with amx.model_params(extra_buffers=extra):
    llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
out = {"use_extra_bufts": llm.model_params.use_extra_bufts}
tokens = (llm.tokenize(b"The quick brown fox jumps over the lazy dog. " * 60, add_bos=True))[:512]
llm.reset(); llm.eval(tokens[:1])                  # warm-up, one token
start = time.perf_counter()
for token in tokens[1:65]:
    llm.eval([token])
out["generation_tps"] = 64 / (time.perf_counter() - start)
print(json.dumps(out), flush=True)                 # reported even if the batch below crashes
llm.reset(); llm.eval(tokens[:8])                  # warm-up, one small batch
llm.reset()
start = time.perf_counter()
llm.eval(tokens)
out["prompt_tps"] = len(tokens) / (time.perf_counter() - start)
print(json.dumps(out), flush=True)
"""


def quantize_q4_0(source: Path, target: Path) -> None:
    """Requantize ``source`` into Q4_0 with llama.cpp's quantizer (``allow_requantize``)."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.allow_requantize = True
    params.nthread = 2
    with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if failed:
        raise SystemExit(f"llama.cpp could not quantize {source}")


def run_child(model: Path, extra: str, threads: int) -> dict:
    """One measurement in a fresh process; ``crashed`` names the signal when it died."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), extra, str(threads)], capture_output=True, text=True, timeout=600
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    out = json.loads(lines[-1]) if lines else {}
    if result.returncode != 0:
        code = -result.returncode
        out["crashed"] = signal.Signals(code).name if result.returncode < 0 else f"exit {result.returncode}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_amx.json"))
    args = parser.parse_args()

    from promptrec.backends import amx
    from promptrec.backends.llamacpp import bundled_model_path

    print(amx.system_info())
    print(amx.describe())
    print(f"threads {args.threads}, load average {os.getloadavg()[0]:.2f} at start (the cores may be shared)")
    with tempfile.TemporaryDirectory() as folder:
        bundled = bundled_model_path()
        q4_0 = Path(folder) / "SmolLM2-135M-Instruct.Q4_0.gguf"
        quantize_q4_0(bundled, q4_0)
        models = {"SmolLM2-135M Q4_1 (bundled)": bundled, "SmolLM2-135M Q4_0": q4_0}
        configs = [(name, extra) for name in models for extra in ("off", "on")]
        runs: dict[tuple[str, str], list[dict]] = {config: [] for config in configs}
        for round_ in range(args.rounds):
            for offset in range(len(configs)):
                name, extra = configs[(round_ + offset) % len(configs)]
                runs[(name, extra)].append(run_child(models[name], extra, args.threads))
                print(f"round {round_ + 1}: {name}, extra buffers {extra}: {runs[(name, extra)][-1]}", flush=True)

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    rows = []
    for (name, extra), results in runs.items():
        crashes = [r["crashed"] for r in results if "crashed" in r]
        rows.append({
            "model": name, "extra_buffers": extra, "runs": len(results), "crashes": crashes,
            "prompt_tps": median([r["prompt_tps"] for r in results if "prompt_tps" in r]),
            "generation_tps": median([r["generation_tps"] for r in results if "generation_tps" in r]),
        })
    print("\n| model | extra buffer types | prompt tokens/s (512-token batch) | generation tokens/s | crashes |")
    print("|---|---|---|---|---|")
    for row in rows:
        prompt = f"{row['prompt_tps']:.0f}" if row["prompt_tps"] else "-"
        gen = f"{row['generation_tps']:.0f}" if row["generation_tps"] else "-"
        crashed = f"{len(row['crashes'])}/{row['runs']} ({', '.join(sorted(set(row['crashes'])))})" if row["crashes"] else f"0/{row['runs']}"
        print(f"| {row['model']} | {row['extra_buffers']} | {prompt} | {gen} | {crashed} |")
    for name in models:
        off, on = (next(r for r in rows if r["model"] == name and r["extra_buffers"] == e) for e in ("off", "on"))
        for key, what in (("prompt_tps", "prompt"), ("generation_tps", "generation")):
            if off[key] and on[key]:
                print(f"{name}: {what} speed with extra buffer types off / on = {off[key] / on[key]:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"system_info": amx.system_info(), "decision": amx.describe(),
                                    "threads": args.threads, "rounds": args.rounds, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
