"""``promptrec eval``: run the harness on datasets and write results/<run>/ (report, JSON, rows, plots).

The command object is :data:`eval_command`; ``python -m promptrec.evaluation.cli`` runs it on its own.
Everything heavy (ir-measures, bm25s, matplotlib, the model) loads only when the command runs.
"""

from __future__ import annotations

import importlib
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from promptrec.errors import MissingDependencyError, PromptrecError
from promptrec.evaluation.datasets import help_text as dataset_help
from promptrec.progress import progress_bar
from promptrec.ranker import MODES

STRATEGY_CHOICES = ("sequential", "recency", "in_context")
PROTOCOL_CHOICES = ("auto", "llmrank", "cross-domain", "pointwise", "full")


def _require_eval_extra() -> None:
    for module, package in (("ir_measures", "ir-measures"), ("bm25s", "bm25s"), ("matplotlib", "matplotlib")):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(package, "eval") from None


#: ``promptrec eval`` parameter -> (section, field) of the PipelineConfig each LLM is built from
CONFIG_FIELDS: dict[str, tuple[str | None, str]] = {
    "prompts_dirs": (None, "prompts"), "history": ("ranker", "max_history"), "seed": ("ranker", "seed"),
    "temperature": ("ranker", "temperature"), "mode": ("ranker", "mode"), "permutations": ("ranker", "permutations"),
    "calibrate": ("ranker", "calibrate"), "cache_dir": ("cache", "dir"),
}


def llm_configs(options: dict[str, Any]) -> list[Any]:
    """One :class:`~promptrec.config.PipelineConfig` per ``--backend`` and ``--strategy``: ``--config FILE``
    with the command's options on top (backend flags go to the backends that take them); ``--history``,
    ``--seed`` and ``--temperature`` are the protocol's, so they always apply. Feedback is never used here."""
    from promptrec.cli import command_line_config, option_given

    protocol = {"ranker": {"max_history": options["history"], "seed": options["seed"],
                           "temperature": options["temperature"]}, "feedback": {"enabled": False}}
    from_file = options.get("config_file") and not option_given(options, "backends")
    specs = (None,) if from_file else options["backends"]
    configs = []
    for spec in specs:
        config = command_line_config({**options, "backend_spec": spec}, CONFIG_FIELDS,
                                     lenient=len(specs) > 1).updated(protocol)
        configs += [config.updated({"ranker": {"strategy": strategy}}) for strategy in options["strategies"]]
    return configs


