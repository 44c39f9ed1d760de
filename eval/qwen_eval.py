"""``promptrec`` with llama.cpp's prompt (batch) threads held to ``--threads``, for the 1.5B measurement.

    python eval/qwen_eval.py eval -d movielens --backend llamacpp:"$(python eval/fetch_qwen.py --print-only)" \\
        --threads 1 ...            # exactly ``promptrec eval ...``, same options, same run folder

The ``llamacpp`` backend gives llama.cpp ``n_threads`` for generation but leaves the batch threads, which
read the prompt, at every core. On the shared 2-core machine two prompt threads that wait on each other were
3x slower than one (5.1 against 15.9 prompt tokens/s for this model, measured side by side), and a score-mode
call is all prompt. This wrapper only sets the batch threads to ``n_threads`` after the backend loads the model
(as ``eval/_bench_common.local_backend`` does for the benchmarks), then runs the ``promptrec`` command line
unchanged, so the prompts, the cache keys and the report are those of ``promptrec eval``.

Two options of this wrapper (removed from the command line before ``promptrec`` reads it) turn a run that
was stopped at a deadline into an honest report of what it answered. The 20-candidate harness asks the LLM
for validation and test users alternately (valid 1, test 1, valid 2, ...), so after ``a`` answers the first
``ceil(a / 2)`` validation and ``floor(a / 2)`` test users of the sample are cached:

* ``--first-test-users M``: keep the first M test users of the seeded sample (the same users, in the same
  order, as the full run's first M; every method, baseline or LLM, is measured on exactly those);
  give ``--llm-valid-users K`` for the validation side (the priors are still chosen on every validation user);
* ``--cached-only``: the model is loaded (its tokenizer makes the cache keys) but never asked: a prompt that
  is not in the cache fails, and the report counts it as a failed case.
"""

from __future__ import annotations

import sys
from typing import Any

from promptrec.backends import llamacpp
from promptrec.cli import main

_load = llamacpp.LlamaCppBackend.__init__


def _load_with_batch_threads(self: Any, *args: Any, **kwargs: Any) -> None:
    _load(self, *args, **kwargs)
    threads = self._llm.n_threads
    self._llm.n_threads_batch = threads
    self._llm.context_params.n_threads_batch = threads
    self._llm._ctx.set_n_threads(threads, threads)


llamacpp.LlamaCppBackend.__init__ = _load_with_batch_threads  # type: ignore[method-assign]



def _force_option_missing() -> bool:
    """True while ``promptrec eval`` refuses a weight on < 100 validation users but has no ``--force`` yet
    (the evaluation was being changed while the 1.5B model was measured; see /work/helpers/NOTES-eval.md)."""
    from promptrec.cli.eval import eval_command

    return not any("--force" in getattr(p, "opts", ()) for p in eval_command.params)


def _take(argv: list[str], flag: str, value: bool) -> str | bool | None:
    """Remove ``flag`` (and its value) from ``argv``; return the value, True for a bare flag, else None."""
    if flag not in argv:
        return None
    at = argv.index(flag)
    if not value:
        del argv[at]
        return True
    found = argv[at + 1]
    del argv[at : at + 2]
    return found


def _first_test_users(m: int) -> None:
    from promptrec.evaluation import runner

    build = runner.build_cases

    def first(dataset: Any, config: Any) -> Any:
        test, valid = build(dataset, config)
        return test[:m], valid

    runner.build_cases = first  # type: ignore[assignment]


def _cached_only() -> None:
    from promptrec.errors import BackendError

    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise BackendError("qwen_eval --cached-only: this prompt is not in the cache")

    llamacpp.LlamaCppBackend.complete = refuse  # type: ignore[method-assign]
    llamacpp.LlamaCppBackend.score_labels = refuse  # type: ignore[method-assign]


if __name__ == "__main__":
    argv = sys.argv[1:]
    first_test = _take(argv, "--first-test-users", True)
    if first_test is not None:
        _first_test_users(int(str(first_test)))
    if _take(argv, "--cached-only", False):
        _cached_only()
    if "--force" in argv and _force_option_missing():
        from promptrec.evaluation import fusion

        argv.remove("--force")
        fusion.MIN_WEIGHT_USERS = 0  # what --force will do: accept a weight chosen on fewer users
        print("qwen_eval: this promptrec has no --force yet; the weight is chosen on the given users anyway",
              file=sys.stderr)
    sys.exit(main(args=argv, prog_name="promptrec"))