def _llm_factories(options: dict[str, Any], datasets: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """Method factories per backend and strategy, for the ranking datasets (in ``--mode``) and for the
    yes/no datasets (in pointwise mode), and the configurations they were built from; each backend is
    loaded once and shared. Empty where not needed."""
    from promptrec.evaluation.llm import config_llm_factory
    from promptrec.evaluation.pointwise import PointwiseDataset

    if options["no_llm"]:
        return [], [], []
    configs = llm_configs(options)
    backends: dict[str, Any] = {}
    caches: dict[str, Any] = {}

    def factories(mode: str | None) -> list[Any]:
        made = []
        for config in configs:
            if mode == "pointwise":
                config = config.updated({"ranker": {"mode": "pointwise", "permutations": 1}})
            key = config.backend.model_dump_json()
            if key not in backends:
                backends[key] = config.make_backend()
                caches[key] = config.make_cache()
            made.append(config_llm_factory(config, backend=backends[key], cache=caches[key]))
        return made

    ranking = any(not isinstance(d, PointwiseDataset) for d in datasets)
    yes_no = any(isinstance(d, PointwiseDataset) for d in datasets)
    return factories(None) if ranking else [], factories("pointwise") if yes_no else [], configs


def _progress() -> tuple[Any, Any]:
    progress = progress_bar()
    tasks: dict[str, Any] = {}

    def update(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = progress.add_task(task, total=total)
        progress.update(tasks[task], completed=done)

    return progress, update


def run_eval(options: dict[str, Any]) -> dict[str, Path]:
    """Run every dataset of ``options`` (the command's parameters) and write the run folder."""
    _require_eval_extra()
    from promptrec.evaluation.datasets import load_dataset
    from promptrec.evaluation.pointwise import PointwiseDataset, run_pointwise
    from promptrec.evaluation.protocol import ProtocolConfig
    from promptrec.evaluation.report import write_report
    from promptrec.evaluation.runner import run_dataset

    started = time.perf_counter()
    config = ProtocolConfig(
        users=options["users"], valid_users=options["valid_users"], candidates=options["candidates"],
        history=options["history"], seed=options["seed"],
        llm_valid_users=options["llm_valid_users"],
    )
    datasets = [load_dataset(spec, options["data_dir"], options["scenario"]) for spec in options["datasets"]]
    protocols = tuple(options["protocol"]) or ("auto",)
    candidates = [p for p in protocols if p != "full"]
    for spec, dataset in zip(options["datasets"], datasets):
        for protocol in candidates:
            if protocol not in ("auto", dataset.protocol):
                raise click.UsageError(f"dataset '{spec}' is {dataset.protocol}, not {protocol}")
    factories, yes_no, configs = _llm_factories(options, datasets)
    runs, pointwise, full = [], [], []
    progress, update = _progress()
    with progress:
        for dataset in datasets:
            if isinstance(dataset, PointwiseDataset):
                methods = [make(dataset) for make in yes_no]
                pointwise.append(run_pointwise(dataset, options["users"], options["seed"], methods, update))
                done = f"{dataset.name}: {len(pointwise[-1].cases)} records"
                progress.console.print(f"{done} (seed {options['seed']})")
                continue
            if candidates:
                runs.append(run_dataset(dataset, config, factories, fusion=not options["no_fusion"], progress=update))
                done = f"{dataset.name}: {len(runs[-1].test)} test + {len(runs[-1].valid)} validation users"
                progress.console.print(f"{done} (seed {options['seed']})")
            if "full" in protocols:
                full.append(_run_full(dataset, config, options, factories, update))
                done = (f"{dataset.name} (full catalog): {len(full[-1].test)} test + {len(full[-1].valid)} validation "
                        f"users, LLM on {len(full[-1].llm_test)} + {len(full[-1].llm_valid)}")
                progress.console.print(f"{done} (seed {options['seed']})")
    meta = {
        "command": " ".join(shlex.quote(a) for a in options["argv"]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backends": ", ".join(dict.fromkeys(c.backend.spec for c in configs)) if configs else "none (baselines only)",
        "strategies": ", ".join(dict.fromkeys(c.ranker.strategy for c in configs)) if configs else "—",
        "mode": (configs[0].ranker.mode if configs else options["mode"]) + (" (pointwise on yes/no datasets)" if yes_no else "")
        + (", calibrated" if configs and configs[0].ranker.calibrate else ""),
        "seed": options["seed"],
        "users per dataset": ", ".join(
            [f"{r.dataset.name} {len(r.test)} (+{len(r.valid)} validation)" for r in runs]
            + [f"{p.dataset.name} {len(p.cases)} records" for p in pointwise]
            + [f"{f.dataset.name} full catalog {len(f.test)} (+{len(f.valid)} validation; LLM {len(f.llm_test)} "
               f"+{len(f.llm_valid)})" for f in full]
        ),
        "wall time": f"{time.perf_counter() - started:.0f} s",
    }
    return write_report(options["output"], runs, pointwise, meta, full, configs)


def _run_full(dataset: Any, config: Any, options: dict[str, Any], factories: list[Any], update: Any) -> Any:
    """The full-catalog protocol on one dataset, with the first LLM (if any) reranking the pool."""
    from promptrec.evaluation.fullcatalog import DEFAULT_RETRIEVERS, default_retrievers, run_full

    llm = factories[0](dataset) if factories else None
    retrievers = tuple(options["retrievers"]) or DEFAULT_RETRIEVERS
    ranker = getattr(llm, "ranker", None)
    backend = ranker.backend if ranker is not None else None
    cache = ranker.cache if ranker is not None else None
    make = default_retrievers(dataset, retrievers, profile_backend=backend, completion_cache=cache,
                              prompts_dirs=options["prompts_dirs"])
    fixed = None
    if llm is not None and hasattr(llm, "ranker"):
        try:
            from promptrec.pipeline import default_llm_weight

            fixed = default_llm_weight(llm.ranker)
        except ImportError:  # the pipeline is not installed: no row at its default weight
            fixed = None
    return run_full(
        dataset, config, retrievers=retrievers, make_retriever=make, llm=llm, pool_size=options["pool"],
        llm_users=options["llm_users"], llm_valid_users=options["llm_valid_users"], fixed_weight=fixed,
        progress=update,
    )


@click.command("eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-d", "--dataset", "datasets", multiple=True, default=("movielens",), show_default=True,
              metavar="NAME|FORMAT:PATH", help=dataset_help())
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder of the named datasets [default: $PROMPTREC_DATA or ../shared/datasets].")
@click.option("--protocol", type=click.Choice(PROTOCOL_CHOICES), multiple=True, default=("auto",), show_default=True,
              help="Repeatable. auto: each dataset's own 20-candidate protocol (llmrank / cross-domain / pointwise: "
              "the same, checked); full: the whole catalog, retriever by retriever, the pool, the LLM reranking it "
              "and the fused pipeline.")
@click.option("--pool", type=click.IntRange(min=1), default=20, show_default=True, help="Full protocol: items the pool retriever passes to the LLM (N).")
@click.option("--retriever", "retrievers", multiple=True, type=click.Choice(("popularity", "cooccurrence", "bm25", "semantic", "profile")),
              help="Full protocol: retrievers to measure (repeatable) [default: popularity, cooccurrence, bm25, semantic; profile needs an LLM].")
@click.option("--llm-users", type=click.IntRange(min=0), default=30, show_default=True, help="Full protocol: test users the LLM rows are measured on (a seeded subset).")
@click.option("--llm-valid-users", type=click.IntRange(min=0), default=None, help="Validation users the LLM is scored on and its fusion weight chosen on [default: full protocol --llm-users; 20-candidate protocol all --valid-users].")
@click.option("-n", "--users", type=click.IntRange(min=1), default=200, show_default=True, help="Test users sampled per dataset (records, for pointwise data).")
@click.option("--valid-users", type=click.IntRange(min=0), default=50, show_default=True, help="Validation users per dataset (fusion weights are chosen on them).")
@click.option("--candidates", type=click.IntRange(min=2), default=20, show_default=True, help="Candidates per case: the truth + N-1 negatives.")
@click.option("--history", type=click.IntRange(min=1), default=20, show_default=True, help="Most recent history items shown (H).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of user samples, negatives, shuffles and the random baseline.")
@click.option("--scenario", default=None, help="Scenario for every dataset [default: the dataset's own].")
@click.option("--prompts", "prompts_dirs", multiple=True, type=click.Path(file_okay=False), help="Folder of your own scenarios (repeatable).")
@click.option("--backend", "backends", multiple=True, default=("llamacpp",), show_default=True, help="kind:model (repeatable); 'llamacpp' is the bundled SmolLM2-135M model.")
@click.option("--strategy", "strategies", multiple=True, type=click.Choice(STRATEGY_CHOICES), default=("sequential",), show_default=True, help="LLMRank prompt strategy (repeatable).")
@click.option("--mode", type=click.Choice(MODES), default="generate", show_default=True, help="generate: the model writes a ranked list (Borda points); score: label log-probabilities (needs a backend with log-probabilities); pointwise: P(Yes) against P(No) per candidate. Yes/no datasets always use pointwise.")
@click.option("--calibrate", is_flag=True, help="Score and pointwise modes: divide out the label prior of a content-free prompt.")
@click.option("--permutations", type=click.IntRange(min=1), default=1, show_default=True, help="Passes in shifted candidate orders, aggregated (where the Ranker supports it).")
@click.option("--no-llm", is_flag=True, help="Run the baselines only.")
@click.option("--no-fusion", is_flag=True, help="Skip the LLM + prior fusion rows.")
@click.option("--base-url", help="Base URL of an OpenAI-compatible server.")
@click.option("--api-key", help="API key (default: $OPENAI_API_KEY).")
@click.option("--structured", type=click.Choice(["auto", "json_schema", "json_object", "vllm", "ollama", "off"]), help="openai backends, generate mode: the structured-output dialect [default: auto].")
@click.option("--n-ctx", type=int, help="llama.cpp context window [default: 4096].")
@click.option("--threads", type=int, help="llama.cpp CPU threads [default: all cores].")
@click.option("-O", "--backend-option", "backend_option_pairs", multiple=True, metavar="KEY=VALUE", help="Any backend option (repeatable; VALUE read as JSON, else text), e.g. -O timeout=60.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="A configuration file (.toml/.json; a run folder's config.toml repeats that run's LLM); the options given here override it.")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Completion cache folder [default: $PROMPTREC_CACHE_DIR or the user cache folder].")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the completion cache.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Run folder [default: results/<date-time>].")
def eval_command(**options: Any) -> None:
    """Evaluate LLM ranking against baselines on real datasets; write report.md, results.json, rows, plots.

    \b
    Protocols: LLMRank leave-last-out with 20 candidates (movielens, games, office, industrial);
    cross-domain cold-start (books-movies...); pointwise yes/no AUC (bookcrossing; the LLM in pointwise mode).
    Every table has random and popularity rows; fusion weights are chosen on validation users.

    \b
    Examples:  promptrec eval -d movielens -d games -d books-movies -n 100 -o results/smollm2
               promptrec eval -d movielens -d cds-books --protocol full --no-llm -n 300 --valid-users 150
               promptrec eval -d crossdomain:DATA:grocery:kitchen --protocol auto --protocol full
    """
    options["argv"] = [Path(sys.argv[0]).name, *sys.argv[1:]]
    options["output"] = options["output"] or str(Path("results") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    try:
        paths = run_eval(options)
    except (PromptrecError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(paths["report"].read_text(encoding="utf-8"))
    for kind, path in paths.items():
        click.echo(f"{kind}: {path}", err=True)


if __name__ == "__main__":
    eval_command()
